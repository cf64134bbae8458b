// Elementwise arithmetic with NumPy broadcasting. Each op's backward rule follows its forward;
// `G` is the incoming gradient, and gradients of broadcast inputs are summed back to their shapes.

struct AddF: BinaryFunction { @inline(__always) static func apply<T: FloatElement>(_ a: T, _ b: T) -> T { a + b } }
struct SubF: BinaryFunction { @inline(__always) static func apply<T: FloatElement>(_ a: T, _ b: T) -> T { a - b } }
struct MulF: BinaryFunction { @inline(__always) static func apply<T: FloatElement>(_ a: T, _ b: T) -> T { a * b } }
struct DivF: BinaryFunction { @inline(__always) static func apply<T: FloatElement>(_ a: T, _ b: T) -> T { a / b } }
struct NegF: UnaryFunction { @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T { -x } }

/// How `div` rounds its quotient (PyTorch's `rounding_mode=`).
public enum RoundingMode: String, Sendable, CaseIterable {
    /// Toward zero, as C's integer division (`"trunc"`).
    case trunc
    /// Toward negative infinity, as Python's `//` (`"floor"`).
    case floor
}

/// trunc(a / b).
struct TruncDivF: BinaryFunction {
    @inline(__always) static func apply<T: FloatElement>(_ a: T, _ b: T) -> T { (a / b).rounded(.towardZero) }
}
/// Python's floor division a // b: (a - fmod(a, b)) / b with the fix-ups that keep
/// a == (a // b) * b + a % b, as PyTorch (and CPython) compute it.
struct FloorDivF: BinaryFunction {
    @inline(__always) static func apply<T: FloatElement>(_ a: T, _ b: T) -> T {
        if b == 0 { return a / b }
        let mod = a.truncatingRemainder(dividingBy: b)
        var div = (a - mod) / b
        if mod != 0 && (b < 0) != (mod < 0) { div -= 1 }
        guard div != 0 else { return (a / b).sign == .minus ? -T(0) : T(0) }
        var floored = div.rounded(.down)
        if div - floored > T(0.5) { floored += 1 }
        return floored
    }
}

extension BackwardRule {
    static let add = BackwardRule("AddBackward0", "da = G, db = alpha * G (summed over broadcast dims)")
    static let sub = BackwardRule("SubBackward0", "da = G, db = -alpha * G (summed over broadcast dims)")
    static let mul = BackwardRule("MulBackward0", "da = G * b, db = G * a")
    static let div = BackwardRule("DivBackward0", "da = G / b, db = -G * a / b^2")
    static let divRounded = BackwardRule("DivBackward2", "da = 0, db = 0 (a rounded quotient)")
    static let neg = BackwardRule("NegBackward0", "dx = -G")
}

extension OpDescription {
    static let arithmeticOps: [OpDescription] = [add, sub, mul, div, neg]

    static let add = OpDescription(
        "add", .elementwise, pytorch: "a + b, torch.add(a, b, alpha=2)", swift: "a + b, a.add(b, alpha: 2)",
        rules: [.add],
        replay: { c in
            let x = try c.firstOperand()
            return [x.add(try c.operand(1, like: x), alpha: try c.kwargs.double("alpha") ?? 1)]
        },
        gradcheck: [.all("a.add(b, alpha: 2)") { g in let (a, b) = g.broadcastPair(); return ([g.normal(a), g.normal(b)], { $0[0].add($0[1], alpha: 2) }) }])

    static let sub = OpDescription(
        "sub", .elementwise, pytorch: "a - b, torch.sub(a, b, alpha=2)", swift: "a - b, a.sub(b, alpha: 2)",
        rules: [.sub],
        replay: { c in
            let x = try c.firstOperand()
            return [x.sub(try c.operand(1, like: x), alpha: try c.kwargs.double("alpha") ?? 1)]
        },
        gradcheck: [.all("a - b") { g in let (a, b) = g.broadcastPair(); return ([g.normal(a), g.normal(b)], { $0[0] - $0[1] }) }])

