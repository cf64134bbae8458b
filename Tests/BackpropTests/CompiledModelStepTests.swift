import Testing
import Foundation
@testable import Backprop

/// The compiled step on the model steps of W9 and W10 (small sizes): FashionCNN (conv2d, batch
/// norm in train mode with its running statistics, relu, max pooling, linear, cross entropy,
/// Adam) and CharGPT (embeddings, layer norm, fused causal attention, gelu, a tied head, AdamW
/// with two groups, gradient clipping by the global norm). N eager steps and N compiled steps
/// from the same seed give the same losses, parameters, gradients and buffers, bit for bit.
@Suite(.serialized) struct CompiledModelStepTests {
    static func bits(_ ts: [Tensor]) -> [[UInt64]] { CompiledStepTests.bits(ts) }

    struct Run {
        var losses: [UInt64] = []
        var params: [[UInt64]] = []
        var grads: [[UInt64]] = []
        var buffers: [[UInt64]] = []
        var step: CompiledStep!
    }

    // MARK: - FashionCNN (W9)

    /// `steps` FashionCNN training steps on batches of `rows` images (cycled), eager or compiled.
    static func cnnRun(compiled: Bool, rows: [Int], steps: Int) -> Run {
        var gen = RandomGenerator(seed: 5)
        let xs = rows.map { Tensor.uniform([$0, 1, 28, 28], using: &gen) }
        let ys = rows.map { Tensor.randint(0, 10, [$0], using: &gen) }
        let net = makeFashionCNN(using: &gen)
        net.train()
        let opt = Adam(net.parameters(), lr: 1e-3)
        let step = CompiledStep(net, eager: !compiled) { inputs in
            opt.zeroGrad()
            let loss = net(inputs[0]).crossEntropy(target: inputs[1])
            loss.backward()
            opt.step()
            return [loss]
        }
        var r = Run()
        for s in 0..<steps {
            r.losses.append(step(xs[s % rows.count], ys[s % rows.count])[0].item.bitPattern)
        }
        r.params = bits(net.parameters().map(\.value))
        r.grads = bits(net.parameters().compactMap(\.grad))
        r.buffers = bits(net.namedBuffers().map(\.buffer.value))
        r.step = step
        return r
    }

    @Test func fashionCNNAdamReplaysBitForBit() {
        let eager = Self.cnnRun(compiled: false, rows: [4], steps: 5)
        let comp = Self.cnnRun(compiled: true, rows: [4], steps: 5)
        #expect(comp.step.fallbackReason == nil, "\(comp.step.fallbackReason ?? "")")
        #expect(comp.step.recordings == 1)
        #expect(comp.step.replays == 3)
        #expect(comp.losses == eager.losses)
        #expect(comp.params == eager.params)
        #expect(comp.grads == eager.grads)
        #expect(comp.buffers == eager.buffers)
        // The running statistics moved (and num_batches_tracked counted every step).
        #expect(comp.buffers.last == [Double(5).bitPattern])
    }

    @Test func fashionCNNTwoBatchSizesRecordTwice() {
        // Two full batches then a short last one, as an epoch ends: two signatures.
        let eager = Self.cnnRun(compiled: false, rows: [4, 4, 3], steps: 9)
        let comp = Self.cnnRun(compiled: true, rows: [4, 4, 3], steps: 9)
        #expect(comp.step.fallbackReason == nil, "\(comp.step.fallbackReason ?? "")")
        #expect(comp.step.recordings == 2)
        #expect(comp.step.replays == 5)
        #expect(comp.losses == eager.losses)
        #expect(comp.params == eager.params)
        #expect(comp.grads == eager.grads)
        #expect(comp.buffers == eager.buffers)
    }

