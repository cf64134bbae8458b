import Foundation
import Testing
@testable import Backprop

/// Optimizers and schedules against PyTorch (Fixtures/optim.json, made by scripts/make_optim_fixture.py).
@Suite struct OptimTests {
    var fixture: [String: Any] { Fixtures.object("optim.json") }

    func makeOptimizer(_ kind: String, _ o: [String: Any], _ p: Parameter) -> any Optimizer {
        func d(_ k: String, _ def: Double) -> Double { (o[k] as? NSNumber)?.doubleValue ?? def }
        func b(_ k: String) -> Bool { (o[k] as? Bool) ?? false }
        let betas = (o["betas"] as? [NSNumber]).map { ($0[0].doubleValue, $0[1].doubleValue) } ?? (0.9, 0.999)
        switch kind {
        case "SGD":
            return SGD([p], lr: d("lr", 1e-3), momentum: d("momentum", 0), dampening: d("dampening", 0),
                       weightDecay: d("weight_decay", 0), nesterov: b("nesterov"), maximize: b("maximize"))
        case "Adam":
            return Adam([p], lr: d("lr", 1e-3), betas: betas, eps: d("eps", 1e-8), weightDecay: d("weight_decay", 0),
                        amsgrad: b("amsgrad"), maximize: b("maximize"))
        case "AdamW":
            return AdamW([p], lr: d("lr", 1e-3), betas: betas, eps: d("eps", 1e-8), weightDecay: d("weight_decay", 1e-2),
                         amsgrad: b("amsgrad"), maximize: b("maximize"))
        default: fatalError("unknown optimizer \(kind)")
        }
    }

    @Test func optimizersMatchPyTorch() {
        let cases = fixture["optimizers"] as! [[String: Any]]
        #expect(cases.count == 20)
        for c in cases {
            let kind = c["optimizer"] as! String
            let options = c["options"] as! [String: Any]
            let dtype: DType = (c["dtype"] as! String) == "float64" ? .float64 : .float32
            let tol = dtype == .float64 ? 1e-12 : 1e-6
            let p = Parameter(Tensor((c["initial"] as! [NSNumber]).map(\.doubleValue), dtype: dtype))
            let opt = makeOptimizer(kind, options, p)
            let grads = (c["grads"] as! [[NSNumber]]).map { $0.map(\.doubleValue) }
            let after = (c["after"] as! [[NSNumber]]).map { $0.map(\.doubleValue) }
            for (k, g) in grads.enumerated() {
                p.value.grad = Tensor(g, dtype: dtype)
                opt.step()
                let got = p.value.scalars
                let worst = zip(got, after[k]).map { abs($0 - $1) / max(1, abs($1)) }.max()!
                #expect(worst <= tol, "\(kind) \(options) \(dtype) step \(k + 1): got \(got), PyTorch \(after[k])")
            }
        }
    }

    /// The vectorized float32 Adam loop (C, AVX2 where available) rounds exactly as the scalar one:
    /// 37 elements cover whole vectors and a tail, five steps, against the scalar formula in Float.
    @Test func vectorizedAdamMatchesScalarLoop() {
        var gen = RandomGenerator(seed: 7)
        let n = 37
        let start = Tensor.randn([n], using: &gen)
        let p = Parameter(start)
        let opt = Adam([p], lr: 0.01)
        var w = start.floats, m = [Float](repeating: 0, count: n), v = m
        for step in 1...5 {
            let g = Tensor.randn([n], using: &gen)
            p.value.grad = g
            opt.step()
            let gf = g.floats
            let bc1 = 1 - Foundation.pow(0.9, Double(step)), bc2 = 1 - Foundation.pow(0.999, Double(step))
            let (w1, b2, w2) = (Float(1 - 0.9), Float(0.999), Float(1 - 0.999))
            let (c2, e, s) = (Float(bc2.squareRoot()), Float(1e-8), Float(-(0.01 / bc1)))
            for j in 0..<n {
                let d = gf[j]
                m[j] = m[j] + w1 * (d - m[j])
                v[j] = v[j] * b2 + w2 * d * d
                let denom = v[j].squareRoot() / c2 + e
                w[j] = w[j] + s * m[j] / denom
            }
            #expect(p.value.floats == w, "step \(step)")
        }
    }