    static let mul = OpDescription(
        "mul", .elementwise, pytorch: "a * b", swift: "a * b, a.mul(b)",
        note: "`x * 0.5` rounds 0.5 to x's dtype, as PyTorch", rules: [.mul], replay: binary { $0 * $1 },
        gradcheck: [.all("a * b") { g in let (a, b) = g.broadcastPair(); return ([g.normal(a), g.normal(b)], { $0[0] * $0[1] }) }])

    static let div = OpDescription(
        "div", .elementwise, pytorch: "a / b, torch.div(a, b, rounding_mode=\"floor\")",
        swift: "a / b, a.div(b, roundingMode: .floor)", rules: [.div, .divRounded],
        replay: { c in
            let x = try c.firstOperand()
            let y = try c.operand(1, like: x)
            guard let name = try c.kwargs.string("rounding_mode") else { return [x / y] }
            guard let mode = RoundingMode(rawValue: name) else {
                throw c.error("div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '\(name)'")
            }
            return [x.div(y, roundingMode: mode)]
        },
        gradcheck: [.all("a / b") { g in let (a, b) = g.broadcastPair(); return ([g.normal(a), g.awayFromZero(b)], { $0[0] / $0[1] }) }])

    static let neg = OpDescription(
        "neg", .elementwise, pytorch: "-a, torch.neg(a)", swift: "-a, a.neg()", rules: [.neg], replay: unary { -$0 },
        gradcheck: [.unary("-x") { g in (g.normal(g.shape()), { -$0 }) }])
}

extension Tensor {
    /// `a + alpha * b` (PyTorch's `torch.add(input, other, alpha=)`).
    /// Backward: da = G, db = alpha * G (summed over broadcast dims).
    public func add(_ other: Tensor, alpha: Double = 1) -> Tensor {
        let out = alpha == 1 ? Tensor.zip(self, other, AddF.self, op: "add")
                             : withNoGrad { self + other * alpha }
        guard Tensor.recordsGrad(self, other) else { return out }
        // The input nodes know the input shapes: nothing to save.
        return out.recorded(.add, self, other, double: alpha) { node, g in
            InputGrads(node.input(0).map { g.sumTo($0.shape) },
                       node.input(1).map { (node.savedDouble == 1 ? g : g * node.savedDouble).sumTo($0.shape) })
        }
    }

    /// `a - alpha * b` (PyTorch's `torch.sub(input, other, alpha=)`).
    /// Backward: da = G, db = -alpha * G (summed over broadcast dims).
    public func sub(_ other: Tensor, alpha: Double = 1) -> Tensor {
        let out = alpha == 1 ? Tensor.zip(self, other, SubF.self, op: "sub")
                             : withNoGrad { self - other * alpha }
        guard Tensor.recordsGrad(self, other) else { return out }
        return out.recorded(.sub, self, other, double: alpha) { node, g in
            InputGrads(node.input(0).map { g.sumTo($0.shape) },
                       node.input(1).map { (node.savedDouble == 1 ? -g : g * -node.savedDouble).sumTo($0.shape) })
        }
    }

    /// Elementwise product. Backward: da = G * b, db = G * a
    public func mul(_ other: Tensor) -> Tensor {
        let out = Tensor.zip(self, other, MulF.self, op: "mul")
        guard Tensor.recordsGrad(self, other) else { return out }
        // da needs b and db needs a: each is saved only when the other side wants a gradient.
        return out.recorded(.mul, self, other,
                            save0: other.node != nil ? detached() : nil,
                            save1: node != nil ? other.detached() : nil) { node, g in
            if !GradNode.recordsGradients, let grads = Tensor.mulGradsSameShape(node, g) { return grads }
            return InputGrads(node.input(0).map { (g * node.input(1, value: node.saved1!)).sumTo($0.shape) },
                              node.input(1).map { (g * node.input(0, value: node.saved0!)).sumTo($0.shape) })
        }
    }

