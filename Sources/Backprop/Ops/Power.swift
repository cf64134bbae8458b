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

/// 1 where a != b, else 0.
struct NotEqualMaskF: BinaryFunction { @inline(__always) static func apply<T: FloatElement>(_ a: T, _ b: T) -> T { a != b ? 1 : 0 } }

extension BackwardRule {
    static let powScalar = BackwardRule("PowBackward0", "dx = G * e * x^(e-1) (0 when e == 0)")
    static let powTensor = BackwardRule("PowBackward1", "dx = G * y * x^(y-1), dy = G * x^y * log(x)")
}

extension OpDescription {
    static let powerOps: [OpDescription] = [pow]

    static let pow = OpDescription(
        "pow", .elementwise, pytorch: "x ** 2, torch.pow(x, 2.5), torch.pow(x, y)", swift: "x.pow(2), x.pow(2.5), x.pow(y)",
        note: "pow(x, 0) has gradient 0, d/dy pow(0, y) is 0", rules: [.powScalar, .powTensor],
        replay: { c in
            let x = try c.firstOperand()
            guard c.args.count > 1 else { throw c.error("pow needs an exponent") }
            switch c.args[1] {
            case .number(let e): return [x.pow(e)]
            case .tensor(let e): return [x.pow(e)]
            default: throw c.error("pow's exponent must be a tensor or a number")
            }
        },
        gradcheck: [
            .unary("scalar", "x.pow(e)") { g in
                let e = [2.0, 3, 0.5, -1.5, 2.5][g.int(0..<5)]
                return (g.uniform(g.shape(), 0.5, 2), { $0.pow(e) })
            },
            .all("tensor", "x.pow(y)") { g in
                let (a, b) = g.broadcastPair()
                return ([g.uniform(a, 0.5, 2), g.uniform(b, -2, 2)], { $0[0].pow($0[1]) })
            },
        ])
}

extension Tensor {
    /// x^exponent elementwise, the exponent a number rounded to the tensor's dtype (PyTorch's `pow(Tensor, Scalar)`).
    ///
    /// Backward: dx = G * e * x^(e-1) (0 when e == 0)
    /// ```swift
    /// x.pow(2)      // x * x
    /// ```
    public func pow(_ exponent: Double) -> Tensor {
        let e = scalarLike(exponent)
        let out = Tensor.zip(self, e, PowF.self, op: "pow")
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(.powScalar, self, save0: detached(), save1: e, double: exponent) { node, g in
            if GradNode.recordsGradients {
                // e x^(e-1), recorded (0 for e == 0).
                let e = node.savedDouble
                let x = node.input(0, value: node.saved0!)
                return InputGrads(e == 0 ? g * 0.0 : g * (x.pow(e - 1) * e))
            }
            return InputGrads(g * Tensor.zip(node.saved0!, node.saved1!, PowGradBaseF.self, op: "pow"))
        }
    }

    /// x^y elementwise with broadcasting (PyTorch's `pow(Tensor, Tensor)`).
    ///
    /// Backward: dx = G * y * x^(y-1), dy = G * x^y * log(x)
    /// (dx is 0 where y == 0 and dy is 0 where x == 0 and y >= 0; both summed back over broadcast dims).
    public func pow(_ exponent: Tensor) -> Tensor {
        let out = Tensor.zip(self, exponent, PowF.self, op: "pow")
        guard Tensor.recordsGrad(self, exponent) else { return out }
        return out.recorded(.powTensor, self, exponent, save0: detached(), save1: exponent.detached()) { node, g in
            if GradNode.recordsGradients {
                // y x^(y-1) and x^y log(x), recorded; the masks keep PyTorch's zeros (y == 0; x == 0 and y >= 0).
                let (xv, yv) = (node.saved0!, node.saved1!)
                let (x, y) = (node.input(0, value: xv), node.input(1, value: yv))
                let keepX = Tensor.zip(yv, yv.scalarLike(0), NotEqualMaskF.self, op: "pow")
                let keepY = Tensor.zip(xv, xv.scalarLike(0), NotEqualMaskF.self, op: "pow")
                    .maximum(Tensor.zip(yv.scalarLike(0), yv, GreaterMaskF.self, op: "pow"))
                return InputGrads(node.input(0).map { _ in (g * (y * x.pow(y - 1)) * keepX).sumTo(xv.shape) },
                                  node.input(1).map { _ in (g * (x.pow(y) * x.log()) * keepY).sumTo(yv.shape) })
            }
            let (x, y) = (node.saved0!, node.saved1!)
            return InputGrads(node.input(0).map { _ in (g * Tensor.zip(x, y, PowGradBaseF.self, op: "pow")).sumTo(x.shape) },
                              node.input(1).map { _ in (g * Tensor.zip(x, y, PowGradExponentF.self, op: "pow")).sumTo(y.shape) })
        }
    }
}
