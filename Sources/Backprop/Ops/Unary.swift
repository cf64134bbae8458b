// Elementwise functions of one tensor, each with its backward rule.

struct ExpF: UnaryFunction { @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T { T.exp(x) } }
struct LogF: UnaryFunction { @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T { T.log(x) } }

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
