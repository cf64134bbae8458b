// Ops of the transformer models: tril and triu (causal masks), cumsum, split and chunk (each piece
// differentiable), embedding, and layer_norm.

extension BackwardRule {
    static let tril = BackwardRule("TrilBackward0", "dx = tril(G, diagonal)")
    static let triu = BackwardRule("TriuBackward0", "dx = triu(G, diagonal)")
    static let cumsum = BackwardRule("CumsumBackward0", "dx = the reversed cumulative sum of G along dim")
    static let reverseCumsum = BackwardRule("CumsumBackward0", "dG = the cumulative sum of G along dim")
    static let layerNorm = BackwardRule("NativeLayerNormBackward0",
        "xhat = (x - mean) * rstd; dx = rstd * (G w - mean(G w) - xhat * mean(G w * xhat)), dw = sum(G * xhat), db = sum(G)")
    static let embedding = BackwardRule("EmbeddingBackward0",
        "dweight[i] = sum of G at the positions whose index is i (none for padding_idx)")
}

extension OpDescription {
    static let sequenceOps: [OpDescription] = [tril, triu, cumsum, split, chunk, embedding, layerNorm]

    static let tril = OpDescription(
        "tril", .shape, pytorch: "torch.tril(x, diagonal=0)", swift: "x.tril(diagonal: 0)", rules: [.tril],
        replay: { c in [try c.tensor(0).tril(diagonal: try c.kwargs.int("diagonal") ?? 0)] },
        gradcheck: [.unary("x.tril(diagonal:)") { g in
            let s = g.shape(minRank: 2, maxRank: 3), d = g.int(-2..<3)
            return (g.normal(s), { $0.tril(diagonal: d) })
        }])
    static let triu = OpDescription(
        "triu", .shape, pytorch: "torch.triu(x, diagonal=0)", swift: "x.triu(diagonal: 0)", rules: [.triu],
        replay: { c in [try c.tensor(0).triu(diagonal: try c.kwargs.int("diagonal") ?? 0)] },
        gradcheck: [.unary("x.triu(diagonal:)") { g in
            let s = g.shape(minRank: 2, maxRank: 3), d = g.int(-2..<3)
            return (g.normal(s), { $0.triu(diagonal: d) })
        }])
    static let cumsum = OpDescription(
        "cumsum", .reduction, pytorch: "torch.cumsum(x, dim=1)", swift: "x.cumsum(dim: 1)", rules: [.cumsum],
        replay: { c in [try c.tensor(0).cumsum(dim: try c.kwargs.required(try c.kwargs.int("dim"), "cumsum", "dim"))] },
        gradcheck: [.unary("x.cumsum(dim:)") { g in
            let s = g.shape(minRank: 1, maxRank: 3), d = g.int(0..<s.count) - (g.int(0..<2) == 0 ? 0 : s.count)
            return (g.normal(s), { $0.cumsum(dim: d) })
        }])
    static let split = OpDescription(
        "split", .indexing, pytorch: "torch.split(x, 2, dim=0), torch.split(x, [1, 3])", swift: "x.split(2, dim: 0), x.split([1, 3])",
        note: "each piece differentiable", rules: [.narrow],
        replay: { c in
            let x = try c.tensor(0), dim = try c.kwargs.int("dim") ?? 0
            switch c.value(named: "split_size_or_sections", default: 1) {
            case .number(let n):
                guard let size = Int(exactly: n) else { throw c.error("split_size_or_sections must be an integer") }
                return x.split(size, dim: dim)
            case .none:
                if let sizes = try c.kwargs.ints("split_size_or_sections") {
                    return c.kwargs.values["split_size_or_sections"] is [Any] ? x.split(sizes, dim: dim) : x.split(sizes[0], dim: dim)
                }
                throw c.error("split needs split_size_or_sections")
            default: throw c.error("split_size_or_sections must be a number or a list")
            }
        },
        gradcheck: [.unary("x.split(size, dim:)") { g in
            let s = g.shape(minRank: 1, maxRank: 3), d = g.int(0..<s.count), size = g.int(1..<(s[d] + 1))
            let pieces = (s[d] + size - 1) / size
            let weights = (0..<pieces).map { Double($0) + 1 }
            // The pieces weighted differently, so that each one's gradient is checked.
            return (g.normal(s), { x in
                zip(x.split(size, dim: d), weights).map { $0.sum() * $1 }.reduce(x.sum() * 0, +)
            })
        }])
    static let chunk = OpDescription(
        "chunk", .indexing, pytorch: "torch.chunk(x, 3, dim=1)", swift: "x.chunk(3, dim: 1)", note: "each piece differentiable",
        rules: [.narrow],
        replay: { c in
            let chunks: Int
            if case .number(let n) = c.value(named: "chunks", default: 1), let k = Int(exactly: n) { chunks = k }
            else { chunks = try c.kwargs.required(try c.kwargs.int("chunks"), "chunk", "chunks") }
            return try c.tensor(0).chunk(chunks, dim: try c.kwargs.int("dim") ?? 0)
        },
        gradcheck: [.unary("x.chunk(k, dim:)") { g in
            let s = g.shape(minRank: 1, maxRank: 3), d = g.int(0..<s.count), k = g.int(1..<4)
            return (g.normal(s), { x in
                x.chunk(k, dim: d).enumerated().map { $0.element.sum() * Double($0.offset + 1) }.reduce(x.sum() * 0, +)
            })
        }])
    static let embedding = OpDescription(
        "embedding", .indexing, pytorch: "F.embedding(idx, weight, padding_idx=0)", swift: "weight.embedding(idx, paddingIdx: 0)",
        note: "gradients summed over repeated indices", rules: [.embedding],
        replay: { c in
            [try c.tensor(1).embedding(try c.index(0), paddingIdx: try c.kwargs.int("padding_idx"))]
        },
        gradcheck: [.problem("weight.embedding(idx, paddingIdx:)") { g in
            let (v, d) = (g.int(2..<6), g.int(1..<4))
            let iShape: [Int] = g.int(0..<2) == 0 ? [g.int(1..<6)] : [2, g.int(1..<4)]
            // With a padding index, the indices avoid it: its row still gives values, with no gradient by
            // definition (PyTorch's too), which finite differences would see. (The PyTorch cases cover it.)
            let pad: Int? = g.int(0..<2) == 0 ? nil : 0
            let idx = Tensor(indices: (0..<iShape.reduce(1, *)).map { _ in g.int((pad == nil ? 0 : 1)..<v) }, shape: iShape)
            return GradcheckProblem(inputs: [g.normal([v, d]), idx], wrt: [0], function: { $0[0].embedding($0[1], paddingIdx: pad) })
        }])
    static let layerNorm = OpDescription(
        "layer_norm", .reduction, pytorch: "F.layer_norm(x, (C,), weight, bias, eps=1e-5)",
        swift: "x.layerNorm(normalizedShape: [C], weight: w, bias: b, eps: 1e-5)",
        note: "fused and threaded over rows: (x - mean) * rsqrt(var + eps) * w + b over the last dims", rules: [.layerNorm],
        replay: { c in
            let shape = try c.kwargs.required(try c.kwargs.ints("normalized_shape"), "layer_norm", "normalized_shape")
            return [try c.tensor(0).layerNorm(normalizedShape: shape, weight: c.optionalTensor(named: "weight", default: 2),
                                              bias: c.optionalTensor(named: "bias", default: 3), eps: try c.kwargs.double("eps") ?? 1e-5)]
        },
        gradcheck: [.problem("x.layerNorm(normalizedShape:weight:bias:eps:)") { g in
            let s = g.shape(minRank: 1, maxRank: 3).map { Swift.max($0, 2) }
            let k = g.int(1..<(s.count + 1))
            let ns = Array(s.suffix(k))
            return GradcheckProblem(inputs: [g.normal(s), g.normal(ns), g.normal(ns)], wrt: [0, 1, 2],
                                    function: { $0[0].layerNorm(normalizedShape: ns, weight: $0[1], bias: $0[2]) })
        }])
}

