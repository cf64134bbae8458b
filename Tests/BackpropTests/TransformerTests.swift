import Foundation
import Testing
@testable import Backprop

/// The transformer pieces: attention against its composed definition, the layers' names and
/// init, weight tying, clipping, the schedules, and CharGPT trained as PyTorch trains it.
@Suite struct TransformerTests {
    static func close(_ a: Tensor, _ b: Tensor, atol: Double, rtol: Double = 0) -> (Bool, Double) {
        guard a.shape == b.shape else { return (false, .infinity) }
        var worst = 0.0, ok = true
        for (x, y) in zip(a.scalars, b.scalars) {
            let d = Swift.abs(x - y)
            worst = Swift.max(worst, d)
            if d > atol + rtol * Swift.abs(y) { ok = false }
        }
        return (ok, worst)
    }

    /// softmax(scale q k^T + mask) v written with separate ops.
    static func composedAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, mask: Tensor?, causal: Bool, scale: Double) -> Tensor {
        var s = q.matmul(k.transpose(-2, -1)) * scale
        if causal {
            let (l, n) = (q.shape[q.rank - 2], k.shape[k.rank - 2])
            s = s + Tensor.full([l, n], -Double.infinity, dtype: q.dtype).triu(diagonal: 1)
        }
        if let mask { s = s + mask }
        return s.softmax(dim: -1).matmul(v)
    }

    @Test("the fused attention equals the composed one, forward and backward, float32 and float64",
          arguments: [DType.float32, .float64], [false, true])
    func fusedEqualsComposed(dtype: DType, causal: Bool) {
        var g = RandomGenerator(seed: 3)
        // nanoGPT's head size and a ragged one (L != S, odd widths), beyond the gradcheck sizes.
        for (batch, l, s, e, ev) in [([2, 4], 64, 64, 32, 32), ([3], 17, 23, 5, 7), ([], 20, 9, 3, 2)] {
            let q = Tensor.randn(batch + [l, e], dtype: dtype, using: &g).requiringGrad()
            let k = Tensor.randn(batch + [s, e], dtype: dtype, using: &g).requiringGrad()
            let v = Tensor.randn(batch + [s, ev], dtype: dtype, using: &g).requiringGrad()
            let mask: Tensor? = causal ? nil : Tensor.randn([l, s], dtype: dtype, using: &g).requiringGrad()
            let cot = Tensor.randn(batch + [l, ev], dtype: dtype, using: &g)
            let scale = 1 / Double(e).squareRoot()
            let fused = Tensor.scaledDotProductAttention(q, k, v, attnMask: mask, isCausal: causal)
            let plain = Self.composedAttention(q, k, v, mask: mask, causal: causal, scale: scale)
            let tol = dtype == .float32 ? 2e-5 : 1e-12
            #expect(Self.close(fused, plain, atol: tol).0, "forward \(batch) \(l)x\(s): \(Self.close(fused, plain, atol: tol).1)")
            let wrt = [q, k, v] + (mask.map { [$0] } ?? [])
            let gf = try! gradients(of: fused, wrt: wrt, gradOutputs: cot)
            let gp = try! gradients(of: plain, wrt: wrt, gradOutputs: cot)
            for (i, (a, b)) in zip(gf, gp).enumerated() {
                let r = Self.close(a!, b!, atol: tol * 5)
                #expect(r.0, "grad \(i) of \(batch) \(l)x\(s): worst \(r.1)")
            }
        }
    }

    @Test("causalSelfAttention(packed:) is nanoGPT's split, view, transpose, attention and transpose back",
          arguments: [DType.float32, .float64])
    func packedAttention(dtype: DType) throws {
        var g = RandomGenerator(seed: 4)
        for (b, t, c, h) in [(2, 5, 12, 3), (3, 64, 128, 4), (1, 1, 4, 1)] {
            let qkv = Tensor.randn([b, t, 3 * c], dtype: dtype, using: &g).requiringGrad()
            let cot = Tensor.randn([b, t, c], dtype: dtype, using: &g)
            let fused = Tensor.causalSelfAttention(packed: qkv, heads: h)
            let parts = qkv.split(c, dim: 2)
            func heads(_ z: Tensor) -> Tensor { z.reshape([b, t, h, c / h]).transpose(1, 2) }
            let plain = Tensor.scaledDotProductAttention(heads(parts[0]), heads(parts[1]), heads(parts[2]), isCausal: true)
                .transpose(1, 2).reshape([b, t, c])
            let tol = dtype == .float32 ? 1e-5 : 1e-12
            #expect(Self.close(fused, plain, atol: tol).0)
            let gf = try gradients(of: fused, wrt: [qkv], gradOutputs: cot)[0]!
            let gp = try gradients(of: plain, wrt: [qkv], gradOutputs: cot)[0]!
            #expect(Self.close(gf, gp, atol: tol * 5).0, "\(b)x\(t)x\(c): \(Self.close(gf, gp, atol: tol).1)")
        }
        // Float64 gradcheck and gradgradcheck of the packed form on a small case.
        if dtype == .float64 {
            let x = Tensor.randn([2, 3, 12], dtype: .float64, using: &g)
            #expect(gradcheck({ Tensor.causalSelfAttention(packed: $0[0], heads: 2) }, inputs: [x]).passed)
            #expect(gradgradcheck({ Tensor.causalSelfAttention(packed: $0[0], heads: 2) }, inputs: [x]).passed)
        }
    }

    @Test("a query whose keys are all masked out gets zeros, and no NaN in its gradients")
    func fullyMaskedRow() {
        let q = Tensor.ones([1, 2, 2]).requiringGrad(), k = Tensor.ones([1, 3, 2]).requiringGrad(), v = Tensor.ones([1, 3, 2]).requiringGrad()
        let mask = Tensor([0, 0, 0, -Double.infinity, -Double.infinity, -Double.infinity], shape: [2, 3])
        let y = Tensor.scaledDotProductAttention(q, k, v, attnMask: mask)
        #expect(y.scalars == [1, 1, 0, 0])
        y.sum().backward()
        #expect(q.grad!.scalars.allSatisfy { $0.isFinite } && k.grad!.scalars.allSatisfy { $0.isFinite })
    }

    @Test("threads do not change the attention's values")
    func attentionThreads() {
        var g = RandomGenerator(seed: 5)
        let q = Tensor.randn([16, 4, 32, 16], using: &g), k = Tensor.randn([16, 4, 32, 16], using: &g), v = Tensor.randn([16, 4, 32, 16], using: &g)
        let one = Parallelism.withThreads(1) { Tensor.scaledDotProductAttention(q, k, v, isCausal: true) }
        let four = Parallelism.withThreads(4) { Tensor.scaledDotProductAttention(q, k, v, isCausal: true) }
        #expect(one.scalars == four.scalars)
    }

    @Test("CharGPT has nanoGPT's names and sizes, the tied head listed, counted and stored once")
    func charGPTNames() {
        var g = RandomGenerator(seed: 0)
        let model = CharGPT(GPTConfig(vocabSize: 65, blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 128), using: &g)
        let names = model.namedParameters().map(\.name)
        #expect(names.prefix(3) == ["transformer.wte.weight", "transformer.wpe.weight", "transformer.h.0.ln_1.weight"])
        #expect(names.contains("transformer.h.3.attn.c_attn.weight") && names.contains("transformer.h.3.mlp.c_proj.bias"))
        #expect(names.last == "transformer.ln_f.bias")
        #expect(!names.contains("lm_head.weight"))
        #expect(model.parameterCount == 809_856)   // MODELS.md's W10 figure
        #expect(model.lmHead.weight === model.wte.weight)
        #expect(!model.stateDict().map(\.name).contains("lm_head.weight"))
        let shapes = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0.parameter.shape) })
        #expect(shapes["transformer.h.0.attn.c_attn.weight"] == [384, 128])
        #expect(shapes["transformer.h.0.mlp.c_proj.weight"] == [128, 512])
        // nanoGPT's init: std 0.02, c_proj 0.02 / sqrt(2 L); biases 0, LayerNorm 1.
        let std = model.wte.weight.value.std().item
        #expect(Swift.abs(std - 0.02) < 0.001)
        let proj = model.namedParameters().first { $0.name == "transformer.h.1.mlp.c_proj.weight" }!.parameter.value.std().item
        #expect(Swift.abs(proj - 0.02 / 8.0.squareRoot()) < 0.0005)
        #expect(model.lnF.weight!.value.scalars.allSatisfy { $0 == 1 })
    }

    @Test("tied weights get the sum of both gradients, and AdamW's groups decay matrices only")
    func tyingAndGroups() {
        var g = RandomGenerator(seed: 1)
        let model = CharGPT(GPTConfig(vocabSize: 7, blockSize: 4, nLayer: 1, nHead: 1, nEmbd: 4), using: &g)
        let idx = Tensor(indices: [0, 1, 2, 3], shape: [1, 4]), y = Tensor(indices: [1, 2, 3, 4], shape: [1, 4])
        model.forward(idx, targets: y).loss.backward()
        let grad = model.wte.weight.grad!
        // The embedding's gradient alone is zero for rows 4...6 (never looked up); the head's is not.
        #expect(grad.scalars[(4 * 4)..<(7 * 4)].contains { $0 != 0 })
        let opt = AdamW(decayingMatricesOf: model.parameters(), weightDecay: 0.1)
        #expect(opt.parameters.count == model.parameters().count)
        #expect(opt.groupSizes == [opt.parameters.filter { $0.shape.count >= 2 }.count, opt.parameters.filter { $0.shape.count < 2 }.count])
        for (p, d) in zip(opt.parameters, opt.weightDecays) { #expect(d == (p.shape.count >= 2 ? 0.1 : 0)) }
    }

    @Test("clipGradNorm: PyTorch's total norm and factor min(1, max / (norm + 1e-6))")
    func clipping() throws {
        let a = Parameter(Tensor([1, 2, 2])), b = Parameter(Tensor([[4]]))
        (a.value * Tensor([3, 0, 4])).sum().backward()     // grad a = [3, 0, 4]
        (b.value * 12.0).sum().backward()                   // grad b = [[12]]
        let norm = try clipGradNorm([a, b, a], maxNorm: 6.5)   // a listed twice counts once
        #expect(Swift.abs(norm - 13) < 1e-5)
        let f = Float(6.5) / (Float(13) + Float(1e-6))
        #expect(a.grad!.floats == [3 * f, 0, 4 * f])
        #expect(b.grad!.floats == [12 * f])
        #expect(try clipGradNorm([a, b], maxNorm: 100) > 6.4)   // below max: unchanged (factor 1)
        #expect(a.grad!.floats == [3 * f, 0, 4 * f])
        let inf = Parameter(Tensor([1]))
        (inf.value * Double.infinity).sum().backward()
        #expect(throws: NonfiniteGradientNormError.self) { try clipGradNorm([inf], maxNorm: 1, errorIfNonfinite: true) }
    }

    @Test("WarmupCosineLR is nanoGPT's get_lr")
    func warmupCosine() {
        let s = WarmupCosineLR(warmupSteps: 10, decaySteps: 110, minLR: 1e-4)
        #expect(Swift.abs(s.learningRate(epoch: 0, baseLR: 1e-3) - 1e-3 / 11) < 1e-15)
        #expect(Swift.abs(s.learningRate(epoch: 9, baseLR: 1e-3) - 1e-3 * 10 / 11) < 1e-15)
        #expect(Swift.abs(s.learningRate(epoch: 10, baseLR: 1e-3) - 1e-3) < 1e-15)
        #expect(Swift.abs(s.learningRate(epoch: 60, baseLR: 1e-3) - (1e-4 + 0.5 * 9e-4)) < 1e-15)
        #expect(s.learningRate(epoch: 500, baseLR: 1e-3) == 1e-4)
    }

    @Test("MultiheadAttention has PyTorch's names and equals its definition written out")
    func multiheadAttention() {
        var g = RandomGenerator(seed: 2)
        let mha = MultiheadAttention(embedDim: 8, numHeads: 2, batchFirst: true, using: &g)
        #expect(mha.namedParameters().map(\.name) == ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"])
        let x = Tensor.randn([3, 5, 8], using: &g)
        let y = mha.attention(query: x, key: x, value: x, isCausal: true)
        let w = mha.inProjWeight.value.chunk(3, dim: 0)
        func heads(_ t: Tensor) -> Tensor { t.reshape([3, 5, 2, 4]).transpose(1, 2) }
        let (q, k, v) = (heads(x.matmul(w[0].t())), heads(x.matmul(w[1].t())), heads(x.matmul(w[2].t())))
        let att = Self.composedAttention(q, k, v, mask: nil, causal: true, scale: 0.5)
        let expected = att.transpose(1, 2).reshape([3, 5, 8]).matmul(mha.outProj.weight.value.t())
        #expect(Self.close(y, expected, atol: 1e-5).0)
        // Sequence-first input gives the same, transposed.
        let mha2 = MultiheadAttention(embedDim: 8, numHeads: 2, using: &g)
        mha2.inProjWeight.assign(mha.inProjWeight.value); mha2.outProj.weight.assign(mha.outProj.weight.value)
        #expect(Self.close(mha2.attention(query: x.transpose(0, 1), key: x.transpose(0, 1), value: x.transpose(0, 1), isCausal: true),
                           y.transpose(0, 1), atol: 1e-6).0)
    }

    @Test("topk, and multinomial's frequencies")
    func topkAndMultinomial() {
        let x = Tensor([3, 1, 4, 1, 5, 9, 2, 6], shape: [2, 4])
        let (v, i) = x.topk(2, dim: 1)
        #expect(v.scalars == [4, 3, 9, 6] && i.integers == [2, 0, 1, 3])
        let (vs, is_) = x.topk(1, dim: 0, largest: false)
        #expect(vs.scalars == [3, 1, 2, 1] && is_.integers == [0, 0, 1, 0])
        var g = RandomGenerator(seed: 9)
        let probs = Tensor([0.1, 0.2, 0.7])
        let draws = probs.multinomial(20_000, replacement: true, using: &g).integers
        let freq = (0..<3).map { c in Double(draws.filter { $0 == c }.count) / 20_000 }
        #expect(Swift.abs(freq[0] - 0.1) < 0.01 && Swift.abs(freq[2] - 0.7) < 0.015)
        let perm = Tensor([1, 1, 1, 1], shape: [1, 4]).multinomial(4, using: &g).integers
        #expect(Set(perm) == [0, 1, 2, 3])
    }

    struct Reference {
        let text: String
        let runs: [[String: Any]]
        static func load() -> Reference {
            let o = Fixtures.object("gpt/gpt_reference.json")
            return Reference(text: o["text"] as! String, runs: o["runs"] as! [[String: Any]])
        }
    }

    @Test("CharGPT: 10 AdamW steps with clipping from PyTorch's initial weights end at PyTorch's parameters",
          arguments: ["small", "clipped"])
    func pytorchParity(name: String) throws {
        let ref = Reference.load()
        let run = ref.runs.first { $0["name"] as? String == name }!
        let data = CharText(ref.text)
        let (b, t) = (run["B"] as! Int, run["T"] as! Int)
        let config = GPTConfig(vocabSize: run["V"] as! Int, blockSize: t, nLayer: run["L"] as! Int,
                               nHead: run["H"] as! Int, nEmbd: run["C"] as! Int)
        #expect(data.vocabularySize == config.vocabSize)
        var g = RandomGenerator(seed: 0)
        let model = CharGPT(config, using: &g)
        let initial = try SafeTensors.read(Fixtures.path("gpt/\(name)_init.safetensors"))
        try model.loadStateDict(Dictionary(uniqueKeysWithValues: initial.tensors.map { ($0.name, $0.tensor) }))
        let opt = AdamW(decayingMatricesOf: model.parameters(), weightDecay: run["wd"] as! Double, lr: run["lr"] as! Double,
                        betas: (0.9, 0.99), eps: 1e-8)
        let losses = run["losses"] as! [Double], norms = run["grad_norms"] as! [Double]
        var none: RandomGenerator? = nil
        for step in 0..<(run["steps"] as! Int) {
            let (x, y) = CharText.batch(data.train, step: step, batchSize: b, blockSize: t, using: &none)
            opt.zeroGrad()
            let loss = model.forward(x, targets: y).loss
            loss.backward()
            let norm = try clipGradNorm(model.parameters(), maxNorm: run["clip"] as! Double)
            opt.step()
            #expect(Swift.abs(loss.item - losses[step]) < 2e-5, "step \(step): loss \(loss.item), PyTorch \(losses[step])")
            #expect(Swift.abs(norm - norms[step]) < 1e-4 * Swift.max(1, norms[step]), "step \(step): norm \(norm), PyTorch \(norms[step])")
        }
        let final = try SafeTensors.read(Fixtures.path("gpt/\(name)_final.safetensors"))
        let mine = Dictionary(uniqueKeysWithValues: model.stateDict().map { ($0.name, $0.tensor) })
        #expect(Set(mine.keys) == Set(final.tensors.map(\.name)))
        var worst = 0.0
        for (n, expected) in final.tensors {
            let r = Self.close(mine[n]!, expected, atol: 1e-4)
            worst = Swift.max(worst, r.1)
            #expect(r.0, "\(n): largest difference \(r.1)")
        }
        print("CharGPT parity \(name): largest parameter difference from PyTorch after 10 steps \(worst)")
    }
}

