// softmax and log-softmax along a dim, computed stably (the max is subtracted first).

extension Tensor {
    /// exp(x - max) / sum(exp(x - max)) along `dim`.
    /// Backward: dx = y * (G - sum(G * y, dim)), with y the softmax.
    public func softmax(dim: Int) -> Tensor {
        requireFloat("softmax")
        let d = Shapes.normalize(dim, rank: rank, op: "softmax")
        let out = softmaxKernel(dim: d, log: false)
        guard Tensor.recordsGrad(self) else { return out }
        let y = out.detached()
        return out.recorded("SoftmaxBackward0", formula: "dx = y * (G - sum(G * y, dim)), y = softmax(x)",
                            inputs: [self], saves: true) { g in
            let gy = g * y
            return [gy - y * gy.sum(dims: [d], keepDim: true)]
        }
    }

    /// x - max - log(sum(exp(x - max))) along `dim`, stable for logits like [1000, -1000].
    /// Backward: dx = G - exp(y) * sum(G, dim), with y the log-softmax (exp(y) is the softmax).
    public func logSoftmax(dim: Int) -> Tensor {
        requireFloat("log_softmax")
        let d = Shapes.normalize(dim, rank: rank, op: "log_softmax")
        let out = softmaxKernel(dim: d, log: true)
        guard Tensor.recordsGrad(self) else { return out }
        let y = out.detached()
        return out.recorded("LogSoftmaxBackward0", formula: "dx = G - softmax(x) * sum(G, dim)",
                            inputs: [self], saves: true) { g in
            [g - y.exp() * g.sum(dims: [d], keepDim: true)]
        }
    }

    func softmaxKernel(dim: Int, log: Bool) -> Tensor {
        var out = Tensor(shape: shape, dtype: dtype, zeroed: false)
        let split = DimSplit(shape, rank == 0 ? 0 : dim)
        dispatchFloat("softmax", {
            out.withMutablePointer(Float.self) { o in withPointer(Float.self) {
                SoftmaxKernels.softmax($0, o, outer: split.outer, n: split.n, inner: split.inner, log: log) } }
        }, {
            out.withMutablePointer(Double.self) { o in withPointer(Double.self) {
                SoftmaxKernels.softmax($0, o, outer: split.outer, n: split.n, inner: split.inner, log: log) } }
        })
        return out
    }
}

/// The softmax loop over a tensor seen as [outer, n, inner], softmax along n.
enum SoftmaxKernels {
    static func softmax<T: FloatElement>(_ x: UnsafePointer<T>, _ out: UnsafeMutablePointer<T>,
                                         outer: Int, n: Int, inner: Int, log: Bool) {
        if n == 0 { return }
        for o in 0..<outer {
            for k in 0..<inner {
                let base = o * n * inner + k
                var m = -T.infinity
                for j in 0..<n { m = Swift.max(m, x[base + j * inner]) }
                if !m.isFinite { m = m.isNaN ? m : 0 }
                var s: T = 0
                if log {
                    for j in 0..<n { s += T.exp(x[base + j * inner] - m) }
                    let ls = T.log(s)
                    for j in 0..<n { out[base + j * inner] = x[base + j * inner] - m - ls }
                } else {
                    for j in 0..<n {
                        let e = T.exp(x[base + j * inner] - m)
                        out[base + j * inner] = e
                        s += e
                    }
                    let inv = 1 / s
                    for j in 0..<n { out[base + j * inner] *= inv }
                }
            }
        }
    }
}
