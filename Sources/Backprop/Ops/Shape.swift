// Ops that move values without arithmetic: reshape, transpose, permute, expand.

extension BackwardRule {
    static let view = BackwardRule("ViewBackward0", "dx = reshape(G, x.shape)")
    static let permute = BackwardRule("PermuteBackward0", "dx = permute(G, inverse(dims))")
    static let t = BackwardRule("TBackward0", "dx = G^T")
    static let expand = BackwardRule("ExpandBackward0", "dx = G summed over the expanded dims")
}

extension OpDescription {
    static let shapeOps: [OpDescription] = [t, transpose, permute, reshape, squeeze, unsqueeze, expand]

    static let t = OpDescription(
        "t", .shape, pytorch: "x.t()", swift: "x.t()", note: "a 0-d or 1-d tensor is returned as it is", rules: [.t],
        replay: unary { $0.t() },
        gradcheck: [.unary("x.t()") { g in (g.normal(g.shape(minRank: 0, maxRank: 2)), { $0.t() }) }])
    static let transpose = OpDescription(
        "transpose", .shape, pytorch: "x.transpose(0, -1)", swift: "x.transpose(0, -1)", rules: [.permute],
        replay: { c in
            let d0 = try c.kwargs.required(try c.kwargs.int("dim0"), "transpose", "dim0")
            let d1 = try c.kwargs.required(try c.kwargs.int("dim1"), "transpose", "dim1")
            return [try c.tensor(0).transpose(d0, d1)]
        },
        gradcheck: [.unary("x.transpose(d0, d1)") { g in
            let s = g.shape(minRank: 2, maxRank: 4)
            let (d0, d1) = (g.int(0..<s.count) - s.count, g.int(0..<s.count))
            return (g.normal(s), { $0.transpose(d0, d1) })
        }])
    static let permute = OpDescription(
        "permute", .shape, pytorch: "x.permute(2, 0, 1)", swift: "x.permute(2, 0, 1)", rules: [.permute],
        replay: { c in [try c.tensor(0).permute(try c.kwargs.required(try c.kwargs.ints("dims"), "permute", "dims"))] },
        gradcheck: [.unary("x.permute(dims)") { g in
            let s = g.shape(minRank: 1, maxRank: 4)
            let p = g.permutation(s.count)
            return (g.normal(s), { $0.permute(p) })
        }])
    static let reshape = OpDescription(
        "reshape", .shape, pytorch: "x.reshape(2, -1), x.flatten()", swift: "x.reshape(2, -1), x.flatten()", rules: [.view],
        replay: { c in [try c.tensor(0).reshape(try c.kwargs.required(try c.kwargs.ints("shape"), "reshape", "shape"))] },
        gradcheck: [.unary("x.reshape(shape)") { g in
            let s = g.shape(minRank: 0, maxRank: 3)
            let n = s.reduce(1, *)
            let target: [Int] = [[n], [-1], [1, n, 1], [n, -1]][g.int(0..<4)]
            return (g.normal(s), { $0.reshape(target) })
        }])
    static let squeeze = OpDescription(
        "squeeze", .shape, pytorch: "x.squeeze(), x.squeeze(1)", swift: "x.squeeze(), x.squeeze(1)",
        note: "a dim of size other than 1 is left as it is", rules: [.view],
        replay: { c in
            let x = try c.tensor(0)
            guard let dims = try c.kwargs.ints("dim") else { return [x.squeeze()] }
            return [c.kwargs.values["dim"] is [Any] ? x.squeeze(dims: dims) : x.squeeze(dims[0])]
        },
        gradcheck: [.unary("x.squeeze(dim)") { g in
            var s = g.shape(minRank: 1, maxRank: 3)
            let d = g.int(0..<s.count)
            s[d] = 1
            return (g.normal(s), { $0.squeeze(d) })
        }])
    static let unsqueeze = OpDescription(
        "unsqueeze", .shape, pytorch: "x.unsqueeze(0)", swift: "x.unsqueeze(0)", rules: [.view],
        replay: { c in [try c.tensor(0).unsqueeze(try c.kwargs.required(try c.kwargs.int("dim"), "unsqueeze", "dim"))] },
        gradcheck: [.unary("x.unsqueeze(dim)") { g in
            let s = g.shape()
            let d = g.int(0..<(s.count + 1)) - (g.int(0..<2) == 0 ? 0 : s.count + 1)
            return (g.normal(s), { $0.unsqueeze(d) })
        }])
    static let expand = OpDescription(
        "expand", .shape, pytorch: "x.expand(2, -1)", swift: "x.expand(2, -1)", rules: [.expand],
        replay: { c in [try c.tensor(0).expand(try c.kwargs.required(try c.kwargs.ints("size"), "expand", "size"))] },
        gradcheck: [.unary("x.expand(sizes)") { g in
            let (small, big) = g.broadcastPair()
            let sizes = big.count >= small.count ? Shapes.broadcast(small, big)! : small
            return (g.normal(small), { $0.expand(sizes) })
        }])
}