extension Tensor {
    /// A copy with the entries above diagonal `diagonal` of the last two dims set to zero
    /// (PyTorch's `torch.tril`; `diagonal` > 0 keeps more, < 0 fewer).
    ///
    /// Backward: dx = tril(G, diagonal)
    public func tril(diagonal: Int = 0) -> Tensor { triangle(diagonal: diagonal, lower: true) }

    /// A copy with the entries below diagonal `diagonal` of the last two dims set to zero (PyTorch's `torch.triu`).
    ///
    /// Backward: dx = triu(G, diagonal)
    public func triu(diagonal: Int = 0) -> Tensor { triangle(diagonal: diagonal, lower: false) }

    private func triangle(diagonal: Int, lower: Bool) -> Tensor {
        let op = lower ? "tril" : "triu"
        precondition(rank >= 2, "\(op): input tensor must have at least 2 dimensions, got shape \(shape)")
        let (rows, cols) = (shape[rank - 2], shape[rank - 1])
        let batch = shape.dropLast(2).reduce(1, *)
        let out = Tensor(shape: shape, dtype: dtype, zeroed: false)
        switch dtype {
        case .float32: out.withFreshPointer(Float.self) { o in withPointer(Float.self) {
            ScanKernels.triangle($0, o, batch: batch, rows: rows, cols: cols, diagonal: diagonal, lower: lower, zero: 0) } }
        case .float64: out.withFreshPointer(Double.self) { o in withPointer(Double.self) {
            ScanKernels.triangle($0, o, batch: batch, rows: rows, cols: cols, diagonal: diagonal, lower: lower, zero: 0) } }
        case .int64: out.withFreshPointer(Int64.self) { o in withPointer(Int64.self) {
            ScanKernels.triangle($0, o, batch: batch, rows: rows, cols: cols, diagonal: diagonal, lower: lower, zero: 0) } }
        case .bool: out.withFreshPointer(UInt8.self) { o in withPointer(UInt8.self) {
            ScanKernels.triangle($0, o, batch: batch, rows: rows, cols: cols, diagonal: diagonal, lower: lower, zero: 0) } }
        }
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(lower ? .tril : .triu, self, int: diagonal) { node, g in
            InputGrads(g.triangle(diagonal: node.savedInt, lower: lower))
        }
    }

