import Foundation

// Indexing as PyTorch users write it: x[0], x[-1], x[1..<3], x[..., -1], x[.newAxis], x[idx], x[mask],
// and assignment into any of them (x[0..<2, ...] = y). Every form is one list of flat offsets into
// the input: reading takes the values there (IndexBackward0 scatter-adds the gradient back),
// writing is index_put. Also index_put (with accumulate), take_along_dim and masked_select.

/// One entry of a subscript: what PyTorch's `x[...]` takes.
public enum TensorIndex: Sendable {
    /// One position (negative counts from the end); the dim is removed.
    case index(Int)
    /// Positions start, start + step, ... before end (nil: the dim's start or end; negatives count from the end).
    case slice(start: Int?, end: Int?, step: Int)
    /// As many whole dims as needed (Python's `...`; written `.ellipsis` or `...` in a subscript).
    case remainingDims
    /// A new dim of size 1 (Python's `None`; written `.newAxis` in a subscript).
    case insertedAxis
    /// An int64 tensor of positions along one dim, or a bool mask over as many dims as it has.
    case tensor(Tensor)
}

/// A value usable inside `x[...]`: `Int`, the ranges of `Int`, `Tensor`, or a `TensorIndex`
/// (`.ellipsis`, `.newAxis`, `.slice(0..<8, by: 2)`).
public protocol TensorIndexConvertible {
    /// The index this value stands for.
    var tensorIndex: TensorIndex { get }
}

extension TensorIndex: TensorIndexConvertible {
    /// Itself.
    public var tensorIndex: TensorIndex { self }
}

/// An integer subscript selects one position: `x[0]`, `x[-1]`.
extension Int: TensorIndexConvertible {
    /// `.index(self)`.
    public var tensorIndex: TensorIndex { .index(self) }
}

/// `x[1..<3]`: a half-open range of positions.
extension Range: TensorIndexConvertible where Bound == Int {
    /// `lowerBound..<upperBound`, step 1.
    public var tensorIndex: TensorIndex { .slice(start: lowerBound, end: upperBound, step: 1) }
}

/// `x[1...3]`: a closed range of positions.
extension ClosedRange: TensorIndexConvertible where Bound == Int {
    /// `lowerBound...upperBound` (the end included), step 1.
    public var tensorIndex: TensorIndex { .slice(start: lowerBound, end: upperBound == -1 ? nil : upperBound + 1, step: 1) }
}

/// `x[1...]`: from a position to the end.
extension PartialRangeFrom: TensorIndexConvertible where Bound == Int {
    /// From `lowerBound` to the end (Python's `a:`).
    public var tensorIndex: TensorIndex { .slice(start: lowerBound, end: nil, step: 1) }
}

/// `x[..<3]`: from the start to before a position.
extension PartialRangeUpTo: TensorIndexConvertible where Bound == Int {
    /// From the start to before `upperBound` (Python's `:b`).
    public var tensorIndex: TensorIndex { .slice(start: nil, end: upperBound, step: 1) }
}

/// `x[...2]`: from the start through a position.
extension PartialRangeThrough: TensorIndexConvertible where Bound == Int {
    /// From the start through `upperBound`.
    public var tensorIndex: TensorIndex { .slice(start: nil, end: upperBound == -1 ? nil : upperBound + 1, step: 1) }
}

extension Tensor: TensorIndexConvertible {
    /// `.tensor(self)`: int64 positions or a bool mask.
    public var tensorIndex: TensorIndex { .tensor(self) }
}

extension TensorIndexConvertible where Self == TensorIndex {
    /// Python's `...`: `x[.ellipsis, 0]` (or `x[..., 0]`).
    public static var ellipsis: TensorIndex { .remainingDims }
    /// Python's `None`: a new dim of size 1.
    public static var newAxis: TensorIndex { .insertedAxis }
    /// Python's `:`: the whole dim.
    public static var all: TensorIndex { .slice(start: nil, end: nil, step: 1) }
    /// Python's `a:b:step`: `x[.slice(0..<8, by: 2)]`.
    public static func slice(_ range: Range<Int>, by step: Int) -> TensorIndex {
        .slice(start: range.lowerBound, end: range.upperBound, step: step)
    }
    /// Python's `a::step`.
    public static func slice(_ range: PartialRangeFrom<Int>, by step: Int) -> TensorIndex {
        .slice(start: range.lowerBound, end: nil, step: step)
    }
    /// Python's `::step`: every step-th position.
    public static func every(_ step: Int) -> TensorIndex { .slice(start: nil, end: nil, step: step) }
}

