// Ops that select or join values by position: cat, stack, narrow, indexSelect, gather.
// Each is a copy through a list of source offsets; the backward rule adds G back at those
// offsets, so repeated indices accumulate their gradients.

extension BackwardRule {
    static let narrow = BackwardRule("NarrowBackward0", "dx = G placed at [start, start + length) along dim, 0 elsewhere")
    static let cat = BackwardRule("CatBackward0", "dx_i = the slice of G along dim that x_i filled")
    static let indexSelect = BackwardRule("IndexSelectBackward0", "dx = zeros; dx[index[j]] += G[j] along dim")
    static let take = BackwardRule("TakeBackward0", "dx = zeros; dx[offset[i]] += G[i]")
    static let scatterAdd = BackwardRule("ScatterAddBackward0", "dG[i] = G[offset[i]]")
    static let gather = BackwardRule("GatherBackward0", "dx = zeros; dx[..., index[p], ...] += G[p] (scatter_add along dim)")
}

extension OpDescription {
    static let indexingOps: [OpDescription] = [cat, stack, narrow, indexSelect, gather]

    static let cat = OpDescription(
        "cat", .indexing, pytorch: "torch.cat([a, b], dim=0)", swift: "Tensor.cat([a, b], dim: 0)",
        note: "legacy empty [0] tensors are skipped, as PyTorch", rules: [.cat],
        replay: { c in [Tensor.cat(try c.tensorList("cat"), dim: try c.kwargs.int("dim") ?? 0)] },
        gradcheck: [.problem("Tensor.cat([a, b, c], dim: d)") { g in
            let s = g.shape(minRank: 1, maxRank: 3)
            let d = g.int(0..<s.count)
            let parts = (0..<g.int(1..<4)).map { _ -> Tensor in var p = s; p[d] = g.int(1..<4); return g.normal(p) }
            return GradcheckProblem(inputs: parts, wrt: Array(parts.indices), function: { Tensor.cat($0, dim: d - s.count) })
        }])
    static let stack = OpDescription(
        "stack", .indexing, pytorch: "torch.stack([a, b], dim=1)", swift: "Tensor.stack([a, b], dim: 1)", rules: [.cat],
        replay: { c in [Tensor.stack(try c.tensorList("stack"), dim: try c.kwargs.int("dim") ?? 0)] },
        gradcheck: [.problem("Tensor.stack([a, b], dim: d)") { g in
            let s = g.shape(minRank: 0, maxRank: 3)
            let d = g.int(0..<(s.count + 1))
            let parts = (0..<g.int(1..<4)).map { _ in g.normal(s) }
            return GradcheckProblem(inputs: parts, wrt: Array(parts.indices), function: { Tensor.stack($0, dim: d) })
        }])
    static let narrow = OpDescription(
        "narrow", .indexing, pytorch: "x.narrow(0, 1, 2)", swift: "x.narrow(dim: 0, start: 1, length: 2)", rules: [.narrow],
        replay: { c in
            let kw = c.kwargs
            return [try c.tensor(0).narrow(dim: try kw.required(try kw.int("dim"), "narrow", "dim"),
                                           start: try kw.required(try kw.int("start"), "narrow", "start"),
                                           length: try kw.required(try kw.int("length"), "narrow", "length"))]
        },
        gradcheck: [.unary("x.narrow(dim:start:length:)") { g in
            let s = g.shape(minRank: 1, maxRank: 3)
            let d = g.int(0..<s.count)
            let start = g.int(0..<s[d])
            let length = g.int(0..<(s[d] - start + 1))
            return (g.normal(s), { $0.narrow(dim: d, start: start, length: length) })
        }])
    static let indexSelect = OpDescription(
        "index_select", .indexing, pytorch: "torch.index_select(x, 0, idx)", swift: "x.indexSelect(dim: 0, index: idx)",
        note: "idx: `Tensor(indices: [2, 0, 2])`", rules: [.indexSelect],
        replay: { c in
            [try c.tensor(0).indexSelect(dim: try c.kwargs.required(try c.kwargs.int("dim"), "index_select", "dim"), index: try c.index(1))]
        },
        gradcheck: [.problem("x.indexSelect(dim: d, index: i)") { g in
            let s = g.shape(minRank: 1, maxRank: 3)
            let d = g.int(0..<s.count)
            let idx = Tensor(indices: (0..<g.int(1..<6)).map { _ in g.int(0..<s[d]) })
            return GradcheckProblem(inputs: [g.normal(s), idx], wrt: [0], function: { $0[0].indexSelect(dim: d, index: $0[1]) })
        }])
    static let gather = OpDescription(
        "gather", .indexing, pytorch: "torch.gather(x, 1, idx)", swift: "x.gather(dim: 1, index: idx)", rules: [.gather],
        replay: { c in
            [try c.tensor(0).gather(dim: try c.kwargs.required(try c.kwargs.int("dim"), "gather", "dim"), index: try c.index(1))]
        },
        gradcheck: [.problem("x.gather(dim: d, index: i)") { g in
            let s = g.shape(minRank: 1, maxRank: 3)
            let d = g.int(0..<s.count)
            var iShape = s.map { g.int(1..<($0 + 1)) }
            iShape[d] = g.int(1..<5)
            let n = iShape.reduce(1, *)
            let idx = Tensor(indices: (0..<n).map { _ in g.int(0..<s[d]) }, shape: iShape)
            return GradcheckProblem(inputs: [g.normal(s), idx], wrt: [0], function: { $0[0].gather(dim: d, index: $0[1]) })
        }])
}

