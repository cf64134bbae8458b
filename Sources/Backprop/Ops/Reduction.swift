// Reductions: sum, mean, max and friends, over all elements or over dims, with `keepDim`.

extension BackwardRule {
    static let sum = BackwardRule("SumBackward0", "dx = G broadcast to x.shape")
    static let sumDims = BackwardRule("SumBackward1", "dx = G broadcast to x.shape")
    static let mean = BackwardRule("MeanBackward0", "dx = G / n broadcast to x.shape")
    static let meanDims = BackwardRule("MeanBackward1", "dx = G / n broadcast to x.shape")
    static let maxDim = BackwardRule("MaxBackward0", "dx = G at the index of the maximum, 0 elsewhere")
    static let amax = BackwardRule("AmaxBackward0", "dx = G * (x == max) / count(x == max)")
    static let logsumexp = BackwardRule("LogsumexpBackward0", "dx = G * exp(x - logsumexp(x))")
}

extension OpDescription {
    static let reductionOps: [OpDescription] = [sum, mean, amax, max, argmax, logsumexp]

    /// The `dim` (int or list; absent: all) and `keepdim` of a reduction.
    static func reductionArgs(_ c: OpCall) throws -> ([Int], Bool) {
        (try c.kwargs.ints("dim") ?? [], try c.kwargs.bool("keepdim") ?? false)
    }

    static let sum = OpDescription(
        "sum", .reduction, pytorch: "x.sum(), x.sum(dim=[0, 2], keepdim=True)", swift: "x.sum(), x.sum(dims: [0, 2], keepDim: true)",
        rules: [.sum, .sumDims],
        replay: { c in let (d, k) = try reductionArgs(c); return [try c.tensor(0).sum(dims: d, keepDim: k)] },
        gradcheck: [.unary("x.sum(dims:keepDim:)") { g in let (s, ds, k) = g.reduction(); return (g.normal(s), { $0.sum(dims: ds, keepDim: k) }) }])
    static let mean = OpDescription(
        "mean", .reduction, pytorch: "x.mean(dim=1)", swift: "x.mean(dim: 1)", note: "`mean(dims:keepDim:)` for lists",
        rules: [.mean, .meanDims],
        replay: { c in let (d, k) = try reductionArgs(c); return [try c.tensor(0).mean(dims: d, keepDim: k)] },
        gradcheck: [.unary("x.mean(dims:keepDim:)") { g in let (s, ds, k) = g.reduction(); return (g.normal(s), { $0.mean(dims: ds, keepDim: k) }) }])
    static let amax = OpDescription(
        "amax", .reduction, pytorch: "torch.amax(x, dim=1)", swift: "x.amax(dim: 1)", note: "ties share the gradient",
        rules: [.amax],
        replay: { c in let (d, k) = try reductionArgs(c); return [try c.tensor(0).amax(dims: d, keepDim: k)] },
        gradcheck: [.unary("x.amax(dims:keepDim:)") { g in let (s, ds, k) = g.reduction(); return (g.distinct(s), { $0.amax(dims: ds, keepDim: k) }) }])
    static let max = OpDescription(
        "max", .reduction, pytorch: "x.max(), x.max(dim=1)", swift: "x.max(), x.max(dim: 1)",
        note: "with a dim: `(values, indices)`, the first maximum takes the gradient; without, ties share it", rules: [.maxDim, .amax],
        replay: { c in
            let x = try c.tensor(0)
            guard let d = try c.kwargs.int("dim") else { return [x.max()] }
            let r = x.max(dim: d, keepDim: try c.kwargs.bool("keepdim") ?? false)
            return [r.values, r.indices]
        },
        gradcheck: [
            .unary("dim", "x.max(dim:keepDim:).values") { g in
                let s = g.shape(minRank: 1, maxRank: 3)
                let d = g.int(0..<s.count), k = g.int(0..<2) == 0
                return (g.distinct(s), { $0.max(dim: d, keepDim: k).values })
            },
            .unary("all", "x.max()") { g in (g.distinct(g.shape()), { $0.max() }) },
        ])
    static let argmax = OpDescription(
        "argmax", .reduction, pytorch: "x.argmax(), x.argmax(dim=1)", swift: "x.argmax(), x.argmax(dim: 1)",
        note: "the first maximum", rules: [],
        replay: { c in [try c.tensor(0).argmax(dim: try c.kwargs.int("dim"), keepDim: try c.kwargs.bool("keepdim") ?? false)] },
        gradcheck: [])
    static let logsumexp = OpDescription(
        "logsumexp", .reduction, pytorch: "torch.logsumexp(x, dim=1)", swift: "x.logsumexp(dim: 1)", rules: [.logsumexp],
        replay: { c in let (d, k) = try reductionArgs(c); return [try c.tensor(0).logsumexp(dims: d, keepDim: k)] },
        gradcheck: [.unary("x.logsumexp(dims:keepDim:)") { g in
            let (s, ds, k) = g.reduction(); return (g.normal(s), { $0.logsumexp(dims: ds, keepDim: k) })
        }])
}