    /// Every bit of a step is the same on any number of threads where Backprop's own kernels do
    /// the work (their sums are split by shape, never by the thread count): a model trains to the
    /// same weights on any machine size. A loaded BLAS may round a product split over threads
    /// differently, so the CNN's check (its linear layers reach BLAS) needs `BACKPROP_BLAS=none`.
    @Test func stepsGiveTheSameBitsOnAnyThreadCount() {
        var cnn: [Run] = [], gpt: [Run] = [], products: [[UInt64]] = [], sums: [UInt64] = []
        var g = RandomGenerator(seed: 21)
        // A product large enough for the built-in kernel's split over threads.
        let (m, n, k) = (640, 200, 160)
        let a = Tensor.randn([m, k], using: &g), b = Tensor.randn([k, n], using: &g)
        let big = Tensor.randn([Parallelism.elementwiseGrain * 5 + 3], using: &g)
        let blas = BLAS.library != nil
        for t in [1, 2, 3] {
            Parallelism.withThreads(t) {
                if !blas { cnn.append(Self.cnnRun(compiled: false, rows: [8], steps: 2)) }
                gpt.append(Self.gptRun(compiled: false, lengths: [8], steps: 2, maxNorm: 0.1, layers: 1))
                var c = [Float](repeating: 0, count: m * n)
                a.withPointer(Float.self) { pa in
                    b.withPointer(Float.self) { pb in
                        MatmulKernels.gemm(m: m, n: n, k: k, pa, transA: false, pb, transB: false, &c, backend: .builtin)
                    }
                }
                products.append(c.map { UInt64($0.bitPattern) })
                sums.append(big.sum().item.bitPattern)
            }
        }
        if blas { print("FashionCNN part skipped: a BLAS is loaded (run with BACKPROP_BLAS=none)") }
        for r in 1..<3 {
            if !blas {
                #expect(cnn[r].losses == cnn[0].losses && cnn[r].params == cnn[0].params, "FashionCNN, \(r + 1) threads")
                #expect(cnn[r].grads == cnn[0].grads && cnn[r].buffers == cnn[0].buffers, "FashionCNN, \(r + 1) threads")
            }
            #expect(gpt[r].losses == gpt[0].losses && gpt[r].params == gpt[0].params, "CharGPT, \(r + 1) threads")
            #expect(products[r] == products[0], "matmul, \(r + 1) threads")
            #expect(sums[r] == sums[0], "sum, \(r + 1) threads")
        }
    }

    // MARK: - CharGPT (W10)

    /// `steps` CharGPT training steps (AdamW with W10's groups, clipping at `maxNorm`) on token
    /// batches of [B, t] for each t of `lengths` (cycled), eager (`clipGradNorm`) or compiled
    /// (`clipGradNormTensor`, which reads nothing in Swift).
    static func gptRun(compiled: Bool, lengths: [Int], steps: Int, maxNorm: Double, layers: Int = 2) -> Run {
        let (v, b) = (11, 3)
        var g = RandomGenerator(seed: 9)
        let xs = lengths.map { Tensor.randint(0, v, [b, $0], using: &g) }
        let ys = lengths.map { Tensor.randint(0, v, [b, $0], using: &g) }
        let model = CharGPT(GPTConfig(vocabSize: v, blockSize: 8, nLayer: layers, nHead: 2, nEmbd: 16), using: &g)
        model.train()
        let opt = AdamW(decayingMatricesOf: model.parameters(), weightDecay: 0.1, lr: 1e-2, betas: (0.9, 0.99), eps: 1e-8)
        let parameters = model.parameters()
        let step = CompiledStep(model, eager: !compiled) { inputs in
            opt.zeroGrad()
            let loss = model.forward(inputs[0], targets: inputs[1]).loss
            loss.backward()
            if compiled {
                clipGradNormTensor(parameters, maxNorm: maxNorm)
            } else {
                _ = try? clipGradNorm(parameters, maxNorm: maxNorm)
            }
            opt.step()
            return [loss]
        }
        var r = Run()
        for s in 0..<steps {
            r.losses.append(step(xs[s % lengths.count], ys[s % lengths.count])[0].item.bitPattern)
        }
        r.params = bits(model.parameters().map(\.value))
        r.grads = bits(model.parameters().compactMap(\.grad))
        r.step = step
        return r
    }

    @Test func charGPTAdamWClippedReplaysBitForBit() {
        // maxNorm 0.1: the gradients are scaled down on every step.
        let eager = Self.gptRun(compiled: false, lengths: [8], steps: 6, maxNorm: 0.1)
        let comp = Self.gptRun(compiled: true, lengths: [8], steps: 6, maxNorm: 0.1)
        #expect(comp.step.fallbackReason == nil, "\(comp.step.fallbackReason ?? "")")
        #expect(comp.step.recordings == 1)
        #expect(comp.step.replays == 4)
        #expect(comp.losses == eager.losses)
        #expect(comp.params == eager.params)
        #expect(comp.grads == eager.grads)
    }

    @Test func charGPTUnclippedAndShorterContextReplaysBitForBit() {
        // maxNorm 1e3: a factor of 1; contexts of 8 and 5 tokens: two recordings.
        let eager = Self.gptRun(compiled: false, lengths: [8, 5], steps: 8, maxNorm: 1e3, layers: 1)
        let comp = Self.gptRun(compiled: true, lengths: [8, 5], steps: 8, maxNorm: 1e3, layers: 1)
        #expect(comp.step.fallbackReason == nil, "\(comp.step.fallbackReason ?? "")")
        #expect(comp.step.recordings == 2)
        #expect(comp.step.replays == 4)
        #expect(comp.losses == eager.losses)
        #expect(comp.params == eager.params)
        #expect(comp.grads == eager.grads)
    }

