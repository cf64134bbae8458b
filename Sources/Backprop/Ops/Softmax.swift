import CBackpropKernels
import Foundation

// softmax and log-softmax along a dim, computed stably (the max is subtracted first).

extension BackwardRule {
    static let softmax = BackwardRule("SoftmaxBackward0", "dx = y * (G - sum(G * y, dim)), y = softmax(x)")
    static let logSoftmax = BackwardRule("LogSoftmaxBackward0", "dx = G - softmax(x) * sum(G, dim)")
}

extension OpDescription {
    static let softmaxOps: [OpDescription] = [softmax, logSoftmax]

    static let softmax = OpDescription(
        "softmax", .softmax, pytorch: "torch.softmax(x, dim=1)", swift: "x.softmax(dim: 1)",
        note: "`dtype:` converts first, as PyTorch's `dtype=`", rules: [.softmax],
        replay: { c in
            [try c.tensor(0).softmax(dim: try c.kwargs.required(try c.kwargs.int("dim"), "softmax", "dim"), dtype: try c.kwargs.dtype())]
        },
        gradcheck: [.unary("x.softmax(dim:)") { g in
            let s = g.shape(minRank: 0, maxRank: 3); let d = s.isEmpty ? 0 : g.int(0..<s.count)
            return (g.normal(s), { $0.softmax(dim: d) })
        }])
    static let logSoftmax = OpDescription(
        "log_softmax", .softmax, pytorch: "torch.log_softmax(x, dim=1)", swift: "x.logSoftmax(dim: 1)",
        note: "stable for logits like [1000, -1000]", rules: [.logSoftmax],
        replay: { c in
            [try c.tensor(0).logSoftmax(dim: try c.kwargs.required(try c.kwargs.int("dim"), "log_softmax", "dim"), dtype: try c.kwargs.dtype())]
        },
        gradcheck: [.unary("x.logSoftmax(dim:)") { g in
            let s = g.shape(minRank: 0, maxRank: 3); let d = s.isEmpty ? 0 : g.int(0..<s.count)
            return (g.normal(s), { $0.logSoftmax(dim: d) })
        }])
}

extension Tensor {
    /// exp(x - max) / sum(exp(x - max)) along `dim`; with `dtype`, the input is converted to it first
    /// (PyTorch's `dtype=`, e.g. a float64 softmax of float32 logits).
    ///
    /// Backward: dx = y * (G - sum(G * y, dim)), y = softmax(x)
    public func softmax(dim: Int, dtype: DType? = nil) -> Tensor {
        if let dtype, dtype != self.dtype { return to(dtype).softmax(dim: dim) }
        requireFloat("softmax")
        let d = Shapes.normalize(dim, rank: rank, op: "softmax")
        let out = softmaxKernel(dim: d, log: false)
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(.softmax, self, save0: out.detached(), int: d) { node, g in
            InputGrads(Tensor.softmaxBackward(y: node.output(value: node.saved0!), g: g, dim: node.savedInt, log: false))
        }
    }

    /// x - max - log(sum(exp(x - max))) along `dim`, stable for logits like [1000, -1000]; with
    /// `dtype`, the input is converted to it first (PyTorch's `dtype=`).
    ///
    /// Backward: dx = G - softmax(x) * sum(G, dim), computed as G - exp(y) * sum(G, dim) from the output y.
    public func logSoftmax(dim: Int, dtype: DType? = nil) -> Tensor {
        if let dtype, dtype != self.dtype { return to(dtype).logSoftmax(dim: dim) }
        requireFloat("log_softmax")
        let d = Shapes.normalize(dim, rank: rank, op: "log_softmax")
        let out = softmaxKernel(dim: d, log: true)
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(.logSoftmax, self, save0: out.detached(), int: d) { node, g in
            InputGrads(Tensor.softmaxBackward(y: node.output(value: node.saved0!), g: g, dim: node.savedInt, log: true))
        }
    }

    func softmaxKernel(dim: Int, log: Bool) -> Tensor {
        let out = Tensor(shape: shape, dtype: dtype, zeroed: false)
        let split = DimSplit(shape, rank == 0 ? 0 : dim)
        dispatchFloat("softmax", {
            KernelTape.launch((kernelRead(Float.self), out.kernelWrite(Float.self), split, log)) { a in
                SoftmaxKernels.softmax(a.0, a.1, outer: a.2.outer, n: a.2.n, inner: a.2.inner, log: a.3) }
        }, {
            KernelTape.launch((kernelRead(Double.self), out.kernelWrite(Double.self), split, log)) { a in
                SoftmaxKernels.softmax(a.0, a.1, outer: a.2.outer, n: a.2.n, inner: a.2.inner, log: a.3) }
        })
        return out
    }
}

extension Tensor {
    /// The backward rules of softmax (dx = y * G - y * sum(y * G)) and log-softmax
    /// (dx = G - exp(y) * sum(G)) along `dim`, fused into one pass over each row.
    static func softmaxBackward(y: Tensor, g: Tensor, dim: Int, log: Bool) -> Tensor {
        if g.shape != y.shape || g.dtype != y.dtype || GradNode.recordsGradients {
            // Composed of recorded ops (also what createGraph needs: the gradient depends on G and y).
            if log { return g - y.exp() * g.sum(dims: [dim], keepDim: true) }
            let gy = g * y
            return gy - y * gy.sum(dims: [dim], keepDim: true)
        }
        let out = Tensor(shape: y.shape, dtype: y.dtype, zeroed: false)
        let split = DimSplit(y.shape, y.rank == 0 ? 0 : dim)
        func run<T: FloatElement>(_: T.Type) {
            KernelTape.launch((y.kernelRead(T.self), g.kernelRead(T.self), out.kernelWrite(T.self), split, log)) { a in
                SoftmaxKernels.backward(a.0, a.1, a.2, outer: a.3.outer, n: a.3.n, inner: a.3.inner, log: a.4)
            }
        }
        y.dispatchFloat("softmax_backward", { run(Float.self) }, { run(Double.self) })
        return out
    }
}

