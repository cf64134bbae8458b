// Ops that choose between values: maximum, minimum (of two tensors) and clamp (to number bounds).
// Their gradients follow PyTorch at ties and bounds: a tie splits the gradient in half, and
// clamp passes it only strictly inside (min, max).

struct MaximumF: BinaryFunction {
    @inline(__always) static func apply<T: FloatElement>(_ a: T, _ b: T) -> T { (a > b || a.isNaN) ? a : b }
}
struct MinimumF: BinaryFunction {
    @inline(__always) static func apply<T: FloatElement>(_ a: T, _ b: T) -> T { (a < b || a.isNaN) ? a : b }
}
/// The share of the gradient of maximum(a, b) that goes to a: 1 where a > b, 1/2 at a tie, 0 otherwise.
struct GreaterShareF: BinaryFunction {
    @inline(__always) static func apply<T: FloatElement>(_ a: T, _ b: T) -> T { a > b ? 1 : (a == b ? T(0.5) : 0) }
}
/// The share of the gradient of minimum(a, b) that goes to a.
struct LessShareF: BinaryFunction {
    @inline(__always) static func apply<T: FloatElement>(_ a: T, _ b: T) -> T { a < b ? 1 : (a == b ? T(0.5) : 0) }
}
/// 1 where a > b, else 0.
struct GreaterMaskF: BinaryFunction { @inline(__always) static func apply<T: FloatElement>(_ a: T, _ b: T) -> T { a > b ? 1 : 0 } }
/// 1 where a < b, else 0.
struct LessMaskF: BinaryFunction { @inline(__always) static func apply<T: FloatElement>(_ a: T, _ b: T) -> T { a < b ? 1 : 0 } }
/// max(x, lo) keeping NaN.
struct ClampLowF: BinaryFunction { @inline(__always) static func apply<T: FloatElement>(_ x: T, _ lo: T) -> T { x < lo ? lo : x } }
/// min(x, hi) keeping NaN.
struct ClampHighF: BinaryFunction { @inline(__always) static func apply<T: FloatElement>(_ x: T, _ hi: T) -> T { x > hi ? hi : x } }

/// 1 where a >= b, else 0.
struct GreaterEqualMaskF: BinaryFunction { @inline(__always) static func apply<T: FloatElement>(_ a: T, _ b: T) -> T { a >= b ? 1 : 0 } }

extension BackwardRule {
    static let maximum = BackwardRule("MaximumBackward0", "da = G * ((a > b) + (a == b) / 2), db = G * ((b > a) + (a == b) / 2)")
    static let minimum = BackwardRule("MinimumBackward0", "da = G * ((a < b) + (a == b) / 2), db = G * ((b < a) + (a == b) / 2)")
    static let clamp = BackwardRule("ClampBackward1", "dx = G * (min < x < max)")
    static let clampTensors = BackwardRule("ClampBackward0",
        "dx = G * (min <= x <= max), dmin = G * (x < min < max), dmax = G * (x > max or max < min)")
}

extension OpDescription {
    static let comparisonOps: [OpDescription] = [clamp, maximum, minimum]

