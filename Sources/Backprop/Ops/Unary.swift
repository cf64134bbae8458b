import CBackpropKernels

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

extension BackwardRule {
    static let exp = BackwardRule("ExpBackward0", "dx = G * exp(x)")
    static let log = BackwardRule("LogBackward0", "dx = G / x")
    static let relu = BackwardRule("ReluBackward0", "dx = G * (x > 0)")
    static let sigmoid = BackwardRule("SigmoidBackward0", "dx = G * y * (1 - y), y = sigmoid(x)")
    static let tanh = BackwardRule("TanhBackward0", "dx = G * (1 - y^2), y = tanh(x)")
    static let toCopy = BackwardRule("ToCopyBackward0", "dx = G (in the input's dtype)")
    static let sqrt = BackwardRule("SqrtBackward0", "dx = G / (2 * sqrt(x))")
    static let abs = BackwardRule("AbsBackward0", "dx = G * sign(x)")
    static let gelu = BackwardRule("GeluBackward0", "dx = G * (Phi(x) + x * phi(x))")
    static let geluDerivative = BackwardRule("GeluBackwardBackward0", "dx = G * phi(x) * (2 - x^2)")
    static let geluTanhDerivative = BackwardRule("GeluBackwardBackward0", "dx = G * d2/dx2 gelu_tanh(x)")
    static let softplus = BackwardRule("SoftplusBackward0", "dx = G * sigmoid(beta * x), G where beta * x > threshold")
    static let geluTanh = BackwardRule("GeluBackward0",
        "dx = G * (0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)), t = tanh(sqrt(2/pi) (x + 0.044715 x^3))")
}

extension OpDescription {
    static let unaryOps: [OpDescription] = [exp, log, sqrt, abs, relu, sigmoid, tanh, gelu, softplus]

    static let exp = OpDescription(
        "exp", .elementwise, pytorch: "torch.exp(x)", swift: "x.exp()", rules: [.exp], replay: unary { $0.exp() },
        gradcheck: [.unary("x.exp()") { g in (g.normal(g.shape()), { $0.exp() }) }])
    static let log = OpDescription(
        "log", .elementwise, pytorch: "torch.log(x)", swift: "x.log()", rules: [.log], replay: unary { $0.log() },
        gradcheck: [.unary("x.log()") { g in (g.uniform(g.shape(), 0.5, 3), { $0.log() }) }])
    static let sqrt = OpDescription(
        "sqrt", .elementwise, pytorch: "torch.sqrt(x)", swift: "x.sqrt()", rules: [.sqrt], replay: unary { $0.sqrt() },
        gradcheck: [.unary("x.sqrt()") { g in (g.uniform(g.shape(), 0.5, 3), { $0.sqrt() }) }])
    static let abs = OpDescription(
        "abs", .elementwise, pytorch: "torch.abs(x)", swift: "x.abs()", note: "abs'(0) = 0, as PyTorch",
        rules: [.abs], replay: unary { $0.abs() },
        gradcheck: [.unary("x.abs()") { g in (g.awayFromZero(g.shape()), { $0.abs() }) }])
    static let relu = OpDescription(
        "relu", .elementwise, pytorch: "torch.relu(x)", swift: "x.relu()", note: "relu'(0) = 0, as PyTorch",
        rules: [.relu], replay: unary { $0.relu() },
        gradcheck: [.unary("x.relu()") { g in (g.awayFromZero(g.shape()), { $0.relu() }) }])
    static let sigmoid = OpDescription(
        "sigmoid", .elementwise, pytorch: "torch.sigmoid(x)", swift: "x.sigmoid()", rules: [.sigmoid],
        replay: unary { $0.sigmoid() },
        gradcheck: [.unary("x.sigmoid()") { g in (g.normal(g.shape()), { $0.sigmoid() }) }])
    static let tanh = OpDescription(
        "tanh", .elementwise, pytorch: "torch.tanh(x)", swift: "x.tanh()", rules: [.tanh], replay: unary { $0.tanh() },
        gradcheck: [.unary("x.tanh()") { g in (g.normal(g.shape()), { $0.tanh() }) }])
    static let gelu = OpDescription(
        "gelu", .elementwise, pytorch: "F.gelu(x), F.gelu(x, approximate=\"tanh\")", swift: "x.gelu(), x.gelu(approximate: .tanh)",
        rules: [.gelu, .geluTanh],
        replay: { c in
            let name = try c.kwargs.string("approximate") ?? "none"
            guard let approx = GeluApproximation(rawValue: name) else {
                throw c.error("gelu's approximate must be \"none\" or \"tanh\", got \(name)")
            }
            return [try c.tensor(0).gelu(approximate: approx)]
        },
        gradcheck: [.unary("none", "x.gelu()") { g in (g.normal(g.shape()), { $0.gelu() }) },
                    .unary("tanh", "x.gelu(approximate: .tanh)") { g in (g.normal(g.shape()), { $0.gelu(approximate: .tanh) }) }])
    static let softplus = OpDescription(
        "softplus", .elementwise, pytorch: "F.softplus(x, beta=1, threshold=20)", swift: "x.softplus(beta: 1, threshold: 20)",
        rules: [.softplus],
        replay: { c in
            [try c.tensor(0).softplus(beta: try c.kwargs.double("beta") ?? 1, threshold: try c.kwargs.double("threshold") ?? 20)]
        },
        gradcheck: [.unary("x.softplus(beta:threshold:)") { g in
            let beta = [1.0, 2, 0.5][g.int(0..<3)]
            // Away from the threshold, where the value jumps from softplus to x.
            return (g.awayFrom(g.shape(), points: [1 / beta]), { $0.softplus(beta: beta, threshold: 1) })
        }])
}

