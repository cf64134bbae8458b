// Activation functions of the CNN and transformer models: leaky_relu, elu, silu, hardtanh,
// logsigmoid, and erf and rsqrt. Each with its backward rule and its description; each rule is
// written with recorded ops when the gradients are recorded (createGraph), so the second
// derivatives are there too.

/// x where x > 0, else slope * x (the slope as the second operand, a 0-d tensor).
struct LeakyReluF: BinaryFunction {
    @inline(__always) static func apply<T: FloatElement>(_ x: T, _ slope: T) -> T { x > 0 ? x : x * slope }
}
/// 1 where x > 0, else slope.
struct LeakyReluGradF: BinaryFunction {
    @inline(__always) static func apply<T: FloatElement>(_ x: T, _ slope: T) -> T { x > 0 ? 1 : slope }
}
/// x where x > 0, else alpha * (e^x - 1).
struct EluF: BinaryFunction {
    @inline(__always) static func apply<T: FloatElement>(_ x: T, _ alpha: T) -> T { x > 0 ? x : alpha * T.expm1(x) }
}
/// 1 where x > 0, else alpha * e^x.
struct EluGradF: BinaryFunction {
    @inline(__always) static func apply<T: FloatElement>(_ x: T, _ alpha: T) -> T { x > 0 ? 1 : alpha * T.exp(x) }
}
/// x * sigmoid(x).
struct SiluF: UnaryFunction {
    @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T { x / (1 + T.exp(-x)) }
}
/// d silu / dx = s (1 + x (1 - s)), s = sigmoid(x).
struct SiluGradF: UnaryFunction {
    @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T {
        let s = 1 / (1 + T.exp(-x))
        return s * (1 + x * (1 - s))
    }
}
/// erf(x).
struct ErfF: UnaryFunction { @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T { T.erf(x) } }
/// 1 / sqrt(x).
struct RsqrtF: UnaryFunction { @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T { 1 / x.squareRoot() } }

extension BackwardRule {
    static let leakyRelu = BackwardRule("LeakyReluBackward0", "dx = G * (x > 0 ? 1 : negative_slope)")
    static let elu = BackwardRule("EluBackward0", "dx = G * (x > 0 ? 1 : alpha * exp(x))")
    static let silu = BackwardRule("SiluBackward0", "dx = G * s * (1 + x * (1 - s)), s = sigmoid(x)")
    static let hardtanh = BackwardRule("HardtanhBackward0", "dx = G * (min_val < x < max_val)")
    static let logSigmoid = BackwardRule("LogSigmoidBackward0", "dx = G * sigmoid(-x)")
    static let erf = BackwardRule("ErfBackward0", "dx = G * 2 / sqrt(pi) * exp(-x^2)")
    static let rsqrt = BackwardRule("RsqrtBackward0", "dx = -G * y^3 / 2, y = rsqrt(x)")
}

extension OpDescription {
    static let activationOps: [OpDescription] = [leakyRelu, elu, silu, hardtanh, logSigmoid, erf, rsqrt]

    static let leakyRelu = OpDescription(
        "leaky_relu", .elementwise, pytorch: "F.leaky_relu(x, negative_slope=0.01)", swift: "x.leakyRelu(negativeSlope: 0.01)",
        note: "the slope's gradient at x = 0, as PyTorch", rules: [.leakyRelu],
        replay: { c in [try c.tensor(0).leakyRelu(negativeSlope: try c.kwargs.double("negative_slope") ?? 0.01)] },
        gradcheck: [.unary("x.leakyRelu(negativeSlope:)") { g in
            let slope = [0.01, 0.2, -0.5][g.int(0..<3)]
            return (g.awayFromZero(g.shape()), { $0.leakyRelu(negativeSlope: slope) })
        }])
    static let elu = OpDescription(
        "elu", .elementwise, pytorch: "F.elu(x, alpha=1.0)", swift: "x.elu(alpha: 1)", rules: [.elu],
        replay: { c in [try c.tensor(0).elu(alpha: try c.kwargs.double("alpha") ?? 1)] },
        gradcheck: [.unary("x.elu(alpha:)") { g in
            let alpha = [1.0, 0.5, 2][g.int(0..<3)]
            return (g.awayFromZero(g.shape()), { $0.elu(alpha: alpha) })
        }])
    static let silu = OpDescription(
        "silu", .elementwise, pytorch: "F.silu(x)", swift: "x.silu()", rules: [.silu], replay: unary { $0.silu() },
        gradcheck: [.unary("x.silu()") { g in (g.normal(g.shape(), std: 2), { $0.silu() }) }])
    static let hardtanh = OpDescription(
        "hardtanh", .elementwise, pytorch: "F.hardtanh(x, min_val=-1.0, max_val=1.0)", swift: "x.hardtanh(minVal: -1, maxVal: 1)",
        note: "the gradient only strictly inside, as PyTorch", rules: [.hardtanh],
        replay: { c in
            [try c.tensor(0).hardtanh(minVal: try c.kwargs.double("min_val") ?? -1, maxVal: try c.kwargs.double("max_val") ?? 1)]
        },
        gradcheck: [.unary("x.hardtanh(minVal:maxVal:)") { g in
            (g.awayFrom(g.shape(), points: [-0.5, 1]), { $0.hardtanh(minVal: -0.5, maxVal: 1) })
        }])
    static let logSigmoid = OpDescription(
        "logsigmoid", .elementwise, pytorch: "F.logsigmoid(x)", swift: "x.logSigmoid()", note: "finite for any x",
        rules: [.logSigmoid], replay: unary { $0.logSigmoid() },
        gradcheck: [.unary("x.logSigmoid()") { g in (g.normal(g.shape(), std: 3), { $0.logSigmoid() }) }])
    static let erf = OpDescription(
        "erf", .elementwise, pytorch: "torch.erf(x)", swift: "x.erf()", rules: [.erf], replay: unary { $0.erf() },
        gradcheck: [.unary("x.erf()") { g in (g.normal(g.shape()), { $0.erf() }) }])
    static let rsqrt = OpDescription(
        "rsqrt", .elementwise, pytorch: "torch.rsqrt(x)", swift: "x.rsqrt()", rules: [.rsqrt], replay: unary { $0.rsqrt() },
        gradcheck: [.unary("x.rsqrt()") { g in (g.uniform(g.shape(), 0.5, 3), { $0.rsqrt() }) }])
}

