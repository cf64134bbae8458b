import Foundation
import Backprop

// W6-W8: MLP training written with raw library ops (weights as leaves, x.linear(W, b), relu,
// crossEntropy, backward, and the optimizer updates inside withNoGrad), so that the benchmark does
// not depend on the NN/Optim layers.

/// A stack of Linear layers with ReLU between them; PyTorch's default init (kaiming-uniform,
/// bound 1/sqrt(fan_in) for weight and bias).
struct RawMLP {
    var params: [Tensor] = []   // W0, b0, W1, b1, ...

    init(_ sizes: [Int], using gen: inout RandomGenerator) {
        for (fin, fout) in zip(sizes, sizes.dropFirst()) {
            let bound = 1 / Double(fin).squareRoot()
            params.append(Tensor.uniform([fout, fin], low: -bound, high: bound, using: &gen).requiringGrad())
            params.append(Tensor.uniform([fout], low: -bound, high: bound, using: &gen).requiringGrad())
        }
    }

    func forward(_ x: Tensor) -> Tensor {
        var h = x
        let layers = params.count / 2
        for l in 0..<layers {
            // x.matmul(W.t()) + b in one call: the transpose is folded into the product.
            h = h.linear(weight: params[2 * l], bias: params[2 * l + 1])
            if l < layers - 1 { h = h.relu() }
        }
        return h
    }

    func zeroGrad() { for p in params { p.zeroGrad() } }
}

/// SGD with momentum (PyTorch's rule: buf = m * buf + g, the first buf = g; p -= lr * buf).
struct RawSGD {
    let lr: Double, momentum: Double
    var bufs: [Tensor?] = []

    mutating func step(_ params: inout [Tensor]) {
        if bufs.isEmpty { bufs = Array(repeating: nil, count: params.count) }
        withNoGrad {
            for i in params.indices {
                guard let g = params[i].grad else { continue }
                if momentum == 0 { params[i] -= lr * g; continue }
                let buf = bufs[i].map { $0 * momentum + g } ?? g
                bufs[i] = buf
                params[i] -= lr * buf
            }
        }
    }
}

/// Adam (PyTorch's rule, no weight decay).
struct RawAdam {
    let lr: Double, beta1 = 0.9, beta2 = 0.999, eps = 1e-8
    var m: [Tensor] = [], v: [Tensor] = []
    var t = 0

    init(lr: Double) { self.lr = lr }

    mutating func step(_ params: inout [Tensor]) {
        if m.isEmpty {
            m = params.map { Tensor.zeros(like: $0.detached()) }
            v = m
        }
        t += 1
        let bc1 = 1 - pow(beta1, Double(t)), bc2 = 1 - pow(beta2, Double(t))
        withNoGrad {
            for i in params.indices {
                guard let g = params[i].grad else { continue }
                m[i] = m[i] * beta1 + g * (1 - beta1)
                v[i] = v[i] * beta2 + g * g * (1 - beta2)
                // sqrt(v) as exp(log(v) / 2): the core has no sqrt op yet (sqrt(0) comes out 0).
                let denom = ((v[i].log() * 0.5).exp() / bc2.squareRoot()) + eps
                params[i] -= (lr / bc1) * m[i] / denom
            }
        }
    }
}

