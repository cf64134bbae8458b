import CBackpropKernels
import Foundation

/// Adam (`torch.optim.Adam`), and with `decoupledWeightDecay` AdamW (`torch.optim.AdamW`).
///
/// For each parameter p with gradient g, at step t (counted per parameter from 1):
///
///     p = p * (1 - lr * weightDecay)                   (AdamW)
///     g = g + weightDecay * p                          (Adam, when weightDecay != 0)
///     m = lerp(m, g, 1 - beta1)                        (m + (1 - beta1) (g - m))
///     v = beta2 * v + (1 - beta2) * g * g
///     vmax = max(vmax, v)                              (amsgrad; used instead of v below)
///     denom = sqrt(v) / sqrt(1 - beta2^t) + eps
///     p = p - (lr / (1 - beta1^t)) * m / denom
public class Adam: Optimizer {
    /// The parameters updated by `step()`; their positions name the state (`state.0.exp_avg`).
    public let parameters: [Parameter]
    /// The learning rate of the next `step()` (a schedule may change it).
    public var lr: Double
    /// The decay rate of the first moment (PyTorch's `betas[0]`, default 0.9).
    public let beta1: Double
    /// The decay rate of the second moment (PyTorch's `betas[1]`, default 0.999).
    public let beta2: Double
    /// Added to the denominator for numerical stability (default 1e-8).
    public let eps: Double
    /// The L2 penalty (Adam: added to the gradient) or the decoupled decay (AdamW) of the first
    /// parameter group (of every parameter unless the optimizer was made from groups).
    public var weightDecay: Double { weightDecays.first ?? defaultWeightDecay }
    let defaultWeightDecay: Double
    /// Per parameter: the weight decay of its group (PyTorch's `param_groups[i]["weight_decay"]`).
    public private(set) var weightDecays: [Double]
    /// The number of parameters in each group, in order (one group unless made from groups).
    public private(set) var groupSizes: [Int]
    /// Whether the running maximum of the second moment replaces it (the AMSGrad variant).
    public let amsgrad: Bool
    /// Whether to maximize the objective (step along the gradient) instead of minimizing it.
    public let maximize: Bool
    /// Whether weight decay multiplies the parameters directly (AdamW) instead of joining the gradient.
    public let decoupledWeightDecay: Bool
    /// Per parameter: the step count, first and second moments, and the running max (amsgrad).
    public private(set) var steps: [Int]
    var expAvg: [Tensor?]
    var expAvgSq: [Tensor?]
    var maxExpAvgSq: [Tensor?]

    /// An Adam optimizer over `parameters` with PyTorch's defaults (`torch.optim.Adam`); `betas` are
    /// (beta1, beta2). `decoupledWeightDecay: true` makes it AdamW.
    ///
    /// ```swift
    /// let opt = Adam(model.parameters(), lr: 0.01)
    /// ```
    public init(_ parameters: [Parameter], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                eps: Double = 1e-8, weightDecay: Double = 0, amsgrad: Bool = false, maximize: Bool = false,
                decoupledWeightDecay: Bool = false) {
        precondition(lr >= 0, "Adam: invalid learning rate: \(lr)")
        precondition(eps >= 0, "Adam: invalid epsilon value: \(eps)")
        precondition(betas.0 >= 0 && betas.0 < 1, "Adam: invalid beta parameter at index 0: \(betas.0)")
        precondition(betas.1 >= 0 && betas.1 < 1, "Adam: invalid beta parameter at index 1: \(betas.1)")
        precondition(weightDecay >= 0, "Adam: invalid weight_decay value: \(weightDecay)")
        let parameters = uniqueParameters(parameters, optimizer: decoupledWeightDecay ? "AdamW" : "Adam")
        self.parameters = parameters
        self.lr = lr; beta1 = betas.0; beta2 = betas.1; self.eps = eps
        self.defaultWeightDecay = weightDecay; self.amsgrad = amsgrad; self.maximize = maximize
        weightDecays = Array(repeating: weightDecay, count: parameters.count)
        groupSizes = [parameters.count]
        self.decoupledWeightDecay = decoupledWeightDecay
        steps = Array(repeating: 0, count: parameters.count)
        expAvg = Array(repeating: nil, count: parameters.count)
        expAvgSq = expAvg
        maxExpAvgSq = expAvg
    }

