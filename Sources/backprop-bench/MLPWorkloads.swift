import Foundation
import Backprop

// W6-W8: MLP training through the library's own layers and optimizers (Sequential of Linear and
// ReLU, SGD with momentum, Adam), as a user of Backprop writes it.

/// Linear layers with ReLU between them, PyTorch's default init (`nn.Linear`).
func makeBenchMLP(_ sizes: [Int], using gen: inout RandomGenerator) -> Sequential {
    var layers: [any Module] = []
    for (k, (fin, fout)) in zip(sizes, sizes.dropFirst()).enumerated() {
        if k > 0 { layers.append(ReLU()) }
        layers.append(Linear(fin, fout, using: &gen))
    }
    return Sequential(layers)
}

/// One step of the MLP workloads as WORKLOADS.md defines it: zero grads, forward, cross-entropy
/// (mean), backward, update; returns the loss.
@inline(__always)
func mlpStep(_ model: Sequential, _ opt: any Optimizer, _ x: Tensor, _ y: Tensor) -> Tensor {
    opt.zeroGrad()
    let loss = model.forward(x).crossEntropy(target: y)
    loss.backward()
    opt.step()
    return loss
}

/// The MLP step as a `CompiledStep` over `model` (inputs: the batch and its labels; outputs: the
/// loss when `returningLoss`, else none).
func compiledMLPStep(_ model: Sequential, _ opt: any Optimizer, returningLoss: Bool = false) -> CompiledStep {
    CompiledStep(model) { inputs in
        let loss = mlpStep(model, opt, inputs[0], inputs[1])
        return returningLoss ? [loss] : []
    }
}

/// W6: MLP 784-512-256-10, SGD momentum 0.9, lr 0.01, batch 128 cycling over 468 batches.
///
/// Under `mpirun -np N` (issue 17) the batch of 128 is the global batch: each rank trains on its
/// 128/N rows of it (rows r, r + N, ...) with `DistributedDataParallel`, and samples/s counts the
/// global batch. Rank 0 ends each timing window and tells the others with a broadcast per step
/// (scripts/w6_ddp_pytorch.py does the same), so every rank takes as many steps.
func w6MLP() -> WorkloadResult {
    let group = benchGroup
    guard 128 % group.size == 0 else { fatalError("W6: 128 rows do not split over \(group.size) ranks") }
    var gen = RandomGenerator(seed: 0)
    // The 468 full batches of X [60000, 784] (the last 96 rows are never used), made batch by batch:
    // the values do not affect timing, and no slicing op is needed.
    let bs = 128, nb = 60000 / 128
    var xs: [Tensor] = [], ys: [Tensor] = []
    let mine = Array(stride(from: group.rank, to: bs, by: group.size))
    for _ in 0..<nb {
        let x = Tensor.randn([bs, 784], using: &gen), y = Tensor.randint(0, 10, [bs], using: &gen)
        xs.append(group.isDistributed ? x.selectingRows(mine) : x)
        ys.append(group.isDistributed ? y.selectingRows(mine) : y)
    }
    let rssData = peakRSSMiB()
    let model = makeBenchMLP([784, 512, 256, 10], using: &gen)
    let ddp = group.isDistributed ? DistributedDataParallel(model, group: group) : nil
    let opt = SGD(model.parameters(), lr: 0.01, momentum: 0.9)
    var i = 0
    var syncSeconds = 0.0
    func step() {
        let j = i % nb
        opt.zeroGrad()
        let loss = model.forward(xs[j]).crossEntropy(target: ys[j])
        loss.backward()
        if let ddp {
            let t = Clock.now()
            ddp.synchronizeGradients()
            syncSeconds += Clock.now() - t
        }
        opt.step()
        i += 1
    }
    /// Whether the window goes on: rank 0's clock decides for every rank.
    func goOn(_ elapsed: Double) -> Bool {
        guard group.isDistributed else { return elapsed < 2.0 }
        var flag = [elapsed < 2.0 ? 1.0 : 0.0]
        group.broadcast(&flag, from: 0)
        return flag[0] != 0
    }
    for _ in 0..<20 { step() }
    syncSeconds = 0
    let timedFrom = i
    let cpuBefore = cpuSeconds()
    var windows: [Double] = []
    for _ in 0..<3 {
        var k = 0
        let t0 = Clock.now()
        var el = 0.0
        repeat { step(); k += 1; el = Clock.now() - t0 } while goOn(el)
        windows.append(Double(k * bs) / el)
    }
    let peak = peakRSSMiB()
    // The same step as a CompiledStep (single process only: the gradient allreduce is not recorded).
    var windowsCompiled: [Double] = []
    var peakCompiled = 0.0
    if !group.isDistributed {
        let compiled = compiledMLPStep(model, opt)
        func cstep() { _ = compiled(xs[i % nb], ys[i % nb]); i += 1 }
        for _ in 0..<20 { cstep() }
        precondition(compiled.fallbackReason == nil, "W6 compiled: \(compiled.fallbackReason!)")
        for _ in 0..<3 { windowsCompiled.append(throughputWindow(itemsPerCall: bs, cstep)) }
        peakCompiled = peakRSSMiB()
    }
    var r = WorkloadResult(name: "W6_mlp")
    r.set("samples_per_s", median(windows), digits: 1)
    r.set("samples_per_s_best", windows.max()!, digits: 1)
    r.set("samples_per_s_all", windows, digits: 1)
    r.set("spread_pct", spread(windows), digits: 1)
    r.set("step_ms", Double(bs) / median(windows) * 1e3, digits: 3)
    r.set("steps_total", i)
    r.set("peak_rss_mib", peak, digits: 1)
    r.set("rss_after_data_mib", rssData, digits: 1)
    r.set("world_size", group.size)
    // CPU seconds per step over all ranks: what the step costs, whether or not the ranks had a core each.
    var cpu = [cpuSeconds() - cpuBefore]
    group.allReduce(&cpu, .sum)
    r.set("cpu_ms_per_step_all_ranks", cpu[0] / Double(max(1, i - timedFrom)) * 1e3, digits: 3)
    if group.isDistributed {
        // The gradient allreduce (bucket copies included, and any wait for the other ranks), per step.
        r.set("allreduce_ms_per_step", syncSeconds / Double(max(1, i - timedFrom)) * 1e3, digits: 3)
    }
    r.row("ranks", Double(group.size), group.isDistributed ? "(\(group.backend), global batch \(bs))" : "")
    r.row("train samples/s (median of 3x2s)", median(windows), String(format: "(spread %.1f%%)", spread(windows)))
    r.row("step", Double(bs) / median(windows) * 1e3, "ms")
    r.row("peak RSS", peak, "MiB")
    if !windowsCompiled.isEmpty {
        r.set("samples_per_s_compiled", median(windowsCompiled), digits: 1)
        r.set("samples_per_s_compiled_all", windowsCompiled, digits: 1)
        r.set("step_ms_compiled", Double(bs) / median(windowsCompiled) * 1e3, digits: 3)
        // Peak RSS after the compiled windows too (the eager windows' peak is included).
        r.set("peak_rss_mib_compiled", peakCompiled, digits: 1)
        r.row("compiled samples/s (CompiledStep)", median(windowsCompiled), "")
    }
    return r
}

