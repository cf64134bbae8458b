/// One real training step of a classifier or a regression (forward, the loss, backward,
/// optimizer update), with its backward pass recorded for explanation.
///
/// The parameters' nodes are labelled with their PyTorch names (`0.weight`, `0.bias`, ...), the
/// output and the loss with `logits` (`output` for a regression) and `loss`, and the batch's features with `x`, so that traces
/// and graphs name them.
///
/// ```swift
/// var g = RandomGenerator(seed: 0)
/// let model = makeMLP(inputs: 3, hidden: [8], outputs: 3, using: &g)
/// let step = try ExplainedTrainingStep(model: model, optimizer: SGD(model.parameters(), lr: 0.1),
///                                      x: x, target: y)
/// print(step.trace.text())
/// ```
public struct ExplainedTrainingStep {
    /// The batch: features [N, F] and class indices (or regression targets) [N].
    public let x: Tensor, target: Tensor
    /// The parameter values the forward pass used (before the optimizer's update), by name.
    public let parametersBefore: [(name: String, tensor: Tensor)]
    /// The forward values.
    public let logits: Tensor, loss: Tensor
    /// The record of the backward pass; the parameters' `.grad` hold the same gradients.
    public let trace: BackwardTrace

    /// Runs `optimizer.zeroGrad()`, the forward pass of `model` on `x`, the loss of `objective`
    /// (cross-entropy by default) with `target`, the recorded backward pass, and
    /// `optimizer.step()`: the step `SupervisedTraining.step(x:y:)` takes.
    public init(model: any Module, optimizer: any Optimizer, x: Tensor, target: Tensor,
                objective: Objective = .classification) throws {
        precondition(x.rank == 2, "ExplainedTrainingStep: x must be [rows, features], got \(x.shape)")
        precondition(target.shape == [x.shape[0]], "ExplainedTrainingStep: target \(target.shape) for \(x.shape[0]) rows")
        let named = model.namedParameters()
        for (name, p) in named { _ = p.value.named(name) }
        parametersBefore = model.stateDict()
        self.x = x; self.target = target
        optimizer.zeroGrad()
        let (z, l) = Explain.recordingValues { () -> (Tensor, Tensor) in
            let z = model(x).named(objective.task == .classification ? "logits" : "output")
            return (z, objective.loss(z, target).named("loss"))
        }
        logits = z; loss = l
        trace = try BackwardTrace.record(l, names: [("x", x)])
        optimizer.step()
    }

    /// A small built-in data set: 4 rows of 3 features in 3 classes.
    public static func exampleData(dtype: DType = .float32) -> Dataset {
        let x = Tensor([0.5, -1.2, 0.3, 1.5, 0.2, -0.7, -0.3, 0.8, 1.1, 0.9, -0.4, -1.3], shape: [4, 3], dtype: dtype)
        return Dataset(features: x, labels: Tensor(indices: [0, 2, 1, 0]), featureNames: ["x0", "x1", "x2"],
                       classNames: ["0", "1", "2"])
    }
}
