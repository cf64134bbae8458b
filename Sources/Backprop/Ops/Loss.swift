// Classification losses: nllLoss and crossEntropy with PyTorch's reductions, weights,
// ignoreIndex and label smoothing; oneHot.

/// How a loss combines its per-element values (PyTorch's `reduction=`).
public enum Reduction: String, Sendable, CaseIterable {
    /// One loss per element (or per row of class scores).
    case none
    /// The mean (for class targets: divided by the summed weights of the non-ignored targets).
    case mean
    /// The sum.
    case sum
}

extension BackwardRule {
    static let nllLoss = BackwardRule("NllLossBackward0",
        "dx[i, t_i] = -w[t_i] * G, divided by sum_i w[t_i] for mean (no weights: dx = -onehot * G / N)")
}

extension OpDescription {
    static let lossOps: [OpDescription] = [nllLoss, crossEntropy, oneHot]

    static let nllLoss = OpDescription(
        "nll_loss", .loss, pytorch: "F.nll_loss(x, t, weight=w, ignore_index=0, reduction=\"sum\")",
        swift: "x.nllLoss(target: t, weight: w, ignoreIndex: 0, reduction: .sum)", rules: [.nllLoss],
        replay: { c in
            [try c.tensor(0).nllLoss(target: try c.tensor(1), weight: c.optionalTensor(named: "weight", default: 2),
                                     ignoreIndex: try c.kwargs.int("ignore_index") ?? -100, reduction: try c.kwargs.reduction())]
        },
        gradcheck: [.problem("x.nllLoss(target:weight:ignoreIndex:reduction:)") { g in
            let (shape, t, c) = g.classProblem()
            let w = g.uniform([c], 0.5, 2)
            let r = Reduction.allCases[g.int(0..<3)]
            return GradcheckProblem(inputs: [g.normal(shape), t, w], wrt: [0],
                                    function: { $0[0].nllLoss(target: $0[1], weight: $0[2], ignoreIndex: 0, reduction: r) })
        }])
    static let crossEntropy = OpDescription(
        "cross_entropy", .loss, pytorch: "F.cross_entropy(x, t, label_smoothing=0.1)", swift: "x.crossEntropy(target: t, labelSmoothing: 0.1)",
        note: "class indices or probabilities; composed of log_softmax and nll_loss", rules: [.logSoftmax, .nllLoss],
        replay: { c in
            [try c.tensor(0).crossEntropy(target: try c.tensor(1), weight: c.optionalTensor(named: "weight", default: 2),
                                          ignoreIndex: try c.kwargs.int("ignore_index") ?? -100, reduction: try c.kwargs.reduction(),
                                          labelSmoothing: try c.kwargs.double("label_smoothing") ?? 0)]
        },
        gradcheck: [
            .problem("indices", "x.crossEntropy(target:weight:reduction:labelSmoothing:)") { g in
                let (shape, t, c) = g.classProblem()
                let w = g.uniform([c], 0.5, 2)
                let r = Reduction.allCases[g.int(0..<3)]
                let eps = [0, 0.1, 0.25][g.int(0..<3)]
                return GradcheckProblem(inputs: [g.normal(shape), t, w], wrt: [0],
                                        function: { $0[0].crossEntropy(target: $0[1], weight: $0[2], reduction: r, labelSmoothing: eps) })
            },
            .problem("probabilities", "x.crossEntropy(target: probabilities)") { g in
                let (shape, _, _) = g.classProblem()
                let probs = g.uniform(shape, 0.1, 1)
                let r = Reduction.allCases[g.int(0..<3)]
                return GradcheckProblem(inputs: [g.normal(shape), probs], wrt: [0, 1],
                                        function: { $0[0].crossEntropy(target: $0[1], reduction: r) })
            },
        ])
    static let oneHot = OpDescription(
        "one_hot", .indexing, pytorch: "F.one_hot(t, num_classes=3)", swift: "t.oneHot(numClasses: 3)", rules: [],
        replay: { c in [try c.tensor(0).oneHot(numClasses: try c.kwargs.int("num_classes").flatMap { $0 < 0 ? nil : $0 })] },
        gradcheck: [])
}

