import Foundation

// Comparisons and the ops built on bool tensors: eq ne lt le gt ge (and their operators), isclose,
// where, masked_fill, any, all; the conversions (.float(), .long(), .bool()); min, argmin, sort,
// unique and nonzero. Comparisons and conversions to integers have no gradient, as in PyTorch.

extension BackwardRule {
    static let whereRule = BackwardRule("WhereBackward0",
        "dinput = where(condition, G, 0), dother = where(condition, 0, G) (summed over broadcast dims)")
    static let maskedFill = BackwardRule("MaskedFillBackward0", "dx = where(mask, 0, G), dvalue = sum(G where mask)")
    static let amin = BackwardRule("AminBackward0", "dx = G * (x == min) / count(x == min)")
}

/// The elementwise comparisons, by PyTorch's names.
public enum Comparison: String, Sendable, CaseIterable {
    /// `==`.
    case eq
    /// `!=`.
    case ne
    /// `<`.
    case lt
    /// `<=`.
    case le
    /// `>`.
    case gt
    /// `>=`.
    case ge

    @inline(__always) func holds(_ a: Double, _ b: Double) -> Bool {
        switch self {
        case .eq: return a == b
        case .ne: return a != b
        case .lt: return a < b
        case .le: return a <= b
        case .gt: return a > b
        case .ge: return a >= b
        }
    }
}

extension OpDescription {
    static let logicalOps: [OpDescription] = [
        eq, ne, lt, le, gt, ge, isclose, whereOp, maskedFill, anyOp, allOp, amin, min, argmin, sort, unique, nonzero,
    ]

    /// The replay of a comparison: a tensor or a number on either side.
    static func comparing(_ c: Comparison) -> Replay {
        { call in
            let a = try call.firstOperand()
            return [a.compare(c, try call.operand(1, like: a))]
        }
    }

    static let eq = OpDescription(
        "eq", .elementwise, pytorch: "torch.eq(a, b), a == b", swift: "a.eq(b), a == b", note: "a bool tensor, no gradient",
        rules: [], replay: comparing(.eq), gradcheck: [])
    static let ne = OpDescription(
        "ne", .elementwise, pytorch: "torch.ne(a, b), a != b", swift: "a.ne(b), a != b", note: "a bool tensor, no gradient",
        rules: [], replay: comparing(.ne), gradcheck: [])
    static let lt = OpDescription(
        "lt", .elementwise, pytorch: "torch.lt(a, b), a < b", swift: "a.lt(b), a < b", note: "a bool tensor, no gradient",
        rules: [], replay: comparing(.lt), gradcheck: [])
    static let le = OpDescription(
        "le", .elementwise, pytorch: "torch.le(a, b), a <= b", swift: "a.le(b), a <= b", note: "a bool tensor, no gradient",
        rules: [], replay: comparing(.le), gradcheck: [])
    static let gt = OpDescription(
        "gt", .elementwise, pytorch: "torch.gt(a, b), a > b", swift: "a.gt(b), a > b", note: "a bool tensor, no gradient",
        rules: [], replay: comparing(.gt), gradcheck: [])
    static let ge = OpDescription(
        "ge", .elementwise, pytorch: "torch.ge(a, b), a >= b", swift: "a.ge(b), a >= b", note: "a bool tensor, no gradient",
        rules: [], replay: comparing(.ge), gradcheck: [])