    static let maximum = OpDescription(
        "maximum", .elementwise, pytorch: "torch.maximum(a, b)", swift: "a.maximum(b)", note: "a tie splits the gradient in half",
        rules: [.maximum], replay: binary { $0.maximum($1) },
        gradcheck: [.all("a.maximum(b)") { g in
            let (a, b) = g.broadcastPair()
            return ([g.halfGrid(a, odd: false), g.halfGrid(b, odd: true)], { $0[0].maximum($0[1]) })
        }])
    static let minimum = OpDescription(
        "minimum", .elementwise, pytorch: "torch.minimum(a, b)", swift: "a.minimum(b)", note: "a tie splits the gradient in half",
        rules: [.minimum], replay: binary { $0.minimum($1) },
        gradcheck: [.all("a.minimum(b)") { g in
            let (a, b) = g.broadcastPair()
            return ([g.halfGrid(a, odd: false), g.halfGrid(b, odd: true)], { $0[0].minimum($0[1]) })
        }])
    static let clamp = OpDescription(
        "clamp", .elementwise, pytorch: "torch.clamp(x, min=-1, max=1), torch.clamp(x, lo, hi)",
        swift: "x.clamp(min: -1, max: 1), x.clamp(min: lo, max: hi)",
        note: "either bound may be left out; bounds may be tensors", rules: [.clamp, .clampTensors],
        replay: { c in
            let x = try c.tensor(0)
            // A bound is an argument (a tensor, or a number where PyTorch's overload takes one) or a kwarg.
            func bound(_ key: String, _ position: Int) throws -> OpValue {
                let v = c.value(named: key, default: position)
                if case .none = v, let n = try c.kwargs.double(key) { return .number(n) }
                return v
            }
            let lo = try bound("min", 1), hi = try bound("max", 2)
            switch (lo, hi) {
            case (.none, .none): throw c.error("clamp needs min or max")
            case (.tensor, _), (_, .tensor):
                func tensorBound(_ v: OpValue) -> Tensor? {
                    switch v {
                    case .tensor(let t): return t
                    case .number(let n): return x.scalarLike(n)
                    default: return nil
                    }
                }
                return [x.clamp(min: tensorBound(lo), max: tensorBound(hi))]
            default:
                func number(_ v: OpValue) -> Double? { if case .number(let n) = v { return n }; return nil }
                return [x.clamp(min: number(lo), max: number(hi))]
            }
        },
        gradcheck: [
            .unary("x.clamp(min: -0.5, max: 0.5)") { g in (g.awayFrom(g.shape(), points: [-0.5, 0.5]), { $0.clamp(min: -0.5, max: 0.5) }) },
            .unary("min", "x.clamp(min: -0.5)") { g in (g.awayFrom(g.shape(), points: [-0.5]), { $0.clamp(min: -0.5) }) },
            .unary("max", "x.clamp(max: 0.5)") { g in (g.awayFrom(g.shape(), points: [0.5]), { $0.clamp(max: 0.5) }) },
            .all("tensors", "x.clamp(min: lo, max: hi)") { g in
                // x on the whole-number grid, the bounds on halves below and above: no ties, min < max.
                let (a, b) = g.broadcastPair()
                let lo = g.halfGrid(b, odd: true)
                return ([g.halfGrid(a, odd: false), lo, lo + Double(g.int(1..<3))],
                        { $0[0].clamp(min: $0[1], max: $0[2]) })
            },
        ])
}

extension Tensor {
    /// The larger of two tensors elementwise, with broadcasting (PyTorch's `torch.maximum`).
    ///
    /// Backward: da = G * ((a > b) + (a == b) / 2), db = G * ((b > a) + (a == b) / 2)
    /// (at a tie each gets G / 2).
    public func maximum(_ other: Tensor) -> Tensor {
        let out = Tensor.zip(self, other, MaximumF.self, op: "maximum")
        guard Tensor.recordsGrad(self, other) else { return out }
        return out.recorded(.maximum, self, other, save0: detached(), save1: other.detached()) { node, g in
            let (a, b) = (node.saved0!, node.saved1!)
            return InputGrads(node.input(0).map { _ in (g * Tensor.zip(a, b, GreaterShareF.self, op: "maximum")).sumTo(a.shape) },
                              node.input(1).map { _ in (g * Tensor.zip(b, a, GreaterShareF.self, op: "maximum")).sumTo(b.shape) })
        }
    }

    /// The smaller of two tensors elementwise, with broadcasting (PyTorch's `torch.minimum`).
    ///
    /// Backward: da = G * ((a < b) + (a == b) / 2), db = G * ((b < a) + (a == b) / 2)
    /// (at a tie each gets G / 2).
    public func minimum(_ other: Tensor) -> Tensor {
        let out = Tensor.zip(self, other, MinimumF.self, op: "minimum")
        guard Tensor.recordsGrad(self, other) else { return out }
        return out.recorded(.minimum, self, other, save0: detached(), save1: other.detached()) { node, g in
            let (a, b) = (node.saved0!, node.saved1!)
            return InputGrads(node.input(0).map { _ in (g * Tensor.zip(a, b, LessShareF.self, op: "minimum")).sumTo(a.shape) },
                              node.input(1).map { _ in (g * Tensor.zip(b, a, LessShareF.self, op: "minimum")).sumTo(b.shape) })
        }
    }