    /// The running sums along `dim` (PyTorch's `torch.cumsum`; float32 accumulated in float64, as
    /// PyTorch's CPU kernel does).
    ///
    /// Backward: dx = the reversed cumulative sum of G along dim
    public func cumsum(dim: Int) -> Tensor { scan(dim: dim, reverse: false) }

    private func scan(dim: Int, reverse: Bool) -> Tensor {
        requireFloat("cumsum")
        let d = Shapes.normalize(dim, rank: rank, op: "cumsum")
        let split = DimSplit(shape, rank == 0 ? 0 : d)
        let out = Tensor(shape: shape, dtype: dtype, zeroed: false)
        dispatchFloat("cumsum", {
            out.withFreshPointer(Float.self) { o in withPointer(Float.self) {
                ScanKernels.cumsum($0, o, outer: split.outer, n: split.n, inner: split.inner, reverse: reverse) } }
        }, {
            out.withFreshPointer(Double.self) { o in withPointer(Double.self) {
                ScanKernels.cumsum($0, o, outer: split.outer, n: split.n, inner: split.inner, reverse: reverse) } }
        })
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(reverse ? .reverseCumsum : .cumsum, self, int: d) { node, g in
            InputGrads(g.scan(dim: node.savedInt, reverse: !reverse))
        }
    }

    /// Pieces of `size` along `dim`, the last one smaller when the size does not divide
    /// (PyTorch's `torch.split` with an int). Each piece is a `narrow`, differentiable.
    public func split(_ size: Int, dim: Int = 0) -> [Tensor] {
        precondition(size > 0 || (size == 0 && shape[Shapes.normalize(dim, rank: rank, op: "split")] == 0),
                     "split: split_size can only be 0 if the dimension size is 0, but got \(size) (shape \(shape))")
        let d = Shapes.normalize(dim, rank: rank, op: "split")
        let n = shape[d]
        if n == 0 { return [self] }
        return stride(from: 0, to: n, by: size).map { narrow(dim: d, start: $0, length: Swift.min(size, n - $0)) }
    }

    /// Pieces of the given sizes along `dim`, which must add up to its size (PyTorch's `torch.split`
    /// with a list).
    public func split(_ sizes: [Int], dim: Int = 0) -> [Tensor] {
        let d = Shapes.normalize(dim, rank: rank, op: "split")
        precondition(sizes.allSatisfy { $0 >= 0 } && sizes.reduce(0, +) == shape[d],
                     "split: split_with_sizes expects split_sizes to sum exactly to \(shape[d]) (input tensor's size at dimension \(d)), but got split_sizes=\(sizes)")
        var start = 0
        return sizes.map { s in
            defer { start += s }
            return narrow(dim: d, start: start, length: s)
        }
    }

    /// `chunks` pieces along `dim` of size ceil(n / chunks) (fewer when they run out), as PyTorch's `torch.chunk`.
    public func chunk(_ chunks: Int, dim: Int = 0) -> [Tensor] {
        precondition(chunks > 0, "chunk: number of chunks must be greater than 0, got \(chunks)")
        let d = Shapes.normalize(dim, rank: rank, op: "chunk")
        let n = shape[d]
        return split(Swift.max((n + chunks - 1) / chunks, n == 0 ? 0 : 1), dim: d)
    }

