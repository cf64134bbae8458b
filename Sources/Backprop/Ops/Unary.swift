// Elementwise functions of one tensor, each with its backward rule.

struct ExpF: UnaryFunction { @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T { T.exp(x) } }
struct LogF: UnaryFunction { @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T { T.log(x) } }
struct ReluF: UnaryFunction { @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T { x > 0 ? x : (x.isNaN ? x : 0) } }
struct SigmoidF: UnaryFunction {
    @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T {
        // Both branches stay finite for large |x|.
        if x >= 0 { return 1 / (1 + T.exp(-x)) }
        let e = T.exp(x)
        return e / (1 + e)
    }
}
struct TanhF: UnaryFunction { @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T { T.tanh(x) } }
/// The derivative factor of relu from its output: 1 where y > 0 (relu'(0) = 0, as PyTorch).
struct PositiveMaskF: UnaryFunction { @inline(__always) static func apply<T: FloatElement>(_ y: T) -> T { y > 0 ? 1 : 0 } }
/// relu's backward in one pass: G * (y > 0), written as PyTorch's threshold_backward does.
struct ReluGradF: BinaryFunction { @inline(__always) static func apply<T: FloatElement>(_ g: T, _ y: T) -> T { y > 0 ? g * 1 : g * 0 } }

extension Tensor {
    /// e^x elementwise. Backward: dx = G * exp(x) (the saved output).
    public func exp() -> Tensor {
        let out = map(ExpF.self, op: "exp")
        guard Tensor.recordsGrad(self) else { return out }
        let y = out.detached()
        return out.recorded("ExpBackward0", formula: "dx = G * exp(x)", self, saves: true) { g in [g * y] }
    }

    /// Natural logarithm elementwise. Backward: dx = G / x.
    public func log() -> Tensor {
        let out = map(LogF.self, op: "log")
        guard Tensor.recordsGrad(self) else { return out }
        let x = detached()
        return out.recorded("LogBackward0", formula: "dx = G / x", self, saves: true) { g in [g / x] }
    }

    /// max(x, 0) elementwise. Backward: dx = G * (x > 0) (0 at x = 0, as PyTorch).
    public func relu() -> Tensor {
        let out = map(ReluF.self, op: "relu")
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded("ReluBackward0", formula: "dx = G * (x > 0)", self, save0: out.detached()) { node, g in
            let y = node.saved0!
            return InputGrads(g.shape == y.shape && g.dtype == y.dtype ? Tensor.zip(g, y, ReluGradF.self, op: "relu_backward")
                                                                       : g * y.map(PositiveMaskF.self, op: "relu"))
        }
    }

    /// 1 / (1 + e^-x) elementwise. Backward: dx = G * y * (1 - y), y the output.
    public func sigmoid() -> Tensor {
        let out = map(SigmoidF.self, op: "sigmoid")
        guard Tensor.recordsGrad(self) else { return out }
        let y = out.detached()
        return out.recorded("SigmoidBackward0", formula: "dx = G * y * (1 - y), y = sigmoid(x)", self, saves: true) { g in
            [g * y * (1 - y)]
        }
    }

    /// Hyperbolic tangent elementwise. Backward: dx = G * (1 - y^2), y the output.
    public func tanh() -> Tensor {
        let out = map(TanhF.self, op: "tanh")
        guard Tensor.recordsGrad(self) else { return out }
        let y = out.detached()
        return out.recorded("TanhBackward0", formula: "dx = G * (1 - y^2), y = tanh(x)", self, saves: true) { g in
            [g * (1 - y * y)]
        }
    }

    /// The values in another dtype, differentiable between float types (PyTorch's `.to(dtype)`).
    /// Backward: dx = G converted back.
    public func to(_ target: DType) -> Tensor {
        if target == dtype { return self }
        let out = converted(to: target)
        guard Tensor.recordsGrad(self), target.isFloatingPoint else { return out }
        let source = dtype
        return out.recorded("ToCopyBackward0", formula: "dx = G (in the input's dtype)", self, saves: false) { g in
            [g.converted(to: source)]
        }
    }
}

// MARK: - sqrt, abs, gelu