    static let isclose = OpDescription(
        "isclose", .elementwise, pytorch: "torch.isclose(a, b, rtol=1e-05, atol=1e-08)", swift: "a.isclose(b, rtol: 1e-5, atol: 1e-8)",
        note: "a bool tensor: |a - b| <= atol + rtol * |b|", rules: [],
        replay: { c in
            let a = try c.firstOperand()
            return [a.isclose(try c.operand(1, like: a), rtol: try c.kwargs.double("rtol") ?? 1e-5,
                              atol: try c.kwargs.double("atol") ?? 1e-8, equalNan: try c.kwargs.bool("equal_nan") ?? false)]
        },
        gradcheck: [])
    static let whereOp = OpDescription(
        "where", .indexing, pytorch: "torch.where(condition, input, other)", swift: "Tensor.where(condition, input, other)",
        note: "input and other may be numbers", rules: [.whereRule],
        replay: { c in
            let cond = try c.tensor(0)
            let a: Tensor, b: Tensor
            switch (c.args.count > 1 ? c.args[1] : .none, c.args.count > 2 ? c.args[2] : .none) {
            case (.number(let x), .tensor(let t)): a = t.scalarLike(x); b = t
            case (.tensor(let t), _): a = t; b = try c.operand(2, like: t)
            case (.number(let x), .number(let y)): a = Tensor(scalar: x); b = Tensor(scalar: y)
            default: throw c.error("where needs input and other")
            }
            return [Tensor.where(cond, a, b)]
        },
        gradcheck: [.all("Tensor.where(condition, input, other)") { g in
            let (a, b) = g.broadcastPair()
            let s = Shapes.broadcast(a, b)!
            let cond = g.normal(s).gt(0)
            return ([g.normal(a), g.normal(b)], { Tensor.where(cond, $0[0], $0[1]) })
        }])
    static let maskedFill = OpDescription(
        "masked_fill", .indexing, pytorch: "x.masked_fill(mask, value)", swift: "x.maskedFill(mask, value)",
        note: "value a number or a 0-d tensor; mask broadcasts to x", rules: [.maskedFill],
        replay: { c in
            let x = try c.tensor(0), mask = try c.tensor(1)
            switch c.value(named: "value", default: 2) {
            case .number(let v): return [x.maskedFill(mask, v)]
            case .tensor(let t): return [x.maskedFill(mask, t)]
            default: throw c.error("masked_fill needs a value")
            }
        },
        gradcheck: [.all("x.maskedFill(mask, value)") { g in
            let s = g.shape(minRank: 1, maxRank: 3)
            let mask = g.normal(Array(s.dropFirst())).gt(0)
            return ([g.normal(s), g.normal([])], { $0[0].maskedFill(mask, $0[1]) })
        }])
    static let anyOp = OpDescription(
        "any", .reduction, pytorch: "torch.any(x), torch.any(x, dim=1)", swift: "x.any(), x.any(dim: 1)",
        note: "a bool tensor", rules: [],
        replay: { c in [try c.tensor(0).any(dim: try c.kwargs.int("dim"), keepDim: try c.kwargs.bool("keepdim") ?? false)] },
        gradcheck: [])
    static let allOp = OpDescription(
        "all", .reduction, pytorch: "torch.all(x), torch.all(x, dim=1)", swift: "x.all(), x.all(dim: 1)",
        note: "a bool tensor", rules: [],
        replay: { c in [try c.tensor(0).all(dim: try c.kwargs.int("dim"), keepDim: try c.kwargs.bool("keepdim") ?? false)] },
        gradcheck: [])
    static let amin = OpDescription(
        "amin", .reduction, pytorch: "torch.amin(x, dim=1)", swift: "x.amin(dim: 1)", note: "ties share the gradient",
        rules: [.amin],
        replay: { c in let (d, k) = try reductionArgs(c); return [try c.tensor(0).amin(dims: d, keepDim: k)] },
        gradcheck: [.unary("x.amin(dims:keepDim:)") { g in
            let (s, ds, k) = g.reduction(); return (g.distinct(s), { $0.amin(dims: ds, keepDim: k) })
        }])
    static let min = OpDescription(
        "min", .reduction, pytorch: "x.min(), x.min(dim=1)", swift: "x.min(), x.min(dim: 1)",
        note: "with a dim: `(values, indices)`, the first minimum takes the gradient", rules: [.gather, .amin],
        replay: { c in
            let x = try c.tensor(0)
            guard let d = try c.kwargs.int("dim") else { return [x.min()] }
            let r = x.min(dim: d, keepDim: try c.kwargs.bool("keepdim") ?? false)
            return [r.values, r.indices]
        },
        gradcheck: [.unary("dim", "x.min(dim:keepDim:).values") { g in
            let s = g.shape(minRank: 1, maxRank: 3)
            let d = g.int(0..<s.count), k = g.int(0..<2) == 0
            return (g.distinct(s), { $0.min(dim: d, keepDim: k).values })
        }])
    static let argmin = OpDescription(
        "argmin", .reduction, pytorch: "x.argmin(), x.argmin(dim=1)", swift: "x.argmin(), x.argmin(dim: 1)",
        note: "the first minimum", rules: [],
        replay: { c in [try c.tensor(0).argmin(dim: try c.kwargs.int("dim"), keepDim: try c.kwargs.bool("keepdim") ?? false)] },
        gradcheck: [])
    static let sort = OpDescription(
        "sort", .indexing, pytorch: "torch.sort(x, dim=-1, descending=False)", swift: "x.sort(dim: -1, descending: false)",
        note: "`(values, indices)`, stable; NaN sorts as the largest value; values are x.gather(dim, indices)", rules: [.gather],
        replay: { c in
            let r = try c.tensor(0).sort(dim: try c.kwargs.int("dim") ?? -1, descending: try c.kwargs.bool("descending") ?? false)
            return [r.values, r.indices]
        },
        gradcheck: [.unary("x.sort(dim:descending:).values") { g in
            let s = g.shape(minRank: 1, maxRank: 3), d = g.int(0..<s.count), desc = g.int(0..<2) == 0
            let w = g.normal(s)
            // Weighted, so that a gradient sent to the wrong position shows.
            return (g.distinct(s), { ($0.sort(dim: d, descending: desc).values * w).sum() })
        }])
    static let unique = OpDescription(
        "unique", .indexing, pytorch: "torch.unique(x, return_inverse=False, return_counts=False)",
        swift: "x.unique(returnInverse: false, returnCounts: false)",
        note: "sorted values of the flattened tensor; no gradient", rules: [],
        replay: { c in
            let inv = try c.kwargs.bool("return_inverse") ?? false, counts = try c.kwargs.bool("return_counts") ?? false
            if try c.kwargs.int("dim") != nil { throw c.error("unique with a dim is not supported") }
            let r = try c.tensor(0).unique(returnInverse: inv, returnCounts: counts)
            return [r.values] + (inv ? [r.inverse!] : []) + (counts ? [r.counts!] : [])
        },
        gradcheck: [])
    static let nonzero = OpDescription(
        "nonzero", .indexing, pytorch: "torch.nonzero(x)", swift: "x.nonzero()",
        note: "[count, rank] int64 positions in row-major order", rules: [],
        replay: { c in
            if try c.kwargs.bool("as_tuple") == true { return try c.tensor(0).nonzero(asTuple: ()) }
            return [try c.tensor(0).nonzero()]
        },
        gradcheck: [])
}