extension Tensor {
    /// Normalized, sorted, de-duplicated dims; an empty list means all dims (PyTorch's `dim=[]`/None).
    func reductionDims(_ dims: [Int]?, op: String) -> [Int] {
        guard let dims, !dims.isEmpty else { return Array(0..<rank) }
        let ds = dims.map { Shapes.normalize($0, rank: rank, op: op) }
        precondition(Set(ds).count == ds.count, "\(op): dim \(dims) appears multiple times in the list of dims")
        return Set(ds).sorted()
    }

    /// The shape after reducing `dims`.
    func reducedShape(_ dims: [Int], keepDim: Bool) -> [Int] {
        if rank == 0 { return [] }
        return keepDim ? shape.enumerated().map { dims.contains($0.offset) ? 1 : $0.element }
                       : shape.enumerated().filter { !dims.contains($0.offset) }.map(\.element)
    }

    /// The raw sum over `dims` with keepdim shape (no autograd).
    func rawSum(_ dims: [Int]) -> Tensor {
        let keep = reducedShape(dims, keepDim: true)
        let out = Tensor(shape: keep, dtype: dtype, zeroed: false)
        if let first = dims.first, let last = dims.last, last - first + 1 == dims.count, count > 0 {
            // Contiguous dims (dims are sorted and unique): [outer, len, inner] without sets.
            var outer = 1, len = 1, inner = 1
            for d in 0..<rank { if d < first { outer *= shape[d] } else if d > last { inner *= shape[d] } else { len *= shape[d] } }
            if outer * inner == 1 {
                // Everything into one number (the whole tensor, or all but dims of size 1).
                sumEverything(into: out)
                return out
            }
            if outer * inner > 1 {
                dispatchFloat("sum", {
                    KernelTape.launch((kernelRead(Float.self), out.kernelWrite(Float.self), outer, len, inner)) { a in
                        ReduceKernels.sumMiddle(a.0, outer: a.2, len: a.3, inner: a.4, a.1) }
                }, {
                    KernelTape.launch((kernelRead(Double.self), out.kernelWrite(Double.self), outer, len, inner)) { a in
                        ReduceKernels.sumMiddle(a.0, outer: a.2, len: a.3, inner: a.4, a.1) }
                })
                return out
            }
        }
        let set = Set(dims)
        dispatchFloat("sum", {
            KernelTape.launch((kernelRead(Float.self), out.kernelWrite(Float.self), shape, set)) { a in
                ReduceKernels.sum(a.0, a.2, reduced: a.3, a.1) }
        }, {
            KernelTape.launch((kernelRead(Double.self), out.kernelWrite(Double.self), shape, set)) { a in
                ReduceKernels.sum(a.0, a.2, reduced: a.3, a.1) }
        })
        return out
    }

    /// The sum of all elements, a 0-d tensor. Backward: dx = G broadcast to x.shape.
    public func sum() -> Tensor { sum(dims: [], keepDim: false) }

    /// The sum over one dim. Backward: dx = G broadcast back over the summed dim.
    public func sum(dim: Int, keepDim: Bool = false) -> Tensor { sum(dims: [dim], keepDim: keepDim) }

    /// The sum over several dims (all when empty); int64 for int64 and bool tensors, as in PyTorch
    /// (`(pred == y).sum()` counts). Backward: dx = G broadcast to x.shape
    public func sum(dims: [Int], keepDim: Bool = false) -> Tensor {
        if !dtype.isFloatingPoint { return withNoGrad { converted(to: .float64).sum(dims: dims, keepDim: keepDim).converted(to: .int64) } }
        if dims.isEmpty && !keepDim { return sumAll() }
        let ds = reductionDims(dims, op: "sum")
        let keep = rawSum(ds)
        let outShape = reducedShape(ds, keepDim: keepDim)
        let out = keep.withShape(outShape)
        guard Tensor.recordsGrad(self) else { return out }
        let (s, ks) = (shape, keep.shape)
        return out.recorded(dims.isEmpty ? .sum : .sumDims, self) { _, g in
            InputGrads(g.reshape(ks).broadcast(to: s, op: "sum"))
        }
    }