    /// mul's first-order gradients G * b and G * a in one kernel launch, when nothing was broadcast
    /// (a, b and G of one shape and dtype): the same products, so the same bits, as the general rule,
    /// without its two dispatches and the copies around them. Nil when the shapes or dtypes differ.
    static func mulGradsSameShape(_ node: GradNode, _ g: Tensor) -> InputGrads? {
        let needA = node.needsGrad(0), needB = node.needsGrad(1)
        let shape = g.shape, dtype = g.dtype
        guard dtype.isFloatingPoint else { return nil }
        // saved1 (b) is there when a needs a gradient, saved0 (a) when b does.
        if needA {
            guard let b = node.saved1, b.dtype == dtype, b.shape == shape, node.input(0)!.shape == shape else { return nil }
        }
        if needB {
            guard let a = node.saved0, a.dtype == dtype, a.shape == shape, node.input(1)!.shape == shape else { return nil }
        }
        let ga = needA ? Tensor(shape: shape, dtype: dtype, zeroed: false) : nil
        let gb = needB ? Tensor(shape: shape, dtype: dtype, zeroed: false) : nil
        func run<T: FloatElement>(_: T.Type) {
            KernelTape.launch((g.kernelRead(T.self), node.saved1?.kernelRead(T.self), node.saved0?.kernelRead(T.self),
                               ga?.kernelWrite(T.self), gb?.kernelWrite(T.self), g.count)) { x in
                if let pga = x.3 { ElementwiseKernels.zipSame(x.0, x.1!, pga, x.5, MulF.self) }
                if let pgb = x.4 { ElementwiseKernels.zipSame(x.0, x.2!, pgb, x.5, MulF.self) }
            }
        }
        if dtype == .float32 { run(Float.self) } else { run(Double.self) }
        return InputGrads(ga, gb)
    }

    /// Elementwise quotient. Backward: da = G / b, db = -G * a / b^2
    public func div(_ other: Tensor) -> Tensor {
        let out = Tensor.zip(self, other, DivF.self, op: "div")
        guard Tensor.recordsGrad(self, other) else { return out }
        return out.recorded(.div, self, other, save0: detached(), save1: other.detached()) { node, g in
            let (a, b) = (node.input(0, value: node.saved0!), node.input(1, value: node.saved1!))
            return InputGrads(node.input(0).map { _ in (g / b).sumTo(a.shape) },
                              node.input(1).map { _ in (-g * a / (b * b)).sumTo(b.shape) })
        }
    }

    /// The quotient rounded toward zero or toward negative infinity (PyTorch's
    /// `torch.div(a, b, rounding_mode="trunc" | "floor")`; `"floor"` is Python's `//`).
    /// Backward: da = 0, db = 0 (a rounded quotient)
    public func div(_ other: Tensor, roundingMode: RoundingMode?) -> Tensor {
        guard let roundingMode else { return div(other) }
        let out = roundingMode == .trunc ? Tensor.zip(self, other, TruncDivF.self, op: "div")
                                         : Tensor.zip(self, other, FloorDivF.self, op: "div")
        guard Tensor.recordsGrad(self, other) else { return out }
        return out.recorded(.divRounded, self, other) { node, g in
            InputGrads(node.input(0).map { Tensor.zeros($0.shape, dtype: $0.dtype) },
                       node.input(1).map { Tensor.zeros($0.shape, dtype: $0.dtype) })
        }
    }

    /// Elementwise negation. Backward: dx = -G
    public func neg() -> Tensor {
        let out = map(NegF.self, op: "neg")
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(.neg, self) { _, g in InputGrads(-g) }
    }

    // Scalar operands are rounded to the tensor's dtype first, as PyTorch does.

    /// `a + b` with broadcasting (`add`).
    public static func + (a: Tensor, b: Tensor) -> Tensor { a.add(b) }
    /// `a - b` with broadcasting (`sub`).
    public static func - (a: Tensor, b: Tensor) -> Tensor { a.sub(b) }
    /// `a * b` elementwise with broadcasting (`mul`).
    public static func * (a: Tensor, b: Tensor) -> Tensor { a.mul(b) }
    /// `a / b` elementwise with broadcasting (`div`).
    public static func / (a: Tensor, b: Tensor) -> Tensor { a.div(b) }
    /// `-a` (`neg`).
    public static prefix func - (a: Tensor) -> Tensor { a.neg() }

    // When no graph is recorded, a scalar operand goes straight into the loop (rounded to the
    // dtype exactly as the 0-d tensor would be), without allocating that tensor.