extension BackwardRule {
    static let index = BackwardRule("IndexBackward0", "dx = zeros; dx[indices] += G")
    static let indexPut = BackwardRule("IndexPutBackward0",
        "dx = G with 0 at the indexed positions (G when accumulate), dvalues = G[indices] summed to values' shape")
}

extension OpDescription {
    static let subscriptOps: [OpDescription] = [index, indexPut, takeAlongDim, maskedSelect]

    /// The indices of a replayed index or index_put: a list of tensors (nulls are whole dims).
    static func indexList(_ c: OpCall, at position: Int) throws -> [TensorIndex] {
        guard position < c.args.count else { throw c.error("missing indices") }
        switch c.args[position] {
        case .tensors(let ts): return ts.map { .tensor($0) }
        case .tensor(let t): return [.tensor(t)]
        default: throw c.error("indices must be a list of tensors")
        }
    }

    static let index = OpDescription(
        "index", .indexing, pytorch: "x[idx], x[mask], x[i, :, j] (torch.ops.aten.index)", swift: "x[idx], x[mask], x[0, ..., 1..<3]",
        note: "ints, ranges, strides, `...`, new axes, int64 tensors and bool masks on any dim", rules: [.index],
        replay: { c in [try c.tensor(0)[try indexList(c, at: 1)]] },
        gradcheck: [
            .problem("basic", "x[1..., .newAxis, .every(2)]") { g in
                let s = [g.int(2..<5), g.int(1..<4), g.int(2..<6)]
                return GradcheckProblem(inputs: [g.normal(s)], wrt: [0], function: { $0[0][1..., .newAxis, .slice(0..., by: 2), -1] })
            },
            .problem("tensors", "x[idx][.all, 1..., mask] with repeats") { g in
                let s = [g.int(2..<5), 3, g.int(2..<4)]
                let idx = Tensor(indices: (0..<5).map { _ in g.int(0..<s[0]) })
                let mask = Tensor(bools: (0..<s[2]).map { $0 == 0 || g.int(0..<2) == 0 })
                return GradcheckProblem(inputs: [g.normal(s)], wrt: [0], function: { $0[0][idx][.all, 1..., mask] })
            },
        ])
    static let indexPut = OpDescription(
        "index_put", .indexing, pytorch: "x.index_put((idx,), values, accumulate=False)", swift: "x.indexPut([idx], values, accumulate: false)",
        note: "x[idx] = values as a new tensor; with accumulate repeated positions add up", rules: [.indexPut],
        replay: { c in
            let x = try c.tensor(0)
            let values = try c.operand(2, like: x)
            return [x.indexPut(try indexList(c, at: 1), values, accumulate: try c.kwargs.bool("accumulate") ?? false)]
        },
        gradcheck: [.problem("accumulate", "x.indexPut([idx], values, accumulate: true)") { g in
            let s = [g.int(2..<5), g.int(1..<4)]
            let idx = Tensor(indices: (0..<4).map { _ in g.int(0..<s[0]) })
            return GradcheckProblem(inputs: [g.normal(s), g.normal([4, s[1]])], wrt: [0, 1],
                                    function: { $0[0].indexPut([.tensor(idx)], $0[1], accumulate: true) })
        }, .problem("x.indexPut([idx], values)") { g in
            let s = [g.int(3..<6), g.int(1..<4)]
            let idx = Tensor(indices: [0, s[0] - 1])
            return GradcheckProblem(inputs: [g.normal(s), g.normal([s[1]])], wrt: [0, 1],
                                    function: { $0[0].indexPut([.tensor(idx)], $0[1]) })
        }])
    static let takeAlongDim = OpDescription(
        "take_along_dim", .indexing, pytorch: "torch.take_along_dim(x, idx, dim=1)", swift: "x.takeAlongDim(idx, dim: 1)",
        note: "gather with broadcasting; without dim, of the flattened tensor", rules: [.gather],
        replay: { c in [try c.tensor(0).takeAlongDim(try c.index(1), dim: try c.kwargs.int("dim"))] },
        gradcheck: [.problem("x.takeAlongDim(idx, dim: 1)") { g in
            let s = [g.int(1..<4), g.int(2..<5)]
            let idx = Tensor(indices: (0..<6).map { _ in g.int(0..<s[1]) }, shape: [1, 6])
            return GradcheckProblem(inputs: [g.normal(s), idx], wrt: [0], function: { $0[0].takeAlongDim($0[1], dim: 1) })
        }])
    static let maskedSelect = OpDescription(
        "masked_select", .indexing, pytorch: "torch.masked_select(x, mask)", swift: "x.maskedSelect(mask)",
        note: "a 1-d tensor of the values where the (broadcast) mask holds", rules: [.index],
        replay: { c in [try c.tensor(0).maskedSelect(try c.tensor(1))] },
        gradcheck: [.problem("x.maskedSelect(mask)") { g in
            let s = g.shape(minRank: 1, maxRank: 3)
            let mask = Tensor(bools: (0..<s.reduce(1, *)).map { _ in g.int(0..<2) == 0 }, shape: s)
            return GradcheckProblem(inputs: [g.normal(s)], wrt: [0], function: { $0[0].maskedSelect(mask) })
        }])
}

