// Losses of elementwise targets: mseLoss, l1Loss, huberLoss, binaryCrossEntropy and
// binaryCrossEntropyWithLogits, with PyTorch's reductions. The target is differentiable too
// (PyTorch gives it a gradient); a `weight`/`posWeight` is a constant and broadcasts to the input.

struct LogClampedF: UnaryFunction {
    /// log(x) clamped below at -100, as PyTorch's binary_cross_entropy does.
    @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T { Swift.max(T.log(x), -100) }
}
/// log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)), finite for any x.
struct LogSigmoidF: UnaryFunction {
    @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T { Swift.min(x, 0) - T.log1p(T.exp(-Swift.abs(x))) }
}
/// max(x, 1e-12), the floor PyTorch puts under x (1 - x) in the BCE gradient.
struct BCEFloorF: UnaryFunction {
    @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T { Swift.max(x, T(1e-12)) }
}

extension BackwardRule {
    static let mseLoss = BackwardRule("MseLossBackward0", "dx = G * 2 * (x - y) / n (mean), dy = -dx")
    static let l1Loss = BackwardRule("L1LossBackward0", "dx = G * sign(x - y) / n (mean), dy = -dx")
    static let huberLoss = BackwardRule("HuberLossBackward0", "dx = G * clamp(x - y, -delta, delta) / n (mean), dy = -dx")
    static let binaryCrossEntropy = BackwardRule("BinaryCrossEntropyBackward0",
        "dx = G * w * (x - y) / max(x * (1 - x), 1e-12), dy = G * w * (log(1 - x) - log(x))")
    static let binaryCrossEntropyWithLogits = BackwardRule("BinaryCrossEntropyWithLogitsBackward0",
        "dx = G * w * ((p * y + 1 - y) * sigmoid(x) - p * y), dy = G * w * (logsigmoid(-x) - p * logsigmoid(x))")
}

extension OpDescription {
    static let elementwiseLossOps: [OpDescription] = [mseLoss, l1Loss, huberLoss, binaryCrossEntropy, binaryCrossEntropyWithLogits]

    static let mseLoss = OpDescription(
        "mse_loss", .loss, pytorch: "F.mse_loss(x, y)", swift: "x.mseLoss(target: y)", rules: [.mseLoss],
        replay: { c in [try c.tensor(0).mseLoss(target: try c.tensor(1), reduction: try c.kwargs.reduction())] },
        gradcheck: [.all("x.mseLoss(target:reduction:)") { g in
            let s = g.shape(); let r = Reduction.allCases[g.int(0..<3)]
            return ([g.normal(s), g.normal(s)], { $0[0].mseLoss(target: $0[1], reduction: r) })
        }])
    static let l1Loss = OpDescription(
        "l1_loss", .loss, pytorch: "F.l1_loss(x, y, reduction=\"none\")", swift: "x.l1Loss(target: y, reduction: .none)",
        note: "gradient 0 where x == y", rules: [.l1Loss],
        replay: { c in [try c.tensor(0).l1Loss(target: try c.tensor(1), reduction: try c.kwargs.reduction())] },
        gradcheck: [.all("x.l1Loss(target:reduction:)") { g in
            let s = g.shape(); let r = Reduction.allCases[g.int(0..<3)]
            let x = g.normal(s)
            return ([x, x + g.awayFromZero(s)], { $0[0].l1Loss(target: $0[1], reduction: r) })
        }])
    static let huberLoss = OpDescription(
        "huber_loss", .loss, pytorch: "F.huber_loss(x, y, delta=0.5)", swift: "x.huberLoss(target: y, delta: 0.5)",
        note: "delta defaults to 1, as PyTorch's", rules: [.huberLoss],
        replay: { c in
            [try c.tensor(0).huberLoss(target: try c.tensor(1), reduction: try c.kwargs.reduction(),
                                       delta: try c.kwargs.double("delta") ?? 1)]
        },
        gradcheck: [.all("x.huberLoss(target:reduction:delta:)") { g in
            // The first derivative is continuous (the second jumps at |x - y| = delta): no values to avoid.
            let s = g.shape(); let r = Reduction.allCases[g.int(0..<3)]; let delta = [1.0, 0.5, 2][g.int(0..<3)]
            return ([g.normal(s, std: 2), g.normal(s)], { $0[0].huberLoss(target: $0[1], reduction: r, delta: delta) })
        }])
    static let binaryCrossEntropy = OpDescription(
        "binary_cross_entropy", .loss, pytorch: "F.binary_cross_entropy(p, y, weight=w)", swift: "p.binaryCrossEntropy(target: y, weight: w)",
        rules: [.binaryCrossEntropy],
        replay: { c in
            [try c.tensor(0).binaryCrossEntropy(target: try c.tensor(1), weight: c.optionalTensor(named: "weight", default: 2),
                                                reduction: try c.kwargs.reduction())]
        },
        gradcheck: [.problem("x.binaryCrossEntropy(target:weight:reduction:)") { g in
            let s = g.shape(minRank: 1, maxRank: 3); let r = Reduction.allCases[g.int(0..<3)]
            let w = g.uniform([s.last!], 0.5, 2)
            return GradcheckProblem(inputs: [g.uniform(s, 0.1, 0.9), g.uniform(s, 0, 1), w], wrt: [0, 1],
                                    function: { $0[0].binaryCrossEntropy(target: $0[1], weight: $0[2], reduction: r) })
        }])
    static let binaryCrossEntropyWithLogits = OpDescription(
        "binary_cross_entropy_with_logits", .loss, pytorch: "F.binary_cross_entropy_with_logits(x, y, pos_weight=pw)",
        swift: "x.binaryCrossEntropyWithLogits(target: y, posWeight: pw)", rules: [.binaryCrossEntropyWithLogits],
        replay: { c in
            [try c.tensor(0).binaryCrossEntropyWithLogits(target: try c.tensor(1), weight: c.optionalTensor(named: "weight", default: 2),
                                                          posWeight: c.optionalTensor(named: "pos_weight", default: 3),
                                                          reduction: try c.kwargs.reduction())]
        },
        gradcheck: [.problem("x.binaryCrossEntropyWithLogits(target:weight:posWeight:reduction:)") { g in
            let s = g.shape(minRank: 1, maxRank: 3); let r = Reduction.allCases[g.int(0..<3)]
            let w = g.uniform(s, 0.5, 2), p = g.uniform([s.last!], 0.5, 3)
            return GradcheckProblem(inputs: [g.normal(s, std: 3), g.uniform(s, 0, 1), w, p], wrt: [0, 1],
                                    function: { $0[0].binaryCrossEntropyWithLogits(target: $0[1], weight: $0[2], posWeight: $0[3], reduction: r) })
        }])
}

