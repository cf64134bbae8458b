import Foundation

/// Scales the gradients of `parameters` so that their global `normType`-norm is at most `maxNorm`
/// (PyTorch's `torch.nn.utils.clip_grad_norm_`), and returns the norm before clipping.
///
/// The norm is that of the per-parameter norms (each parameter's gradient as one vector); a
/// parameter listed twice (a tied weight) counts once, with its one accumulated gradient.
/// Every gradient is multiplied by min(1, maxNorm / (norm + 1e-6)), in the gradient's dtype, as
/// PyTorch does (also when that factor is 1). Parameters without a gradient are skipped. With
/// `errorIfNonfinite`, a NaN or infinite norm throws `NonfiniteGradientNormError` instead.
///
/// ```swift
/// loss.backward()
/// let norm = try clipGradNorm(model.parameters(), maxNorm: 1.0)
/// optimizer.step()
/// ```
@discardableResult
public func clipGradNorm(_ parameters: [Parameter], maxNorm: Double, normType: Double = 2,
                         errorIfNonfinite: Bool = false) throws -> Double {
    var seen = Set<ObjectIdentifier>()
    let withGrad = parameters.filter { seen.insert(ObjectIdentifier($0)).inserted && $0.grad != nil }
    if withGrad.isEmpty { return 0 }
    let dtype = withGrad[0].grad!.dtype
    // Each gradient's norm in its dtype (as torch.linalg.vector_norm returns it), then the norm of those.
    let norms: [Double] = withGrad.map { p in
        let g = p.grad!
        return withNoGrad { g.norm(p: normType) }.item
    }
    let total: Double
    if normType == .infinity {
        total = norms.max() ?? 0
    } else {
        total = withNoGrad { Tensor(norms, dtype: dtype).norm(p: normType) }.item
    }
    if errorIfNonfinite && !total.isFinite {
        throw NonfiniteGradientNormError(normType: normType, norm: total)
    }
    // The factor in the gradients' dtype: max_norm / (total + 1e-6), clamped to at most 1.
    let coefficient = withNoGrad {
        let t = Tensor(scalar: total, dtype: dtype)
        let c = Tensor(scalar: maxNorm, dtype: dtype) / (t + 1e-6)
        return Swift.min(c.item, 1)
    }
    withNoGrad {
        for p in withGrad { p.value.grad = p.grad! * Tensor(scalar: coefficient, dtype: dtype) }
    }
    return total
}

/// The total gradient norm was NaN or infinite and `clipGradNorm(errorIfNonfinite: true)` was asked to stop.
public struct NonfiniteGradientNormError: Error, CustomStringConvertible {
    /// The norm's order.
    public let normType: Double
    /// The total norm found.
    public let norm: Double
    /// PyTorch's message.
    public var description: String {
        "The total norm of order \(normType) for gradients from `parameters` is non-finite (\(norm)), so it cannot be clipped."
    }
}

/// nanoGPT's learning rate: a linear warm-up over `warmupSteps` (lr * (step + 1) / (warmupSteps + 1)),
/// then a half cosine from the base rate down to `minLR` at step `decaySteps`, and `minLR` after.
///
/// Used with `LRScheduler`, whose `step()` is called once per optimizer step.
///
/// ```swift
/// let scheduler = LRScheduler(opt, schedule: WarmupCosineLR(warmupSteps: 100, decaySteps: 2000, minLR: 1e-4))
/// ```
public struct WarmupCosineLR: LRSchedule {
    /// Steps of linear warm-up.
    public let warmupSteps: Int
    /// The step at which the cosine reaches `minLR`.
    public let decaySteps: Int
    /// The rate at the end of the decay and after it.
    public let minLR: Double

    /// A warm-up of `warmupSteps` (0 for none) and a cosine decay to `minLR` at step `decaySteps`.
    public init(warmupSteps: Int, decaySteps: Int, minLR: Double = 0) {
        precondition(warmupSteps >= 0 && decaySteps >= warmupSteps,
                     "WarmupCosineLR: need 0 <= warmupSteps <= decaySteps, got \(warmupSteps) and \(decaySteps)")
        self.warmupSteps = warmupSteps; self.decaySteps = decaySteps; self.minLR = minLR
    }

    /// nanoGPT's `get_lr(it)` with `learning_rate = baseLR`.
    public func learningRate(epoch: Int, baseLR: Double) -> Double {
        if epoch < warmupSteps { return baseLR * Double(epoch + 1) / Double(warmupSteps + 1) }
        if epoch > decaySteps || decaySteps == warmupSteps { return minLR }
        let ratio = Double(epoch - warmupSteps) / Double(decaySteps - warmupSteps)
        let coefficient = 0.5 * (1 + Foundation.cos(Double.pi * ratio))
        return minLR + coefficient * (baseLR - minLR)
    }
}