extension Tensor {
    /// One-hot encoding of int64 class indices: a trailing dim of `numClasses` (default: max + 1), int64.
    /// No gradient (an int64 result).
    public func oneHot(numClasses: Int? = nil) -> Tensor {
        precondition(dtype == .int64, "one_hot: expected an int64 tensor of class indices, got \(dtype)")
        let idx = integers
        let c = numClasses ?? ((idx.max() ?? -1) + 1)
        let out = Tensor.zeros(shape + [c], dtype: .int64)
        out.withFreshPointer(Int64.self) { o in
            for (i, t) in idx.enumerated() {
                precondition(t >= 0 && t < c, "one_hot: class index \(t) out of range for \(c) classes")
                o[i * c + t] = 1
            }
        }
        return out
    }

    /// Checks an (N, C, d1...) or (C) input against its class-index target and returns the layout.
    func classLayout(target: Tensor, op: String) -> (n: Int, c: Int, s: Int) {
        precondition(target.dtype == .int64, "\(op): expected an int64 target of class indices, got \(target.dtype)")
        if rank == 1 {
            precondition(target.rank == 0, "\(op): a 1-d input \(shape) needs a 0-d target, got \(target.shape)")
            return (1, shape[0], 1)
        }
        precondition(rank >= 2, "\(op): expected input of shape (N, C, ...) or (C), got \(shape)")
        var matches = target.rank == rank - 1 && target.shape[0] == shape[0]
        if matches { for d in 2..<rank where target.shape[d - 1] != shape[d] { matches = false } }
        precondition(matches, "\(op): input \(shape) needs a target of shape \([shape[0]] + Array(shape.dropFirst(2))), got \(target.shape)")
        return (shape[0], shape[1], shape.dropFirst(2).reduce(1, *))
    }

    /// The negative log-likelihood of log-probabilities `self` (N, C, d1...) at class indices `target`.
    ///
    /// loss_i = -w[t_i] * x[i, t_i] (0 where t_i == ignoreIndex); `mean` divides the sum by the summed
    /// weights of the non-ignored targets.
    ///
    /// Backward: dx[i, t_i] = -w[t_i] * G, divided by sum_i w[t_i] for mean (no weights: dx = -onehot * G / N)
    public func nllLoss(target: Tensor, weight: Tensor? = nil, ignoreIndex: Int = -100,
                        reduction: Reduction = .mean) -> Tensor {
        requireFloat("nll_loss")
        let (n, c, s) = classLayout(target: target, op: "nll_loss")
        if let weight {
            precondition(weight.shape == [c], "nll_loss: weight of shape \(weight.shape) for \(c) classes")
        }
        if weight == nil && s == 1 && reduction != .none {
            return nllLossRows(target: target, ignoreIndex: ignoreIndex, reduction: reduction, n: n, c: c)
        }
        let t = target.integers
        for v in t where v != ignoreIndex {
            precondition(v >= 0 && v < c, "nll_loss: target \(v) is out of bounds for \(c) classes")
        }
        let w = weight?.scalars
        // Only the N*S picked log-probabilities are read (not the whole N*C input).
        let picked = gatherPicked(t, c: c, s: s, ignoreIndex: ignoreIndex)
        var losses = [Double](repeating: 0, count: reduction == .none ? n * s : 0)
        var total = 0.0, wsum = 0.0
        for i in 0..<n {
            for j in 0..<s where t[i * s + j] != ignoreIndex {
                let ti = t[i * s + j]
                let wi = w?[ti] ?? 1
                let v = picked[i * s + j]
                if reduction == .none { losses[i * s + j] = -wi * v }
                total += -wi * v
                wsum += wi
            }
        }
        let out: Tensor
        switch reduction {
        case .none: out = Tensor(losses, shape: rank == 1 ? [] : [n] + Array(shape.dropFirst(2)), dtype: dtype)
        case .sum: out = Tensor(scalar: total, dtype: dtype)
        case .mean: out = Tensor(scalar: total / wsum, dtype: dtype)
        }
        guard Tensor.recordsGrad(self) else { return out }
        return out.recorded(.nllLoss, self, save0: target.detached(), save1: weight?.detached(), int: ignoreIndex,
                            double: reduction == .mean ? wsum : 1, backward: Tensor.nllLossBackward)
    }

