// char-gpt: nanoGPT's character-level GPT, trained on any text file.
//
//   swift run -c release char-gpt --data tinyshakespeare.txt --steps 2000 --sample 500
//
// The model is CharGPT (Sources/Backprop/NN/CharGPT.swift: nanoGPT's model.py with its names);
// the loop below is nanoGPT's train.py: get a batch, forward, backward (accumulated over
// --grad-accum micro-batches), clip, AdamW step, with the learning rate of get_lr. The step is a
// CompiledStep (recorded once, then replayed; the same results as eager) unless --eager.

import ArgumentParser
import Backprop
import Foundation

struct CharGPTCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "char-gpt",
        abstract: "Train nanoGPT's character-level GPT on a text file, report the validation loss, and sample from it.")

    @Option(help: "The text file to train on (read as UTF-8 characters; the first 90% trains, the rest validates).")
    var data: String
    @Option(help: "Optimizer steps.") var steps = 2000
    @Option(name: .customLong("batch-size"), help: "Rows per micro-batch (B).") var batchSize = 16
    @Option(name: .customLong("block-size"), help: "Context length (T).") var blockSize = 64
    @Option(help: "Transformer blocks (L).") var layers = 4
    @Option(help: "Attention heads (H).") var heads = 4
    @Option(help: "Width (C, n_embd).") var embd = 128
    @Option(help: "Peak learning rate of AdamW.") var lr = 1e-3
    @Option(name: .customLong("min-lr"), help: "The rate at the end of the cosine decay (with --decay-steps).") var minLR = 1e-4
    @Option(name: .customLong("weight-decay"), help: "AdamW's decay on the parameters of two or more dims.") var weightDecay = 0.1
    @Option(name: .customLong("grad-clip"), help: "Clip the global gradient norm to this (0: no clipping).") var gradClip = 1.0
    @Option(name: .customLong("warmup-steps"), help: "Steps of linear warm-up (nanoGPT's warmup_iters).") var warmupSteps = 0
    @Option(name: .customLong("decay-steps"), help: "Cosine decay to --min-lr at this step (0: constant rate after warm-up).") var decaySteps = 0
    @Option(name: .customLong("grad-accum"), help: "Micro-batches accumulated per step (gradient accumulation).") var gradAccum = 1
    @Option(help: "Seed of the initial weights, the batches and the sample.") var seed: UInt64 = 0
    @Flag(name: .customLong("no-shuffle"), help: "Batches in file order (MODELS.md's rule) instead of random offsets.") var noShuffle = false
    @Option(name: .customLong("init"), help: "Start from the weights in this safetensors file (a tied head stored once).") var initFile: String?
    @Option(help: "Write the trained weights to this safetensors file.") var save: String?
    @Option(name: .customLong("eval-batches"), help: "Validation loss over this many not-shuffled validation batches.") var evalBatches = 50
    @Option(help: "Characters to generate after training, starting from a newline.") var sample = 0
    @Option(help: "Sampling temperature.") var temperature = 1.0
    @Option(name: .customLong("top-k"), help: "Sample only among the k most likely characters.") var topK: Int?
    @Option(help: "Worker threads.") var threads: Int?
    @Flag(help: "Print one JSON object: per-step losses, validation loss, seconds, tokens/s, the sample.") var json = false
    @Flag(help: "Train eagerly instead of replaying a recorded CompiledStep (the same results, slower).") var eager = false

    mutating func validate() throws {
        for (name, v) in [("steps", steps), ("batch-size", batchSize), ("block-size", blockSize), ("layers", layers),
                          ("heads", heads), ("embd", embd), ("grad-accum", gradAccum)] where v < 1 {
            throw ValidationError("--\(name) must be at least 1, got \(v)")
        }
        guard embd % heads == 0 else { throw ValidationError("--embd \(embd) must be divisible by --heads \(heads)") }
        guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be positive, got \(lr)") }
        guard weightDecay >= 0, gradClip >= 0, evalBatches >= 0, sample >= 0, warmupSteps >= 0, decaySteps >= 0 else {
            throw ValidationError("--weight-decay, --grad-clip, --eval-batches, --sample, --warmup-steps and --decay-steps must not be negative")
        }
        guard temperature > 0 else { throw ValidationError("--temperature must be positive, got \(temperature)") }
        if let topK, topK < 1 { throw ValidationError("--top-k must be at least 1, got \(topK)") }
        if decaySteps > 0 && decaySteps < warmupSteps { throw ValidationError("--decay-steps must be at least --warmup-steps") }
    }

    func run() throws {
        if let threads { Parallelism.threads = threads }
        let text = try CharText(contentsOf: data)
        let (train, val) = (text.train, text.validation)
        guard train.count > blockSize else {
            throw ValidationError("\(data): the training split has \(train.count) characters, not more than --block-size \(blockSize)")
        }
        let config = GPTConfig(vocabSize: text.vocabularySize, blockSize: blockSize, nLayer: layers, nHead: heads, nEmbd: embd)

        // model init
        var generator = RandomGenerator(seed: seed)
        let model = CharGPT(config, using: &generator)
        if let initFile {
            let contents = try SafeTensors.read(initFile)
            try model.loadStateDict(Dictionary(contents.tensors.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a }))
        }
        let optimizer = AdamW(decayingMatricesOf: model.parameters(), weightDecay: weightDecay, lr: lr, betas: (0.9, 0.99), eps: 1e-8)
        let parameters = model.parameters()

        // learning rate decay scheduler (nanoGPT's get_lr; constant after warm-up without --decay-steps)
        let cosine = WarmupCosineLR(warmupSteps: warmupSteps, decaySteps: Swift.max(decaySteps, warmupSteps), minLR: minLR)
        func getLR(_ it: Int) -> Double {
            if decaySteps > 0 { return cosine.learningRate(epoch: it, baseLR: lr) }
            return it < warmupSteps ? lr * Double(it + 1) / Double(warmupSteps + 1) : lr
        }

        // forward backward update, with optional gradient accumulation: the micro-batches are the
        // inputs (x0, y0, x1, y1, ...), their losses the outputs
        let (gradAccum, gradClip) = (self.gradAccum, self.gradClip)
        let step = CompiledStep(model, eager: eager) { inputs in
            optimizer.zeroGrad()
            var microLosses: [Tensor] = []
            for micro in 0..<gradAccum {
                let (_, loss) = model.forward(inputs[2 * micro], targets: inputs[2 * micro + 1])
                (gradAccum == 1 ? loss : loss / Double(gradAccum)).backward()
                microLosses.append(loss)
            }
            // The norm computed and applied in kernels (clipGradNorm's arithmetic), nothing read in Swift.
            if gradClip > 0 { clipGradNormTensor(parameters, maxNorm: gradClip) }
            optimizer.step()
            return microLosses
        }

        var batchGenerator: RandomGenerator? = noShuffle ? nil : RandomGenerator(seed: seed &+ 1)
        let progress = Progress(total: steps, enabled: !json && isatty(STDERR_FILENO) != 0)
        var losses: [Double] = []
        model.train()
        let start = Date()
        for it in 0..<steps {
            optimizer.lr = getLR(it)
            var batches: [Tensor] = []
            for micro in 0..<gradAccum {
                let (x, y) = CharText.batch(train, step: it * gradAccum + micro, batchSize: batchSize, blockSize: blockSize,
                                            using: &batchGenerator)
                batches += [x, y]
            }
            var stepLoss = 0.0
            for loss in step(batches) { stepLoss += loss.item / Double(gradAccum) }
            losses.append(stepLoss)
            progress.update(it + 1, loss: stepLoss)
        }
        let seconds = Date().timeIntervalSince(start)
        progress.finish()
        let tokensPerSecond = Double(steps * gradAccum * batchSize * blockSize) / seconds

        // validation loss: the mean over K not-shuffled validation batches
        var valLoss: Double? = nil
        if evalBatches > 0 && val.count > blockSize {
            model.eval()
            var none: RandomGenerator? = nil
            var total = 0.0
            withNoGrad {
                for k in 0..<evalBatches {
                    let (x, y) = CharText.batch(val, step: k, batchSize: batchSize, blockSize: blockSize, using: &none)
                    total += model.forward(x, targets: y).loss.item
                }
            }
            valLoss = total / Double(evalBatches)
        }

        // sample from the model, starting from one newline character
        var sampleText = ""
        if sample > 0 {
            model.eval()
            var sampler = RandomGenerator(seed: seed &+ 2)
            let newline = text.encode("\n") ?? 0
            let out = model.generate(Tensor(indices: [newline], shape: [1, 1]), maxNewTokens: sample,
                                     temperature: temperature, topK: topK, using: &sampler)
            sampleText = text.decode(Array(out.integers.dropFirst()))
        }

        if let save {
            try SafeTensors.write(model.stateDict(), metadata: ["format": "pt", "vocabulary": String(text.vocabulary)], to: save)
        }

        if json {
            // JSON has no NaN or infinity: a non-finite figure is null.
            func number(_ x: Double?) -> Any { x.flatMap { $0.isFinite ? $0 : nil } ?? NSNull() }
            let settings: [String: Any] = [
                "vocab_size": config.vocabSize, "block_size": blockSize, "n_layer": layers, "n_head": heads, "n_embd": embd,
                "batch_size": batchSize, "grad_accum": gradAccum, "lr": lr, "weight_decay": weightDecay, "grad_clip": gradClip,
                "warmup_steps": warmupSteps, "decay_steps": decaySteps, "seed": seed, "shuffle": !noShuffle,
                "threads": Parallelism.threads, "compiled": !eager,
            ]
            let doc: [String: Any] = [
                "config": settings, "params": model.parameterCount, "losses": losses.map { number($0) },
                "compiled_replays": step.replays, "compiled_fallback": step.fallbackReason ?? NSNull(),
                "val_loss": number(valLoss), "eval_batches": evalBatches, "seconds": number(seconds),
                "tokens_per_s": number(tokensPerSecond), "sample": sampleText,
            ]
            let data = try JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("CharGPT: \(model.parameterCount) parameters, vocabulary \(config.vocabSize), \(train.count) training and \(val.count) validation characters")
            print(String(format: "trained %d steps in %.1f s (%.0f tokens/s); final training loss %.4f", steps, seconds, tokensPerSecond, losses.last ?? .nan))
            if let valLoss { print(String(format: "validation loss %.4f (mean over %d batches)", valLoss, evalBatches)) }
            if sample > 0 { print("--- sample ---\n\(sampleText)") }
        }
    }
}