    /// Gives the parameters groups with their own weight decay (PyTorch's `param_groups`): group
    /// g holds the next `sizes[g]` parameters, in order, and decays them by `decays[g]`.
    func setGroups(sizes: [Int], decays: [Double]) {
        precondition(sizes.count == decays.count && sizes.reduce(0, +) == parameters.count,
                     "Adam: parameter groups of sizes \(sizes) for \(parameters.count) parameters")
        for d in decays { precondition(d >= 0, "Adam: invalid weight_decay value: \(d)") }
        groupSizes = sizes
        weightDecays = zip(sizes, decays).flatMap { Array(repeating: $1, count: $0) }
    }

    /// One Adam update of every parameter that has a gradient, by the formulas above.
    public func step() {
        for (i, p) in parameters.enumerated() {
            guard let grad = p.grad else { continue }
            var m = expAvg[i] ?? Tensor.zeros(like: p.value)
            var v = expAvgSq[i] ?? Tensor.zeros(like: p.value)
            var vmax = amsgrad ? (maxExpAvgSq[i] ?? Tensor.zeros(like: p.value)) : Tensor.zeros([0], dtype: p.value.dtype)
            expAvg[i] = nil; expAvgSq[i] = nil; maxExpAvgSq[i] = nil   // unique while written
            withParameterBuffers(p, grad, { w, g, n in
                KernelTape.launch((self, i, w, g, n, m.kernelUpdate(Float.self), v.kernelUpdate(Float.self),
                                   vmax.kernelUpdate(Float.self))) { a in a.0.update(a.1, a.2, a.3, a.4, a.5, a.6, a.7) }
            }, { w, g, n in
                KernelTape.launch((self, i, w, g, n, m.kernelUpdate(Double.self), v.kernelUpdate(Double.self),
                                   vmax.kernelUpdate(Double.self))) { a in a.0.update(a.1, a.2, a.3, a.4, a.5, a.6, a.7) }
            })
            expAvg[i] = m; expAvgSq[i] = v
            if amsgrad { maxExpAvgSq[i] = vmax }
        }
    }

