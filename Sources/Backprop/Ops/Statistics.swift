// Statistics over dims: the variance with Bessel's correction.
//
// Named `variance` because `var` is a Swift keyword; the arguments follow PyTorch's
// `torch.var(input, dim, correction=1, keepdim=False)`.

extension Tensor {
    /// The variance over `dims` (all when empty): sum((x - mean)²) / (n - correction)
    /// (PyTorch's `var`; the default correction 1 is the unbiased estimate, 0 divides by n).
    ///
    /// Backward: dx = G * 2 (x - mean) / (n - correction).
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
        return out.recorded("VarBackward0", formula: "dx = G * 2 * (x - mean) / (n - correction)",
                            self, saves: true) { g in
            [g.withShape(keepShape) * (centered * (2 / denominator))]
        }
    }

    /// The variance over one dim.
    public func variance(dim: Int, correction: Double = 1, keepDim: Bool = false) -> Tensor {
        variance(dims: [dim], correction: correction, keepDim: keepDim)
    }
}