    /// `a + b` with the number rounded to the tensor's dtype first, as PyTorch does.
    public static func + (a: Tensor, b: Double) -> Tensor { a.scalarOp(b, AddF.self, scalarFirst: false) ?? a.add(a.scalarLike(b)) }
    /// `a + b` with the number rounded to the tensor's dtype first, as PyTorch does.
    public static func + (a: Double, b: Tensor) -> Tensor { b.scalarOp(a, AddF.self, scalarFirst: true) ?? b.scalarLike(a).add(b) }
    /// `a - b` with the number rounded to the tensor's dtype first, as PyTorch does.
    public static func - (a: Tensor, b: Double) -> Tensor { a.scalarOp(b, SubF.self, scalarFirst: false) ?? a.sub(a.scalarLike(b)) }
    /// `a - b` with the number rounded to the tensor's dtype first, as PyTorch does.
    public static func - (a: Double, b: Tensor) -> Tensor { b.scalarOp(a, SubF.self, scalarFirst: true) ?? b.scalarLike(a).sub(b) }
    /// `a * b` with the number rounded to the tensor's dtype first, as PyTorch does.
    public static func * (a: Tensor, b: Double) -> Tensor { a.scalarOp(b, MulF.self, scalarFirst: false) ?? a.mul(a.scalarLike(b)) }
    /// `a * b` with the number rounded to the tensor's dtype first, as PyTorch does.
    public static func * (a: Double, b: Tensor) -> Tensor { b.scalarOp(a, MulF.self, scalarFirst: true) ?? b.scalarLike(a).mul(b) }
    /// `a / b` with the number rounded to the tensor's dtype first, as PyTorch does.
    public static func / (a: Tensor, b: Double) -> Tensor { a.scalarOp(b, DivF.self, scalarFirst: false) ?? a.div(a.scalarLike(b)) }
    /// `a / b` with the number rounded to the tensor's dtype first, as PyTorch does.
    public static func / (a: Double, b: Tensor) -> Tensor { b.scalarOp(a, DivF.self, scalarFirst: true) ?? b.scalarLike(a).div(b) }

    // Compound assignment writes into the tensor's own storage when nothing is recorded, the
    // storage is not shared (copy-on-write: graphs that saved the old values keep them) and the
    // shapes agree; otherwise it computes a new value as `a = a op b` does.

    /// `a = a + b`, in the tensor's own storage when nothing is recorded and it is not shared.
    public static func += (a: inout Tensor, b: Tensor) { if !a.updateInPlace(b, AddF.self) { a.assignKeepingIdentity(a + b) } }
    /// `a = a - b`, in the tensor's own storage when nothing is recorded and it is not shared.
    public static func -= (a: inout Tensor, b: Tensor) { if !a.updateInPlace(b, SubF.self) { a.assignKeepingIdentity(a - b) } }
    /// `a = a * b`, in the tensor's own storage when nothing is recorded and it is not shared.
    public static func *= (a: inout Tensor, b: Tensor) { if !a.updateInPlace(b, MulF.self) { a.assignKeepingIdentity(a * b) } }
    /// `a = a / b`, in the tensor's own storage when nothing is recorded and it is not shared.
    public static func /= (a: inout Tensor, b: Tensor) { if !a.updateInPlace(b, DivF.self) { a.assignKeepingIdentity(a / b) } }
    /// `a = a + b`, in the tensor's own storage when nothing is recorded and it is not shared.
    public static func += (a: inout Tensor, b: Double) { a.assignKeepingIdentity(a + b) }
    /// `a = a - b`, in the tensor's own storage when nothing is recorded and it is not shared.
    public static func -= (a: inout Tensor, b: Double) { a.assignKeepingIdentity(a - b) }
    /// `a = a * b`, in the tensor's own storage when nothing is recorded and it is not shared.
    public static func *= (a: inout Tensor, b: Double) { a.assignKeepingIdentity(a * b) }
    /// `a = a / b`, in the tensor's own storage when nothing is recorded and it is not shared.
    public static func /= (a: inout Tensor, b: Double) { a.assignKeepingIdentity(a / b) }