extension Tensor {
    /// e^x elementwise. Backward: dx = G * exp(x) (the saved output).
    public func exp() -> Tensor {
        let out = map(ExpF.self, op: "exp")
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(.exp, self, save0: out.detached()) { node, g in InputGrads(g * node.output(value: node.saved0!)) }
    }

    /// Natural logarithm elementwise. Backward: dx = G / x
    public func log() -> Tensor {
        let out = map(LogF.self, op: "log")
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(.log, self, save0: detached()) { node, g in InputGrads(g / node.input(0, value: node.saved0!)) }
    }

    /// max(x, 0) elementwise. Backward: dx = G * (x > 0) (0 at x = 0, as PyTorch).
    public func relu() -> Tensor {
        let out = map(ReluF.self, op: "relu")
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(.relu, self, save0: out.detached()) { node, g in
            let y = node.saved0!
            // (Recording the gradient: G times a constant mask, so that it depends on G.)
            return InputGrads(g.shape == y.shape && g.dtype == y.dtype && !GradNode.recordsGradients
                              ? Tensor.zip(g, y, ReluGradF.self, op: "relu_backward")
                              : g * y.map(PositiveMaskF.self, op: "relu"))
        }
    }

    /// 1 / (1 + e^-x) elementwise. Backward: dx = G * y * (1 - y), y = sigmoid(x)
    public func sigmoid() -> Tensor {
        let out = map(SigmoidF.self, op: "sigmoid")
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(.sigmoid, self, save0: out.detached()) { node, g in
            let y = node.output(value: node.saved0!)
            return InputGrads(g * y * (1 - y))
        }
    }

    /// Hyperbolic tangent elementwise. Backward: dx = G * (1 - y^2), y = tanh(x)
    public func tanh() -> Tensor {
        let out = map(TanhF.self, op: "tanh")
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(.tanh, self, save0: out.detached()) { node, g in
            let y = node.output(value: node.saved0!)
            return InputGrads(g * (1 - y * y))
        }
    }

