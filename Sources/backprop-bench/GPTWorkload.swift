import Foundation
import Backprop

/// W10 (../shared/MODELS.md): CharGPT V 65, T 64, L 4, H 4, C 128, batches of 16 random tokens
/// from a pool of 16, AdamW (lr 1e-3, betas 0.9/0.99, weight decay 0.1 on the matrices) with
/// clipGradNorm 1.0. 5 warm-up steps, then three windows of >= 2 s: tokens/s (median of 3); peak RSS.
/// The result keys are those of ../shared/bench/pytorch/w10_gpt.py. The same step as a
/// `CompiledStep` (clipping with `clipGradNormTensor`, which reads nothing in Swift) is timed in
/// the same way, its windows alternating with the eager ones: the `_compiled` keys.
func w10GPT() -> WorkloadResult {
    var r = WorkloadResult(name: "W10_gpt")
    let (v, t, b, pool) = (65, 64, 16, 16)
    var g = RandomGenerator(seed: 0)
    let xs = (0..<pool).map { _ in Tensor.randint(0, v, [b, t], using: &g) }
    let ys = (0..<pool).map { _ in Tensor.randint(0, v, [b, t], using: &g) }
    let model = CharGPT(GPTConfig(vocabSize: v, blockSize: t, nLayer: 4, nHead: 4, nEmbd: 128), using: &g)
    model.train()
    let opt = AdamW(decayingMatricesOf: model.parameters(), weightDecay: 0.1, lr: 1e-3, betas: (0.9, 0.99), eps: 1e-8)
    let parameters = model.parameters()
    func step(_ i: Int) {
        opt.zeroGrad()
        let loss = model.forward(xs[i % pool], targets: ys[i % pool]).loss
        loss.backward()
        _ = try? clipGradNorm(parameters, maxNorm: 1.0)
        opt.step()
    }
    let t0 = Clock.now()
    step(0)
    let first = Clock.now() - t0
    var i = 1
    for _ in 0..<4 { step(i); i += 1 }
    /// Tokens/s of `body` over a window of >= 2 s.
    func window(_ body: (Int) -> Void) -> Double {
        throughputWindow(itemsPerCall: b * t) { body(i); i += 1 }
    }
    // The first eager window, then the peak RSS of the eager step alone.
    var windows = [window(step)]
    let peak = peakRSSMiB()
    // The compiled step's windows alternate with the eager ones (E C E C E C).
    let compiled = CompiledStep(model) { inputs in
        opt.zeroGrad()
        let loss = model.forward(inputs[0], targets: inputs[1]).loss
        loss.backward()
        clipGradNormTensor(parameters, maxNorm: 1.0)
        opt.step()
        return []
    }
    func cstep(_ i: Int) { _ = compiled(xs[i % pool], ys[i % pool]) }
    for _ in 0..<5 { cstep(i); i += 1 }
    precondition(compiled.fallbackReason == nil, "W10 compiled: \(compiled.fallbackReason!)")
    var windowsCompiled = [window(cstep)]
    for _ in 0..<2 {
        windows.append(window(step))
        windowsCompiled.append(window(cstep))
    }
    let peakCompiled = peakRSSMiB()
    let med = median(windows), medCompiled = median(windowsCompiled)
    r.results.append(("mode", .text("eager")))
    r.results.append(("attn", .text("fused sdpa")))
    r.set("params", model.parameterCount)
    r.set("tokens_per_s", med, digits: 1)
    r.set("tokens_per_s_best", windows.max()!, digits: 1)
    r.set("tokens_per_s_all", windows, digits: 1)
    r.set("spread_pct", spread(windows), digits: 1)
    r.set("step_ms", Double(b * t) / med * 1e3, digits: 3)
    r.set("steps_total", i)
    r.set("first_step_s", first, digits: 3)
    r.set("peak_rss_mib", peak, digits: 1)
    r.set("tokens_per_s_compiled", medCompiled, digits: 1)
    r.set("tokens_per_s_compiled_all", windowsCompiled, digits: 1)
    r.set("step_ms_compiled", Double(b * t) / medCompiled * 1e3, digits: 3)
    r.set("compiled_planned_mib", Double(compiled.plannedBytes) / 1_048_576, digits: 1)
    // Peak RSS after the compiled windows (the eager windows' peak is included).
    r.set("peak_rss_mib_compiled", peakCompiled, digits: 1)
    r.row("train tokens/s (median of 3x2s)", med, "(spread \(String(format: "%.1f", spread(windows)))%)")
    r.row("train step", Double(b * t) / med * 1e3, "ms")
    r.row("first step", first, "s")
    r.row("peak RSS", peak, "MiB")
    r.row("compiled train tokens/s (CompiledStep)", medCompiled, "(spread \(String(format: "%.1f", spread(windowsCompiled)))%)")
    return r
}
