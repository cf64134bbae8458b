// Matrix products: mm (2-d), bmm (3-d), and matmul with PyTorch's 1-d and batch rules.

extension BackwardRule {
    static let mm = BackwardRule("MmBackward0", "dA = G B^T, dB = A^T G")
    static let bmm = BackwardRule("BmmBackward0", "dA = G B^T, dB = A^T G (per batch)")
    static let linear = BackwardRule("AddmmBackward0", "dx = G W, dW = G^T x, db = sum(G, dim 0)")
    static let linearNoBias = BackwardRule("MmBackward0", "dx = G W, dW = G^T x, db = sum(G, dim 0)")
}

extension OpDescription {
    static let linearAlgebraOps: [OpDescription] = [mm, bmm, matmul, linear]

    static let mm = OpDescription(
        "mm", .linearAlgebra, pytorch: "torch.mm(a, b)", swift: "a.mm(b)", rules: [.mm], replay: binary { $0.mm($1) },
        gradcheck: [.all("a.mm(b)") { g in
            let (n, k, m) = (g.int(1..<4), g.int(1..<4), g.int(1..<4))
            return ([g.normal([n, k]), g.normal([k, m])], { $0[0].mm($0[1]) })
        }])
    static let bmm = OpDescription(
        "bmm", .linearAlgebra, pytorch: "torch.bmm(a, b)", swift: "a.bmm(b)", rules: [.bmm], replay: binary { $0.bmm($1) },
        gradcheck: [.all("a.bmm(b)") { g in
            let (b, n, k, m) = (g.int(1..<3), g.int(1..<4), g.int(1..<4), g.int(1..<4))
            return ([g.normal([b, n, k]), g.normal([b, k, m])], { $0[0].bmm($0[1]) })
        }])
    static let matmul = OpDescription(
        "matmul", .linearAlgebra, pytorch: "a @ b, torch.matmul(a, b)", swift: "a.matmul(b)",
        note: "1-d operands and broadcast batch dims, as PyTorch", rules: [.mm, .bmm], replay: binary { $0.matmul($1) },
        gradcheck: [.all("a.matmul(b)") { g in
            let k = g.int(1..<4)
            let left: [[Int]] = [[k], [g.int(1..<3), k], [g.int(1..<3), 1, g.int(1..<3), k]]
            let right: [[Int]] = [[k], [k, g.int(1..<3)], [g.int(1..<3), k, g.int(1..<3)]]
            return ([g.normal(left[g.int(0..<3)]), g.normal(right[g.int(0..<3)])], { $0[0].matmul($0[1]) })
        }])
    static let linear = OpDescription(
        "linear", .linearAlgebra, pytorch: "F.linear(x, W, b)", swift: "x.linear(weight: W, bias: b)",
        rules: [.linear, .linearNoBias],
        replay: { c in [try c.tensor(0).linear(weight: try c.tensor(1), bias: c.optionalTensor(2))] },
        gradcheck: [.problem("x.linear(weight: W, bias: b)") { g in
            let (n, i, o) = (g.int(1..<4), g.int(1..<4), g.int(1..<4))
            let lead: [Int] = g.int(0..<2) == 0 ? [n] : [2, n]
            return GradcheckProblem(inputs: [g.normal(lead + [i]), g.normal([o, i]), g.normal([o])], wrt: [0, 1, 2],
                                    function: { $0[0].linear(weight: $0[1], bias: $0[2]) })
        }])
}

extension Tensor {
    /// The matrix product of [n, k] and [k, m] (PyTorch's `mm`).
    /// Backward: dA = G B^T, dB = A^T G
    public func mm(_ other: Tensor) -> Tensor {
        precondition(rank == 2 && other.rank == 2,
                     "mm: expected 2-d tensors, got shapes \(shape) and \(other.shape)")
        precondition(shape[1] == other.shape[0],
                     "mm: \(shape) x \(other.shape): inner dimensions \(shape[1]) and \(other.shape[0]) differ")
        precondition(dtype == other.dtype, "mm: dtypes \(dtype) and \(other.dtype) differ")
        let out = Tensor.gemm(self, false, other, false, batch: 1, m: shape[0], n: other.shape[1], k: shape[1],
                              outShape: [shape[0], other.shape[1]])
        guard Tensor.recordsGrad(self, other) else { return out }
        // dA needs B and dB needs A: each is saved only when the other side wants a gradient.
        return out.recorded(.mm, self, other,
                            save0: other.node != nil ? detached() : nil,
                            save1: node != nil ? other.detached() : nil) { node, g in
            if GradNode.recordsGradients {
                return InputGrads(node.saved1.map { g.mm(node.input(1, value: $0).t()) },
                                  node.saved0.map { node.input(0, value: $0).t().mm(g) })
            }
            var da: Tensor? = nil, db: Tensor? = nil
            if let b = node.saved1 {
                da = Tensor.gemm(g, false, b, true, batch: 1, m: g.shape[0], n: b.shape[0], k: g.shape[1],
                                 outShape: [g.shape[0], b.shape[0]])
            }
            if let a = node.saved0 {
                db = Tensor.gemm(a, true, g, false, batch: 1, m: a.shape[1], n: g.shape[1], k: a.shape[0],
                                 outShape: [a.shape[1], g.shape[1]])
            }
            return InputGrads(da, db)
        }
    }