    /// The values limited to [min, max]; either bound may be absent (PyTorch's `clamp`).
    /// The bounds are rounded to the tensor's dtype; when min > max every value becomes max.
    ///
    /// Backward: dx = G * (min < x < max): G strictly inside, 0 at or beyond a bound (PyTorch's tie rule).
    /// ```swift
    /// x.clamp(min: 0)              // relu-like
    /// x.clamp(min: -1, max: 1)
    /// ```
    public func clamp(min: Double? = nil, max: Double? = nil) -> Tensor {
        precondition(min != nil || max != nil, "clamp: at least one of 'min' or 'max' must not be nil (shape \(shape))")
        requireFloat("clamp")
        let lo = min.map { scalarLike($0) }, hi = max.map { scalarLike($0) }
        var out = detached()
        if let lo { out = Tensor.zip(out, lo, ClampLowF.self, op: "clamp") }
        if let hi { out = Tensor.zip(out, hi, ClampHighF.self, op: "clamp") }
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(.clamp, self, save0: detached(), saves: true) { node, g in
            let x = node.saved0!
            var r = g
            if let lo { r = r * Tensor.zip(x, lo, GreaterMaskF.self, op: "clamp") }
            if let hi { r = r * Tensor.zip(x, hi, LessMaskF.self, op: "clamp") }
            return InputGrads(r)
        }
    }

    /// The values limited to tensor bounds, broadcast together (PyTorch's `clamp(input, min, max)`
    /// with tensors); either bound may be absent, and where min > max the value is max.
    ///
    /// Backward: dx = G * (min <= x <= max), dmin = G * (x < min < max), dmax = G * (x > max or max < min)
    /// (PyTorch's subgradient 1 at the bounds for x; each summed back over broadcast dims).
    public func clamp(min: Tensor?, max: Tensor?) -> Tensor {
        precondition(min != nil || max != nil, "clamp: at least one of 'min' or 'max' must not be nil (shape \(shape))")
        requireFloat("clamp")
        var out = detached()
        if let min { out = Tensor.zip(out, min.detached(), ClampLowF.self, op: "clamp") }
        if let max { out = Tensor.zip(out, max.detached(), ClampHighF.self, op: "clamp") }
        let anyGrad = Tensor.recordsGrad(self) || (min.map { Tensor.recordsGrad($0) } ?? false)
            || (max.map { Tensor.recordsGrad($0) } ?? false)
        guard anyGrad else { return out }
        let x = detached(), lo = min?.detached(), hi = max?.detached()
        return out.recorded(.clampTensors, self, min, max, saves: true) { node, g in
            var dx = g
            if let lo { dx = dx * Tensor.zip(x, lo, GreaterEqualMaskF.self, op: "clamp") }
            if let hi { dx = dx * Tensor.zip(hi, x, GreaterEqualMaskF.self, op: "clamp") }
            var dlo: Tensor? = nil, dhi: Tensor? = nil
            if let lo, node.needsGrad(1) {
                var m = Tensor.zip(x, lo, LessMaskF.self, op: "clamp")
                if let hi { m = m * Tensor.zip(lo, hi, LessMaskF.self, op: "clamp") }
                dlo = (g * m).sumTo(lo.shape)
            }
            if let hi, node.needsGrad(2) {
                var m = Tensor.zip(x, hi, GreaterMaskF.self, op: "clamp")
                if let lo { m = Tensor.zip(m, Tensor.zip(hi, lo, LessMaskF.self, op: "clamp"), MaximumF.self, op: "clamp") }
                dhi = (g * m).sumTo(hi.shape)
            }
            return InputGrads(node.needsGrad(0) ? dx.sumTo(x.shape) : nil, dlo, dhi)
        }
    }
}
