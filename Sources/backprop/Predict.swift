import ArgumentParser
import Backprop
import Foundation

/// `backprop predict` (also `backprop evaluate`): a saved model's predictions for the rows of a CSV
/// file and, when the file has the label column, its accuracy and confusion matrix (R², MAE and
/// RMSE for a regression).
///
/// The model file alone is enough: the architecture, the class names and the standardization come
/// from its metadata (`ModelCard`); the maths lives in the library (`Predictor`, `PredictionRows`).
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Predict with a model saved by backprop train --save (or by PyTorch, with its metadata), and score it when the data has labels.",
        discussion: """
        Example: backprop predict --model iris.safetensors --data data/iris.csv --probabilities --output preds.csv

        Columns are matched by the feature names the model was trained with when the header has them \
        (the label column, if present, by its name); otherwise the file must have the model's number of \
        features, optionally with a label column (the last, or --label-column). The model file's \
        standardization is applied to the features, and a regression's prediction is given in the \
        target's own units. F16 and BF16 model files are read into float32. backprop evaluate is the same command.
        """,
        aliases: ["evaluate"])

    @Option(help: ArgumentHelp("The model file (safetensors with Backprop's model metadata).", valueName: "file.safetensors"))
    var model: String
    @Option(help: ArgumentHelp("CSV file with a header row: the model's features, and optionally its label column.", valueName: "file.csv"))
    var data: String
    @Option(name: [.customLong("label-column"), .customLong("target-column")],
            help: ArgumentHelp("The label (or target) column, when its name is not the model's: a 0-based index or a header name.", valueName: "index-or-name"))
    var labelColumn: LabelColumn?
    @Flag(help: "Add each class's probability (softmax of the logits) to each prediction.")
    var probabilities = false
    @Option(help: ArgumentHelp("Write the predictions to this CSV file (atomically) instead of printing them.", valueName: "file.csv"))
    var output: String?
    @Flag(help: "Print one JSON object (predictions and metrics) instead of text.")
    var json = false
    @Flag(help: "Compute in float64 instead of float32.")
    var float64 = false

    func run() throws {
        try reportingErrors { try predict() }
    }

    func predict() throws {
        try requireOutputDirectories([("--output", output)])
        let saved: SavedModel
        do { saved = try SavedModel.read(model) } catch { throw CLIError(flag: "--model", path: model, error) }
        guard saved.card != nil else {
            throw CLIError("--model \(model): the file has no model description (no 'format' metadata), only parameters; predict needs a file written by backprop train --save, or saved from PyTorch with that file's metadata")
        }
        let predictor: Predictor
        do { predictor = try Predictor(saved, dtype: float64 ? .float64 : .float32) } catch { throw CLIError("--model \(model): \(error)") }
        let card = predictor.card
        let rows = try PredictionRows.read(data, card: card, labelColumn: labelColumn, dtype: float64 ? .float64 : .float32)
        let p = predictor.predict(rows.features)
        let evaluation = rows.labels.map { predictor.evaluate(rows.features, labels: $0) }
        let table = csv(p, labels: rows.labels, card: card)
        if let output {
            do { try AtomicFile.write(Data(table.utf8), to: output) } catch { throw CLIError("--output \(output): \(error)") }
        }

        let stored = Set(saved.state.compactMap { saved.storedTypes[$0.name]?.rawValue }).sorted().joined(separator: ", ")
        if json {
            var o: [String: Any] = [
                "model": model, "data": data, "task": card.task.rawValue, "rows": p.count,
                "architecture": describe(predictor), "stored_dtype": stored, "standardized": card.inputScaler != nil,
                "columns_matched_by": rows.matchedByName ? "name" : "position",
                "evaluation": evaluation.map(evaluationJSON) ?? NSNull(),
            ]
            switch card.task {
            case .classification:
                o["classes"] = card.classNames
                o["predictions"] = p.classes.map { card.classNames[$0] }
                if probabilities { o["probabilities"] = p.probabilities }
            case .regression:
                o["target"] = card.labelName
                o["predictions"] = p.values
            }
            if let output { o["output"] = output }
            try printJSON(o)
            return
        }
        print("model: \(model): \(describe(predictor)), stored as \(stored)"
              + (card.inputScaler != nil ? ", standardized with the file's statistics" : ""))
        let labelText = rows.labelName.map { "\(card.task == .classification ? "labels" : "targets") in column '\($0)'" } ?? "no label column"
        print("data: \(data): \(p.count) rows, columns matched by \(rows.matchedByName ? "name" : "position"); \(labelText)")
        if let output {
            print("wrote \(p.count) predictions to \(output)")
        } else {
            print(table, terminator: "")
        }
        guard let e = evaluation else { return }
        if let r = e.regression {
            print(String(format: "R^2 %.4f, MAE %.4g, RMSE %.4g, MSE %.4g (%d rows; %@'s units)", r.r2, r.mae, r.rmse, r.mse, e.count, card.labelName))
        } else {
            let correct = Int((e.accuracy * Double(e.count)).rounded())
            print(String(format: "accuracy %.2f%% (%d of %d rows), cross-entropy %.4f", e.accuracy * 100, correct, e.count, e.loss))
            print("confusion matrix (row: true class, column: predicted):")
            print(confusionText(e.confusion, names: card.classNames), terminator: "")
        }
    }

    /// `MLP 4-16-3 (ReLU), classification of 3 classes` or `MLP 10-32-1 (ReLU), regression of progression`.
    func describe(_ predictor: Predictor) -> String {
        let card = predictor.card
        let what = card.task == .classification ? "classification of \(card.outputs) classes" : "regression of \(card.labelName)"
        return ModelOptions.describe(predictor.model) + ", " + what
    }

    /// The predictions as CSV: `row,prediction[,p_<class>...][,label]` (`target` for a regression).
    func csv(_ p: Predictions, labels: Tensor?, card: ModelCard) -> String {
        var header = ["row", "prediction"]
        if probabilities && card.task == .classification { header += card.classNames.map { "p_\($0)" } }
        if labels != nil { header.append(card.task == .classification ? "label" : "target") }
        var lines = [header.map(csvField).joined(separator: ",")]
        let truth = labels.map { card.task == .classification ? $0.integers.map { card.classNames[$0] } : $0.scalars.map { String(format: "%.6g", $0) } }
        for i in 0..<p.count {
            var fields = [String(i + 1)]
            switch card.task {
            case .classification:
                fields.append(card.classNames[p.classes[i]])
                if probabilities { fields += p.probabilities[i].map { String(format: "%.6g", $0) } }
            case .regression:
                fields.append(String(format: "%.6g", p.values[i]))
            }
            if let truth { fields.append(truth[i]) }
            lines.append(fields.map(csvField).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A CSV field, quoted when it holds a comma, a quote or a line break.
    func csvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