/// W7: MLP 4-16-3 on the full batch X [150, 4], plain SGD lr 0.1, 1000 steps.
func w7SmallMLP() -> WorkloadResult {
    var gen = RandomGenerator(seed: 0)
    let X = Tensor.randn([150, 4], using: &gen)
    let Y = Tensor.randint(0, 3, [150], using: &gen)
    func run(_ steps: Int, compiled: Bool = false) -> (Double, Double) {
        let model = makeBenchMLP([4, 16, 3], using: &gen)
        let opt = SGD(model.parameters(), lr: 0.1)
        var last = Tensor(scalar: 0)
        let t = Clock.now()
        if compiled {
            // A fresh CompiledStep per run: its two eager calls and the recording are timed too.
            let step = compiledMLPStep(model, opt, returningLoss: true)
            for _ in 0..<steps { last = step(X, Y)[0] }
            precondition(step.fallbackReason == nil, "W7 compiled: \(step.fallbackReason!)")
        } else {
            for _ in 0..<steps { last = mlpStep(model, opt, X, Y) }
        }
        return ((Clock.now() - t) * 1e3, last.item)
    }
    _ = run(200)
    var ms: [Double] = []
    var finalLoss = 0.0
    for _ in 0..<5 {
        let (t, l) = run(1000)
        ms.append(t); finalLoss = l
        if ms.reduce(0, +) > 30_000 { break }
    }
    _ = run(200, compiled: true)
    var msCompiled: [Double] = []
    var finalLossCompiled = 0.0
    for _ in 0..<5 {
        let (t, l) = run(1000, compiled: true)
        msCompiled.append(t); finalLossCompiled = l
        if msCompiled.reduce(0, +) > 30_000 { break }
    }
    var r = WorkloadResult(name: "W7_small_mlp")
    r.set("total_ms", median(ms), digits: 2)
    r.set("total_ms_best", ms.min()!, digits: 2)
    r.set("total_ms_all", ms, digits: 2)
    r.set("spread_pct", spread(ms), digits: 1)
    r.set("final_loss", finalLoss, digits: 4)
    r.set("step_us", median(ms) * 1e3 / 1000, digits: 2)
    r.set("total_ms_compiled", median(msCompiled), digits: 2)
    r.set("total_ms_compiled_best", msCompiled.min()!, digits: 2)
    r.set("total_ms_compiled_all", msCompiled, digits: 2)
    r.set("final_loss_compiled", finalLossCompiled, digits: 4)
    r.set("step_us_compiled", median(msCompiled) * 1e3 / 1000, digits: 2)
    r.row("1000 steps total (median of 5)", median(ms), "ms")
    r.row("per step", median(ms), "us")
    r.row("1000 steps compiled (CompiledStep)", median(msCompiled), "ms")
    return r
}