extension Tensor {
    /// Applies a loss `reduction` to elementwise losses.
    func reduced(_ reduction: Reduction) -> Tensor {
        switch reduction {
        case .none: return self
        case .sum: return sum()
        case .mean: return mean()
        }
    }

    /// The incoming gradient of a reduced loss, spread back over the elementwise losses of `shape`.
    static func spreadLossGradient(_ g: Tensor, _ reduction: Reduction, shape: [Int]) -> Tensor {
        switch reduction {
        case .none: return g
        case .sum: return g.broadcast(to: shape, op: "loss")
        case .mean: return (g / Double(Swift.max(shape.reduce(1, *), 1))).broadcast(to: shape, op: "loss")
        }
    }

    /// Checks that a loss target broadcasts with the input and returns the shape of the elementwise loss.
    func lossShape(_ target: Tensor, op: String) -> [Int] {
        requireFloat(op); target.requireFloat(op)
        guard let s = Shapes.broadcast(shape, target.shape) else {
            preconditionFailure("\(op): input of shape \(shape) and target of shape \(target.shape) cannot be broadcast together")
        }
        if s != shape || s != target.shape, !op.hasPrefix("binary_cross_entropy") {
            let size = { (d: [Int]) in "torch.Size([\(d.map(String.init).joined(separator: ", "))])" }
            Warnings.warnOnce("\(op) target size",
                              "\(op): Using a target size (\(size(target.shape))) that is different to the input size (\(size(shape))). This will likely lead to incorrect results due to broadcasting. Please ensure they have the same size.")
        }
        return s
    }

    /// The mean squared error (x - y)², reduced (PyTorch's `mse_loss`; default mean).
    ///
    /// Backward: dx = G * 2 * (x - y) / n (mean), dy = -dx
    public func mseLoss(target: Tensor, reduction: Reduction = .mean) -> Tensor {
        let s = lossShape(target, op: "mse_loss")
        let (x, y) = (detached(), target.detached())
        let diff = withNoGrad { x - y }
        let out = withNoGrad { (diff * diff).reduced(reduction) }
        guard Tensor.recordsGrad(self, target) else { return out }
        let (nx, ny) = (node != nil, target.node != nil)
        return out.recorded(.mseLoss, self, target, saves: true) { node, g in
            let d = GradNode.recordsGradients ? node.input(0, value: x) - node.input(1, value: y) : diff
            let dx = Tensor.spreadLossGradient(g, reduction, shape: s) * d * 2.0
            return InputGrads(nx ? dx.sumTo(x.shape) : nil, ny ? (-dx).sumTo(y.shape) : nil)
        }
    }

