import Backprop

/// W9 (../shared/MODELS.md): FashionCNN training, Adam lr 1e-3, batches [64, 1, 28, 28] of random
/// pixels, train mode; 10 warm-up steps, then three windows of >= 2 s (samples/s, median of 3);
/// eval-mode inference without a graph, batch 1000 (images/s, median of 5); peak RSS. The result
/// keys are those of ../shared/bench/pytorch/w9_cnn.py. The same training step and the same
/// inference as `CompiledStep`s are timed in the same way (the training windows alternating with
/// the eager ones): the `_compiled` keys.
func w9CNN() -> WorkloadResult {
    var gen = RandomGenerator(seed: 0)
    let bs = 64, nb = 16  // a pool of 16 random batches, cycled
    let xs = (0..<nb).map { _ in Tensor.uniform([bs, 1, 28, 28], using: &gen) }
    let ys = (0..<nb).map { _ in Tensor.randint(0, 10, [bs], using: &gen) }
    let xe = Tensor.uniform([1000, 1, 28, 28], using: &gen)
    let net = makeFashionCNN(using: &gen)
    net.train()
    let opt = Adam(net.parameters(), lr: 1e-3)
    func step(_ i: Int) {
        opt.zeroGrad()
        let loss = net(xs[i % nb]).crossEntropy(target: ys[i % nb])
        loss.backward()
        opt.step()
    }
    var t = Clock.now()
    step(0)
    let first = Clock.now() - t
    var i = 1
    for _ in 0..<9 { step(i); i += 1 }
    /// Samples/s of `body` over a window of >= 2 s.
    func window(_ body: (Int) -> Void) -> Double {
        throughputWindow(itemsPerCall: bs) { body(i); i += 1 }
    }
    // The first eager window, then the peak RSS of the eager step alone.
    var windows = [window(step)]
    let peak = peakRSSMiB()
    // The same step as a CompiledStep, continuing from the same state (two eager-or-recording
    // calls in the warm-up); its windows alternate with the eager ones (E C E C E C), so that a
    // change of load on a shared machine touches both.
    let compiled = CompiledStep(net) { inputs in
        opt.zeroGrad()
        let loss = net(inputs[0]).crossEntropy(target: inputs[1])
        loss.backward()
        opt.step()
        return []
    }
    func cstep(_ i: Int) { _ = compiled(xs[i % nb], ys[i % nb]) }
    for _ in 0..<10 { cstep(i); i += 1 }
    precondition(compiled.fallbackReason == nil, "W9 compiled: \(compiled.fallbackReason!)")
    var windowsCompiled = [window(cstep)]
    for _ in 0..<2 {
        windows.append(window(step))
        windowsCompiled.append(window(cstep))
    }
    let peakCompiled = peakRSSMiB()
    net.eval()
    var inf: [Double] = []
    var firstInfer = 0.0
    withNoGrad {
        t = Clock.now()
        blackHole(net(xe))
        firstInfer = Clock.now() - t
        blackHole(net(xe))
        for _ in 0..<5 {
            t = Clock.now()
            blackHole(net(xe))
            inf.append(1000 / (Clock.now() - t))
        }
    }
    // Inference as a CompiledStep (eval mode, no graph).
    let infer = CompiledStep(net) { inputs in withNoGrad { [net(inputs[0])] } }
    for _ in 0..<3 { blackHole(infer(xe)[0]) }
    precondition(infer.fallbackReason == nil, "W9 compiled inference: \(infer.fallbackReason!)")
    var infCompiled: [Double] = []
    for _ in 0..<5 {
        t = Clock.now()
        blackHole(infer(xe)[0])
        infCompiled.append(1000 / (Clock.now() - t))
    }
    var r = WorkloadResult(name: "W9_cnn")
    r.results.append(("mode", .text("eager")))
    r.set("samples_per_s", median(windows), digits: 1)
    r.set("samples_per_s_best", windows.max()!, digits: 1)
    r.set("samples_per_s_all", windows, digits: 1)
    r.set("spread_pct", spread(windows), digits: 1)
    r.set("step_ms", Double(bs) / median(windows) * 1e3, digits: 3)
    r.set("steps_total", i)
    r.set("infer_images_per_s", median(inf), digits: 1)
    r.set("infer_images_per_s_best", inf.max()!, digits: 1)
    r.set("infer_images_per_s_all", inf, digits: 1)
    r.set("infer_batch_ms", 1000 / median(inf) * 1e3, digits: 3)
    r.set("first_step_s", first, digits: 3)
    r.set("first_infer_s", firstInfer, digits: 3)
    r.set("peak_rss_mib", peak, digits: 1)
    r.set("samples_per_s_compiled", median(windowsCompiled), digits: 1)
    r.set("samples_per_s_compiled_all", windowsCompiled, digits: 1)
    r.set("step_ms_compiled", Double(bs) / median(windowsCompiled) * 1e3, digits: 3)
    r.set("infer_images_per_s_compiled", median(infCompiled), digits: 1)
    r.set("infer_images_per_s_compiled_all", infCompiled, digits: 1)
    r.set("compiled_planned_mib", Double(compiled.plannedBytes) / 1_048_576, digits: 1)
    // Peak RSS after the compiled windows (the eager windows' peak is included).
    r.set("peak_rss_mib_compiled", peakCompiled, digits: 1)
    r.row("train samples/s (median of 3x2s)", median(windows), "(spread \(String(format: "%.1f", spread(windows)))%)")
    r.row("train step", Double(bs) / median(windows) * 1e3, "ms")
    r.row("eval inference images/s (batch 1000, median of 5)", median(inf), "images/s")
    r.row("compiled train samples/s (CompiledStep)", median(windowsCompiled), "(spread \(String(format: "%.1f", spread(windowsCompiled)))%)")
    r.row("compiled inference images/s", median(infCompiled), "images/s")
    return r
}