    /// The sum of every element written into `out`'s one element (no autograd).
    private func sumEverything(into out: Tensor) {
        let n = count
        dispatchFloat("sum", {
            KernelTape.launch((kernelRead(Float.self), out.kernelWrite(Float.self), n)) { a in ReduceKernels.sumAll(a.0, a.2, a.1) }
        }, {
            KernelTape.launch((kernelRead(Double.self), out.kernelWrite(Double.self), n)) { a in ReduceKernels.sumAll(a.0, a.2, a.1) }
        })
    }

    /// `sum()`: every element into a 0-d tensor, without the dims' bookkeeping of `sum(dims:)`
    /// (the same kernel, so the same bits, as a sum over all dims).
    private func sumAll() -> Tensor {
        let out = Tensor(shape: [], dtype: dtype, zeroed: false)
        sumEverything(into: out)
        guard Tensor.recordsGrad(self) else { return out }
        let (s, ks) = (shape, [Int](repeating: 1, count: rank))
        return out.recorded(.sum, self) { _, g in
            InputGrads(g.reshape(ks).broadcast(to: s, op: "sum"))
        }
    }

    /// The mean of all elements. Backward: dx = G / n broadcast to x.shape.
    public func mean() -> Tensor { mean(dims: [], keepDim: false) }

    /// The mean over one dim.
    public func mean(dim: Int, keepDim: Bool = false) -> Tensor { mean(dims: [dim], keepDim: keepDim) }

    /// The mean over several dims (all when empty). Backward: dx = G / n broadcast to x.shape
    public func mean(dims: [Int], keepDim: Bool = false) -> Tensor {
        requireFloat("mean")
        let ds = reductionDims(dims, op: "mean")
        let n = ds.reduce(1) { $0 * (rank == 0 ? 1 : shape[$1]) }
        let out = rawSum(ds).withShape(reducedShape(ds, keepDim: keepDim)) / Double(n)
        guard Tensor.recordsGrad(self) else { return out.detached() }
        let (s, ks) = (shape, reducedShape(ds, keepDim: true))
        return out.detached().recorded(dims.isEmpty ? .mean : .meanDims, self) { _, g in
            InputGrads((g / Double(n)).reshape(ks).broadcast(to: s, op: "mean"))
        }
    }

    /// The largest value along `dim` and the first index where it occurs (PyTorch's `max(dim=)`).
    /// Backward: dx = G at the index of the maximum, 0 elsewhere
    public func max(dim: Int, keepDim: Bool = false) -> (values: Tensor, indices: Tensor) {
        requireFloat("max")
        let d = Shapes.normalize(dim, rank: rank, op: "max")
        precondition(rank == 0 || shape[d] > 0, "max(): Expected reduction dim \(dim) to have non-zero size (shape \(shape))")
        let split = DimSplit(shape, d)
        let keep = reducedShape([d], keepDim: true)
        let values = Tensor(shape: keep, dtype: dtype, zeroed: false)
        let indices = Tensor(shape: keep, dtype: .int64, zeroed: false)
        indices.withFreshPointer(Int64.self) { ip in
            dispatchFloat("max", {
                values.withFreshPointer(Float.self) { o in withPointer(Float.self) {
                    ReduceKernels.maxAlong($0, outer: split.outer, n: split.n, inner: split.inner, o, ip) } }
            }, {
                values.withFreshPointer(Double.self) { o in withPointer(Double.self) {
                    ReduceKernels.maxAlong($0, outer: split.outer, n: split.n, inner: split.inner, o, ip) } }
            })
        }
        let outShape = reducedShape([d], keepDim: keepDim)
        var v = values.withShape(outShape)
        let idx = indices.withShape(outShape)
        if Tensor.recordsGrad(self) {
            let (s, ks) = (shape, keep)
            v = v.recorded(.maxDim, self, save0: indices) { node, g in
                if GradNode.recordsGradients {
                    // G times a constant one-hot mask of the chosen indices: recorded, so it depends on G.
                    let ones = Tensor.ones(ks, dtype: g.dtype)
                    return InputGrads(g.reshape(ks) * Tensor.scatterAlong(ones, indices: node.saved0!, dim: d, shape: s))
                }
                return InputGrads(Tensor.scatterAlong(g.withShape(ks), indices: node.saved0!, dim: d, shape: s))
            }
        }
        return (v, idx)
    }