extension Tensor {
    /// The same values under a new shape; one size may be -1 (inferred). Backward: dx = reshape(G, x.shape)
    public func reshape(_ newShape: [Int]) -> Tensor {
        let target = Tensor.inferShape(newShape, count: count, op: "reshape", from: shape)
        if target == shape { return self }
        let out = withShape(target)
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(.view, self) { node, g in InputGrads(g.reshape(node.input(0)!.shape)) }
    }

    /// `reshape` with the sizes as arguments: `x.reshape(2, -1)`.
    public func reshape(_ sizes: Int...) -> Tensor { reshape(sizes) }

    static func inferShape(_ newShape: [Int], count: Int, op: String, from shape: [Int]) -> [Int] {
        var target = newShape
        let unknown = target.indices.filter { target[$0] == -1 }
        precondition(unknown.count <= 1, "\(op): only one dimension can be inferred in \(newShape)")
        precondition(target.allSatisfy { $0 >= -1 }, "\(op): invalid shape \(newShape)")
        if let u = unknown.first {
            let known = target.enumerated().filter { $0.offset != u }.reduce(1) { $0 * $1.element }
            precondition(known != 0 && count % known == 0,
                         "\(op): shape \(newShape) is invalid for input of shape \(shape) (\(count) elements)")
            target[u] = count / known
        }
        precondition(target.reduce(1, *) == count,
                     "\(op): shape \(newShape) is invalid for input of shape \(shape) (\(count) elements)")
        return target
    }

    /// Dims reordered: output dim i is input dim `dims[i]` (PyTorch's `permute`).
    /// Backward: dx = permute(G, inverse(dims))
    public func permute(_ dims: [Int]) -> Tensor {
        precondition(dims.count == rank, "permute: \(dims.count) dims given for a tensor of shape \(shape)")
        let perm = dims.map { Shapes.normalize($0, rank: rank, op: "permute") }
        var seen: UInt64 = 0, identity = true
        for (i, p) in perm.enumerated() {
            precondition(rank > 64 || seen & (1 << p) == 0, "permute: repeated dim in \(dims)")
            if rank <= 64 { seen |= 1 << p }
            identity = identity && p == i
        }
        if rank > 64 { precondition(Set(perm).count == rank, "permute: repeated dim in \(dims)") }
        if identity { return self }
        let outShape = perm.map { shape[$0] }
        // When the dims of size > 1 keep their order (a [1, n] row to an [n, 1] column), the
        // row-major layout is unchanged: the result shares the storage (copy-on-write) instead of copying.
        var last = -1, sameLayout = true
        for p in perm where shape[p] > 1 {
            if p < last { sameLayout = false; break }
            last = p
        }
        let out = sameLayout ? withShape(outShape) : permutedCopy(perm, outShape)
        guard Tensor.recordsGrad(self) else { return out }
        var inverse = [Int](repeating: 0, count: rank)
        for (i, p) in perm.enumerated() { inverse[p] = i }
        return out.recorded(.permute, self) { _, g in InputGrads(g.permute(inverse)) }
    }

    /// `permute` with the dims as arguments.
    public func permute(_ dims: Int...) -> Tensor { permute(dims) }

    /// Dims `dim0` and `dim1` swapped. Backward: dx = transpose(G, dim0, dim1).
    public func transpose(_ dim0: Int, _ dim1: Int) -> Tensor {
        if rank < 2 && (dim0 == 0 || dim0 == -1) && (dim1 == 0 || dim1 == -1) { return self }
        let d0 = Shapes.normalize(dim0, rank: rank, op: "transpose"), d1 = Shapes.normalize(dim1, rank: rank, op: "transpose")
        var perm = Array(0..<rank)
        perm.swapAt(d0, d1)
        return permute(perm)
    }

    /// The transpose of a matrix; a 0-d or 1-d tensor is returned as it is (PyTorch's `t()`).
    /// Backward: dx = G^T
    public func t() -> Tensor {
        precondition(rank <= 2, "t: expects a tensor with <= 2 dimensions, but got shape \(shape)")
        if rank < 2 { return self }
        // The 2-d case directly (no dims arrays): a [1, n] or [n, 1] matrix keeps its row-major
        // layout and shares the storage; any other is copied transposed.
        let (r, c) = (shape[0], shape[1])
        let out = r == 1 || c == 1 ? withShape([c, r]) : permutedCopy([1, 0], [c, r])
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(.t, self) { _, g in InputGrads(g.t()) }
    }