    /// Parameter i's update (a recorded kernel: the step count advances and the bias corrections
    /// and `lr` are read when it runs, so that each replay of a compiled step advances them too).
    private func update<T: FloatElement>(_ i: Int, _ w: UnsafeMutablePointer<T>, _ g: UnsafePointer<T>, _ n: Int,
                                         _ m: UnsafeMutablePointer<T>, _ v: UnsafeMutablePointer<T>,
                                         _ vmax: UnsafeMutablePointer<T>) {
        steps[i] += 1
        let t = Double(steps[i])
        let weightDecay = weightDecays[i]
        let bc1 = 1 - Foundation.pow(beta1, t)
        let bc2 = 1 - Foundation.pow(beta2, t)
        let stepSize = lr / bc1
        let bc2Sqrt = bc2.squareRoot()
            let decay = T(1 - lr * weightDecay), wd = T(weightDecay)
            let w1 = T(1 - beta1), b2 = T(beta2), w2 = T(1 - beta2)
            let c2 = T(bc2Sqrt), e = T(eps), s = T(-stepSize)
            let lerpLow = (1 - beta1) < 0.5
            var start = 0
            // AdamW: the decay first, in its own pass (the same rounding as inside the loop),
            // so that the fast loops below do the rest.
            let decayed = decoupledWeightDecay && weightDecay != 0
            if decayed { for j in 0..<n { w[j] = w[j] * decay } }
            let plain = weightDecay == 0 || decoupledWeightDecay
            if !maximize && plain && !amsgrad && lerpLow && T.self == Float.self {
                // float32: the C loop, built for AVX2 where the CPU has it (same roundings).
                func f(_ p: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<Float> {
                    UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self)
                }
                bp_adam_f32(f(w), UnsafeRawPointer(g).assumingMemoryBound(to: Float.self), f(m), f(v), n,
                            Float(w1.double), Float(b2.double), Float(w2.double), Float(c2.double),
                            Float(e.double), Float(s.double))
                start = n
            } else if !maximize && plain && !amsgrad && lerpLow {
                // The common case, eight lanes at a time: the same operations in the same order
                // as the loop below (no fused multiply-adds), so the same results.
                typealias V = SIMD8<T>
                while start + 8 <= n {
                    let d = UnsafeRawPointer(g + start).loadUnaligned(as: V.self)
                    var mj = UnsafeRawPointer(m + start).loadUnaligned(as: V.self)
                    var vj = UnsafeRawPointer(v + start).loadUnaligned(as: V.self)
                    var wj = UnsafeRawPointer(w + start).loadUnaligned(as: V.self)
                    mj = mj + w1 * (d - mj)
                    vj = vj * b2 + w2 * d * d
                    let denom = vj.squareRoot() / c2 + e
                    wj = wj + s * mj / denom
                    UnsafeMutableRawPointer(m + start).storeBytes(of: mj, as: V.self)
                    UnsafeMutableRawPointer(v + start).storeBytes(of: vj, as: V.self)
                    UnsafeMutableRawPointer(w + start).storeBytes(of: wj, as: V.self)
                    start += 8
                }
            }
            for j in start..<n {
                var d = maximize ? -g[j] : g[j]
                if weightDecay != 0 && !decoupledWeightDecay { d = d + wd * w[j] }
                // PyTorch's lerp: the form depends on whether the weight is below 0.5.
                m[j] = lerpLow ? m[j] + w1 * (d - m[j]) : d - (d - m[j]) * (1 - w1)
                v[j] = v[j] * b2 + w2 * d * d
                var second = v[j]
                if amsgrad { vmax[j] = Swift.max(vmax[j], v[j]); second = vmax[j] }
                let denom = second.squareRoot() / c2 + e
                w[j] = w[j] + s * m[j] / denom
            }
        }

    /// `lr`, `betas`, `eps`, `weight_decay`, `amsgrad`, `maximize`, `decoupled_weight_decay`, and
    /// PyTorch's implementation switches (`foreach`, `capturable`, `differentiable`, `fused`) at
    /// their defaults.
    public var pytorchHyperparameters: [(key: String, json: String)] {
        [("lr", "\(lr)"), ("betas", "[\(beta1), \(beta2)]"), ("eps", "\(eps)"), ("weight_decay", "\(weightDecay)"),
         ("amsgrad", "\(amsgrad)"), ("maximize", "\(maximize)"), ("foreach", "null"), ("capturable", "false"),
         ("differentiable", "false"), ("fused", "null"), ("decoupled_weight_decay", "\(decoupledWeightDecay)")]
    }

    /// The step counts and moments with PyTorch's names: `state.0.step`, `state.0.exp_avg`,
    /// `state.0.exp_avg_sq` (and `state.0.max_exp_avg_sq` with amsgrad), for parameters that took a step.
    public func stateDict() -> [(name: String, tensor: Tensor)] {
        var out: [(name: String, tensor: Tensor)] = []
        for i in parameters.indices where steps[i] > 0 {
            out.append(("state.\(i).step", Tensor(scalar: Double(steps[i]))))
            if let m = expAvg[i] { out.append(("state.\(i).exp_avg", m)) }
            if let v = expAvgSq[i] { out.append(("state.\(i).exp_avg_sq", v)) }
            if let x = maxExpAvgSq[i] { out.append(("state.\(i).max_exp_avg_sq", x)) }
        }
        return out
    }