    /// The mean absolute error |x - y|, reduced (PyTorch's `l1_loss`; default mean).
    ///
    /// Backward: dx = G * sign(x - y) / n (mean), dy = -dx (0 where x == y).
    public func l1Loss(target: Tensor, reduction: Reduction = .mean) -> Tensor {
        let s = lossShape(target, op: "l1_loss")
        let (x, y) = (detached(), target.detached())
        let diff = withNoGrad { x - y }
        let out = withNoGrad { diff.abs().reduced(reduction) }
        guard Tensor.recordsGrad(self, target) else { return out }
        let (nx, ny) = (node != nil, target.node != nil)
        return out.recorded(.l1Loss, self, target, saves: true) { _, g in
            let dx = Tensor.spreadLossGradient(g, reduction, shape: s) * diff.map(SignF.self, op: "l1_loss")
            return InputGrads(nx ? dx.sumTo(x.shape) : nil, ny ? (-dx).sumTo(y.shape) : nil)
        }
    }

    /// The Huber loss of d = x - y, reduced (PyTorch's `huber_loss`; default mean, delta 1):
    /// 0.5 d² where |d| < delta, delta (|d| - 0.5 delta) elsewhere, computed as m (|d| - 0.5 m)
    /// with m = min(|d|, delta), so that an infinite |d| gives infinity.
    ///
    /// Backward: dx = G * clamp(x - y, -delta, delta) / n (mean), dy = -dx
    public func huberLoss(target: Tensor, reduction: Reduction = .mean, delta: Double = 1) -> Tensor {
        let s = lossShape(target, op: "huber_loss")
        precondition(delta > 0, "huber_loss does not support non-positive values for delta, got \(delta)")
        let (x, y) = (detached(), target.detached())
        let diff = withNoGrad { x - y }
        let out: Tensor = withNoGrad {
            let a = diff.abs()
            let m = a.clamp(max: delta)
            return (m * (a - 0.5 * m)).reduced(reduction)
        }
        guard Tensor.recordsGrad(self, target) else { return out }
        let (nx, ny) = (node != nil, target.node != nil)
        return out.recorded(.huberLoss, self, target, saves: true) { node, g in
            // Recording: the difference again from x and y, so that the gradient depends on them.
            let d = GradNode.recordsGradients ? node.input(0, value: x) - node.input(1, value: y) : diff
            let dx = Tensor.spreadLossGradient(g, reduction, shape: s) * d.clamp(min: -delta, max: delta)
            return InputGrads(nx ? dx.sumTo(x.shape) : nil, ny ? (-dx).sumTo(y.shape) : nil)
        }
    }

    /// Binary cross-entropy of probabilities `self` in [0, 1] against targets y in [0, 1]
    /// (PyTorch's `binary_cross_entropy`): -w (y log(x) + (1 - y) log(1 - x)), each log clamped at -100.
    /// `mean` divides by the number of elements (the weight does not change it).
    ///
    /// Backward: dx = G * w * (x - y) / max(x * (1 - x), 1e-12), dy = G * w * (log(1 - x) - log(x)) (logs clamped).
    public func binaryCrossEntropy(target: Tensor, weight: Tensor? = nil, reduction: Reduction = .mean) -> Tensor {
        let s = lossShape(target, op: "binary_cross_entropy")
        precondition(s == shape, "binary_cross_entropy: target of shape \(target.shape) must match input of shape \(shape)")
        if let weight {
            precondition(Shapes.broadcast(weight.shape, s) == s,
                         "binary_cross_entropy: weight of shape \(weight.shape) does not broadcast to input \(shape)")
        }
        let (x, y) = (detached(), target.detached())
        let w = weight?.detached().to(dtype)
        let (logX, log1mX) = withNoGrad { (x.map(LogClampedF.self, op: "binary_cross_entropy"),
                                           (1 - x).map(LogClampedF.self, op: "binary_cross_entropy")) }
        let out: Tensor = withNoGrad {
            var l = -(y * logX + (1 - y) * log1mX)
            if let w { l = l * w }
            return l.reduced(reduction)
        }
        guard Tensor.recordsGrad(self, target) else { return out }
        let (nx, ny) = (node != nil, target.node != nil)
        return out.recorded(.binaryCrossEntropy, self, target, saves: true) { node, g in
            var gs = Tensor.spreadLossGradient(g, reduction, shape: s)
            if let w { gs = gs * w }
            if GradNode.recordsGradients {
                // Recorded, from x and y themselves: the floor and the log clamps as clamp ops.
                let (x, y) = (node.input(0, value: x), node.input(1, value: y))
                return InputGrads(nx ? gs * (x - y) / ((1 - x) * x).clamp(min: 1e-12) : nil,
                                  ny ? gs * ((1 - x).log().clamp(min: -100) - x.log().clamp(min: -100)) : nil)
            }
            return InputGrads(nx ? gs * (x - y) / ((1 - x) * x).map(BCEFloorF.self, op: "binary_cross_entropy") : nil,
                              ny ? gs * (log1mX - logX) : nil)
        }
    }