/// Where a subscript reads: the flat offset into the input of each element of a result of `shape`.
struct IndexPlan {
    var shape: [Int]
    var offsets: [Int]
}

extension Tensor {
    /// Resolves `indices` against this tensor's shape as PyTorch does: integers select (and remove
    /// a dim), slices keep a strided range, `...` stands for the dims not named, `.newAxis` adds a
    /// dim; then the tensor indices (bool masks as their nonzero positions) broadcast together and
    /// their result dims go where they stood when they are adjacent, first otherwise.
    func indexPlan(_ indices: [TensorIndex], op: String = "index") -> IndexPlan {
        // Dims each entry consumes: a bool mask one per mask dim.
        func consumed(_ i: TensorIndex) -> Int {
            switch i {
            case .index, .slice: return 1
            case .tensor(let t): return t.dtype == .bool ? Swift.max(t.rank, 1) : 1
            case .remainingDims, .insertedAxis: return 0
            }
        }
        let named = indices.map(consumed).reduce(0, +)
        let ellipses = indices.filter { if case .remainingDims = $0 { return true }; return false }.count
        precondition(ellipses <= 1, "\(op): an index can only have a single ellipsis (shape \(shape))")
        precondition(named <= rank, "\(op): too many indices for tensor of dimension \(rank) (shape \(shape), \(named) indexed)")
        var expanded: [TensorIndex] = []
        for i in indices {
            if case .remainingDims = i {
                expanded += [TensorIndex](repeating: .slice(start: nil, end: nil, step: 1), count: rank - named)
            } else { expanded.append(i) }
        }
        if ellipses == 0 { expanded += [TensorIndex](repeating: .slice(start: nil, end: nil, step: 1), count: rank - named) }

        let strides = Shapes.strides(shape)
        var base = 0
        // Result dims of the basic part: (size, stride); advanced entries keep their place in this list.
        var dims: [(size: Int, stride: Int)] = []
        var advanced: [(position: Int, index: Tensor, stride: Int, size: Int, dim: Int)] = []
        var src = 0
        for entry in expanded {
            switch entry {
            case .index(let i):
                let n = shape[src]
                let j = i < 0 ? i + n : i
                precondition(j >= 0 && j < n, "\(op): index \(i) is out of bounds for dimension \(src) with size \(n) (shape \(shape))")
                base += j * strides[src]
                src += 1
            case .slice(let start, let end, let step):
                precondition(step > 0, "\(op): step must be greater than zero, got \(step) (shape \(shape))")
                let n = shape[src]
                func clampBound(_ b: Int?, _ def: Int) -> Int {
                    guard var v = b else { return def }
                    if v < 0 { v += n }
                    return Swift.min(Swift.max(v, 0), n)
                }
                let s = clampBound(start, 0), e = Swift.max(clampBound(end, n), s)
                dims.append(((e - s + step - 1) / step, strides[src] * step))
                base += s * strides[src]
                src += 1
            case .insertedAxis:
                dims.append((1, 0))
            case .tensor(let t):
                if t.dtype == .bool {
                    let k = Swift.max(t.rank, 1)
                    let maskShape = t.rank == 0 ? [1] : t.shape
                    precondition(Array(shape[src..<(src + k)]) == maskShape,
                                 "\(op): the shape of the mask \(t.shape) does not match the shape of the indexed tensor \(shape) at dim \(src)")
                    let nz = t.reshape(maskShape).nonzero()
                    for d in 0..<k {
                        let col = Tensor(indices: stride(from: d, to: nz.count, by: k).map { nz.integers[$0] }, shape: [nz.shape[0]])
                        advanced.append((dims.count, col, strides[src + d], shape[src + d], src + d))
                    }
                    src += k
                } else {
                    precondition(t.dtype == .int64,
                                 "\(op): tensors used as indices must be long, int, byte or bool tensors, got \(t.dtype)")
                    advanced.append((dims.count, t, strides[src], shape[src], src))
                    src += 1
                }
            case .remainingDims: break
            }
        }
        if advanced.isEmpty {
            let outShape = dims.map(\.size)
            return IndexPlan(shape: outShape, offsets: Tensor.stridedOffsets(dims[...], start: base))
        }
        // Advanced: broadcast the index tensors; their dims go in place when adjacent, else first.
        var b: [Int] = []
        for a in advanced {
            guard let s = Shapes.broadcast(b, a.index.shape) else {
                preconditionFailure("\(op): shape mismatch: indexing tensors could not be broadcast together with shapes \(advanced.map(\.index.shape))")
            }
            b = s
        }
        let positions = advanced.map(\.position)
        let adjacent = positions.allSatisfy { $0 == positions[0] }
        let insertAt = adjacent ? positions[0] : 0
        let outShape = Array(dims[..<insertAt].map(\.size)) + b + Array(dims[insertAt...].map(\.size))
        let bCount = b.reduce(1, *)
        // The offset contributed by the advanced indices at each broadcast position.
        var advOffset = [Int](repeating: 0, count: bCount)
        for a in advanced {
            let vals = a.index.integers
            let map = Tensor.broadcastOffsets(a.index.shape, to: b)
            for p in 0..<bCount {
                let v = vals[map[p]]
                let j = v < 0 ? v + a.size : v
                precondition(j >= 0 && j < a.size, "\(op): index \(v) is out of bounds for dimension \(a.dim) with size \(a.size) (shape \(shape))")
                advOffset[p] += j * a.stride
            }
        }
        let before = dims[..<insertAt], after = dims[insertAt...]
        let pre = Tensor.stridedOffsets(before, start: 0), post = Tensor.stridedOffsets(after, start: 0)
        var offsets: [Int] = []
        offsets.reserveCapacity(pre.count * bCount * post.count)
        for p in pre { for a in advOffset { for q in post { offsets.append(base + p + a + q) } } }
        return IndexPlan(shape: outShape, offsets: offsets)
    }

