// Powers: x^e with a number exponent, and x^y with a tensor exponent (broadcasting).

struct PowF: BinaryFunction { @inline(__always) static func apply<T: FloatElement>(_ a: T, _ b: T) -> T { T.pow(a, b) } }
/// d(x^y)/dx = y x^(y-1), taken as 0 where y == 0 (so pow(x, 0) has gradient 0 everywhere, as PyTorch).
struct PowGradBaseF: BinaryFunction {
    @inline(__always) static func apply<T: FloatElement>(_ x: T, _ y: T) -> T { y == 0 ? 0 : y * T.pow(x, y - 1) }
}
/// d(x^y)/dy = x^y log(x), taken as 0 where x == 0 and y >= 0 (PyTorch: no NaN from 0 * log(0)).
struct PowGradExponentF: BinaryFunction {
    @inline(__always) static func apply<T: FloatElement>(_ x: T, _ y: T) -> T { (x == 0 && y >= 0) ? 0 : T.pow(x, y) * T.log(x) }
}

extension Tensor {
    /// x^exponent elementwise, the exponent a number rounded to the tensor's dtype (PyTorch's `pow(Tensor, Scalar)`).
    ///
    /// Backward: dx = G * e * x^(e-1), and dx = 0 when e == 0.
    /// ```swift
    /// x.pow(2)      // x * x
    /// ```
    public func pow(_ exponent: Double) -> Tensor {
        let e = scalarLike(exponent)
        let out = Tensor.zip(self, e, PowF.self, op: "pow")
        guard Tensor.recordsGrad(self) else { return out }
        let x = detached()
        return out.recorded("PowBackward0", formula: "dx = G * e * x^(e-1) (0 when e == 0)", self, saves: true) { g in
            [g * Tensor.zip(x, e, PowGradBaseF.self, op: "pow")]
        }
    }

    /// x^y elementwise with broadcasting (PyTorch's `pow(Tensor, Tensor)`).
    ///
    /// Backward: dx = G * y * x^(y-1) (0 where y == 0); dy = G * x^y * log(x) (0 where x == 0 and y >= 0);
    /// both summed back over broadcast dims.
    public func pow(_ exponent: Tensor) -> Tensor {
        let out = Tensor.zip(self, exponent, PowF.self, op: "pow")
        guard Tensor.recordsGrad(self, exponent) else { return out }
        let (x, y) = (detached(), exponent.detached())
        let (nx, ny) = (node != nil, exponent.node != nil)
        return out.recorded("PowBackward1", formula: "dx = G * y * x^(y-1), dy = G * x^y * log(x)",
                            self, exponent, saves: true) { g in
            [nx ? (g * Tensor.zip(x, y, PowGradBaseF.self, op: "pow")).sumTo(x.shape) : nil,
             ny ? (g * Tensor.zip(x, y, PowGradExponentF.self, op: "pow")).sumTo(y.shape) : nil]
        }
    }
}