    /// Binary cross-entropy of logits `self` against targets y (PyTorch's `binary_cross_entropy_with_logits`),
    /// stable for large |x|: loss = w ((1 - y) x - (1 + (p - 1) y) logσ(x)), which equals
    /// -w (p y logσ(x) + (1 - y) logσ(-x)) with p = `posWeight` (broadcast along the last dim, default 1).
    ///
    /// Backward: dx = G * w * ((p * y + 1 - y) * sigmoid(x) - p * y), dy = G * w * (logsigmoid(-x) - p * logsigmoid(x))
    public func binaryCrossEntropyWithLogits(target: Tensor, weight: Tensor? = nil, posWeight: Tensor? = nil,
                                             reduction: Reduction = .mean) -> Tensor {
        let s = lossShape(target, op: "binary_cross_entropy_with_logits")
        precondition(s == shape, "binary_cross_entropy_with_logits: target of shape \(target.shape) must match input of shape \(shape)")
        for (name, t) in [("weight", weight), ("pos_weight", posWeight)] {
            if let t {
                precondition(Shapes.broadcast(t.shape, s) == s,
                             "binary_cross_entropy_with_logits: \(name) of shape \(t.shape) does not broadcast to input \(shape)")
            }
        }
        let (x, y) = (detached(), target.detached())
        let w = weight?.detached().to(dtype), p = posWeight?.detached().to(dtype)
        let logSigX = withNoGrad { x.map(LogSigmoidF.self, op: "binary_cross_entropy_with_logits") }
        let out: Tensor = withNoGrad {
            let lw = p.map { ($0 - 1) * y + 1 }
            var l = (1 - y) * x - (lw.map { logSigX * $0 } ?? logSigX)
            if let w { l = l * w }
            return l.reduced(reduction)
        }
        guard Tensor.recordsGrad(self, target) else { return out }
        let (nx, ny) = (node != nil, target.node != nil)
        return out.recorded(.binaryCrossEntropyWithLogits, self, target, saves: true) { node, g in
            var gs = Tensor.spreadLossGradient(g, reduction, shape: s)
            if let w { gs = gs * w }
            if GradNode.recordsGradients {
                // Recorded, from x and y themselves; logsigmoid(x) = -softplus(-x).
                let (x, y) = (node.input(0, value: x), node.input(1, value: y))
                var dx: Tensor? = nil, dy: Tensor? = nil
                if nx {
                    if let p { let py = p * y; dx = gs * ((py + 1 - y) * x.sigmoid() - py) } else { dx = gs * (x.sigmoid() - y) }
                }
                if ny {
                    let logSigX = -((-x).softplus()), logSigNegX = -x.softplus()
                    dy = gs * (logSigNegX - (p.map { $0 * logSigX } ?? logSigX))
                }
                return InputGrads(dx, dy)
            }
            var dx: Tensor? = nil, dy: Tensor? = nil
            if nx {
                if let p { let py = p * y; dx = gs * ((py + 1 - y) * x.sigmoid() - py) } else { dx = gs * (x.sigmoid() - y) }
            }
            if ny {
                let logSigNegX = (-x).map(LogSigmoidF.self, op: "binary_cross_entropy_with_logits")
                dy = gs * (logSigNegX - (p.map { $0 * logSigX } ?? logSigX))
            }
            return InputGrads(dx, dy)
        }
    }
}