    /// Restores the state that `stateDict()` wrote; a parameter without `state.i.step` starts afresh.
    /// Throws `OptimizerStateError` for a missing moment, another shape or a step count that is not a
    /// positive whole number; nothing changes on error.
    public func load(stateDict: [String: Tensor]) throws {
        var newSteps = steps, m = expAvg, v = expAvgSq, x = maxExpAvgSq
        for (i, p) in parameters.enumerated() {
            guard let s = stateDict["state.\(i).step"] else {
                newSteps[i] = 0; m[i] = nil; v[i] = nil; x[i] = nil
                continue
            }
            // At most 2^53: beyond it the count is not exact in a double (and Int() of one past
            // Int's range, or of infinity, would stop the program).
            guard s.count == 1, s.item >= 1, s.item == s.item.rounded(), s.item <= 9_007_199_254_740_992 else {
                throw OptimizerStateError(message: "state.\(i).step must be a positive whole number, got \(s.scalars)")
            }
            newSteps[i] = Int(s.item)
            m[i] = try stateTensor(stateDict, "state.\(i).exp_avg", shape: p.shape, dtype: p.value.dtype)
            v[i] = try stateTensor(stateDict, "state.\(i).exp_avg_sq", shape: p.shape, dtype: p.value.dtype)
            x[i] = amsgrad ? try stateTensor(stateDict, "state.\(i).max_exp_avg_sq", shape: p.shape, dtype: p.value.dtype) : nil
        }
        steps = newSteps; expAvg = m; expAvgSq = v; maxExpAvgSq = x
    }
}

/// Adam with decoupled weight decay (`torch.optim.AdamW`, default weight decay 0.01): each step
/// first scales the parameters by (1 - lr * weightDecay), then applies Adam without weight decay.
public final class AdamW: Adam {
    /// An AdamW optimizer over `parameters` with PyTorch's defaults (`torch.optim.AdamW`: weight decay 0.01).
    public init(_ parameters: [Parameter], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                eps: Double = 1e-8, weightDecay: Double = 1e-2, amsgrad: Bool = false, maximize: Bool = false) {
        super.init(parameters, lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, amsgrad: amsgrad,
                   maximize: maximize, decoupledWeightDecay: true)
    }

    /// An AdamW optimizer over parameter groups, each with its own weight decay (PyTorch's
    /// `AdamW([{"params": ..., "weight_decay": 0.1}, {"params": ..., "weight_decay": 0.0}])`).
    /// The state is numbered across the groups in order, as in PyTorch's `state_dict()`.
    ///
    /// ```swift
    /// let opt = AdamW(groups: [(decayed, 0.1), (others, 0)], lr: 1e-3, betas: (0.9, 0.99))
    /// ```
    public init(groups: [(parameters: [Parameter], weightDecay: Double)], lr: Double = 1e-3,
                betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8, amsgrad: Bool = false, maximize: Bool = false) {
        super.init(groups.flatMap(\.parameters), lr: lr, betas: betas, eps: eps, weightDecay: groups.first?.weightDecay ?? 1e-2,
                   amsgrad: amsgrad, maximize: maximize, decoupledWeightDecay: true)
        setGroups(sizes: groups.map(\.parameters.count), decays: groups.map(\.weightDecay))
    }

    /// nanoGPT's `configure_optimizers`: weight decay on every parameter of two or more dimensions
    /// (matrices and embeddings), none on the others (biases, LayerNorm), each shared parameter once.
    public convenience init(decayingMatricesOf parameters: [Parameter], weightDecay: Double, lr: Double = 1e-3,
                            betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8) {
        var seen = Set<ObjectIdentifier>()
        let unique = parameters.filter { seen.insert(ObjectIdentifier($0)).inserted }
        self.init(groups: [(unique.filter { $0.shape.count >= 2 }, weightDecay), (unique.filter { $0.shape.count < 2 }, 0)],
                  lr: lr, betas: betas, eps: eps)
    }
}