    /// The values in another dtype, differentiable between float types (PyTorch's `.to(dtype)`).
    /// Backward: dx = G (in the input's dtype)
    public func to(_ target: DType) -> Tensor {
        if target == dtype { return self }
        let out = converted(to: target)
        guard Tensor.recordsGrad(self), target.isFloatingPoint else { return out }
        return out.recorded(.toCopy, self) { node, g in
            InputGrads(GradNode.recordsGradients ? g.to(node.input(0)!.dtype) : g.converted(to: node.input(0)!.dtype))
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

/// d²/dx² of exact GELU: φ(x) (2 - x²).
struct GeluSecondF: UnaryFunction {
    @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T {
        T.exp(T(-0.5) * x * x) * T(0.39894228040143267794) * (2 - x * x)
    }
}
/// d²/dx² of tanh-GELU: (1 - t²) (u' - x t u'² + 3 k c x²), u = k (x + c x³), u' = k (1 + 3 c x²), t = tanh(u).
struct GeluTanhSecondF: UnaryFunction {
    @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T {
        let k = T(0.79788456080286535588), c = T(0.044715)
        let t = T.tanh(k * (x + c * x * x * x))
        let du = k * (1 + 3 * c * x * x)
        return (1 - t * t) * (du - x * t * du * du + 3 * k * c * x * x)
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
    /// Square root elementwise. Backward: dx = G / (2 * sqrt(x)) (with the saved output).
    public func sqrt() -> Tensor {
        let out = map(SqrtF.self, op: "sqrt")
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(.sqrt, self, save0: out.detached()) { node, g in InputGrads(g / (node.output(value: node.saved0!) * 2.0)) }
    }

    /// |x| elementwise. Backward: dx = G * sign(x), which is 0 at x = 0 (as PyTorch).
    public func abs() -> Tensor {
        let out = map(AbsF.self, op: "abs")
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(.abs, self, save0: detached()) { node, g in InputGrads(g * node.saved0!.map(SignF.self, op: "abs")) }
    }

    /// The Gaussian error linear unit x Φ(x) (PyTorch's `nn.functional.gelu`), exact or with the tanh formula.
    ///
    /// Backward: dx = G * (Phi(x) + x * phi(x)), with Phi and phi the standard normal CDF and density.
    /// Backward (tanh): dx = G * (0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)), t = tanh(sqrt(2/pi) (x + 0.044715 x^3))
    public func gelu(approximate: GeluApproximation = .none) -> Tensor {
        let out = approximate == .none ? (dtype == .float32 ? geluFloat32() : map(GeluF.self, op: "gelu"))
                                       : map(GeluTanhF.self, op: "gelu")
        guard Tensor.recordsGrad(self) else { return out }
        if approximate == .none {
            return out.recorded(.gelu, self, save0: detached()) { node, g in
                if !GradNode.recordsGradients && g.dtype == .float32 && g.shape == node.saved0!.shape {
                    return InputGrads(Tensor.geluBackwardFloat32(node.saved0!, g))
                }
                return InputGrads(g * node.input(0, value: node.saved0!).geluDerivative(approximate: .none))
            }
        }
        return out.recorded(.geluTanh, self, save0: detached()) { node, g in
            InputGrads(g * node.input(0, value: node.saved0!).geluDerivative(approximate: .tanh))
        }
    }

    /// The exact GELU of a float32 tensor: the vectorized C loop, split over the threads.
    private func geluFloat32() -> Tensor {
        let out = Tensor(shape: shape, dtype: .float32, zeroed: false)
        KernelTape.launch((out.kernelWrite(Float.self), kernelRead(Float.self), count)) { a in
            nonisolated(unsafe) let (o, x) = (a.0, a.1)
            Parallelism.chunked(a.2, grain: Parallelism.elementwiseGrain / 8) { lo, hi in bp_gelu_f32(x + lo, o + lo, hi - lo) }
        }
        return out
    }

    /// G * gelu'(x) for float32 in one vectorized pass (the first-order backward).
    static func geluBackwardFloat32(_ x: Tensor, _ g: Tensor) -> Tensor {
        let out = Tensor(shape: x.shape, dtype: .float32, zeroed: false)
        KernelTape.launch((out.kernelWrite(Float.self), x.kernelRead(Float.self), g.kernelRead(Float.self), x.count)) { a in
            nonisolated(unsafe) let (o, xp, gp) = (a.0, a.1, a.2)
            Parallelism.chunked(a.3, grain: Parallelism.elementwiseGrain / 8) { lo, hi in
                bp_gelu_backward_f32(xp + lo, gp + lo, o + lo, hi - lo)
            }
        }
        return out
    }

    /// d gelu / dx elementwise, differentiable itself (for gradients of gradients).
    ///
    /// Backward: dx = G * phi(x) * (2 - x^2) (exact); the tanh form's second derivative for `.tanh`.
    func geluDerivative(approximate: GeluApproximation) -> Tensor {
        let out = approximate == .none ? map(GeluGradF.self, op: "gelu") : map(GeluTanhGradF.self, op: "gelu")
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(approximate == .none ? .geluDerivative : .geluTanhDerivative, self, save0: detached()) { node, g in
            let x = node.saved0!
            return InputGrads(g * (approximate == .none ? x.map(GeluSecondF.self, op: "gelu") : x.map(GeluTanhSecondF.self, op: "gelu")))
        }
    }
}

extension Tensor {
    /// log(1 + exp(beta x)) / beta elementwise, and x itself where beta x > threshold, as PyTorch's
    /// `F.softplus(input, beta=1, threshold=20)` (computed as max(z, 0) + log(1 + exp(-|z|)), z = beta x,
    /// finite for any x).
    ///
    /// Backward: dx = G * sigmoid(beta * x), G where beta * x > threshold
    public func softplus(beta: Double = 1, threshold: Double = 20) -> Tensor {
        requireFloat("softplus")
        let x = detached()
        let out: Tensor = withNoGrad {
            let z = x * beta
            let soft = -((-z).map(LogSigmoidF.self, op: "softplus")) / beta
            let above = Tensor.zip(z, z.scalarLike(threshold), GreaterMaskF.self, op: "softplus")
            return above * x + (1 - above) * soft
        }
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(.softplus, self, save0: x, double: beta, saves: true) { node, g in
            let z = node.input(0, value: node.saved0!) * node.savedDouble
            let above = Tensor.zip(z, z.scalarLike(threshold), GreaterMaskF.self, op: "softplus")
            return InputGrads(g * (above + (1 - above) * z.sigmoid()))
        }
    }
}