/// The `char-gpt` example, run as a process (built by `swift test` next to the test bundle).
@Suite struct CharGPTCommandTests {
    static var executable: URL? {
        let url = Bundle.module.bundleURL.deletingLastPathComponent().appendingPathComponent("char-gpt")
        return FileManager.default.isExecutableFile(atPath: url.path) ? url : nil
    }

    static func run(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = executable!
        p.arguments = args
        let errPath = FileManager.default.temporaryDirectory.appendingPathComponent("char-gpt-\(UUID().uuidString).err").path
        FileManager.default.createFile(atPath: errPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: errPath) }
        let err = FileHandle(forWritingAtPath: errPath)!
        let out = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        try? err.close()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let e = FileManager.default.contents(atPath: errPath) ?? Data()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    static func textFile() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("char-gpt-\(UUID().uuidString).txt").path
        let text = String(repeating: "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n", count: 20)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("char-gpt trains, evaluates, samples, saves and reloads (--json)")
    func trainsAndSamples() throws {
        guard Self.executable != nil else {
            print("skipped: the char-gpt executable was not built next to the tests (swift build --product char-gpt)")
            return
        }
        let data = try Self.textFile()
        let save = data + ".safetensors"
        defer { try? FileManager.default.removeItem(atPath: data); try? FileManager.default.removeItem(atPath: save) }
        let small = ["--data", data, "--block-size", "16", "--layers", "1", "--heads", "2", "--embd", "16", "--batch-size", "4",
                     "--eval-batches", "3", "--seed", "3"]
        let r = try Self.run(small + ["--steps", "6", "--grad-accum", "2", "--warmup-steps", "2", "--decay-steps", "5",
                                      "--sample", "40", "--top-k", "5", "--save", save, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let o = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        #expect((o["losses"] as! [Double]).count == 6)
        #expect((o["val_loss"] as! Double).isFinite && (o["tokens_per_s"] as! Double) > 0)
        #expect((o["sample"] as! String).count == 40)
        // The saved weights load back (--init) and give the same validation loss with no training.
        let saved = try SafeTensors.read(save)
        #expect(!saved.tensors.map(\.name).contains("lm_head.weight"))
        let again = try Self.run(small + ["--init", save, "--steps", "1", "--lr", "1e-9", "--grad-clip", "0", "--json"])
        let o2 = try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as! [String: Any]
        #expect(Swift.abs((o2["val_loss"] as! Double) - (o["val_loss"] as! Double)) < 1e-3)
    }

    @Test("char-gpt: the compiled step (default) and --eager give the same losses, bit for bit")
    func compiledEqualsEager() throws {
        guard Self.executable != nil else {
            print("skipped: the char-gpt executable was not built next to the tests (swift build --product char-gpt)")
            return
        }
        let data = try Self.textFile()
        defer { try? FileManager.default.removeItem(atPath: data) }
        let small = ["--data", data, "--block-size", "8", "--layers", "1", "--heads", "2", "--embd", "16", "--batch-size", "3",
                     "--eval-batches", "2", "--seed", "5", "--steps", "6", "--grad-accum", "2", "--warmup-steps", "2",
                     "--grad-clip", "0.05", "--json"]
        let compiled = try Self.run(small), eager = try Self.run(small + ["--eager"])
        #expect(compiled.status == 0 && eager.status == 0, "\(compiled.stderr) \(eager.stderr)")
        let c = try JSONSerialization.jsonObject(with: Data(compiled.stdout.utf8)) as! [String: Any]
        let e = try JSONSerialization.jsonObject(with: Data(eager.stdout.utf8)) as! [String: Any]
        #expect(c["compiled_fallback"] is NSNull, "\(c["compiled_fallback"] ?? "")")
        #expect((c["compiled_replays"] as! Int) == 4 && (e["compiled_replays"] as! Int) == 0)
        #expect((c["losses"] as! [Double]) == (e["losses"] as! [Double]))
        #expect((c["val_loss"] as! Double) == (e["val_loss"] as! Double))
    }

    @Test("char-gpt: a missing file and bad flags give a one-line error and a non-zero status")
    func badInput() throws {
        guard Self.executable != nil else {
            print("skipped: the char-gpt executable was not built next to the tests (swift build --product char-gpt)")
            return
        }
        let missing = try Self.run(["--data", "/nonexistent/file.txt", "--steps", "1"])
        #expect(missing.status != 0 && missing.stderr.hasPrefix("error: ") && missing.stderr.split(separator: "\n").count == 1,
                "\(missing.stderr)")
        let data = try Self.textFile()
        defer { try? FileManager.default.removeItem(atPath: data) }
        let heads = try Self.run(["--data", data, "--embd", "10", "--heads", "4"])
        #expect(heads.status != 0 && heads.stderr.contains("divisible"))
    }
}