    /// `start` plus the offsets of every element (row-major) of dims of the given sizes and strides.
    static func stridedOffsets(_ dims: ArraySlice<(size: Int, stride: Int)>, start: Int) -> [Int] {
        let shape = dims.map(\.size), strides = dims.map(\.stride)
        let n = shape.reduce(1, *)
        var offsets = [Int](repeating: start, count: n)
        guard n > 0 else { return offsets }
        var odo = Odometer(shape: shape)
        var off = start
        for i in 0..<n {
            offsets[i] = off
            let d = odo.next()
            if d < 0 { break }
            // The dim d steps on; the dims after it, back at 0, give back what they had added.
            off += strides[d]
            for k in (d + 1)..<shape.count { off -= strides[k] * (shape[k] - 1) }
        }
        return offsets
    }

    /// The values at `indices` (PyTorch's `x[...]`): ints, ranges, strides, `.ellipsis`, `.newAxis`,
    /// int64 tensors and bool masks, on any dim. A new tensor (Backprop has no views).
    ///
    /// Backward: dx = zeros; dx[indices] += G
    public subscript(_ indices: [TensorIndex]) -> Tensor {
        get {
            let plan = indexPlan(indices)
            let out = detached().taking(plan.offsets, shape: plan.shape)
            guard Tensor.recordsGrad(self) else { return out }
            let offsets = plan.offsets
            return out.recorded(.index, self) { node, g in
                InputGrads(Tensor.scatterAddingRecorded(g, offsets: offsets, into: node.input(0)!.shape))
            }
        }
        set {
            // Assignment is in place in PyTorch (index_put_): refused on a leaf that requires grad.
            precondition(!(requiresGrad && isLeaf && GradMode.isEnabled),
                         "index_put_: a leaf Variable that requires grad is being used in an in-place operation (shape \(shape))")
            self = indexPut(indices, newValue)
        }
    }