// MARK: - Comparisons

extension Tensor {
    /// The offsets into a tensor of `shape` (row-major) read at each element of the broadcast shape `target`.
    static func broadcastOffsets(_ shape: [Int], to target: [Int]) -> [Int] {
        let n = target.reduce(1, *)
        let pad = target.count - shape.count
        var strides = [Int](repeating: 0, count: target.count)
        var s = 1
        for d in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[d + pad] = shape[d] == 1 ? 0 : s
            s *= shape[d]
        }
        var out = [Int](repeating: 0, count: n)
        guard n > 0 else { return out }
        var idx = [Int](repeating: 0, count: target.count)
        var off = 0
        for i in 0..<n {
            out[i] = off
            var d = target.count - 1
            while d >= 0 {
                idx[d] += 1
                off += strides[d]
                if idx[d] < target[d] { break }
                off -= strides[d] * idx[d]
                idx[d] = 0
                d -= 1
            }
        }
        return out
    }

    /// The elementwise comparison `c` with broadcasting, as a bool tensor (PyTorch's `torch.eq`, ...).
    public func compare(_ c: Comparison, _ other: Tensor) -> Tensor {
        guard let s = Shapes.broadcast(shape, other.shape) else {
            preconditionFailure("\(c.rawValue): shapes \(shape) and \(other.shape) cannot be broadcast together")
        }
        let a = scalars, b = other.scalars
        let ao = Tensor.broadcastOffsets(shape, to: s), bo = Tensor.broadcastOffsets(other.shape, to: s)
        let out = Tensor(shape: s, dtype: .bool, zeroed: false)
        out.withFreshPointer(UInt8.self) { o in
            for i in 0..<ao.count { o[i] = c.holds(a[ao[i]], b[bo[i]]) ? 1 : 0 }
        }
        return out
    }

    /// `self == other` elementwise, a bool tensor (PyTorch's `torch.eq`; no gradient).
    public func eq(_ other: Tensor) -> Tensor { compare(.eq, other) }
    /// `self != other` elementwise (PyTorch's `torch.ne`).
    public func ne(_ other: Tensor) -> Tensor { compare(.ne, other) }
    /// `self < other` elementwise (PyTorch's `torch.lt`).
    public func lt(_ other: Tensor) -> Tensor { compare(.lt, other) }
    /// `self <= other` elementwise (PyTorch's `torch.le`).
    public func le(_ other: Tensor) -> Tensor { compare(.le, other) }
    /// `self > other` elementwise (PyTorch's `torch.gt`).
    public func gt(_ other: Tensor) -> Tensor { compare(.gt, other) }
    /// `self >= other` elementwise (PyTorch's `torch.ge`).
    public func ge(_ other: Tensor) -> Tensor { compare(.ge, other) }
    /// `self == value` elementwise.
    public func eq(_ value: Double) -> Tensor { compare(.eq, scalarLike(value)) }
    /// `self != value` elementwise.
    public func ne(_ value: Double) -> Tensor { compare(.ne, scalarLike(value)) }
    /// `self < value` elementwise.
    public func lt(_ value: Double) -> Tensor { compare(.lt, scalarLike(value)) }
    /// `self <= value` elementwise.
    public func le(_ value: Double) -> Tensor { compare(.le, scalarLike(value)) }
    /// `self > value` elementwise.
    public func gt(_ value: Double) -> Tensor { compare(.gt, scalarLike(value)) }
    /// `self >= value` elementwise.
    public func ge(_ value: Double) -> Tensor { compare(.ge, scalarLike(value)) }

    /// `a.eq(b)`: a bool tensor, as PyTorch's `a == b` (use `equal` for one Bool).
    public static func == (a: Tensor, b: Tensor) -> Tensor { a.compare(.eq, b) }
    /// `a.ne(b)`.
    public static func != (a: Tensor, b: Tensor) -> Tensor { a.compare(.ne, b) }
    /// `a.lt(b)`.
    public static func < (a: Tensor, b: Tensor) -> Tensor { a.compare(.lt, b) }
    /// `a.le(b)`.
    public static func <= (a: Tensor, b: Tensor) -> Tensor { a.compare(.le, b) }
    /// `a.gt(b)`.
    public static func > (a: Tensor, b: Tensor) -> Tensor { a.compare(.gt, b) }
    /// `a.ge(b)`.
    public static func >= (a: Tensor, b: Tensor) -> Tensor { a.compare(.ge, b) }
    /// `a.eq(b)` with a number.
    public static func == (a: Tensor, b: Double) -> Tensor { a.eq(b) }
    /// `a.ne(b)` with a number.
    public static func != (a: Tensor, b: Double) -> Tensor { a.ne(b) }
    /// `a.lt(b)` with a number.
    public static func < (a: Tensor, b: Double) -> Tensor { a.lt(b) }
    /// `a.le(b)` with a number.
    public static func <= (a: Tensor, b: Double) -> Tensor { a.le(b) }
    /// `a.gt(b)` with a number.
    public static func > (a: Tensor, b: Double) -> Tensor { a.gt(b) }
    /// `a.ge(b)` with a number.
    public static func >= (a: Tensor, b: Double) -> Tensor { a.ge(b) }

    /// |self - other| <= atol + rtol * |other| elementwise, a bool tensor (PyTorch's `torch.isclose`);
    /// infinities are close only to themselves, NaN to NaN only with `equalNan`.
    public func isclose(_ other: Tensor, rtol: Double = 1e-5, atol: Double = 1e-8, equalNan: Bool = false) -> Tensor {
        guard let s = Shapes.broadcast(shape, other.shape) else {
            preconditionFailure("isclose: shapes \(shape) and \(other.shape) cannot be broadcast together")
        }
        let a = scalars, b = other.scalars
        let ao = Tensor.broadcastOffsets(shape, to: s), bo = Tensor.broadcastOffsets(other.shape, to: s)
        let out = Tensor(shape: s, dtype: .bool, zeroed: false)
        out.withFreshPointer(UInt8.self) { o in
            for i in 0..<ao.count {
                let x = a[ao[i]], y = b[bo[i]]
                let close: Bool
                if x.isNaN || y.isNaN { close = equalNan && x.isNaN && y.isNaN }
                else if x == y { close = true }
                else if x.isInfinite || y.isInfinite { close = false }
                else { close = Swift.abs(x - y) <= atol + rtol * Swift.abs(y) }
                o[i] = close ? 1 : 0
            }
        }
        return out
    }

    /// Whether every element is close (PyTorch's `torch.allclose`); the shapes must broadcast.
    public func allclose(_ other: Tensor, rtol: Double = 1e-5, atol: Double = 1e-8, equalNan: Bool = false) -> Bool {
        isclose(other, rtol: rtol, atol: atol, equalNan: equalNan).bools.allSatisfy { $0 }
    }

    /// Whether the two tensors have the same shape and the same values (PyTorch's `torch.equal`).
    public func equal(_ other: Tensor) -> Bool { shape == other.shape && scalars == other.scalars }

    // MARK: - Conversions

    /// float32 values (PyTorch's `.float()`), differentiable from float64.
    public func float() -> Tensor { to(.float32) }
    /// float64 values (PyTorch's `.double()`).
    public func double() -> Tensor { to(.float64) }
    /// int64 values, truncated toward zero (PyTorch's `.long()`).
    public func long() -> Tensor { to(.int64) }
    /// bool values, true where nonzero (PyTorch's `.bool()`).
    public func bool() -> Tensor { to(.bool) }

    // MARK: - where and masked_fill

    /// `input` where `condition` holds, else `other`, with broadcasting (PyTorch's `torch.where`).
    ///
    /// Backward: dinput = where(condition, G, 0), dother = where(condition, 0, G) (summed over broadcast dims)
    public static func `where`(_ condition: Tensor, _ input: Tensor, _ other: Tensor) -> Tensor {
        guard let s0 = Shapes.broadcast(input.shape, other.shape), let s = Shapes.broadcast(condition.shape, s0) else {
            preconditionFailure("where: condition \(condition.shape), input \(input.shape) and other \(other.shape) cannot be broadcast together")
        }
        let dtype: DType = input.dtype == other.dtype ? input.dtype
            : (input.dtype == .float64 || other.dtype == .float64 ? .float64 : .float32)
        let a = input.to(dtype).detached(), b = other.to(dtype).detached()
        let cond = condition.bools
        let co = broadcastOffsets(condition.shape, to: s)
        let ao = broadcastOffsets(a.shape, to: s), bo = broadcastOffsets(b.shape, to: s)
        let out = Tensor(shape: s, dtype: dtype, zeroed: false)
        func run<T>(_: T.Type) {
            out.withFreshPointer(T.self) { o in a.withPointer(T.self) { pa in b.withPointer(T.self) { pb in
                for i in 0..<co.count { o[i] = cond[co[i]] ? pa[ao[i]] : pb[bo[i]] }
            } } }
        }
        switch dtype {
        case .float32: run(Float.self)
        case .float64: run(Double.self)
        case .int64: run(Int64.self)
        case .bool: run(UInt8.self)
        }
        guard dtype.isFloatingPoint, recordsGrad(input, other) else { return out }
        let mask = condition.detached()
        let (aShape, bShape, aType, bType) = (input.shape, other.shape, input.dtype, other.dtype)
        return out.recorded(.whereRule, input, other, save0: mask) { node, g in
            let zero = g.scalarLike(0)
            let m = node.saved0!
            return InputGrads(Tensor.where(m, g, zero).sumTo(aShape).to(aType), Tensor.where(m, zero, g).sumTo(bShape).to(bType))
        }
    }

    /// `input` where `condition` holds, else the number `other`.
    public static func `where`(_ condition: Tensor, _ input: Tensor, _ other: Double) -> Tensor {
        Tensor.where(condition, input, input.scalarLike(other))
    }

    /// The number `input` where `condition` holds, else `other`.
    public static func `where`(_ condition: Tensor, _ input: Double, _ other: Tensor) -> Tensor {
        Tensor.where(condition, other.scalarLike(input), other)
    }

    /// The positions where `condition` holds (PyTorch's one-argument `torch.where`): one int64 tensor per dim.
    public static func `where`(_ condition: Tensor) -> [Tensor] { condition.nonzero(asTuple: ()) }

    /// `value` where `mask` (a bool tensor broadcasting to this shape) holds, else the values (PyTorch's `masked_fill`).
    ///
    /// Backward: dx = where(mask, 0, G), dvalue = sum(G where mask)
    public func maskedFill(_ mask: Tensor, _ value: Double) -> Tensor { maskedFill(mask, scalarLike(value)) }

    /// `value` (a 0-d tensor, differentiable) where `mask` holds, else the values.
    public func maskedFill(_ mask: Tensor, _ value: Tensor) -> Tensor {
        precondition(mask.dtype == .bool, "masked_fill: mask must be a bool tensor, got \(mask.dtype) of shape \(mask.shape)")
        precondition(value.rank == 0, "masked_fill: value must be a 0-d tensor, got shape \(value.shape)")
        precondition(Shapes.broadcast(mask.shape, shape) == shape,
                     "masked_fill: mask of shape \(mask.shape) does not broadcast to input of shape \(shape)")
        let out = withNoGrad { Tensor.where(mask, value.to(dtype), self) }
        guard dtype.isFloatingPoint, Tensor.recordsGrad(self, value) else { return out }
        let valueType = value.dtype
        return out.recorded(.maskedFill, self, value, save0: mask.detached()) { node, g in
            let zero = g.scalarLike(0)
            let m = node.saved0!
            let dv = Tensor.where(m, g, zero).sum()
            return InputGrads(Tensor.where(m, zero, g), dv.to(valueType))
        }
    }

    // MARK: - any, all

    /// Whether any element is nonzero (over `dim`, or the whole tensor), a bool tensor (PyTorch's `any`).
    public func any(dim: Int? = nil, keepDim: Bool = false) -> Tensor {
        let m = ne(0).to(.float64)
        if let dim { return m.amax(dims: [dim], keepDim: keepDim).gt(0) }
        return count == 0 ? Tensor(bools: [false], shape: []) : m.amax().gt(0)
    }

    /// Whether every element is nonzero (over `dim`, or the whole tensor), a bool tensor (PyTorch's `all`).
    public func all(dim: Int? = nil, keepDim: Bool = false) -> Tensor {
        let m = eq(0).to(.float64)
        if let dim { return m.amax(dims: [dim], keepDim: keepDim).eq(0) }
        return count == 0 ? Tensor(bools: [true], shape: []) : m.amax().eq(0)
    }

    // MARK: - min, argmin, amin

    /// The smallest value over the given dims (all when empty) (PyTorch's `amin`, and `min()` with no dim).
    /// Backward: dx = G * (x == min) / count(x == min), G shared evenly among the tied minima.
    public func amin(dims: [Int] = [], keepDim: Bool = false) -> Tensor {
        requireFloat("amin")
        let ds = reductionDims(dims, op: "amin")
        let keep = withNoGrad { -(-detached()).amax(dims: ds, keepDim: true) }
        let out = keep.withShape(reducedShape(ds, keepDim: keepDim))
        guard Tensor.recordsGrad(self) else { return out }
        let keepShape = keep.shape
        return out.recorded(.amin, self, save0: detached(), save1: keep) { node, g in
            let mask = Tensor.equalMask(node.saved0!, node.saved1!)
            let counts = mask.rawSum(ds)
            return InputGrads(g.reshape(keepShape) * mask / counts)
        }
    }

    /// `amin(dims: [dim], keepDim:)`.
    public func amin(dim: Int, keepDim: Bool = false) -> Tensor { amin(dims: [dim], keepDim: keepDim) }

    /// The smallest element, a 0-d tensor (PyTorch's `min()` with no dim).
    public func min() -> Tensor { amin() }

    /// The smallest values along `dim` and the index of the first of each (PyTorch's `min(dim)`); the
    /// values are `gather(dim:index:)` of the indices, so the first minimum takes the gradient.
    public func min(dim: Int, keepDim: Bool = false) -> (values: Tensor, indices: Tensor) {
        requireFloat("min")
        let indices = withNoGrad { (-detached()).max(dim: dim, keepDim: true).indices }
        if rank == 0 { return (self, indices) }
        let d = Shapes.normalize(dim, rank: rank, op: "min")
        let values = gather(dim: d, index: indices)
        return keepDim ? (values, indices) : (values.squeeze(d), indices.squeeze(d))
    }

    /// The index of the first smallest value (of the flattened tensor, or along `dim`) (PyTorch's `argmin`).
    public func argmin(dim: Int? = nil, keepDim: Bool = false) -> Tensor {
        withNoGrad { (-detached()).argmax(dim: dim, keepDim: keepDim) }
    }

    // MARK: - sort, unique, nonzero

    /// The values sorted along `dim` and their positions before sorting (PyTorch's `torch.sort`,
    /// stable); NaN is the largest value. The values are `gather(dim:index:)` of the indices.
    public func sort(dim: Int = -1, descending: Bool = false) -> (values: Tensor, indices: Tensor) {
        if rank == 0 { return (self, Tensor(indices: [0], shape: [])) }
        let d = Shapes.normalize(dim, rank: rank, op: "sort")
        let outer = shape[..<d].reduce(1, *), n = shape[d], inner = shape[(d + 1)...].reduce(1, *)
        let v = scalars
        var idx = [Int](repeating: 0, count: count)
        var order = [Int](repeating: 0, count: n)
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * n * inner + i
                for k in 0..<n { order[k] = k }
                // Stable: equal keys keep their order. NaN is greater than every number.
                func less(_ p: Int, _ q: Int) -> Bool {
                    let a = v[base + p * inner], b = v[base + q * inner]
                    if a.isNaN { return false }
                    if b.isNaN { return true }
                    return a < b
                }
                let sorted = order.enumerated().sorted { l, r in
                    let (a, b) = descending ? (r.element, l.element) : (l.element, r.element)
                    if less(a, b) { return true }
                    if less(b, a) { return false }
                    return l.offset < r.offset
                }.map(\.element)
                for k in 0..<n { idx[base + k * inner] = sorted[k] }
            }
        }
        let indices = Tensor(indices: idx, shape: shape)
        guard dtype.isFloatingPoint else {
            let vals = Tensor((0..<count).map { j in
                let o = j / (n * inner), i = j % inner
                return v[o * n * inner + idx[j] * inner + i]
            }, shape: shape, dtype: dtype)
            return (vals, indices)
        }
        return (gather(dim: d, index: indices), indices)
    }

    /// The distinct values of the flattened tensor in ascending order, with (when asked) the
    /// position of each element's value among them and how often each occurs (PyTorch's `torch.unique`).
    public func unique(returnInverse: Bool = false, returnCounts: Bool = false)
        -> (values: Tensor, inverse: Tensor?, counts: Tensor?) {
        let v = scalars
        let distinct = Array(Set(v.filter { !$0.isNaN })).sorted() + v.filter(\.isNaN)
        var position: [Double: Int] = [:]
        for (i, x) in distinct.enumerated() where !x.isNaN { position[x] = i }
        let values = Tensor(distinct, shape: [distinct.count], dtype: dtype)
        let inverse = returnInverse ? Tensor(indices: v.map { position[$0] ?? 0 }, shape: shape) : nil
        var counts: Tensor?
        if returnCounts {
            var c = [Int](repeating: 0, count: distinct.count)
            for x in v where !x.isNaN { c[position[x]!] += 1 }
            for (i, x) in distinct.enumerated() where x.isNaN { c[i] = 1 }
            counts = Tensor(indices: c, shape: [distinct.count])
        }
        return (values, inverse, counts)
    }

    /// The positions of the nonzero elements, [count, rank] int64 in row-major order (PyTorch's `torch.nonzero`).
    public func nonzero() -> Tensor {
        let b = bools
        var out: [Int] = []
        var n = 0
        for (i, x) in b.enumerated() where x {
            out.append(contentsOf: Tensor.multiIndex(i, shape: shape))
            n += 1
        }
        return Tensor(indices: out, shape: [n, rank])
    }

    /// The positions of the nonzero elements as one 1-d int64 tensor per dim (`nonzero(as_tuple=True)`).
    public func nonzero(asTuple: ()) -> [Tensor] {
        let nz = nonzero()
        return (0..<Swift.max(rank, 1)).map { d in
            rank == 0 ? Tensor(indices: bools[0] ? [0] : [], shape: [bools[0] ? 1 : 0])
                : Tensor(indices: stride(from: d, to: nz.count, by: rank).map { nz.integers[$0] }, shape: [nz.shape[0]])
        }
    }
}