/// A one-line progress bar on standard error, when it is a terminal.
final class Progress {
    let total: Int, enabled: Bool
    let start = Date()
    init(total: Int, enabled: Bool) { self.total = total; self.enabled = enabled }
    func update(_ done: Int, loss: Double) {
        guard enabled, done == total || done % 10 == 0 else { return }
        let width = 30, filled = width * done / Swift.max(total, 1)
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let rate = Double(done) / Swift.max(Date().timeIntervalSince(start), 1e-9)
        FileHandle.standardError.write(String(format: "\r[%@] %d/%d  loss %.4f  %.1f steps/s", bar, done, total, loss, rate).data(using: .utf8)!)
    }
    func finish() { if enabled { FileHandle.standardError.write("\n".data(using: .utf8)!) } }
}

// Errors (a missing file, a file that does not fit the model) in one line, exit status 1.
let command: CharGPTCommand
do {
    command = try CharGPTCommand.parseAsRoot(nil) as! CharGPTCommand
} catch {
    CharGPTCommand.exit(withError: error)
}
do {
    try command.run()
} catch let e as ValidationError {
    FileHandle.standardError.write("error: \(e.message)\n".data(using: .utf8)!)
    exit(1)
} catch {
    FileHandle.standardError.write("error: \(error)\n".data(using: .utf8)!)
    exit(1)
}