extension Tensor {
    // MARK: - Offset-based copies (no autograd)

    /// A tensor of `shape` whose element i is this tensor's element at flat offset `offsets[i]` (any dtype).
    func taking(_ offsets: [Int], shape outShape: [Int]) -> Tensor {
        let out = Tensor(shape: outShape, dtype: dtype, zeroed: false)
        func copy<T>(_: T.Type) {
            out.withFreshPointer(T.self) { o in withPointer(T.self) { x in IndexKernels.take(x, offsets, o) } }
        }
        switch dtype {
        case .float32: copy(Float.self)
        case .float64: copy(Double.self)
        case .int64: copy(Int64.self)
        case .bool: copy(UInt8.self)
        }
        return out
    }

    /// Zeros of `shape` with `g`'s element i added at flat offset `offsets[i]` (repeats accumulate).
    static func scatterAdding(_ g: Tensor, offsets: [Int], into shape: [Int]) -> Tensor {
        let out = Tensor.zeros(shape, dtype: g.dtype)
        func add<T: FloatElement>(_: T.Type) {
            out.withFreshPointer(T.self) { o in g.withPointer(T.self) { gp in IndexKernels.scatterAdd(gp, offsets, o) } }
        }
        g.dispatchFloat("scatter_add", { add(Float.self) }, { add(Double.self) })
        return out
    }

    /// `scatterAdding` with offsets that a kernel wrote into an int64 tensor (max pooling's
    /// argmax), read inside the kernel so that a compiled step's replay uses the new ones.
    static func scatterAdding(_ g: Tensor, offsets: Tensor, into shape: [Int]) -> Tensor {
        precondition(offsets.dtype == .int64 && offsets.count == g.count,
                     "scatter_add: \(offsets.count) offsets (\(offsets.dtype)) for \(g.count) values")
        let out = Tensor.zeros(shape, dtype: g.dtype)
        func add<T: FloatElement>(_: T.Type) {
            KernelTape.launch((g.kernelRead(T.self), offsets.kernelRead(Int.self), out.kernelWrite(T.self), g.count)) { a in
                let (src, off, dst, n) = a
                for i in 0..<n { dst[off[i]] += src[i] }
            }
        }
        g.dispatchFloat("scatter_add", { add(Float.self) }, { add(Double.self) })
        return out
    }