    /// A new tensor of shape `outShape` holding the values with dims reordered by `perm` (no autograd).
    private func permutedCopy(_ perm: [Int], _ outShape: [Int]) -> Tensor {
        let out = Tensor(shape: outShape, dtype: dtype, zeroed: false)
        switch dtype {
        case .float32: out.withFreshPointer(Float.self) { o in withPointer(Float.self) { ElementwiseKernels.permute($0, shape, perm, o) } }
        case .float64: out.withFreshPointer(Double.self) { o in withPointer(Double.self) { ElementwiseKernels.permute($0, shape, perm, o) } }
        case .int64: out.withFreshPointer(Int64.self) { o in withPointer(Int64.self) { ElementwiseKernels.permute($0, shape, perm, o) } }
        case .bool: out.withFreshPointer(UInt8.self) { o in withPointer(UInt8.self) { ElementwiseKernels.permute($0, shape, perm, o) } }
        }
        return out
    }

    /// The values broadcast to a larger shape; -1 keeps a size (PyTorch's `expand`).
    /// Backward: dx = G summed over the expanded dims
    public func expand(_ sizes: [Int]) -> Tensor {
        precondition(sizes.count >= rank, "expand: the number of sizes provided (\(sizes.count)) must be greater or equal to the number of dimensions in the tensor (\(rank))")
        let lead = sizes.count - rank
        let target = sizes.enumerated().map { i, s in s == -1 ? (i >= lead ? shape[i - lead] : -1) : s }
        for (i, s) in target.enumerated() {
            precondition(s >= 0, "expand: -1 is not allowed in a leading, non-existing dimension (sizes \(sizes))")
            if i >= lead { precondition(shape[i - lead] == s || shape[i - lead] == 1,
                                        "expand: the expanded size \(s) must match the existing size \(shape[i - lead]) at dim \(i) (shape \(shape) to \(sizes))") }
        }
        if target == shape { return self }
        return broadcast(to: target, op: "expand")
    }

    /// `expand` with the sizes as arguments.
    public func expand(_ sizes: Int...) -> Tensor { expand(sizes) }

    /// The values copied out to a broadcast shape. Backward: dx = sum of G back to x.shape.
    func broadcast(to target: [Int], op: String) -> Tensor {
        if target == shape { return self }
        let out = Tensor(shape: target, dtype: dtype, zeroed: false)
        switch dtype {
        case .float32: KernelTape.launch((kernelRead(Float.self), shape, out.kernelWrite(Float.self), target)) { a in ElementwiseKernels.expand(a.0, a.1, a.2, a.3) }
        case .float64: KernelTape.launch((kernelRead(Double.self), shape, out.kernelWrite(Double.self), target)) { a in ElementwiseKernels.expand(a.0, a.1, a.2, a.3) }
        case .int64: KernelTape.launch((kernelRead(Int64.self), shape, out.kernelWrite(Int64.self), target)) { a in ElementwiseKernels.expand(a.0, a.1, a.2, a.3) }
        case .bool: KernelTape.launch((kernelRead(UInt8.self), shape, out.kernelWrite(UInt8.self), target)) { a in ElementwiseKernels.expand(a.0, a.1, a.2, a.3) }
        }
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(.expand, self) { node, g in InputGrads(g.sumTo(node.input(0)!.shape)) }
    }

    /// Inserts a dim of size 1 at `dim` (PyTorch's `unsqueeze`). Backward: dx = reshape(G, x.shape)
    public func unsqueeze(_ dim: Int) -> Tensor {
        let d = Shapes.normalize(dim, rank: rank + 1, op: "unsqueeze")
        var s = shape
        s.insert(1, at: d)
        return reshape(s)
    }

    /// Removes dims of size 1: all of them, or only `dim` when it has size 1 (PyTorch's `squeeze`).
    /// Backward: dx = reshape(G, x.shape)
    public func squeeze(_ dim: Int? = nil) -> Tensor {
        if let dim {
            if rank == 0 { _ = Shapes.normalize(dim, rank: 0, op: "squeeze"); return self }
            let d = Shapes.normalize(dim, rank: rank, op: "squeeze")
            guard shape[d] == 1 else { return self }
            var s = shape
            s.remove(at: d)
            return reshape(s)
        }
        return reshape(shape.filter { $0 != 1 })
    }

    /// Removes each of the given dims that has size 1.
    public func squeeze(dims: [Int]) -> Tensor {
        let ds = Set(dims.map { Shapes.normalize($0, rank: rank, op: "squeeze") })
        return reshape(shape.enumerated().filter { !(ds.contains($0.offset) && $0.element == 1) }.map(\.element))
    }

    /// All elements as a 1-d tensor.
    public func flatten() -> Tensor { reshape([count]) }
}
