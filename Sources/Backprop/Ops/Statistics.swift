// Statistics over dims: the variance with Bessel's correction.
//
// Named `variance` because `var` is a Swift keyword; the arguments follow PyTorch's
// `torch.var(input, dim, correction=1, keepdim=False)`.

extension BackwardRule {
    static let variance = BackwardRule("VarBackward0", "dx = G * 2 * (x - mean) / (n - correction)")
}

extension OpDescription {
    static let statisticsOps: [OpDescription] = [variance]

    static let variance = OpDescription(
        "var", .reduction, pytorch: "torch.var(x), torch.var(x, dim=1, correction=0, keepdim=True)",
        swift: "x.variance(), x.variance(dim: 1, correction: 0, keepDim: true)", note: "`var` is a Swift keyword",
        rules: [.variance],
        replay: { c in
            [try c.tensor(0).variance(dims: try c.kwargs.ints("dim") ?? [], correction: try c.kwargs.double("correction") ?? 1,
                                      keepDim: try c.kwargs.bool("keepdim") ?? false)]
        },
        gradcheck: [.unary("x.variance(dims:correction:keepDim:)") { g in
            let (s, ds, k) = g.reduction()
            let n = ds.isEmpty ? s.reduce(1, *) : ds.reduce(1) { $0 * s[($1 + s.count) % s.count] }
            let correction: Double = n > 1 && g.int(0..<2) == 0 ? 1 : 0
            return (g.normal(s), { $0.variance(dims: ds, correction: correction, keepDim: k) })
        }])
}

extension Tensor {
    /// The variance over `dims` (all when empty): sum((x - mean)²) / (n - correction)
    /// (PyTorch's `var`; the default correction 1 is the unbiased estimate, 0 divides by n).
    ///
    /// Backward: dx = G * 2 * (x - mean) / (n - correction)
    /// ```swift
    /// x.variance()                          // torch.var(x)
    /// x.variance(dims: [1], correction: 0)  // torch.var(x, dim=1, correction=0)
    /// ```
    public func variance(dims: [Int] = [], correction: Double = 1, keepDim: Bool = false) -> Tensor {
        requireFloat("var")
        let ds = reductionDims(dims, op: "var")
        let n = ds.reduce(1) { $0 * (rank == 0 ? 1 : shape[$1]) }
        let keepShape = reducedShape(ds, keepDim: true)
        let x = detached()
        let centered = withNoGrad { x - x.rawSum(ds) / Double(n) }
        let denominator = Swift.max(Double(n) - correction, 0)
        let out = withNoGrad { (centered * centered).rawSum(ds) / denominator }.withShape(reducedShape(ds, keepDim: keepDim))
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(.variance, self, save0: centered, save1: x, double: denominator) { node, g in
            // Recording: the centered values again from x, so that the gradient depends on x.
            let c = GradNode.recordsGradients
                ? { let x = node.input(0, value: node.saved1!); return x - x.mean(dims: ds, keepDim: true) }()
                : node.saved0!
            return InputGrads(g.reshape(keepShape) * (c * (2 / node.savedDouble)))
        }
    }

    /// The variance over one dim.
    public func variance(dim: Int, correction: Double = 1, keepDim: Bool = false) -> Tensor {
        variance(dims: [dim], correction: correction, keepDim: keepDim)
    }
}
