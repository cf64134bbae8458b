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
        return out.recorded("ExpBackward0", formula: "dx = G * exp(x)", inputs: [self], saves: true) { g in [g * y] }
    }

    /// Natural logarithm elementwise. Backward: dx = G / x.
    public func log() -> Tensor {
        let out = map(LogF.self, op: "log")
        guard Tensor.recordsGrad(self) else { return out }
        let x = detached()
        return out.recorded("LogBackward0", formula: "dx = G / x", inputs: [self], saves: true) { g in [g / x] }
    }

    /// max(x, 0) elementwise. Backward: dx = G * (x > 0) (0 at x = 0, as PyTorch).
    public func relu() -> Tensor {
        let out = map(ReluF.self, op: "relu")
        guard Tensor.recordsGrad(self) else { return out }
        let y = out.detached()
        return out.recorded("ReluBackward0", formula: "dx = G * (x > 0)", inputs: [self], saves: true) { g in
            [g.shape == y.shape && g.dtype == y.dtype ? Tensor.zip(g, y, ReluGradF.self, op: "relu_backward")
                                                      : g * y.map(PositiveMaskF.self, op: "relu")]
        }
    }

    /// 1 / (1 + e^-x) elementwise. Backward: dx = G * y * (1 - y), y the output.
    public func sigmoid() -> Tensor {
        let out = map(SigmoidF.self, op: "sigmoid")
        guard Tensor.recordsGrad(self) else { return out }
        let y = out.detached()
        return out.recorded("SigmoidBackward0", formula: "dx = G * y * (1 - y), y = sigmoid(x)", inputs: [self], saves: true) { g in
            [g * y * (1 - y)]
        }
    }

    /// Hyperbolic tangent elementwise. Backward: dx = G * (1 - y^2), y the output.
    public func tanh() -> Tensor {
        let out = map(TanhF.self, op: "tanh")
        guard Tensor.recordsGrad(self) else { return out }
        let y = out.detached()
        return out.recorded("TanhBackward0", formula: "dx = G * (1 - y^2), y = tanh(x)", inputs: [self], saves: true) { g in
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
        return out.recorded("ToCopyBackward0", formula: "dx = G (in the input's dtype)", inputs: [self], saves: false) { g in
            [g.converted(to: source)]
        }
    }
}
