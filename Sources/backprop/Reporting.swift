import Backprop
import Foundation

// What train and predict print about an evaluation, as text and as JSON.

/// The JSON of an evaluation: loss and rows, with accuracy and the confusion matrix of a
/// classifier, or R², MAE, RMSE and MSE (in the target's units) of a regression.
func evaluationJSON(_ e: Evaluation) -> [String: Any] {
    var o: [String: Any] = ["loss": jsonNumber(e.loss), "rows": e.count]
    if let c = e.classification { o["accuracy"] = jsonNumber(c.accuracy); o["confusion"] = c.confusion }
    if let r = e.regression { o["r2"] = jsonNumber(r.r2); o["mae"] = jsonNumber(r.mae); o["rmse"] = jsonNumber(r.rmse); o["mse"] = jsonNumber(r.mse) }
    return o
}

/// A number for JSON, or null when missing or not finite (a diverged loss is NaN; JSON has no NaN).
func jsonNumber(_ v: Double?) -> Any { v.flatMap { $0.isFinite ? $0 : nil } ?? NSNull() }

/// A confusion matrix as text: a header of class names, one row per true class.
func confusionText(_ m: [[Int]], names: [String]) -> String {
    let width = max(5, (names.map(\.count) + m.flatMap { $0 }.map { String($0).count }).max()! + 1)
    func pad(_ s: String) -> String { String(repeating: " ", count: max(0, width - s.count)) + s }
    var s = pad("") + names.map(pad).joined() + "\n"
    for (i, row) in m.enumerated() { s += pad(names[i]) + row.map { pad(String($0)) }.joined() + "\n" }
    return s
}