    /// The rows of this [V, D] table at the int64 `indices`: shape `indices.shape + [D]` (PyTorch's
    /// `F.embedding(indices, weight, padding_idx=)`). The row `paddingIdx` gets no gradient.
    ///
    /// Backward: dweight[i] = sum of G at the positions whose index is i (none for padding_idx)
    public func embedding(_ indices: Tensor, paddingIdx: Int? = nil) -> Tensor {
        Tensor.requireIndex(indices, op: "embedding")
        precondition(rank == 2, "embedding: weight must be 2-d [num_embeddings, embedding_dim], got shape \(shape)")
        let (v, d) = (shape[0], shape[1])
        let pad = paddingIdx.map { $0 < 0 ? $0 + v : $0 }
        if let pad { precondition(pad >= 0 && pad < v, "embedding: padding_idx \(paddingIdx!) must be within num_embeddings \(v)") }
        // The rows are copied, and (backward) the gradients added back, by kernels that read the
        // indices themselves (checking them): a compiled step's replay uses the new ones.
        let m = indices.count, es = dtype.byteSize
        let out = Tensor(shape: indices.shape + [d], dtype: dtype, zeroed: false)
        KernelTape.launch((kernelRead(UInt8.self), indices.kernelRead(Int64.self), out.kernelWrite(UInt8.self), m, v, d * es)) { a in
            let (w, ix, o, m, v, row) = a
            for i in 0..<m {
                let t = Int(ix[i])
                precondition(t >= 0 && t < v, "embedding: index \(t) is out of range for \(v) embeddings")
                (o + i * row).update(from: w + t * row, count: row)
            }
        }
        guard Tensor.recordsGrad(self) else { return out }
        let idx0 = indices.detached()
        return out.recorded(.embedding, self, saves: true) { node, g in
            if GradNode.recordsGradients {
                // Gradients of gradients: the recorded scatter, its offsets from the indices read in Swift.
                let idx = idx0.integers
                var offsets: [Int] = []
                offsets.reserveCapacity(idx.count * d)
                for i in idx { for k in 0..<d { offsets.append(i * d + k) } }
                // The padding row's positions are left out of the scatter.
                let kept = pad.map { p in offsets.indices.filter { idx[$0 / d] != p } } ?? Array(offsets.indices)
                let keptOffsets = kept.count == offsets.count ? offsets : kept.map { offsets[$0] }
                let flat = g.reshape([g.count])
                let picked = kept.count == offsets.count ? flat : flat.takingRecorded(kept, shape: [kept.count])
                return InputGrads(Tensor.scatterAddingRecorded(picked, offsets: keptOffsets, into: node.input(0)!.shape))
            }
            // dweight[t] += G[i] for each position i in order (that of the scatter above), padding skipped.
            let dw = Tensor.zeros([v, d], dtype: g.dtype)
            func add<T: FloatElement>(_: T.Type) {
                KernelTape.launch((g.kernelRead(T.self), idx0.kernelRead(Int64.self), dw.kernelWrite(T.self), m, d, pad ?? -1)) { a in
                    let (gp, ix, o, m, d, pad) = a
                    for i in 0..<m {
                        let t = Int(ix[i])
                        if t == pad { continue }
                        let src = gp + i * d, dst = o + t * d
                        for k in 0..<d { dst[k] += src[k] }
                    }
                }
            }
            g.dispatchFloat("embedding_backward", { add(Float.self) }, { add(Double.self) })
            return InputGrads(dw)
        }
    }