    /// The index of the largest value along `dim` (first on ties), or over all elements flattened.
    /// No gradient (an int64 result).
    public func argmax(dim: Int? = nil, keepDim: Bool = false) -> Tensor {
        guard let dim else {
            let r = flatten().max(dim: 0).indices.detached()
            return keepDim ? r.reshape([Int](repeating: 1, count: rank)) : r
        }
        return withNoGrad { max(dim: dim, keepDim: keepDim).indices }
    }

    /// The largest value over the given dims (all when empty) (PyTorch's `amax`, and `max()` with no dim).
    /// Backward: dx = G * (x == max) / count(x == max), G shared evenly among the tied maxima.
    public func amax(dims: [Int] = [], keepDim: Bool = false) -> Tensor {
        requireFloat("amax")
        let ds = reductionDims(dims, op: "amax")
        let keepShape = reducedShape(ds, keepDim: true)
        let keep = Tensor(shape: keepShape, dtype: dtype, zeroed: false)
        let set = Set(ds)
        dispatchFloat("amax", {
            keep.withFreshPointer(Float.self) { o in withPointer(Float.self) { ReduceKernels.max($0, shape, reduced: set, o) } }
        }, {
            keep.withFreshPointer(Double.self) { o in withPointer(Double.self) { ReduceKernels.max($0, shape, reduced: set, o) } }
        })
        let out = keep.withShape(reducedShape(ds, keepDim: keepDim))
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(.amax, self, save0: detached(), save1: keep) { node, g in
            let mask = Tensor.equalMask(node.saved0!, node.saved1!)
            let counts = mask.rawSum(ds)
            return InputGrads(g.reshape(keepShape) * mask / counts)
        }
    }

    /// `amax` over one dim.
    public func amax(dim: Int, keepDim: Bool = false) -> Tensor { amax(dims: [dim], keepDim: keepDim) }

    /// The largest element, a 0-d tensor (PyTorch's `max()` with no dim).
    public func max() -> Tensor { amax() }

    /// log(sum(exp(x))) over the given dims, computed stably as m + log(sum(exp(x - m))) with m the max.
    /// Backward: dx = G * exp(x - logsumexp(x)), which is G * softmax(x).
    public func logsumexp(dims: [Int], keepDim: Bool = false) -> Tensor {
        requireFloat("logsumexp")
        let ds = reductionDims(dims, op: "logsumexp")
        let keepShape = reducedShape(ds, keepDim: true)
        let x = detached()
        var m = withNoGrad { x.amax(dims: ds, keepDim: true) }
        m = m.map(FiniteOrZeroF.self, op: "logsumexp")
        let keep = withNoGrad { (x - m).exp().rawSum(ds).log() + m }
        let out = keep.withShape(reducedShape(ds, keepDim: keepDim))
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(.logsumexp, self, save0: x, save1: out.detached()) { node, g in
            let y = node.output(value: node.saved1!).reshape(keepShape)
            return InputGrads(g.reshape(keepShape) * (node.input(0, value: node.saved0!) - y).exp())
        }
    }

    /// `logsumexp` over one dim.
    public func logsumexp(dim: Int, keepDim: Bool = false) -> Tensor { logsumexp(dims: [dim], keepDim: keepDim) }

    /// 1 where `a` equals `b` (broadcast), 0 elsewhere; no autograd.
    static func equalMask(_ a: Tensor, _ b: Tensor) -> Tensor { Tensor.zip(a, b, EqualF.self, op: "eq") }

    /// A tensor of `shape`, zero except `g` placed at `indices` along `dim` (`indices`, `g` keepdim-shaped).
    static func scatterAlong(_ g: Tensor, indices: Tensor, dim: Int, shape: [Int]) -> Tensor {
        let out = Tensor.zeros(shape, dtype: g.dtype)
        let split = DimSplit(shape, dim)
        let idx = indices.integers
        func fill<T: FloatElement>(_: T.Type) {
            out.withFreshPointer(T.self) { o in g.withPointer(T.self) { gp in
                IndexKernels.scatterAlong(gp, idx, o, outer: split.outer, n: split.n, inner: split.inner)
            } }
        }
        g.dtype == .float32 ? fill(Float.self) : fill(Double.self)
        return out
    }
}

struct EqualF: BinaryFunction { @inline(__always) static func apply<T: FloatElement>(_ a: T, _ b: T) -> T { a == b ? 1 : 0 } }
struct FiniteOrZeroF: UnaryFunction { @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T { x.isFinite ? x : 0 } }