    /// `self op s` (or `s op self`) for a float tensor when no graph is recorded; nil otherwise.
    @inline(__always)
    func scalarOp<F: BinaryFunction>(_ s: Double, _ f: F.Type, scalarFirst: Bool) -> Tensor? {
        guard node == nil || !GradMode.isEnabled, dtype.isFloatingPoint else { return nil }
        let out = Tensor(shape: shape, dtype: dtype, zeroed: false)
        let n = count
        func run<T: FloatElement>(_: T.Type) {
            KernelTape.launch((T(s), kernelRead(T.self), out.kernelWrite(T.self), n, scalarFirst)) { a in
                let (c, x, o, n, scalarFirst) = a
                if scalarFirst { ElementwiseKernels.scalarFirst(c, x, o, n, F.self) } else { ElementwiseKernels.scalarSecond(x, c, o, n, F.self) }
            }
        }
        if dtype == .float32 { run(Float.self) } else { run(Double.self) }
        return out
    }

    /// `self = self op b` in place (see the compound assignments); false when it cannot be done so.
    /// When the storage is shared (a graph saved the old values, or another copy holds them), the
    /// result goes into a new storage that this tensor alone takes: the others keep the old values.
    mutating func updateInPlace<F: BinaryFunction>(_ b: Tensor, _ f: F.Type) -> Bool {
        guard !Tensor.recordsGrad(self, b), node == nil || node!.isLeaf, dtype == b.dtype, dtype.isFloatingPoint,
              b.shape == shape else { return false }
        let n = count
        let target = isKnownUniquelyReferenced(&storage) ? storage : TensorStorage.make(dtype: dtype, count: n, zeroed: false)
        func run<T: FloatElement>(_: T.Type) {
            KernelTape.launch((kernelRead(T.self), b.kernelRead(T.self), target.kernelWrite(T.self), n)) { a in
                ElementwiseKernels.zipSame(a.0, a.1, a.2, a.3, F.self)
            }
        }
        if dtype == .float32 { run(Float.self) } else { run(Double.self) }
        storage = target
        return true
    }

    /// In-place update semantics: a leaf that requires grad keeps its identity (its `.grad`, and what
    /// modules and optimizers hold) and takes the new values, which must not change its shape.
    /// This is what `W -= lr * W.grad!` inside `withNoGrad` needs; graphs that saved the old values
    /// keep them (copy-on-write). Anywhere else the result simply replaces the value.
    mutating func assignKeepingIdentity(_ new: Tensor) {
        if let n = node, n.isLeaf, !GradMode.isEnabled {
            precondition(new.shape == shape,
                         "in-place update: result of shape \(new.shape) does not fit a leaf of shape \(shape)")
            storage = new.dtype == dtype ? new.storage : new.converted(to: dtype).storage
        } else if let n = node, n.isLeaf, GradMode.isEnabled {
            preconditionFailure("a leaf Variable that requires grad is being used in an in-place operation; update parameters inside withNoGrad { }")
        } else {
            self = new
        }
    }

    /// Replaces the values of this tensor, keeping its autograd identity (PyTorch's `copy_` under no-grad).
    public mutating func update(to new: Tensor) {
        precondition(new.shape == shape, "update(to:): new values of shape \(new.shape) for a tensor of shape \(shape)")
        storage = new.dtype == dtype ? new.storage : new.converted(to: dtype).storage
    }

    /// The gradient `self` reduced by summation to `target` (undoing broadcasting).
    @inline(__always) consuming func sumTo(_ target: [Int]) -> Tensor {
        // The common case (no broadcast to undo) moves the gradient through without a copy.
        if shape == target { return self }
        return summed(to: target)
    }

    private func summed(to target: [Int]) -> Tensor {
        let lead = rank - target.count
        var dims: [Int] = Array(0..<lead)
        for (i, s) in target.enumerated() where s == 1 && shape[lead + i] != 1 { dims.append(lead + i) }
        var r = dims.isEmpty ? self : sum(dims: dims, keepDim: true)
        if r.shape != target { r = r.reshape(target) }
        return r
    }
}