/// W8: MLP 64-128-10 on X [1797, 64], Adam lr 1e-3, batches of 32 in order, 10 epochs (570 steps).
func w8Digits() -> WorkloadResult {
    var gen = RandomGenerator(seed: 0)
    let n = 1797, bs = 32
    var xs: [Tensor] = [], ys: [Tensor] = []
    for j in stride(from: 0, to: n, by: bs) {
        let rows = min(bs, n - j)    // 56 x 32 + 1 x 5
        xs.append(Tensor.randn([rows, 64], using: &gen))
        ys.append(Tensor.randint(0, 10, [rows], using: &gen))
    }
    func run(_ epochs: Int, compiled: Bool = false) -> (Double, Int) {
        let model = makeBenchMLP([64, 128, 10], using: &gen)
        let opt = Adam(model.parameters(), lr: 1e-3)
        var steps = 0
        let t = Clock.now()
        // A fresh CompiledStep per run: two recordings (batches of 32 and the last one of 5),
        // each after two eager calls, all timed.
        let step = compiled ? compiledMLPStep(model, opt) : nil
        for _ in 0..<epochs {
            for j in xs.indices {
                if let step { _ = step(xs[j], ys[j]) } else { _ = mlpStep(model, opt, xs[j], ys[j]) }
                steps += 1
            }
        }
        if let reason = step?.fallbackReason { preconditionFailure("W8 compiled: \(reason)") }
        return (Clock.now() - t, steps)
    }
    _ = run(1)
    var ts: [Double] = []
    var steps = 0
    for _ in 0..<3 {
        let (t, s) = run(10)
        ts.append(t); steps = s
        if ts.reduce(0, +) > 30 { break }
    }
    _ = run(1, compiled: true)
    var tsCompiled: [Double] = []
    for _ in 0..<3 {
        tsCompiled.append(run(10, compiled: true).0)
        if tsCompiled.reduce(0, +) > 30 { break }
    }
    var r = WorkloadResult(name: "W8_digits")
    r.set("total_s", median(ts), digits: 4)
    r.set("total_s_best", ts.min()!, digits: 4)
    r.set("total_s_all", ts, digits: 4)
    r.set("spread_pct", spread(ts), digits: 1)
    r.set("steps", steps)
    r.set("step_us", median(ts) / Double(steps) * 1e6, digits: 2)
    r.set("total_s_compiled", median(tsCompiled), digits: 4)
    r.set("total_s_compiled_best", tsCompiled.min()!, digits: 4)
    r.set("total_s_compiled_all", tsCompiled, digits: 4)
    r.set("step_us_compiled", median(tsCompiled) / Double(steps) * 1e6, digits: 2)
    r.row("10 epochs total (median of 3)", median(ts), "s")
    r.row("10 epochs compiled (CompiledStep)", median(tsCompiled), "s")
    r.row("per Adam step", median(ts) / Double(steps) * 1e6, "us (\(steps) steps)")
    return r
}

/// User + system CPU seconds of this process so far (all its threads).
func cpuSeconds() -> Double {
    var ru = rusage()
    #if os(Linux)
    getrusage(RUSAGE_SELF.rawValue, &ru)
    #else
    getrusage(RUSAGE_SELF, &ru)
    #endif
    func s(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) * 1e-6 }
    return s(ru.ru_utime) + s(ru.ru_stime)
}