extension Tensor {
    /// x where x > 0, else negativeSlope * x (PyTorch's `F.leaky_relu`).
    ///
    /// Backward: dx = G * (x > 0 ? 1 : negative_slope)
    public func leakyRelu(negativeSlope: Double = 0.01) -> Tensor {
        requireFloat("leaky_relu")
        let slope = scalarLike(negativeSlope)
        let out = Tensor.zip(self, slope, LeakyReluF.self, op: "leaky_relu")
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(.leakyRelu, self, save0: detached(), save1: slope) { node, g in
            InputGrads(g * Tensor.zip(node.saved0!, node.saved1!, LeakyReluGradF.self, op: "leaky_relu"))
        }
    }

    /// x where x > 0, else alpha * (e^x - 1) (PyTorch's `F.elu`).
    ///
    /// Backward: dx = G * (x > 0 ? 1 : alpha * exp(x))
    public func elu(alpha: Double = 1) -> Tensor {
        requireFloat("elu")
        let a = scalarLike(alpha)
        let out = Tensor.zip(self, a, EluF.self, op: "elu")
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(.elu, self, save0: detached(), save1: a, double: alpha) { node, g in
            let (xv, av) = (node.saved0!, node.saved1!)
            if GradNode.recordsGradients {
                // G where x > 0, G alpha e^x elsewhere, the exponential recorded.
                let positive = Tensor.zip(xv, xv.scalarLike(0), GreaterMaskF.self, op: "elu")
                let x = node.input(0, value: xv)
                return InputGrads(g * (positive + (1 - positive) * (x.exp() * node.savedDouble)))
            }
            return InputGrads(g * Tensor.zip(xv, av, EluGradF.self, op: "elu"))
        }
    }

    /// x * sigmoid(x), the sigmoid linear unit (PyTorch's `F.silu`, also called swish).
    ///
    /// Backward: dx = G * s * (1 + x * (1 - s)), s = sigmoid(x)
    public func silu() -> Tensor {
        let out = map(SiluF.self, op: "silu")
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(.silu, self, save0: detached()) { node, g in
            if GradNode.recordsGradients {
                let x = node.input(0, value: node.saved0!)
                let s = x.sigmoid()
                return InputGrads(g * (s * (1 + x * (1 - s))))
            }
            return InputGrads(g * node.saved0!.map(SiluGradF.self, op: "silu"))
        }
    }

    /// The values limited to [minVal, maxVal] (PyTorch's `F.hardtanh`).
    ///
    /// Backward: dx = G * (min_val < x < max_val): 0 at and beyond the bounds, as PyTorch.
    public func hardtanh(minVal: Double = -1, maxVal: Double = 1) -> Tensor {
        precondition(minVal <= maxVal, "hardtanh: min_val \(minVal) is greater than max_val \(maxVal)")
        requireFloat("hardtanh")
        let (lo, hi) = (scalarLike(minVal), scalarLike(maxVal))
        let out = Tensor.zip(Tensor.zip(self, lo, ClampLowF.self, op: "hardtanh"), hi, ClampHighF.self, op: "hardtanh")
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(.hardtanh, self, save0: detached(), saves: true) { node, g in
            let x = node.saved0!
            // 1 strictly between the bounds: (x > min) * (max > x).
            return InputGrads(g * Tensor.zip(x, lo, GreaterMaskF.self, op: "hardtanh") * Tensor.zip(hi, x, GreaterMaskF.self, op: "hardtanh"))
        }
    }

    /// log(sigmoid(x)), computed as min(x, 0) - log(1 + exp(-|x|)), finite for any x (PyTorch's `F.logsigmoid`).
    ///
    /// Backward: dx = G * sigmoid(-x)
    public func logSigmoid() -> Tensor {
        let out = map(LogSigmoidF.self, op: "logsigmoid")
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(.logSigmoid, self, save0: detached()) { node, g in
            InputGrads(g * (-node.input(0, value: node.saved0!)).sigmoid())
        }
    }

    /// The error function elementwise (PyTorch's `torch.erf`).
    ///
    /// Backward: dx = G * 2 / sqrt(pi) * exp(-x^2)
    public func erf() -> Tensor {
        let out = map(ErfF.self, op: "erf")
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(.erf, self, save0: detached()) { node, g in
            let x = node.input(0, value: node.saved0!)
            return InputGrads(g * ((-(x * x)).exp() * 1.1283791670955126))
        }
    }

    /// 1 / sqrt(x) elementwise (PyTorch's `torch.rsqrt`).
    ///
    /// Backward: dx = -G * y^3 / 2, y = rsqrt(x)
    public func rsqrt() -> Tensor {
        let out = map(RsqrtF.self, op: "rsqrt")
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(.rsqrt, self, save0: out.detached()) { node, g in
            let y = node.output(value: node.saved0!)
            return InputGrads(g * (y * y * y * -0.5))
        }
    }
}