    /// `taking`, recorded: differentiable (its gradient scatter-adds back), for rules whose
    /// gradients are recorded (createGraph). Without a graph to record it is `taking`.
    func takingRecorded(_ offsets: [Int], shape outShape: [Int]) -> Tensor {
        let out = detached().taking(offsets, shape: outShape)
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(.take, self) { node, g in
            InputGrads(Tensor.scatterAddingRecorded(g, offsets: offsets, into: node.input(0)!.shape))
        }
    }

    /// `scatterAdding`, recorded (its gradient takes the values back at the offsets).
    static func scatterAddingRecorded(_ g: Tensor, offsets: [Int], into shape: [Int]) -> Tensor {
        let out = scatterAdding(g.detached(), offsets: offsets, into: shape)
        guard Tensor.recordsGrad(g) else { return out }
        let gShape = g.shape
        return out.recorded(.scatterAdd, g) { _, gg in InputGrads(gg.takingRecorded(offsets, shape: gShape)) }
    }

    /// The flat offsets of the elements [start, start + length) along `dim` (others whole).
    func sliceOffsets(dim: Int, start: Int, length: Int) -> [Int] {
        let split = DimSplit(shape, dim)
        return IndexKernels.sliceOffsets(outer: split.outer, n: split.n, inner: split.inner, start: start, length: length)
    }

    /// Checks that `index` is an int64 tensor; names the op.
    static func requireIndex(_ index: Tensor, op: String) {
        precondition(index.dtype == .int64, "\(op): expected an int64 index tensor, got \(index.dtype) of shape \(index.shape)")
    }

    // MARK: - narrow

    /// The `length` elements from `start` along `dim` (PyTorch's `narrow`, as a copy).
    /// Backward: dx = G placed at [start, start + length) along dim, 0 elsewhere
    public func narrow(dim: Int, start: Int, length: Int) -> Tensor {
        precondition(rank > 0, "narrow: cannot be applied to a 0-dim tensor")
        let d = Shapes.normalize(dim, rank: rank, op: "narrow")
        let s = start < 0 ? start + shape[d] : start
        precondition(s >= 0 && length >= 0 && s + length <= shape[d],
                     "narrow: start \(start) + length \(length) exceeds dimension \(dim) of size \(shape[d]) (shape \(shape))")
        var outShape = shape
        outShape[d] = length
        let offsets = sliceOffsets(dim: d, start: s, length: length)
        let out = taking(offsets, shape: outShape)
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(.narrow, self) { node, g in
            InputGrads(Tensor.scatterAddingRecorded(g, offsets: offsets, into: node.input(0)!.shape))
        }
    }

    // MARK: - cat, stack