    /// The one backward function of `nllLoss` (both forward paths): -w[t] * G at each target,
    /// G per element (`none`) or the one G divided by `node.savedDouble` (the summed weights for
    /// `mean`, 1 for `sum`). Saved: the targets, the weights when given, the ignored index.
    static func nllLossBackward(_ node: GradNode, _ g: Tensor) -> InputGrads {
        let input = node.input(0)!
        let (inShape, dt) = (input.shape, input.dtype)
        let (n, c) = inShape.count == 1 ? (1, inShape[0]) : (inShape[0], inShape[1])
        let s = inShape.count <= 2 ? 1 : inShape.dropFirst(2).reduce(1, *)
        let ignoreIndex = node.savedInt
        let perElement = g.count == n * s && g.count > 1
        if !GradNode.recordsGradients && !perElement && node.saved1 == nil && s == 1 {
            // The common case (rows of class scores, no weights, one G): one value at each target,
            // in one kernel that reads G and (mean of the row path) counts the targets itself.
            let dx = Tensor(shape: inShape, dtype: dt, zeroed: true)
            func fill<T: FloatElement>(_: T.Type) {
                KernelTape.launch((dx.kernelWrite(T.self), node.saved0!.kernelRead(Int64.self), g.kernelRead(T.self),
                                   n, c, ignoreIndex, node.savedDouble)) { a in
                    let (p, tp, pg, n, c, ignoreIndex, saved) = a
                    let divisor = saved >= 0 ? saved : Tensor.countTargets(tp, n: n, ignoreIndex: ignoreIndex)
                    let v = T(-1 * (pg[0].double / divisor))
                    for i in 0..<n {
                        let t = Int(tp[i])
                        if t != ignoreIndex { p[i * c + t] = v }
                    }
                }
            }
            if dt == .float32 { fill(Float.self) } else { fill(Double.self) }
            return InputGrads(dx)
        }
        let w = node.saved1?.scalars
        let g0 = g.dtype == .float32 ? Double(g.storage.pointer(Float.self)[0]) : g.storage.pointer(Double.self)[0]
        let gs = perElement ? g.scalars : []
        let tp = node.saved0!.storage.pointer(Int64.self)
        let divisor = node.savedDouble >= 0 ? node.savedDouble : Tensor.countTargets(tp, n: n * s, ignoreIndex: ignoreIndex)
        if GradNode.recordsGradients {
            // Recorded: a constant [N, C, ...] of -w[t] at the targets times G (per element: G with a
            // class dim of 1), divided by the summed weights for mean.
            let coefficients = Tensor(shape: inShape, dtype: dt, zeroed: true)
            func fillCoefficients<T: FloatElement>(_: T.Type) {
                coefficients.withFreshPointer(T.self) { p in
                    for i in 0..<n {
                        for j in 0..<s {
                            let t = Int(tp[i * s + j])
                            if t != ignoreIndex { p[(i * c + t) * s + j] = T(-(w?[t] ?? 1)) }
                        }
                    }
                }
            }
            if dt == .float32 { fillCoefficients(Float.self) } else { fillCoefficients(Double.self) }
            let gShaped = g.count == n * s && inShape.count >= 2 ? g.reshape([n, 1] + Array(inShape.dropFirst(2))) : g
            return InputGrads(coefficients * (divisor == 1 ? gShaped : gShaped / divisor))
        }
        let dx = Tensor(shape: inShape, dtype: dt, zeroed: true)
        func fill<T: FloatElement>(_: T.Type) {
            dx.withFreshPointer(T.self) { p in
                if !perElement && w == nil && s == 1 {
                    // The common case (rows of class scores, no weights, one G): one value at each target.
                    let v = T(-1 * (g0 / divisor))
                    for i in 0..<n {
                        let t = Int(tp[i])
                        if t != ignoreIndex { p[i * c + t] = v }
                    }
                    return
                }
                for i in 0..<n {
                    for j in 0..<s {
                        let t = Int(tp[i * s + j])
                        if t == ignoreIndex { continue }
                        let gi = perElement ? gs[i * s + j] : g0 / divisor
                        p[(i * c + t) * s + j] = T(-(w?[t] ?? 1) * gi)
                    }
                }
            }
        }
        if dt == .float32 { fill(Float.self) } else { fill(Double.self) }
        return InputGrads(dx)
    }