    /// `x[0]`, `x[-1, 1..<3]`, `x[idx]`, `x[mask]`, `x[.newAxis, .every(2)]`; assignable.
    public subscript(_ indices: any TensorIndexConvertible...) -> Tensor {
        get { self[indices.map(\.tensorIndex)] }
        set { self[indices.map(\.tensorIndex)] = newValue }
    }

    /// `x[...]`: the whole tensor; assigning fills it (broadcasting the value).
    public subscript(_: UnboundedRange) -> Tensor {
        get { self[[TensorIndex.remainingDims]] }
        set { self[[TensorIndex.remainingDims]] = newValue }
    }

    /// `x[..., i]`: the indices apply to the last dims.
    public subscript(_: UnboundedRange, _ indices: any TensorIndexConvertible...) -> Tensor {
        get { self[[TensorIndex.remainingDims] + indices.map(\.tensorIndex)] }
        set { self[[TensorIndex.remainingDims] + indices.map(\.tensorIndex)] = newValue }
    }

    /// `x[i, ...]`: the index applies to the first dim.
    public subscript(_ first: any TensorIndexConvertible, _: UnboundedRange) -> Tensor {
        get { self[[first.tensorIndex, .remainingDims]] }
        set { self[[first.tensorIndex, .remainingDims]] = newValue }
    }

    /// `x[i, j, ...]`.
    public subscript(_ first: any TensorIndexConvertible, _ second: any TensorIndexConvertible, _: UnboundedRange) -> Tensor {
        get { self[[first.tensorIndex, second.tensorIndex, .remainingDims]] }
        set { self[[first.tensorIndex, second.tensorIndex, .remainingDims]] = newValue }
    }