    /// (x - mean) / sqrt(var + eps) over the last dims `normalizedShape` (the variance without
    /// correction), times `weight` plus `bias` when given (PyTorch's `F.layer_norm`). One fused
    /// kernel per direction, threaded over rows; the gradients of gradients are composed of recorded ops.
    ///
    /// Backward: xhat = (x - mean) * rstd; dx = rstd * (G w - mean(G w) - xhat * mean(G w * xhat)), dw = sum(G * xhat), db = sum(G)
    public func layerNorm(normalizedShape: [Int], weight: Tensor? = nil, bias: Tensor? = nil, eps: Double = 1e-5) -> Tensor {
        requireFloat("layer_norm")
        precondition(!normalizedShape.isEmpty && normalizedShape.count <= rank && Array(shape.suffix(normalizedShape.count)) == normalizedShape,
                     "layer_norm: normalized_shape \(normalizedShape) must be the last dims of the input's shape \(shape)")
        for (name, t) in [("weight", weight), ("bias", bias)] {
            if let t {
                precondition(t.shape == normalizedShape, "layer_norm: \(name) of shape \(t.shape) for normalized_shape \(normalizedShape)")
                precondition(t.dtype == dtype, "layer_norm: \(name) is \(t.dtype), the input \(dtype)")
            }
        }
        let n = normalizedShape.reduce(1, *), rows = n == 0 ? 0 : count / n
        let statShape = Array(shape.dropLast(normalizedShape.count)) + normalizedShape.map { _ in 1 }
        let out = Tensor(shape: shape, dtype: dtype, zeroed: false)
        let mean = Tensor(shape: statShape, dtype: dtype, zeroed: false), rstd = Tensor(shape: statShape, dtype: dtype, zeroed: false)
        func run<T: FloatElement>(_: T.Type) {
            KernelTape.launch((kernelRead(T.self), out.kernelWrite(T.self), mean.kernelWrite(T.self), rstd.kernelWrite(T.self),
                               weight?.kernelRead(T.self), bias?.kernelRead(T.self), rows, n, eps)) { a in
                let (x, y, m, s, w, b, rows, n, eps) = a
                LayerNormKernels.forward(x, rows: rows, n: n, eps: eps, weight: w, bias: b, y, mean: m, rstd: s)
            }
        }
        dispatchFloat("layer_norm", { run(Float.self) }, { run(Double.self) })
        var inputs = [self]
        if let weight { inputs.append(weight) }
        if let bias { inputs.append(bias) }
        guard Tensor.recordsGrad(inputs) else { return out }
        let x0 = detached(), w0 = weight?.detached()
        let hasWeight = weight != nil, hasBias = bias != nil
        let dims = Array((rank - normalizedShape.count)..<rank)
        return out.recorded(.layerNorm, inputs: inputs, saves: true) { node, g in
            if GradNode.recordsGradients {
                // The same formulas from recorded ops, so that they can be differentiated again.
                let x = node.input(0, value: x0)
                let w = hasWeight ? node.input(1, value: w0!) : nil
                let centered = x - x.mean(dims: dims, keepDim: true)
                let r = ((centered * centered).mean(dims: dims, keepDim: true) + eps).rsqrt()
                let xhat = centered * r
                let dh = w.map { g * $0 } ?? g
                let dx = r * (dh - dh.mean(dims: dims, keepDim: true) - xhat * (dh * xhat).mean(dims: dims, keepDim: true))
                var grads: [Tensor?] = [dx]
                if hasWeight { grads.append((g * xhat).sumTo(normalizedShape)) }
                if hasBias { grads.append(g.sumTo(normalizedShape)) }
                return InputGrads(grads)
            }
            let wantX = node.needsGrad(0), wantW = hasWeight && node.needsGrad(1), wantB = hasBias && node.needsGrad(hasWeight ? 2 : 1)
            let dx = wantX ? Tensor(shape: x0.shape, dtype: x0.dtype, zeroed: false) : nil
            let dw = wantW ? Tensor(shape: normalizedShape, dtype: x0.dtype, zeroed: false) : nil
            let db = wantB ? Tensor(shape: normalizedShape, dtype: x0.dtype, zeroed: false) : nil
            let gc = g.dtype == x0.dtype ? g : g.to(x0.dtype)
            func back<T: FloatElement>(_: T.Type) {
                KernelTape.launch((x0.kernelRead(T.self), gc.kernelRead(T.self), mean.kernelRead(T.self), rstd.kernelRead(T.self),
                                   w0?.kernelRead(T.self), dx?.kernelWrite(T.self), dw?.kernelWrite(T.self), db?.kernelWrite(T.self),
                                   rows, n)) { a in
                    let (x, gp, m, s, w, dx, dw, db, rows, n) = a
                    LayerNormKernels.backward(x, gp, rows: rows, n: n, weight: w, mean: m, rstd: s, dx: dx, dw: dw, db: db)
                }
            }
            x0.dispatchFloat("layer_norm", { back(Float.self) }, { back(Double.self) })
            var grads: [Tensor?] = [dx]
            if hasWeight { grads.append(dw) }
            if hasBias { grads.append(db) }
            return InputGrads(grads)
        }
    }
}
