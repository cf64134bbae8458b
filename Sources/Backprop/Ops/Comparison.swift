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

extension Tensor {
    /// The larger of two tensors elementwise, with broadcasting (PyTorch's `torch.maximum`).
    ///
    /// Backward: da = G where a > b, db = G where b > a; at a tie each gets G / 2.
    public func maximum(_ other: Tensor) -> Tensor {
        let out = Tensor.zip(self, other, MaximumF.self, op: "maximum")
        guard Tensor.recordsGrad(self, other) else { return out }
        let (a, b) = (detached(), other.detached())
        let (na, nb) = (node != nil, other.node != nil)
        return out.recorded("MaximumBackward0", formula: "da = G * ((a > b) + (a == b) / 2), db = G * ((b > a) + (a == b) / 2)",
                            self, other, saves: true) { g in
            [na ? (g * Tensor.zip(a, b, GreaterShareF.self, op: "maximum")).sumTo(a.shape) : nil,
             nb ? (g * Tensor.zip(b, a, GreaterShareF.self, op: "maximum")).sumTo(b.shape) : nil]
        }
    }

    /// The smaller of two tensors elementwise, with broadcasting (PyTorch's `torch.minimum`).
    ///
    /// Backward: da = G where a < b, db = G where b < a; at a tie each gets G / 2.
    public func minimum(_ other: Tensor) -> Tensor {
        let out = Tensor.zip(self, other, MinimumF.self, op: "minimum")
        guard Tensor.recordsGrad(self, other) else { return out }
        let (a, b) = (detached(), other.detached())
        let (na, nb) = (node != nil, other.node != nil)
        return out.recorded("MinimumBackward0", formula: "da = G * ((a < b) + (a == b) / 2), db = G * ((b < a) + (a == b) / 2)",
                            self, other, saves: true) { g in
            [na ? (g * Tensor.zip(a, b, LessShareF.self, op: "minimum")).sumTo(a.shape) : nil,
             nb ? (g * Tensor.zip(b, a, LessShareF.self, op: "minimum")).sumTo(b.shape) : nil]
        }
    }

    /// The values limited to [min, max]; either bound may be absent (PyTorch's `clamp`).
    /// The bounds are rounded to the tensor's dtype; when min > max every value becomes max.
    ///
    /// Backward: dx = G strictly inside (min, max) and 0 at or beyond a bound (PyTorch's tie rule).
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
        let x = detached()
        return out.recorded("ClampBackward1", formula: "dx = G * (min < x < max)", self, saves: true) { g in
            var r = g
            if let lo { r = r * Tensor.zip(x, lo, GreaterMaskF.self, op: "clamp") }
            if let hi { r = r * Tensor.zip(x, hi, LessMaskF.self, op: "clamp") }
            return [r]
        }
    }
}