    /// A copy with `values` (broadcast to the indexed shape) written at `indices` (PyTorch's
    /// `index_put`, and what `x[indices] = values` does); with `accumulate` they are added, repeated
    /// positions adding up.
    ///
    /// Backward: dx = G with 0 at the indexed positions (G when accumulate), dvalues = G[indices] summed to values' shape
    public func indexPut(_ indices: [TensorIndex], _ values: Tensor, accumulate: Bool = false) -> Tensor {
        let plan = indexPlan(indices, op: "index_put")
        precondition(Shapes.broadcast(values.shape, plan.shape) == plan.shape,
                     "index_put: shape mismatch: value tensor of shape \(values.shape) cannot be broadcast to indexing result of shape \(plan.shape)")
        let v = values.to(dtype).detached().expand(plan.shape)
        var out = detached()   // withMutablePointer copies the shared storage
        let offsets = plan.offsets
        func write<T>(_: T.Type, _ add: ((T, T) -> T)?) {
            out.withMutablePointer(T.self) { o in v.withPointer(T.self) { pv in
                for i in 0..<offsets.count { o[offsets[i]] = add.map { $0(o[offsets[i]], pv[i]) } ?? pv[i] }
            } }
        }
        switch dtype {
        case .float32: write(Float.self, accumulate ? { $0 + $1 } : nil)
        case .float64: write(Double.self, accumulate ? { $0 + $1 } : nil)
        case .int64: write(Int64.self, accumulate ? { $0 &+ $1 } : nil)
        case .bool: write(UInt8.self, accumulate ? { $0 | $1 } : nil)
        }
        guard dtype.isFloatingPoint, Tensor.recordsGrad(self, values) else { return out }
        let valuesShape = values.shape, planShape = plan.shape, valuesType = values.dtype
        return out.recorded(.indexPut, self, values) { _, g in
            let dx: Tensor
            if accumulate { dx = g } else {
                let zeros = Tensor.zeros(planShape, dtype: g.dtype)
                dx = g.indexPutKeepingGraph(offsets, zeros)
            }
            let dv = g.takingRecorded(offsets, shape: planShape).sumTo(valuesShape)
            return InputGrads(dx, dv.to(valuesType))
        }
    }

    /// `indexPut` of a list of tensor indices (PyTorch's `index_put(indices, values)`).
    public func indexPut(_ indices: [Tensor], _ values: Tensor, accumulate: Bool = false) -> Tensor {
        indexPut(indices.map { .tensor($0) }, values, accumulate: accumulate)
    }

    /// G with `values` written at `offsets`, recorded when G is (for second-order gradients).
    func indexPutKeepingGraph(_ offsets: [Int], _ values: Tensor) -> Tensor {
        var out = detached()   // withMutablePointer copies the shared storage
        let v = values.detached()
        func write<T>(_: T.Type) {
            out.withMutablePointer(T.self) { o in v.withPointer(T.self) { pv in
                for i in 0..<offsets.count { o[offsets[i]] = pv[i] }
            } }
        }
        dispatchFloat("index_put", { write(Float.self) }, { write(Double.self) })
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(.indexPut, self) { _, gg in InputGrads(gg.indexPutKeepingGraph(offsets, Tensor.zeros([offsets.count], dtype: gg.dtype))) }
    }

    /// The values at `indices` along `dim`, the two broadcast against each other outside `dim`
    /// (PyTorch's `take_along_dim`); without `dim`, `indices` index the flattened tensor.
    public func takeAlongDim(_ indices: Tensor, dim: Int? = nil) -> Tensor {
        Tensor.requireIndex(indices, op: "take_along_dim")
        guard let dim else { return flatten().gather(dim: 0, index: indices.flatten()) }
        precondition(indices.rank == rank,
                     "take_along_dim: input and indices should have the same number of dimensions, but got \(rank) and \(indices.rank) dimensions")
        let d = Shapes.normalize(dim, rank: rank, op: "take_along_dim")
        var xs = shape, ixs = indices.shape
        for k in 0..<rank where k != d {
            guard xs[k] == ixs[k] || xs[k] == 1 || ixs[k] == 1 else {
                preconditionFailure("take_along_dim: shapes \(shape) and \(indices.shape) cannot be broadcast outside dim \(d)")
            }
            let m = Swift.max(xs[k], ixs[k])
            xs[k] = m; ixs[k] = m
        }
        return expand(xs).gather(dim: d, index: indices.expand(ixs))
    }

    /// The values where `mask` (broadcast with this tensor) holds, as a 1-d tensor (PyTorch's `masked_select`).
    /// Backward: dx = zeros; dx[indices] += G
    public func maskedSelect(_ mask: Tensor) -> Tensor {
        precondition(mask.dtype == .bool, "masked_select: expected a bool mask, got \(mask.dtype) of shape \(mask.shape)")
        guard let s = Shapes.broadcast(shape, mask.shape) else {
            preconditionFailure("masked_select: shapes \(shape) and \(mask.shape) cannot be broadcast together")
        }
        let x = s == shape ? self : expand(s)
        return x[[.tensor(mask.expand(s))]]
    }
}