    /// Batched matrix product of [b, n, k] and [b, k, m] (PyTorch's `bmm`).
    /// Backward: dA = G B^T, dB = A^T G (per batch)
    public func bmm(_ other: Tensor) -> Tensor {
        precondition(rank == 3 && other.rank == 3 && shape[0] == other.shape[0] && shape[2] == other.shape[1],
                     "bmm: \(shape) x \(other.shape): expected [b, n, k] and [b, k, m]")
        precondition(dtype == other.dtype, "bmm: dtypes \(dtype) and \(other.dtype) differ")
        let (bs, m, k, n) = (shape[0], shape[1], shape[2], other.shape[2])
        let out = Tensor.gemm(self, false, other, false, batch: bs, m: m, n: n, k: k, outShape: [bs, m, n])
        guard Tensor.recordsGrad(self, other) else { return out }
        return out.recorded(.bmm, self, other, save0: other.node != nil ? detached() : nil,
                            save1: node != nil ? other.detached() : nil) { node, g in
            if GradNode.recordsGradients {
                return InputGrads(node.saved1.map { g.bmm(node.input(1, value: $0).transpose(1, 2)) },
                                  node.saved0.map { node.input(0, value: $0).transpose(1, 2).bmm(g) })
            }
            let (bs, m, n) = (g.shape[0], g.shape[1], g.shape[2])
            var da: Tensor? = nil, db: Tensor? = nil
            if let b = node.saved1 {
                let k = b.shape[1]
                da = Tensor.gemm(g, false, b, true, batch: bs, m: m, n: k, k: n, outShape: [bs, m, k])
            }
            if let a = node.saved0 {
                let k = a.shape[2]
                db = Tensor.gemm(a, true, g, false, batch: bs, m: k, n: n, k: m, outShape: [bs, k, n])
            }
            return InputGrads(da, db)
        }
    }

    /// The matrix product with PyTorch's `matmul` rules: a 1-d left operand gets a dim prepended and a
    /// 1-d right operand one appended (both removed after), and batch dims broadcast.
    /// Backward: through `mm`/`bmm`, `reshape` and `expand`.
    public func matmul(_ other: Tensor) -> Tensor {
        precondition(rank >= 1 && other.rank >= 1,
                     "matmul: both arguments need at least 1 dimension, got shapes \(shape) and \(other.shape)")
        let a = rank == 1 ? reshape([1, shape[0]]) : self
        let b = other.rank == 1 ? other.reshape([other.shape[0], 1]) : other
        let k = a.shape[a.rank - 1]
        precondition(k == b.shape[b.rank - 2],
                     "matmul: \(shape) x \(other.shape): inner dimensions \(k) and \(b.shape[b.rank - 2]) differ")
        var result: Tensor
        if a.rank == 2 && b.rank == 2 {
            result = a.mm(b)
        } else {
            let batchA = Array(a.shape.dropLast(2)), batchB = Array(b.shape.dropLast(2))
            guard let batch = Shapes.broadcast(batchA, batchB) else {
                preconditionFailure("matmul: batch dims of \(shape) and \(other.shape) cannot be broadcast")
            }
            let m = a.shape[a.rank - 2], n = b.shape[b.rank - 1]
            let nb = batch.reduce(1, *)
            let a3 = a.expand(batch + [m, k]).reshape([nb, m, k])
            let b3 = b.expand(batch + [k, n]).reshape([nb, k, n])
            result = a3.bmm(b3).reshape(batch + [m, n])
        }
        if rank == 1 { result = result.squeeze(result.rank - 2) }
        if other.rank == 1 { result = result.squeeze(result.rank - 1) }
        return result
    }