struct SqrtF: UnaryFunction { @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T { x.squareRoot() } }
struct AbsF: UnaryFunction { @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T { Swift.abs(x) } }
/// sign(x): -1, 0 or 1 (0 at 0, so that abs'(0) = 0 as in PyTorch); NaN stays NaN.
struct SignF: UnaryFunction {
    @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T { x > 0 ? 1 : (x < 0 ? -1 : (x.isNaN ? x : 0)) }
}
/// Exact GELU: x * Φ(x) with Φ the standard normal CDF.
struct GeluF: UnaryFunction {
    @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T {
        x * T(0.5) * (1 + T.erf(x * T(0.70710678118654752440)))
    }
}
/// d/dx of exact GELU: Φ(x) + x φ(x).
struct GeluGradF: UnaryFunction {
    @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T {
        let cdf = T(0.5) * (1 + T.erf(x * T(0.70710678118654752440)))
        let pdf = T.exp(T(-0.5) * x * x) * T(0.39894228040143267794)
        return cdf + x * pdf
    }
}
/// GELU with the tanh approximation: 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))).
struct GeluTanhF: UnaryFunction {
    @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T {
        let inner = T(0.79788456080286535588) * (x + T(0.044715) * x * x * x)
        return T(0.5) * x * (1 + T.tanh(inner))
    }
}
/// d/dx of tanh-GELU: 0.5 (1 + t) + 0.5 x (1 - t²) √(2/π) (1 + 3 · 0.044715 x²), t = tanh(inner).
struct GeluTanhGradF: UnaryFunction {
    @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T {
        let k = T(0.79788456080286535588), c = T(0.044715)
        let t = T.tanh(k * (x + c * x * x * x))
        return T(0.5) * (1 + t) + T(0.5) * x * (1 - t * t) * k * (1 + 3 * c * x * x)
    }
}

/// Which formula `gelu` uses (PyTorch's `approximate=` argument).
public enum GeluApproximation: String, Sendable, CaseIterable {
    /// The exact x Φ(x), with the error function (PyTorch's `"none"`, the default).
    case none
    /// 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))) (PyTorch's `"tanh"`).
    case tanh
}

extension Tensor {
    /// Square root elementwise. Backward: dx = G / (2 sqrt(x)) (with the saved output).
    public func sqrt() -> Tensor {
        let out = map(SqrtF.self, op: "sqrt")
        guard Tensor.recordsGrad(self) else { return out }
        let y = out.detached()
        return out.recorded("SqrtBackward0", formula: "dx = G / (2 * sqrt(x))", self, saves: true) { g in
            [g / (y * 2.0)]
        }
    }

    /// |x| elementwise. Backward: dx = G * sign(x), which is 0 at x = 0 (as PyTorch).
    public func abs() -> Tensor {
        let out = map(AbsF.self, op: "abs")
        guard Tensor.recordsGrad(self) else { return out }
        let x = detached()
        return out.recorded("AbsBackward0", formula: "dx = G * sign(x)", self, saves: true) { g in
            [g * x.map(SignF.self, op: "abs")]
        }
    }

    /// The Gaussian error linear unit x Φ(x) (PyTorch's `nn.functional.gelu`), exact or with the tanh formula.
    ///
    /// Backward (exact): dx = G * (Φ(x) + x φ(x)), φ the standard normal density.
    /// Backward (tanh): dx = G * (0.5 (1 + t) + 0.5 x (1 - t²) √(2/π) (1 + 0.134145 x²)), t = tanh(√(2/π)(x + 0.044715 x³)).
    public func gelu(approximate: GeluApproximation = .none) -> Tensor {
        let out = approximate == .none ? map(GeluF.self, op: "gelu") : map(GeluTanhF.self, op: "gelu")
        guard Tensor.recordsGrad(self) else { return out }
        let x = detached()
        if approximate == .none {
            return out.recorded("GeluBackward0", formula: "dx = G * (Phi(x) + x * phi(x))", self, saves: true) { g in
                [g * x.map(GeluGradF.self, op: "gelu")]
            }
        }
        return out.recorded("GeluBackward0",
                            formula: "dx = G * (0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)), t = tanh(sqrt(2/pi) (x + 0.044715 x^3))",
                            self, saves: true) { g in
            [g * x.map(GeluTanhGradF.self, op: "gelu")]
        }
    }
}