    @Test func clipGradNormTensorEqualsClipGradNorm() throws {
        // The two forms agree (norm and scaled gradients) for each norm type, with a tied weight
        // listed twice.
        for normType in [2.0, 1.0, .infinity, 3.0] {
            func make() -> [Parameter] {
                var gg = RandomGenerator(seed: 4)
                let ps = [Parameter(Tensor.randn([3, 4], using: &gg)), Parameter(Tensor.randn([5], using: &gg))]
                for p in ps { p.value.grad = Tensor.randn(p.shape, using: &gg) }
                return ps + [ps[0]]
            }
            let a = make(), b = make()
            let n1 = try clipGradNorm(a, maxNorm: 0.5, normType: normType)
            let n2 = clipGradNormTensor(b, maxNorm: 0.5, normType: normType)
            #expect(n2.dtype == .float32 && n2.shape == [])
            #expect(n1.bitPattern == n2.item.bitPattern, "norm type \(normType)")
            #expect(Self.bits(a.compactMap(\.grad)) == Self.bits(b.compactMap(\.grad)), "norm type \(normType)")
        }
    }

    // MARK: - max_pool2d's 2x2 loop

    @Test func maxPool2x2CeilModeOnOddSizes() {
        // ceil_mode's last window hangs over an odd edge: it must not read past the row (the plain
        // 2x2 loop is only for windows inside the plane). PyTorch: [[5, 6], [8, 9]].
        let x = Tensor((1...9).map(Double.init), shape: [1, 1, 3, 3]).requiringGrad()
        let y = x.maxPool2d(kernelSize: 2, ceilMode: true)
        #expect(y.shape == [1, 1, 2, 2] && y.scalars == [5, 6, 8, 9])
        y.sum().backward()
        #expect(x.grad!.scalars == [0, 0, 0, 0, 1, 1, 0, 1, 1])
        // Ties keep the first maximum in row order.
        let t = Tensor([1, 1, 1, 1, 1, 1, 0, 0], shape: [1, 1, 2, 4]).requiringGrad()
        let mt = t.maxPool2d(kernelSize: 2)
        #expect(mt.scalars == [1, 1])
        mt.sum().backward()
        #expect(t.grad!.scalars == [1, 0, 1, 0, 0, 0, 0, 0])
        // A NaN wins (PyTorch propagates it).
        let z = Tensor([1, 1, 1, 1, 2, .nan, 3, 0], shape: [1, 1, 2, 4]).requiringGrad()
        let m = z.maxPool2d(kernelSize: 2)
        #expect(m.scalars[0].isNaN && m.scalars[1] == 3)
        m.sum().backward()
        #expect(z.grad!.scalars == [0, 0, 0, 0, 0, 1, 1, 0])
    }

    // MARK: - The fashion-cnn example

    @Test func fashionCNNExampleCompiledEqualsEager() throws {
        let exe = Bundle.module.bundleURL.deletingLastPathComponent().appendingPathComponent("fashion-cnn")
        let data = "/usr/share/datasets/fashion-mnist"
        guard FileManager.default.isExecutableFile(atPath: exe.path) else {
            print("skipped: the fashion-cnn executable was not built next to the tests (swift build --product fashion-cnn)")
            return
        }
        guard FileManager.default.fileExists(atPath: data) else {
            print("skipped: no Fashion-MNIST in \(data) (apt-get install dataset-fashion-mnist)")
            return
        }
        func run(_ extra: [String]) throws -> [String: Any] {
            let p = Process()
            p.executableURL = exe
            // 200 images in batches of 64: three full batches and one of 8 per epoch (two recordings).
            p.arguments = ["--epochs", "2", "--train-limit", "200", "--test-limit", "100", "--json"] + extra
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            let d = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            #expect(p.terminationStatus == 0)
            return try JSONSerialization.jsonObject(with: d) as! [String: Any]
        }
        let c = try run([]), e = try run(["--eager"])
        #expect(c["compiled_fallback"] is NSNull, "\(c["compiled_fallback"] ?? "")")
        #expect((c["compiled_replays"] as! Int) == 4 && (e["compiled_replays"] as! Int) == 0)
        #expect((c["losses"] as! [Double]) == (e["losses"] as! [Double]))
        #expect((c["test_loss"] as! Double) == (e["test_loss"] as! Double))
    }
}