    /// y = x W^T + b with weight [out, in] (PyTorch's `nn.functional.linear`).
    ///
    /// For a 2-d input and weight this is one product with the transpose folded into the kernel (no
    /// copy of W^T) and one node, `AddmmBackward0` (`MmBackward0` without bias), as in PyTorch.
    /// Backward: dx = G W, dW = G^T x, db = sum(G, dim 0)
    public func linear(weight: Tensor, bias: Tensor? = nil) -> Tensor {
        precondition(weight.rank <= 2, "linear: weight must be 1-d or 2-d, got shape \(weight.shape)")
        if rank == 2 && weight.rank == 2 && dtype == weight.dtype && dtype.isFloatingPoint
            && (bias == nil || (bias!.shape == [weight.shape[0]] && bias!.dtype == dtype)) {
            return linear2D(weight: weight, bias: bias)
        }
        if rank > 2 && weight.rank == 2 && dtype == weight.dtype && dtype.isFloatingPoint && shape[rank - 1] == weight.shape[1]
            && (bias == nil || (bias!.shape == [weight.shape[0]] && bias!.dtype == dtype)) {
            // [..., in] as [rows, in] (a view), one product, back to [..., out] (as PyTorch does).
            let lead = Array(shape.dropLast())
            return reshape([lead.reduce(1, *), shape[rank - 1]]).linear2D(weight: weight, bias: bias).reshape(lead + [weight.shape[0]])
        }
        let y = matmul(weight.t())
        return bias.map { y + $0 } ?? y
    }

    private func linear2D(weight: Tensor, bias: Tensor?) -> Tensor {
        let (m, k, n) = (shape[0], shape[1], weight.shape[0])
        precondition(weight.shape[1] == k,
                     "linear: \(shape) x \(weight.shape)^T: inner dimensions \(k) and \(weight.shape[1]) differ")
        let out: Tensor
        if let bias {
            // PyTorch's addmm: the rows start as the bias and the product is added to them (no
            // zero fill, no second pass over the output).
            out = Tensor(shape: [m, n], dtype: dtype, zeroed: false)
            func run<T: FloatElement>(_: T.Type) {
                KernelTape.launch((out.kernelWrite(T.self), bias.kernelRead(T.self), kernelRead(T.self),
                                   weight.kernelRead(T.self), m, n, k)) { a in
                    var row = a.0
                    for _ in 0..<a.4 {
                        row.update(from: a.1, count: a.5)
                        row += a.5
                    }
                    MatmulKernels.gemm(m: a.4, n: a.5, k: a.6, a.2, transA: false, a.3, transB: true, a.0, accumulate: true)
                }
            }
            dispatchFloat("linear", { run(Float.self) }, { run(Double.self) })
        } else {
            out = Tensor.gemm(self, false, weight, true, batch: 1, m: m, n: n, k: k, outShape: [m, n])
        }
        guard Tensor.recordsGrad(self, weight) || bias.map({ Tensor.recordsGrad($0) }) == true else { return out }
        // dx needs W and dW needs x: each is saved only when the other side wants a gradient.
        return out.recorded(bias == nil ? .linearNoBias : .linear, self, weight, bias,
                            save0: weight.node != nil ? detached() : nil,
                            save1: node != nil ? weight.detached() : nil) { node, g in
            if GradNode.recordsGradients {
                let db = node.inputCount == 3 && node.needsGrad(2) ? g.sum(dims: [0]) : nil
                return InputGrads(node.saved1.map { g.mm(node.input(1, value: $0)) },
                                  node.saved0.map { g.t().mm(node.input(0, value: $0)) }, db)
            }
            let (m, n) = (g.shape[0], g.shape[1])
            var dx: Tensor? = nil, dw: Tensor? = nil
            if let w = node.saved1 {
                let k = w.shape[1]
                dx = Tensor.gemm(g, false, w, false, batch: 1, m: m, n: k, k: n, outShape: [m, k])
            }
            if let x = node.saved0 {
                let k = x.shape[1]
                dw = Tensor.gemm(g, true, x, false, batch: 1, m: n, n: k, k: m, outShape: [n, k])
            }
            if node.inputCount < 3 { return InputGrads(dx, dw) }
            return InputGrads(dx, dw, node.needsGrad(2) ? g.rawSum([0]).withShape([n]) : nil)
        }
    }

    /// The raw product of `batch` pairs of matrices (transposes folded into the kernel), no autograd.
    static func gemm(_ a: Tensor, _ transA: Bool, _ b: Tensor, _ transB: Bool,
                     batch: Int, m: Int, n: Int, k: Int, outShape: [Int]) -> Tensor {
        let out = Tensor(shape: outShape, dtype: a.dtype, zeroed: false)
        func run<T: FloatElement>(_: T.Type) {
            KernelTape.launch((out.kernelWrite(T.self), a.kernelRead(T.self), b.kernelRead(T.self),
                               batch, m, n, k, transA, transB)) { x in
                let (o, pa, pb, batch, m, n, k, transA, transB) = x
                for i in 0..<batch {
                    MatmulKernels.gemm(m: m, n: n, k: k, pa + i * m * k, transA: transA,
                                       pb + i * k * n, transB: transB, o + i * m * n)
                }
            }
        }
        a.dispatchFloat("mm", { run(Float.self) }, { run(Double.self) })
        return out
    }
}
