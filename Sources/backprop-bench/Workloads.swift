import Foundation
import Backprop

// W1-W5 of ../shared/WORKLOADS.md, with the result keys of ../shared/bench/pytorch.

/// W1: the notebook's training step on x [1x2], W [2x2], b [1x2], every op recorded but the update;
/// also as a `CompiledStep` on `Parameter`s with the same initial values (`step_us_compiled`).
func w1SeedStep() -> WorkloadResult {
    var gen = RandomGenerator(seed: 0)
    let x: Tensor = [[1, 2]]
    let W0 = Tensor.randn([2, 2], using: &gen), b0 = Tensor.zeros([1, 2])
    let y = Tensor(indices: [1])
    let onehot: Tensor = [[0, 1]]
    let steps = 20000, repeats = 5, warmup = 1000
    /// Microseconds per call of `body`: `repeats` samples of `steps` calls after `warmup` calls.
    func times(_ body: () -> Void) -> [Double] {
        timeit(steps, repeats, warmup: warmup, body).map { $0 * 1e6 }
    }
    var W = W0.requiringGrad(), b = b0.requiringGrad()
    let us = times { w1Step(x, y, &W, &b, onehot: onehot) }
    let Wp = Parameter(W0), bp = Parameter(b0)
    let compiledStep = CompiledStep(parameters: [Wp, bp]) { inputs in
        w1Step(inputs[0], inputs[1], &Wp.value, &bp.value, onehot: onehot)
        return []
    }
    let inputs = [x, y]
    let compiled = times { _ = compiledStep(inputs) }
    precondition(compiledStep.fallbackReason == nil, "W1 compiled: \(compiledStep.fallbackReason!)")
    var r = WorkloadResult(name: "W1_seed_step")
    r.set("step_us", median(us), digits: 3)
    r.set("step_us_best", us.min()!, digits: 3)
    r.set("step_us_all", us)
    r.set("spread_pct", spread(us), digits: 1)
    r.set("steps_per_repeat", steps)
    r.row("step (median of 5x20k)", median(us), "us")
    r.set("step_us_compiled", median(compiled), digits: 3)
    r.set("step_us_compiled_best", compiled.min()!, digits: 3)
    r.set("step_us_compiled_all", compiled)
    r.row("compiled step (CompiledStep, median of 5x20k)", median(compiled), "us")
    return r
}

/// One W1 step: forward, the hand-derived gradients, backward with the graph kept, and the SGD
/// update at lr 0.01 under no-grad.
@inline(__always)
func w1Step(_ x: Tensor, _ y: Tensor, _ W: inout Tensor, _ b: inout Tensor, onehot: Tensor) {
    // PyTorch's W.grad.zero_(): Backprop's zeroGrad() forgets the gradient (set_to_none), and
    // the next backward stores the new one instead of adding it to zeros.
    if W.grad != nil { W.zeroGrad(); b.zeroGrad() }
    let c = x.mm(W) + b
    let p = c.softmax(dim: 1)
    let lp = c.logSoftmax(dim: 1)
    let nll = lp.nllLoss(target: y)
    let loss = c.crossEntropy(target: y)
    let gradC = p - onehot
    let gradW = x.t().mm(gradC)
    let gradB = gradC
    loss.backward(retainGraph: true)
    withNoGrad {
        W -= 0.01 * W.grad!
        b -= 0.01 * b.grad!
    }
    blackHole((nll, gradW, gradB))
}

/// W2: the per-call cost of tiny ops (shape [1]), including the loop.
func w2SmallOps() -> WorkloadResult {
    var gen = RandomGenerator(seed: 0)
    let a = Tensor.rand([1], using: &gen), b = Tensor.rand([1], using: &gen)
    let ag = Tensor.rand([1], using: &gen).requiringGrad(), bg = Tensor.rand([1], using: &gen).requiringGrad()
    let cases: [(String, Int, () -> Void)] = [
        ("add_nograd_us", 100_000, { blackHole(a + b) }),
        ("add_requires_grad_us", 100_000, { blackHole(ag + bg) }),
        ("tiny_fwd_bwd_us", 10_000, { let y = (ag * bg).sum(); y.backward() }),
    ]
    var r = WorkloadResult(name: "W2_small_ops")
    for (name, n, fn) in cases {
        let s = timeit(n, 5, warmup: n / 10, fn).map { $0 * 1e6 }
        r.set(name, median(s))
        r.set(name.replacingOccurrences(of: "_us", with: "_best_us"), s.min()!)
        r.set(name.replacingOccurrences(of: "_us", with: "_spread_pct"), spread(s), digits: 1)
        r.row(name, median(s), "us/call")
    }
    return r
}