    /// `nllLoss` without weights on (N, C) or (C) input with `sum` or `mean`: the same arithmetic
    /// in the same order, read straight from the buffers, with no per-call arrays (small-work fast path).
    private func nllLossRows(target: Tensor, ignoreIndex: Int, reduction: Reduction, n: Int, c: Int) -> Tensor {
        let out = Tensor(shape: [], dtype: dtype, zeroed: false)
        let sum = reduction == .sum
        func pick<T: FloatElement>(_: T.Type) {
            KernelTape.launch((kernelRead(T.self), target.kernelRead(Int64.self), out.kernelWrite(T.self),
                               n, c, ignoreIndex, sum)) { a in
                let (x, tp, o, n, c, ignoreIndex, sum) = a
                Tensor.checkTargets(tp, n: n, c: c, ignoreIndex: ignoreIndex, op: "nll_loss")
                var total = 0.0, wsum = 0.0
                for i in 0..<n {
                    let ti = Int(tp[i])
                    if ti == ignoreIndex { continue }
                    total += -1 * Double(x[i * c + ti])
                    wsum += 1
                }
                o[0] = T(sum ? total : total / wsum)
            }
        }
        if dtype == .float32 { pick(Float.self) } else { pick(Double.self) }
        guard Tensor.recordsGrad(self) else { return out }
        // double: 1 for sum; -1 for mean, whose divisor (the targets not ignored) the backward
        // counts from the saved targets, in its kernel.
        return out.recorded(.nllLoss, self, save0: target.detached(), int: ignoreIndex,
                            double: sum ? 1 : -1, backward: Tensor.nllLossBackward)
    }

    /// The number of targets that are not `ignoreIndex`, as `nllLoss`'s mean divides by it.
    static func countTargets(_ tp: UnsafePointer<Int64>, n: Int, ignoreIndex: Int) -> Double {
        var wsum = 0.0
        for i in 0..<n where Int(tp[i]) != ignoreIndex { wsum += 1 }
        return wsum
    }

    /// Stops unless every class index of `n` targets (but `ignoreIndex`) lies in 0..<c.
    static func checkTargets(_ tp: UnsafePointer<Int64>, n: Int, c: Int, ignoreIndex: Int, op: String) {
        for i in 0..<n where Int(tp[i]) != ignoreIndex {
            let v = Int(tp[i])
            precondition(v >= 0 && v < c, "\(op): target \(v) is out of bounds for \(c) classes")
        }
    }

    /// cross_entropy of float32 logits [N, C] (C >= 16) at int64 targets, when no graph is recorded:
    /// log_softmax(x)[i, t_i] per row (computed as `logSoftmax` computes it: (x - max) - log(sum exp)),
    /// then summed in row order as `nllLoss` sums them, so the loss is the composed path's to the bit.
    private func pickedLogSoftmaxLoss(target: Tensor, ignoreIndex: Int, reduction: Reduction, c: Int) -> Tensor {
        let (n, _, _) = classLayout(target: target, op: "cross_entropy")
        let tp = target.storage.pointer(Int64.self)
        Tensor.checkTargets(tp, n: n, c: c, ignoreIndex: ignoreIndex, op: "cross_entropy")
        let picked = [Float](unsafeUninitializedCapacity: n) { buf, count in
            SoftmaxKernels.logSoftmaxPicked(storage.pointer(Float.self), rows: n, c: c, targets: tp,
                                            ignoreIndex: ignoreIndex, buf.baseAddress!)
            count = n
        }
        var total = 0.0, wsum = 0.0
        for i in 0..<n where Int(tp[i]) != ignoreIndex {
            total += -1 * Double(picked[i])
            wsum += 1
        }
        return Tensor(scalar: reduction == .sum ? total : total / wsum, dtype: dtype)
    }

    /// x[i, t_i, j] as Double for each target position (0 where ignored), read in place.
    private func gatherPicked(_ t: [Int], c: Int, s: Int, ignoreIndex: Int) -> [Double] {
        var out = [Double](repeating: 0, count: t.count)
        func read<T: FloatElement>(_: T.Type) {
            withPointer(T.self) { p in
                for k in t.indices where t[k] != ignoreIndex {
                    let i = k / s, j = k % s
                    out[k] = p[(i * c + t[k]) * s + j].double
                }
            }
        }
        if dtype == .float32 { read(Float.self) } else { read(Double.self) }
        return out
    }

