import Foundation

/// The rows of a CSV file that a saved model predicts: its features, in the order the model
/// takes them, and the labels (or regression targets) when the file has the model's label column.
///
/// Columns are matched by name when the header names every feature of the model (the label
/// column is then the one named as the model's label, or `labelColumn`); otherwise by position,
/// when the file has exactly the model's number of features (no labels) or one more (the label
/// at `labelColumn`, the last by default).
public struct PredictionRows: Sendable {
    /// [rows, features], as written in the file (not standardized).
    public let features: Tensor
    /// [rows]: class indices into the model's classes, or regression targets; nil without labels.
    public let labels: Tensor?
    /// Whether the columns were found by their header names (else by position).
    public let matchedByName: Bool
    /// The name of the label column read (its header, or `x<index>`), nil without labels.
    public let labelName: String?

    /// Reads `path` for the model that `card` describes; throws `DataError` naming the line and
    /// column of a bad field, a label that is not one of the model's classes, or columns that do
    /// not fit the model.
    public static func read(_ path: String, card: ModelCard, labelColumn: LabelColumn? = nil,
                            dtype: DType = .float32) throws -> PredictionRows {
        let table = try CSVReader.readTable(path, minimumWidth: 1)
        let header = table.header ?? []
        let byName = Set(card.featureNames).count == card.featureNames.count && card.featureNames.allSatisfy(header.contains)
        var featureColumns: [Int], labelIndex: Int?
        if byName {
            featureColumns = card.featureNames.map { header.firstIndex(of: $0)! }
            if let labelColumn {
                labelIndex = try table.index(of: labelColumn)
            } else {
                labelIndex = header.firstIndex(of: card.labelName)
            }
            if let l = labelIndex, featureColumns.contains(l) {
                throw DataError(file: path, "the label column \(l) (\(table.name(l))) is one of the model's features")
            }
        } else if table.width == card.inputs && labelColumn == nil {
            featureColumns = Array(0..<card.inputs)
            labelIndex = nil
        } else if table.width == card.inputs + 1 {
            labelIndex = try table.index(of: labelColumn ?? .last)
            featureColumns = (0..<table.width).filter { $0 != labelIndex }
        } else {
            let names = card.featureNames.prefix(6).joined(separator: ", ") + (card.inputs > 6 ? ", ..." : "")
            throw DataError(file: path, "\(table.width) columns, and the header does not name the model's \(card.inputs) features (\(names)): give a header with those names, or \(card.inputs) feature columns (and at most one label column)")
        }
        let values = try table.numbers(featureColumns)
        let features = Tensor(values, shape: [table.rows.count, featureColumns.count], dtype: dtype)
        guard let labelIndex else { return PredictionRows(features: features, labels: nil, matchedByName: byName, labelName: nil) }
        let labels: Tensor
        switch card.task {
        case .regression:
            labels = Tensor(try table.numbers([labelIndex], what: "target column"), shape: [table.rows.count], dtype: dtype)
        case .classification:
            let index = Dictionary(card.classNames.enumerated().map { ($0.element, $0.offset) }, uniquingKeysWith: { a, _ in a })
            let text = try table.labels(labelIndex)
            labels = Tensor(indices: try text.enumerated().map { k, label in
                // A numeric label names the class of that number: `1.0` is class `1`.
                let name = Double(label).flatMap { $0 == $0.rounded() && Swift.abs($0) <= CSVReader.largestClassID ? String(Int($0)) : nil } ?? label
                guard let i = index[name] ?? index[label] else {
                    throw DataError(file: path, line: table.rows[k].number, column: labelIndex + 1,
                                    "label '\(label)' is not one of the model's classes (\(card.classNames.joined(separator: ", ")))")
                }
                return i
            })
        }
        return PredictionRows(features: features, labels: labels, matchedByName: byName, labelName: table.name(labelIndex))
    }
}

/// A model's predictions for some rows.
public struct Predictions: Sendable {
    /// Classification or regression.
    public let task: Task
    /// The predicted class of each row (the arg-max of its probabilities); empty for a regression.
    public let classes: [Int]
    /// Each row's class probabilities (the softmax of the logits); empty for a regression.
    public let probabilities: [[Double]]
    /// Each row's predicted value, in the target's own units; empty for a classifier.
    public let values: [Double]
    /// The number of rows.
    public var count: Int { task == .classification ? classes.count : values.count }
}

/// A saved model ready to predict: the module its card describes with the file's parameters, and
/// the card's standardization applied to the inputs (and undone on a regression's outputs).
///
/// ```swift
/// let predictor = try Predictor(SavedModel.read("iris.safetensors"))
/// let rows = try PredictionRows.read("new.csv", card: predictor.card)
/// let p = predictor.predict(rows.features)     // p.classes, p.probabilities
/// ```
public struct Predictor {
    /// What the file says about the model.
    public let card: ModelCard
    /// The model, in evaluation mode.
    public let model: Sequential

    /// The model of `saved` in `dtype`; throws when the file has no card or its parameters do not fit it.
    public init(_ saved: SavedModel, dtype: DType = .float32) throws {
        model = try saved.makeModel(dtype: dtype)
        card = saved.card!
        model.eval()
    }

    /// The predictions for `features` [rows, inputs], as written in a data file (the card's
    /// standardization is applied here).
    public func predict(_ features: Tensor) -> Predictions {
        precondition(features.rank == 2 && features.shape[1] == card.inputs,
                     "Predictor: features of shape \(features.shape) for a model of \(card.inputs) inputs")
        return withNoGrad {
            let output = model(card.inputScaler?.transform(features) ?? features)
            switch card.task {
            case .classification:
                let p = output.softmax(dim: 1).to(.float64).scalars
                let k = card.outputs
                let rows = (0..<features.shape[0]).map { Array(p[($0 * k)..<($0 * k + k)]) }
                return Predictions(task: .classification, classes: output.argmax(dim: 1).integers, probabilities: rows, values: [])
            case .regression:
                let y = output.reshape([features.shape[0]])
                let values = (card.targetScaler?.inverse(y) ?? y).scalars
                return Predictions(task: .regression, classes: [], probabilities: [], values: values)
            }
        }
    }

    /// The metrics of the predictions against `labels` (class indices, or targets in their own
    /// units): accuracy, confusion matrix and cross-entropy for a classifier; R², MAE and RMSE
    /// (and the MSE in the standardized units the model was trained in) for a regression.
    public func evaluate(_ features: Tensor, labels: Tensor) -> Evaluation {
        let x = card.inputScaler?.transform(features) ?? features
        let data: Dataset
        let objective: Objective
        if card.task == .classification {
            data = Dataset(features: x, labels: labels, featureNames: card.featureNames, classNames: card.classNames)
            objective = .classification
        } else {
            data = Dataset(features: x, labels: card.targetScaler?.transform(labels) ?? labels, featureNames: card.featureNames,
                           classNames: [])
            objective = .regression(.mse)
        }
        return SupervisedTraining.evaluate(model, on: data, objective: objective, targetScaler: card.targetScaler)
    }
}
