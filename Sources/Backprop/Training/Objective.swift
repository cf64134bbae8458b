/// What a model learns: a class for each row, or a number.
public enum Task: String, CaseIterable, Sendable {
    /// One logit per class; trained with cross-entropy, scored by accuracy.
    case classification
    /// One output, a number; trained with MSE, L1 or Huber loss, scored by R².
    case regression
}

/// The loss a regression is trained with (PyTorch's `F.mse_loss`, `F.l1_loss`, `F.huber_loss`).
public enum RegressionLoss: Sendable, Equatable {
    /// Mean squared error.
    case mse
    /// Mean absolute error.
    case l1
    /// Huber loss: squared within `delta` of the target, linear beyond.
    case huber(delta: Double)

    /// `mse`, `l1` or `huber`, as `backprop train --loss` names them.
    public var name: String {
        switch self {
        case .mse: return "mse"
        case .l1: return "l1"
        case .huber: return "huber"
        }
    }
}

/// A task and the loss it is trained with: cross-entropy for a classifier, a regression loss for a
/// regression.
public enum Objective: Sendable, Equatable {
    /// Cross-entropy of the output logits [rows, classes] against class indices [rows].
    case classification
    /// A regression loss of the output [rows, 1] against targets [rows].
    case regression(RegressionLoss)

    /// The task the objective trains.
    public var task: Task {
        if case .classification = self { return .classification }
        return .regression
    }

    /// The mean loss of a batch: `output.crossEntropy(target:)`, or the regression loss of
    /// `output` as a column of predictions ([rows, 1], flattened to [rows]) against `target` [rows].
    public func loss(_ output: Tensor, _ target: Tensor) -> Tensor {
        switch self {
        case .classification:
            return output.crossEntropy(target: target)
        case .regression(let loss):
            precondition(output.rank == 2 && output.shape[1] == 1,
                         "regression: the model's output must be [rows, 1], got \(output.shape)")
            let y = output.reshape([output.shape[0]])
            switch loss {
            case .mse: return y.mseLoss(target: target)
            case .l1: return y.l1Loss(target: target)
            case .huber(let delta): return y.huberLoss(target: target, delta: delta)
            }
        }
    }

    /// How a loss is described in output: `cross-entropy`, `MSE`, `L1`, `Huber (delta 1.0)`.
    public var lossDescription: String {
        switch self {
        case .classification: return "cross-entropy"
        case .regression(.mse): return "MSE"
        case .regression(.l1): return "L1"
        case .regression(.huber(let d)): return "Huber (delta \(d))"
        }
    }
}