    /// Cross-entropy of logits `self` (N, C, d1...) or (C) against class indices (int64) or class
    /// probabilities (a float tensor shaped like the input).
    ///
    /// With class indices it is `nllLoss(logSoftmax(x, dim: 1))` plus, for label smoothing e,
    /// (e / C) * sum_c w[c] * (-logSoftmax[i, c]) mixed in with weight (1 - e); `mean` divides by the
    /// summed weights of the non-ignored targets. With probabilities q = (1 - e) * target + e / C,
    /// loss_i = -sum_c w[c] q[i, c] logSoftmax[i, c], and `mean` divides by the number of rows.
    /// The composed backward gives dx = (softmax - onehot) / N in the plain case.
    public func crossEntropy(target: Tensor, weight: Tensor? = nil, ignoreIndex: Int = -100,
                             reduction: Reduction = .mean, labelSmoothing: Double = 0) -> Tensor {
        requireFloat("cross_entropy")
        precondition(labelSmoothing >= 0 && labelSmoothing <= 1,
                     "cross_entropy: label_smoothing must be between 0.0 and 1.0, got \(labelSmoothing)")
        precondition(rank >= 1, "cross_entropy: expected input of shape (N, C, ...) or (C), got \(shape)")
        let classDim = rank == 1 ? 0 : 1
        let c = shape[classDim]
        if rank == 2 && dtype == .float32 && c >= 16 && weight == nil && labelSmoothing == 0 && reduction != .none
            && target.dtype == .int64 && !Tensor.recordsGrad(self) {
            // No graph: the loss from each row's log-sum-exp and its target's logit, without
            // writing the [N, C] log-probabilities; the same numbers as the path below.
            return pickedLogSoftmaxLoss(target: target, ignoreIndex: ignoreIndex, reduction: reduction, c: c)
        }
        let lp = logSoftmax(dim: classDim)
        // Weights broadcast along the class dim.
        let wb = weight.map { w -> Tensor in
            precondition(w.shape == [c], "cross_entropy: weight of shape \(w.shape) for \(c) classes")
            var wShape = [Int](repeating: 1, count: rank)
            wShape[classDim] = c
            return w.detached().to(dtype).reshape(wShape)
        }

        if target.dtype.isFloatingPoint {
            precondition(target.shape == shape,
                         "cross_entropy: a float target holds class probabilities and must have the input's shape \(shape), got \(target.shape); class indices are an int64 tensor: Tensor(indices: [...])")
            precondition(ignoreIndex == -100, "cross_entropy: ignore_index is not supported for floating point target")
            let q = labelSmoothing > 0 ? target * (1 - labelSmoothing) + labelSmoothing / Double(c) : target
            var prod = q * lp
            if let wb { prod = prod * wb }
            let perRow = -prod.sum(dim: classDim)
            switch reduction {
            case .none: return perRow
            case .sum: return perRow.sum()
            case .mean: return perRow.sum() / Double(Swift.max(count / c, 1))
            }
        }

        if labelSmoothing == 0 {
            return lp.nllLoss(target: target, weight: weight, ignoreIndex: ignoreIndex, reduction: reduction)
        }
        let (n, _, s) = classLayout(target: target, op: "cross_entropy")
        let t = target.integers
        let keep = t.map { $0 == ignoreIndex ? 0.0 : 1.0 }
        var maskShape = shape
        maskShape[classDim] = 1
        let mask = Tensor(keep, shape: rank == 1 ? [] : [n, 1] + Array(shape.dropFirst(2)), dtype: dtype)
        _ = maskShape
        var smoothTerm = -lp
        if let wb { smoothTerm = smoothTerm * wb }
        let smooth = (smoothTerm * mask).sum(dim: classDim)                  // sum_c w[c] (-lp) per row
        let nll = lp.nllLoss(target: target, weight: weight, ignoreIndex: ignoreIndex, reduction: .none)
        let perRow = nll * (1 - labelSmoothing) + smooth * (labelSmoothing / Double(c))
        switch reduction {
        case .none: return perRow
        case .sum: return perRow.sum()
        case .mean:
            let w = weight?.scalars ?? [Double](repeating: 1, count: c)
            var wsum = 0.0
            for i in 0..<(n * s) where t[i] != ignoreIndex { wsum += w[t[i]] }
            return perRow.sum() / wsum
        }
    }
}