    /// The tensors joined along an existing dim (PyTorch's `torch.cat`). All must have the same
    /// rank and the same sizes except along `dim`; mixed dtypes are promoted to the widest float.
    ///
    /// Legacy empty tensors (1-d of size 0) are skipped when other tensors are not 1-d, as PyTorch
    /// does; they get an empty gradient.
    ///
    /// Backward: dx_i = the slice of G along dim that x_i filled
    /// ```swift
    /// Tensor.cat([a, b], dim: 0)     // [2, 3] and [4, 3] give [6, 3]
    /// ```
    public static func cat(_ tensors: [Tensor], dim: Int = 0) -> Tensor {
        precondition(!tensors.isEmpty, "cat: expected a non-empty list of tensors")
        let isLegacyEmpty = { (t: Tensor) in t.shape == [0] }
        if tensors.contains(where: isLegacyEmpty), let kept = tensors.first(where: { !isLegacyEmpty($0) }) {
            // Skipped for the shape checks and the copy, but part of dtype promotion and of the graph.
            let dtypes = Set(tensors.map(\.dtype))
            let wide: DType = dtypes.count == 1 ? kept.dtype : (dtypes.contains(.float64) ? .float64 : .float32)
            let converted = tensors.map { $0.to(wide) }
            let joined = cat(converted.filter { !isLegacyEmpty($0) }, dim: dim)
            guard Tensor.recordsGrad(tensors) else { return joined }
            let shapes = tensors.map(\.shape)
            return joined.detached().recorded(.cat, inputs: converted) { _, g in
                // The inner cat's own rule, run by hand: each kept input gets its slice of G.
                var start = 0
                let d = dim < 0 ? dim + g.rank : dim
                return InputGrads(shapes.map { s -> Tensor? in
                    if s == [0] { return Tensor.zeros([0], dtype: g.dtype) }
                    defer { start += s[d] }
                    var outShape = g.shape
                    outShape[d] = s[d]
                    return g.takingRecorded(g.sliceOffsets(dim: d, start: start, length: s[d]), shape: outShape)
                })
            }
        }
        var ts = tensors
        let dtypes = Set(ts.map(\.dtype))
        if dtypes.count > 1 {
            let wide: DType = dtypes.contains(.float64) ? .float64 : .float32
            ts = ts.map { $0.to(wide) }
        }
        let first = ts[0]
        precondition(first.rank > 0, "cat: zero-dimensional tensor (at position 0) cannot be concatenated")
        let d = Shapes.normalize(dim, rank: first.rank, op: "cat")
        for (i, t) in ts.enumerated() {
            precondition(t.rank == first.rank,
                         "cat: tensors must have the same number of dimensions: got \(first.shape) and \(t.shape) (at position \(i))")
            for k in 0..<first.rank where k != d {
                precondition(t.shape[k] == first.shape[k],
                             "cat: sizes of tensors must match except in dimension \(d): expected size \(first.shape[k]) but got size \(t.shape[k]) for tensor number \(i) in the list (shapes \(first.shape) and \(t.shape))")
            }
        }
        var outShape = first.shape
        outShape[d] = ts.reduce(0) { $0 + $1.shape[d] }
        let out = Tensor(shape: outShape, dtype: first.dtype, zeroed: false)
        let outer = first.shape[..<d].reduce(1, *)
        let inner = first.shape[(d + 1)...].reduce(1, *)
        let rowOut = outShape[d] * inner
        func copy<T>(_: T.Type) {
            out.withFreshPointer(T.self) { o in
                var at = 0
                for t in ts {
                    let row = t.shape[d] * inner
                    t.withPointer(T.self) { x in
                        for a in 0..<outer { (o + a * rowOut + at).update(from: x + a * row, count: row) }
                    }
                    at += row
                }
            }
        }
        switch first.dtype {
        case .float32: copy(Float.self)
        case .float64: copy(Double.self)
        case .int64: copy(Int64.self)
        case .bool: copy(UInt8.self)
        }
        guard Tensor.recordsGrad(ts) else { return out }
        let sizes = ts.map { $0.shape[d] }
        return out.recorded(.cat, inputs: ts) { _, g in
            var start = 0
            return InputGrads(sizes.map { n -> Tensor? in
                defer { start += n }
                return g.takingRecorded(g.sliceOffsets(dim: d, start: start, length: n), shape: {
                    var s = g.shape; s[d] = n; return s }())
            })
        }
    }

    /// The tensors, all of one shape, joined along a new dim (PyTorch's `torch.stack`).
    ///
    /// Backward: dx_i = the slice of G along dim that x_i filled (it is `cat` of the inputs unsqueezed at `dim`).
    public static func stack(_ tensors: [Tensor], dim: Int = 0) -> Tensor {
        precondition(!tensors.isEmpty, "stack: expected a non-empty list of tensors")
        let s = tensors[0].shape
        for (i, t) in tensors.enumerated() {
            precondition(t.shape == s, "stack: expects each tensor to be equal size, but got \(s) at entry 0 and \(t.shape) at entry \(i)")
        }
        let d = Shapes.normalize(dim, rank: s.count + 1, op: "stack")
        return cat(tensors.map { $0.unsqueeze(d) }, dim: d)
    }