/// W3: C = A.mm(B) for square n x n matrices, fresh output each call; GFLOP/s = 2n^3 / t.
func w3Gemm() -> WorkloadResult {
    let cases: [(DType, Int)] = [64, 256, 512, 1024, 2048].map { (.float32, $0) } + [512, 1024].map { (.float64, $0) }
    var gen = RandomGenerator(seed: 0)
    var r = WorkloadResult(name: "W3_gemm")
    for (dt, n) in cases {
        let tag = "\(dt == .float32 ? "f32" : "f64")_\(n)"
        let A = Tensor.randn([n, n], dtype: dt, using: &gen), B = Tensor.randn([n, n], dtype: dt, using: &gen)
        let f = { blackHole(A.mm(B)) }
        for _ in 0..<3 { f() }
        let ts = timeit(calibrate(0.05, f), 5, f)
        let gf = ts.map { 2.0 * Double(n * n * n) / $0 / 1e9 }
        r.set("\(tag)_gflops", median(gf), digits: 2)
        r.set("\(tag)_gflops_best", gf.max()!, digits: 2)
        r.row("mm \(tag)", median(gf), "GFLOP/s (best \(String(format: "%.1f", gf.max()!)))")
    }
    return r
}

/// W4: elementwise work on N = 16 * 2^20 float32 (64 MiB per tensor).
func w4Elementwise() -> WorkloadResult {
    let n = 16 * 1024 * 1024
    let mb = Double(n * 4)
    var gen = RandomGenerator(seed: 0)
    let a = Tensor.randn([n], using: &gen), b = Tensor.randn([n], using: &gen)
    var c = Tensor.zeros([n])
    let x = Tensor.randn([n], using: &gen).requiringGrad()
    let ones = Tensor.ones([n])
    let cases: [(String, Double, () -> Void)] = [
        ("add", 3 * mb, { blackHole(a + b) }),
        ("add_out", 3 * mb, { a.add(b, into: &c) }),
        ("exp", 2 * mb, { blackHole(a.exp()) }),
        ("exp_out", 2 * mb, { a.exp(into: &c) }),
        ("relu_fwd_bwd", 5 * mb, { x.zeroGrad(); let y = x.relu(); y.backward(gradient: ones) }),
        ("copy_out", 2 * mb, { c.copy(from: a) }),
    ]
    var r = WorkloadResult(name: "W4_elementwise")
    for (name, bytes, fn) in cases {
        let ts = timeit(5, 5, warmup: 3, fn)
        let ms = median(ts) * 1e3
        let gbs = bytes / median(ts) / 1e9
        r.set("\(name)_ms", ms, digits: 3)
        r.set("\(name)_gbs", gbs, digits: 2)
        r.set("\(name)_best_ms", ts.min()! * 1e3, digits: 3)
        r.row(name, ms, String(format: "ms  (%.1f GB/s nominal)", gbs))
    }
    blackHole(c)
    return r
}

/// W5: cross-entropy of logits [256, 1000] (leaf requiring grad), forward + backward and forward only.
func w5SoftmaxCE() -> WorkloadResult {
    var gen = RandomGenerator(seed: 0)
    let logits = Tensor.randn([256, 1000], using: &gen).requiringGrad()
    let target = Tensor.randint(0, 1000, [256], using: &gen)
    let fb = { logits.zeroGrad(); logits.crossEntropy(target: target).backward() }
    let fwd = { withNoGrad { blackHole(logits.crossEntropy(target: target)) } }
    var r = WorkloadResult(name: "W5_softmax_ce")
    for (name, fn) in [("fwd_bwd_ms", fb), ("fwd_only_ms", fwd)] {
        for _ in 0..<20 { fn() }
        let n = calibrate(0.1, fn)
        let ts = timeit(n, 7, fn).map { $0 * 1e3 }
        r.set(name, median(ts))
        r.set(name.replacingOccurrences(of: "_ms", with: "_best_ms"), ts.min()!)
        r.set(name.replacingOccurrences(of: "_ms", with: "_spread_pct"), spread(ts), digits: 1)
        r.row(name, median(ts), "ms/iter")
    }
    return r
}