    /// The C path of SGD (vectorized, split over threads above 2^19 elements) against the scalar
    /// loop, with and without momentum, first and later steps, on an odd size that leaves tails.
    @Test(arguments: [0.0, 0.9]) func vectorizedSGDMatchesScalarLoop(momentum: Double) {
        var gen = RandomGenerator(seed: 11)
        let n = (1 << 19) + 37
        let start = Tensor.randn([n], using: &gen)
        let p = Parameter(start)
        Parallelism.threadOverride = 2
        defer { Parallelism.threadOverride = 0 }
        let opt = SGD([p], lr: 0.05, momentum: momentum, dampening: 0.1)
        var w = start.floats, b = [Float](repeating: 0, count: n)
        let (nlr, m, damp) = (-Float(0.05), Float(momentum), Float(1 - 0.1))
        for step in 1...3 {
            let g = Tensor.randn([n], using: &gen)
            p.value.grad = g
            opt.step()
            let gf = g.floats
            for j in 0..<n {
                var d = gf[j]
                if momentum != 0 {
                    b[j] = step == 1 ? d : b[j] * m + damp * d
                    d = b[j]
                }
                w[j] = w[j] + nlr * d
            }
            #expect(p.value.floats == w, "step \(step)")
            if momentum != 0 { #expect(opt.momentumBuffers[0]!.floats == b, "step \(step)") }
        }
    }

    @Test func schedulesMatchPyTorch() {
        for s in fixture["schedules"] as! [[String: Any]] {
            let o = s["options"] as! [String: Any]
            func d(_ k: String) -> Double { (o[k] as! NSNumber).doubleValue }
            func i(_ k: String) -> Int { (o[k] as! NSNumber).intValue }
            let schedule: any LRSchedule
            switch s["schedule"] as! String {
            case "StepLR": schedule = StepLR(stepSize: i("step_size"), gamma: d("gamma"))
            case "CosineAnnealingLR": schedule = CosineAnnealingLR(tMax: i("T_max"), etaMin: d("eta_min"))
            case "LinearLR": schedule = LinearLR(startFactor: d("start_factor"), endFactor: d("end_factor"), totalIters: i("total_iters"))
            case "WarmupCosine":
                schedule = WarmupSchedule(warmup: LinearLR(startFactor: d("start_factor"), totalIters: i("warmup")),
                                          then: CosineAnnealingLR(tMax: i("T_max")), milestone: i("warmup"))
            default: fatalError()
            }
            let p = Parameter(Tensor.zeros([1]))
            let opt = SGD([p], lr: (s["base"] as! NSNumber).doubleValue)
            let sched = LRScheduler(opt, schedule: schedule)
            var got = [sched.lastLR]
            for _ in 0..<12 { sched.step(); got.append(opt.lr) }
            let want = (s["lrs"] as! [NSNumber]).map(\.doubleValue)
            let worst = zip(got, want).map { abs($0 - $1) }.max()!
            #expect(worst < 1e-12, "\(s["schedule"]!): got \(got), PyTorch \(want)")
        }
    }

    @Test func zeroGradAndSkippingParametersWithoutGrad() {
        let a = Parameter(Tensor([1, 2] as [Double]))
        let b = Parameter(Tensor([3, 4] as [Double]))
        let opt = SGD([a, b], lr: 0.5, momentum: 0.9)
        (a.value * 2.0).sum().backward()
        opt.step()
        #expect(a.value.scalars == [0, 1])
        #expect(b.value.scalars == [3, 4], "b had no gradient and must not move")
        #expect(opt.stateDict().map(\.name) == ["state.0.momentum_buffer"])
        opt.zeroGrad()
        #expect(a.grad == nil && b.grad == nil)
    }

    @Test func adamStateRoundTripContinuesIdentically() throws {
        func run(split: Bool) throws -> [Double] {
            let p = Parameter(Tensor([0.5, -1, 2] as [Double]))
            var opt = Adam([p], lr: 0.1)
            for k in 0..<6 {
                if split && k == 3 {
                    let state = Dictionary(uniqueKeysWithValues: opt.stateDict().map { ($0.name, $0.tensor) })
                    opt = Adam([p], lr: 0.1)
                    try opt.load(stateDict: state)
                }
                p.zeroGrad()
                (p.value * p.value * Double(k + 1)).sum().backward()
                opt.step()
            }
            return p.value.scalars
        }
        #expect(try run(split: true) == run(split: false))
    }
}