    // MARK: - indexSelect, gather

    /// The entries at `index` (1-d or 0-d int64) along `dim` (PyTorch's `index_select`).
    ///
    /// Backward: dx = zeros; dx[index[j]] += G[j] along dim (repeated indices accumulate).
    /// ```swift
    /// x.indexSelect(dim: 0, index: Tensor(indices: [2, 0, 2]))   // rows 2, 0, 2
    /// ```
    public func indexSelect(dim: Int, index: Tensor) -> Tensor {
        Tensor.requireIndex(index, op: "index_select")
        precondition(index.rank <= 1, "index_select: index must be 0-d or 1-d, got shape \(index.shape)")
        let d = Shapes.normalize(dim, rank: rank, op: "index_select")
        let split = DimSplit(shape, d)
        let idx = index.integers
        for v in idx {
            precondition(v >= 0 && v < split.n, "index_select: index \(v) is out of range for dimension \(dim) of size \(split.n) (shape \(shape))")
        }
        let offsets = IndexKernels.selectOffsets(outer: split.outer, n: split.n, inner: split.inner, index: idx)
        var outShape = shape
        if rank > 0 { outShape[d] = idx.count }
        let out = taking(offsets, shape: outShape)
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(.indexSelect, self, saves: true) { node, g in
            InputGrads(Tensor.scatterAddingRecorded(g, offsets: offsets, into: node.input(0)!.shape))
        }
    }

    /// Values picked along `dim` by an int64 `index` of the same rank: for dim 1,
    /// out[i][j][k] = x[i][index[i][j][k]][k] (PyTorch's `gather`). The output has the index's shape,
    /// whose sizes must not exceed the input's outside `dim`.
    ///
    /// An empty index gives an empty result of its shape, whatever its rank (as PyTorch).
    ///
    /// Backward: dx = zeros; dx[..., index[p], ...] += G[p] (scatter_add along dim)
    public func gather(dim: Int, index: Tensor) -> Tensor {
        Tensor.requireIndex(index, op: "gather")
        if index.count == 0 && index.rank != rank {
            let out = Tensor(shape: index.shape, dtype: dtype, zeroed: true)
            guard Tensor.recordsGrad(self) else { return out }
            return out.recorded(.gather, self) { node, g in InputGrads(Tensor.zeros(node.input(0)!.shape, dtype: g.dtype)) }
        }
        precondition(index.rank == rank || (rank == 0 && index.rank <= 1) ,
                     "gather: index tensor must have the same number of dimensions as input (input \(shape), index \(index.shape))")
        let d = Shapes.normalize(dim, rank: rank, op: "gather")
        let xShape = rank == 0 ? [1] : shape
        let iShape = index.rank == 0 ? [Int](repeating: 1, count: xShape.count) : index.shape
        for k in 0..<xShape.count where k != d {
            precondition(iShape[k] <= xShape[k],
                         "gather: size \(iShape[k]) of index does not fit size \(xShape[k]) of input at dimension \(k) (input \(shape), index \(index.shape))")
        }
        let xStrides = Shapes.strides(xShape)
        let idx = index.integers
        var offsets = [Int](repeating: 0, count: idx.count)
        if !idx.isEmpty {
            var odo = Odometer(shape: iShape)
            var i = 0
            repeat {
                let v = idx[i]
                precondition(v >= 0 && v < xShape[d],
                             "gather: index \(v) is out of bounds for dimension \(dim) with size \(xShape[d]) (input \(shape))")
                var off = 0
                for k in 0..<iShape.count { off += (k == d ? v : odo.index[k]) * xStrides[k] }
                offsets[i] = off
                i += 1
            } while odo.next() >= 0
        }
        let out = taking(offsets, shape: index.shape)
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(.gather, self, saves: true) { node, g in
            InputGrads(Tensor.scatterAddingRecorded(g, offsets: offsets, into: node.input(0)!.shape))
        }
    }
}