/// W6: MLP 784-512-256-10, SGD momentum 0.9, lr 0.01, batch 128 cycling over 468 batches.
func w6MLP() -> WorkloadResult {
    var gen = RandomGenerator(seed: 0)
    // The 468 full batches of X [60000, 784] (the last 96 rows are never used), made batch by batch:
    // the values do not affect timing, and no slicing op is needed.
    let bs = 128, nb = 60000 / 128
    var xs: [Tensor] = [], ys: [Tensor] = []
    for _ in 0..<nb {
        xs.append(Tensor.randn([bs, 784], using: &gen))
        ys.append(Tensor.randint(0, 10, [bs], using: &gen))
    }
    let rssData = peakRSSMiB()
    var model = RawMLP([784, 512, 256, 10], using: &gen)
    var opt = RawSGD(lr: 0.01, momentum: 0.9)
    var i = 0
    func step() {
        let j = i % nb
        model.zeroGrad()
        let loss = model.forward(xs[j]).crossEntropy(target: ys[j])
        loss.backward()
        opt.step(&model.params)
        i += 1
    }
    for _ in 0..<20 { step() }
    var windows: [Double] = []
    for _ in 0..<3 {
        var k = 0
        let t0 = Clock.now()
        var el = 0.0
        repeat { step(); k += 1; el = Clock.now() - t0 } while el < 2.0
        windows.append(Double(k * bs) / el)
    }
    let peak = peakRSSMiB()
    var r = WorkloadResult(name: "W6_mlp")
    r.set("samples_per_s", median(windows), digits: 1)
    r.set("samples_per_s_best", windows.max()!, digits: 1)
    r.set("samples_per_s_all", windows, digits: 1)
    r.set("spread_pct", spread(windows), digits: 1)
    r.set("step_ms", Double(bs) / median(windows) * 1e3, digits: 3)
    r.set("steps_total", i)
    r.set("peak_rss_mib", peak, digits: 1)
    r.set("rss_after_data_mib", rssData, digits: 1)
    r.row("train samples/s (median of 3x2s)", median(windows), String(format: "(spread %.1f%%)", spread(windows)))
    r.row("step", Double(bs) / median(windows) * 1e3, "ms")
    r.row("peak RSS", peak, "MiB")
    return r
}

/// W7: MLP 4-16-3 on the full batch X [150, 4], plain SGD lr 0.1, 1000 steps.
func w7SmallMLP() -> WorkloadResult {
    var gen = RandomGenerator(seed: 0)
    let X = Tensor.randn([150, 4], using: &gen)
    let Y = Tensor.randint(0, 3, [150], using: &gen)
    func run(_ steps: Int) -> (Double, Double) {
        var model = RawMLP([4, 16, 3], using: &gen)
        var opt = RawSGD(lr: 0.1, momentum: 0)
        var last = Tensor(scalar: 0)
        let t = Clock.now()
        for _ in 0..<steps {
            model.zeroGrad()
            let loss = model.forward(X).crossEntropy(target: Y)
            loss.backward()
            opt.step(&model.params)
            last = loss
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
    var r = WorkloadResult(name: "W7_small_mlp")
    r.set("total_ms", median(ms), digits: 2)
    r.set("total_ms_best", ms.min()!, digits: 2)
    r.set("total_ms_all", ms, digits: 2)
    r.set("spread_pct", spread(ms), digits: 1)
    r.set("final_loss", finalLoss, digits: 4)
    r.set("step_us", median(ms) * 1e3 / 1000, digits: 2)
    r.row("1000 steps total (median of 5)", median(ms), "ms")
    r.row("per step", median(ms), "us")
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
    func run(_ epochs: Int) -> (Double, Int) {
        var model = RawMLP([64, 128, 10], using: &gen)
        var opt = RawAdam(lr: 1e-3)
        var steps = 0
        let t = Clock.now()
        for _ in 0..<epochs {
            for j in xs.indices {
                model.zeroGrad()
                let loss = model.forward(xs[j]).crossEntropy(target: ys[j])
                loss.backward()
                opt.step(&model.params)
                steps += 1
            }
        }
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
    var r = WorkloadResult(name: "W8_digits")
    r.set("total_s", median(ts), digits: 4)
    r.set("total_s_best", ts.min()!, digits: 4)
    r.set("total_s_all", ts, digits: 4)
    r.set("spread_pct", spread(ts), digits: 1)
    r.set("steps", steps)
    r.set("step_us", median(ts) / Double(steps) * 1e6, digits: 2)
    r.row("10 epochs total (median of 3)", median(ts), "s")
    r.row("per Adam step", median(ts) / Double(steps) * 1e6, "us (\(steps) steps)")
    return r
}
