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
    let withGrad = GradClipping.withGrad(parameters)
    if withGrad.isEmpty { return 0 }
    let total = GradClipping.totalNorm(withGrad, normType: normType)
    let value = total.item
    if errorIfNonfinite && !value.isFinite {
        throw NonfiniteGradientNormError(normType: normType, norm: value)
    }
    GradClipping.scale(withGrad, total: total, maxNorm: maxNorm)
    return value
}

/// `clipGradNorm` that returns the norm before clipping as a 0-d tensor of the gradients' dtype
/// (as PyTorch's `clip_grad_norm_` does) and reads no value in Swift: the norm is computed and
/// the gradients scaled in kernels, so that a `CompiledStep` replays the clipping (with
/// `clipGradNorm` the step falls back to eager). The same arithmetic, bit for bit; a 0-d zero
/// when no parameter has a gradient.
///
/// ```swift
/// let step = CompiledStep(model) { inputs in
///     opt.zeroGrad()
///     model.forward(inputs[0], targets: inputs[1]).loss.backward()
///     clipGradNormTensor(model.parameters(), maxNorm: 1.0)
///     opt.step()
///     return []
/// }
/// ```
@discardableResult
public func clipGradNormTensor(_ parameters: [Parameter], maxNorm: Double, normType: Double = 2) -> Tensor {
    let withGrad = GradClipping.withGrad(parameters)
    if withGrad.isEmpty { return Tensor(scalar: 0) }
    let total = GradClipping.totalNorm(withGrad, normType: normType)
    GradClipping.scale(withGrad, total: total, maxNorm: maxNorm)
    return total
}

/// The steps of `clipGradNorm`, each a recorded kernel or an op made of them.
enum GradClipping {
    /// The parameters with a gradient, each once.
    static func withGrad(_ parameters: [Parameter]) -> [Parameter] {
        var seen = Set<ObjectIdentifier>()
        return parameters.filter { seen.insert(ObjectIdentifier($0)).inserted && $0.grad != nil }
    }

    /// The norm of the per-parameter norms, a 0-d tensor of the first gradient's dtype.
    static func totalNorm(_ withGrad: [Parameter], normType: Double) -> Tensor {
        let dtype = withGrad[0].grad!.dtype
        return withNoGrad {
            // Each gradient's norm in its dtype (as torch.linalg.vector_norm returns it), then
            // the norm of those, gathered into a vector of the first gradient's dtype.
            let norms = withGrad.map { $0.grad!.norm(p: normType) }
            let k = norms.count
            let vector = Tensor(shape: normType == .infinity ? [] : [k], dtype: dtype, zeroed: false)
            let sources = norms.map { (UnsafeRawPointer($0.kernelRead(UInt8.self)), $0.dtype) }
            KernelTape.launch((sources, UnsafeMutableRawPointer(vector.kernelWrite(UInt8.self)), dtype,
                               normType == .infinity)) { a in
                let (sources, out, dtype, maximum) = a
                func value(_ i: Int) -> Double {
                    sources[i].1 == .float32 ? Double(sources[i].0.load(as: Float.self)) : sources[i].0.load(as: Double.self)
                }
                func put(_ i: Int, _ v: Double) {
                    if dtype == .float32 {
                        out.storeBytes(of: Float(v), toByteOffset: i * 4, as: Float.self)
                    } else {
                        out.storeBytes(of: v, toByteOffset: i * 8, as: Double.self)
                    }
                }
                if maximum {
                    // The largest, as Swift's max() picks it.
                    var m = value(0)
                    for i in 1..<sources.count { let v = value(i); if m < v { m = v } }
                    put(0, m)
                } else {
                    for i in sources.indices { put(i, value(i)) }
                }
            }
            return normType == .infinity ? vector : vector.norm(p: normType)
        }
    }

    /// Every gradient times min(1, maxNorm / (total + 1e-6)), the factor in `total`'s dtype.
    static func scale(_ withGrad: [Parameter], total: Tensor, maxNorm: Double) {
        let coefficient = Tensor(shape: [], dtype: total.dtype, zeroed: false)
        func factor<T: FloatElement>(_: T.Type) {
            KernelTape.launch((total.kernelRead(T.self), coefficient.kernelWrite(T.self), maxNorm)) { a in
                // maxNorm / (total + 1e-6) with both numbers rounded to the dtype, then clamped
                // at 1 (Swift.min's comparison: a NaN factor stays NaN).
                let c = T(a.2) / (a.0[0] + T(1e-6))
                a.1[0] = 1 < c ? 1 : c
            }
        }
        total.dispatchFloat("clip_grad_norm_", { factor(Float.self) }, { factor(Double.self) })
        withNoGrad {
            for p in withGrad { p.value.grad = p.grad! * coefficient }
        }
    }
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
