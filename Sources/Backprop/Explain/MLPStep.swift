/// One training step of a two-layer MLP, built from raw ops and recorded for explanation:
///
///     h      = relu(x.matmul(W1.t()) + b1)
///     logits = h.matmul(W2.t()) + b2
///     loss   = cross_entropy(logits, target)
///     every parameter p -= lr * p.grad
///
/// The weights start as PyTorch's `nn.Linear` does: uniform in [-1/sqrt(fan_in), 1/sqrt(fan_in)),
/// drawn from `RandomGenerator(seed:)`.
public struct MLPStep {
    /// The data: x [N, F] and class indices [N].
    public let x: Tensor, target: Tensor
    /// The parameters (leaves named W1, b1, W2, b2), holding their gradients after the step's backward pass.
    public let W1: Tensor, b1: Tensor, W2: Tensor, b2: Tensor
    /// The forward values.
    public let hidden: Tensor, logits: Tensor, loss: Tensor
    /// The record of the backward pass.
    public let trace: BackwardTrace
    /// The parameters after the SGD update, in the order W1, b1, W2, b2.
    public let updated: [Tensor]

    /// Runs forward, backward (recorded) and the SGD update on `x` [N, F] and `target` [N].
    public init(x: Tensor, target: Tensor, classes: Int, hidden width: Int, seed: UInt64 = 0, lr: Double = 0.1) {
        precondition(x.rank == 2, "MLPStep: x must be [rows, features], got \(x.shape)")
        precondition(target.shape == [x.shape[0]], "MLPStep: target \(target.shape) for \(x.shape[0]) rows")
        precondition(width > 0 && classes > 0, "MLPStep: hidden width \(width) and classes \(classes) must be positive")
        let features = x.shape[1]
        var rng = RandomGenerator(seed: seed)
        func linear(_ fanIn: Int, _ fanOut: Int) -> (Tensor, Tensor) {
            let bound = 1 / Double(fanIn).squareRoot()
            let w = Tensor.uniform([fanOut, fanIn], low: -bound, high: bound, dtype: x.dtype, using: &rng)
            let b = Tensor.uniform([fanOut], low: -bound, high: bound, dtype: x.dtype, using: &rng)
            return (w, b)
        }
        let (w1, bb1) = linear(features, width)
        let (w2, bb2) = linear(width, classes)
        W1 = w1.requiringGrad().named("W1"); b1 = bb1.requiringGrad().named("b1")
        W2 = w2.requiringGrad().named("W2"); b2 = bb2.requiringGrad().named("b2")
        self.x = x; self.target = target
        let (W1, b1, W2, b2) = (self.W1, self.b1, self.W2, self.b2)
        let (h, z, l) = Explain.recordingValues { () -> (Tensor, Tensor, Tensor) in
            let h = (x.matmul(W1.t()) + b1).named("z1").relu().named("h")
            let z = (h.matmul(W2.t()) + b2).named("logits")
            return (h, z, z.crossEntropy(target: target).named("loss"))
        }
        hidden = h; logits = z; loss = l
        trace = try! BackwardTrace.record(l, names: [("x", x)])
        updated = withNoGrad { [W1, b1, W2, b2].map { $0.detached() - lr * $0.grad! } }
    }

    /// A small built-in example: 4 rows of 3 features in 3 classes.
    public static func example(hidden: Int = 8, seed: UInt64 = 0, lr: Double = 0.1, dtype: DType = .float32) -> MLPStep {
        let x = Tensor([0.5, -1.2, 0.3, 1.5, 0.2, -0.7, -0.3, 0.8, 1.1, 0.9, -0.4, -1.3], shape: [4, 3], dtype: dtype)
        return MLPStep(x: x, target: Tensor(indices: [0, 2, 1, 0]), classes: 3, hidden: hidden, seed: seed, lr: lr)
    }
}
