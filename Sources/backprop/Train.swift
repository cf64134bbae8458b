import ArgumentParser
import Backprop
import Foundation

/// `backprop train`: an MLP classifier trained on a CSV file with cross-entropy.
///
/// Options are typed and their ranges checked (here and in `ModelOptions`), so that every bad value gives one line
/// on stderr and exit status 1. The maths lives in the library (`ClassifierTraining`, `Checkpoint`, ...).
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train an MLP classifier on a CSV file (numeric features and a class label) with cross-entropy.",
        discussion: """
        Example: backprop train --data data/digits.csv --hidden 128 --standardize --plot digits.svg --save digits.safetensors

        The data is split once (--test-split, --seed); standardization is fitted on the training part only. \
        Checkpoints are safetensors files: the parameters under PyTorch's names (0.weight, 0.bias, ...), \
        the optimizer state and the standardization, for --resume.
        """)

    @OptionGroup(title: "Model and data (shared with backprop graph --mlp)") var options: ModelOptions
    @Option(help: ArgumentHelp("Number of epochs (passes over the training part; default 30).", valueName: "n"))
    var epochs: Int?
    @Option(help: ArgumentHelp("Number of optimizer steps instead of --epochs.", valueName: "n"))
    var steps: Int?
    @Option(help: ArgumentHelp("Learning-rate schedule over the epochs of this run: constant, cosine (annealed toward 0 over the run) or step (x0.1 after each third of the run) (default constant).", valueName: "name"))
    var lrSchedule: LRScheduleName?
    @Option(help: ArgumentHelp("Epochs of linear learning-rate warm-up from lr/10 before the schedule (default 0).", valueName: "n"))
    var warmupEpochs: Int?
    @Option(help: ArgumentHelp("Save the model, optimizer state and standardization to this safetensors file (atomically).", valueName: "file.safetensors"))
    var save: String?
    @Option(help: ArgumentHelp("Continue training from a checkpoint written by --save (architecture, optimizer state, split and standardization come from it).", valueName: "file.safetensors"))
    var resume: String?
    @Option(help: ArgumentHelp("Write an SVG picture of loss and accuracy per epoch.", valueName: "file.svg"))
    var plot: String?
    @Flag(help: "Draw the loss in the --plot picture on a log scale.")
    var plotLogScale = false
    @Flag(help: "Print one JSON object (per-epoch history and final metrics) instead of text.")
    var json = false

    /// The most epochs or steps one run takes, and the most a checkpoint may count: far beyond any
    /// real run, and small enough that no sum of them overflows an Int.
    static let maxCount = 1_000_000_000
    static let maxCheckpointCount = 1 << 53

    func validate() throws {
        if epochs != nil && steps != nil { throw ValidationError("give either --epochs or --steps, not both") }
        for (flag, value, least) in [("--epochs", epochs, 1), ("--steps", steps, 1), ("--warmup-epochs", warmupEpochs, 0)] {
            if let value, !(least...Self.maxCount).contains(value) {
                throw ValidationError("\(flag) must be a whole number from \(least) to \(Self.maxCount), got \(value)")
            }
        }
        if resume != nil && options.initFile != nil { throw ValidationError("give either --init or --resume, not both") }
    }

    func run() throws {
        try reportingErrors { try train() }
    }

    // MARK: - Training

    func train() throws {
        guard let dataPath = options.data else { throw CLIError("--data FILE.csv is required (try data/iris.csv or data/digits.csv)") }
        for (flag, path) in [("--save", save), ("--plot", plot)] {
            guard let path else { continue }
            let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
                throw CLIError("\(flag) \(path): directory \(dir) does not exist")
            }
        }

        let checkpoint = try resume.map { path -> Checkpoint in
            do { return try Checkpoint.read(path) } catch { throw CLIError("--resume \(path): \(error)") }
        }
        if let checkpoint, checkpoint.metadata["format"] != "backprop-mlp" {
            throw CLIError("--resume \(resume!): not a checkpoint written by backprop train --save (no format metadata); use --init to start from its parameters")
        }
        let setup = try options.setup(checkpoint: checkpoint, resume: resume)
        let s = setup.settings
        let (dataset, trainPart, testPart, standardizer) = (setup.dataset, setup.train, setup.test, setup.standardizer)
        let (model, opt) = (setup.model, setup.optimizer)
        let saved = CheckpointMetadata(checkpoint?.metadata, path: resume ?? "")
        func count(_ text: String) -> Int? { Int(text).flatMap { (0...Self.maxCheckpointCount).contains($0) ? $0 : nil } }
        let epochsBefore = try saved.optional("epoch", "a whole number from 0 to 2^53", count) ?? 0
        let stepsBefore = try saved.optional("step", "a whole number from 0 to 2^53", count) ?? 0
        let warmup = warmupEpochs ?? 0
        let run = ClassifierTraining(model: model, optimizer: opt, train: trainPart, test: testPart, batchSize: s.batchSize,
                                     shuffle: !options.noShuffle, seed: s.seed, epochsDone: epochsBefore, stepsDone: stepsBefore)

        let batchesPerEpoch = s.batchSize == 0 || s.batchSize >= trainPart.count ? 1 : (trainPart.count + s.batchSize - 1) / s.batchSize
        let plannedEpochs = steps.map { ($0 + batchesPerEpoch - 1) / batchesPerEpoch } ?? epochs ?? 30
        let lastEpoch = epochsBefore + plannedEpochs
        // The schedule spans this run's epochs (a resumed run starts a new schedule).
        let main: any LRSchedule
        switch lrSchedule ?? .constant {
        case .cosine: main = CosineAnnealingLR(tMax: max(1, plannedEpochs - warmup))
        case .step: main = StepLR(stepSize: max(1, (plannedEpochs - warmup) / 3), gamma: 0.1)
        case .constant: main = LinearLR(startFactor: 1, endFactor: 1, totalIters: 1)
        }
        let schedule: any LRSchedule = warmup > 0
            ? WarmupSchedule(warmup: LinearLR(startFactor: 0.1, totalIters: warmup), then: main, milestone: warmup) : main
        let interactive = isatty(STDERR_FILENO) == 1
        let out = Output(json: json, interactive: interactive)
        out.line("model: \(describe(model)), \(model.parameterCount) parameters; \(s.optimizer.rawValue) lr \(s.lr)"
                 + (s.momentum != 0 ? " momentum \(s.momentum)" : "") + (s.weightDecay != 0 ? " weight decay \(s.weightDecay)" : ""))
        out.line("data: \(dataPath): \(trainPart.count) training rows, \(testPart.count) test rows, \(dataset.featureCount) features, \(dataset.classCount) classes"
                 + (standardizer != nil ? ", standardized" : "") + (resume != nil ? "; resuming after epoch \(epochsBefore)" : ""))

        let start = Date()
        var stepsLeft = steps
        while run.epochsDone < lastEpoch && (stepsLeft ?? 1) > 0 {
            let epochStart = Date()
            opt.lr = schedule.learningRate(epoch: run.epochsDone - epochsBefore, baseLR: s.lr)
            let record = run.runEpoch(stepLimit: stepsLeft) { p in
                guard interactive else { return }
                let done = Double(run.epochsDone - epochsBefore) + Double(p.batch) / Double(p.batches)
                let elapsed = Date().timeIntervalSince(start)
                let left = done > 0 ? elapsed / done * (Double(plannedEpochs) - done) : 0
                out.progress(epoch: p.epoch, of: lastEpoch, batch: p.batch, batches: p.batches, loss: p.runningLoss,
                             accuracy: p.runningAccuracy, speed: p.samplesPerSecond, left: left)
            }
            if let left = stepsLeft { stepsLeft = left - record.steps }
            let elapsed = Date().timeIntervalSince(start)
            let fraction = Double(run.epochsDone - epochsBefore) / Double(plannedEpochs)
            let speed = Double(record.steps == 0 ? 0 : trainPart.count) * Double(record.steps) / Double(max(batchesPerEpoch, 1))
                / max(Date().timeIntervalSince(epochStart), 1e-9)
            out.epoch(record, of: lastEpoch, speed: speed, left: fraction > 0 ? elapsed / fraction - elapsed : 0)
        }
        let seconds = Date().timeIntervalSince(start)
        out.clearBar()

        let trainEval = ClassifierTraining.evaluate(model, on: trainPart)
        let testEval = testPart.count > 0 ? ClassifierTraining.evaluate(model, on: testPart) : nil

        if let save {
            var meta: [String: String] = [
                "format": "backprop-mlp", "hidden": HiddenSizes.text(s.hidden),
                "activation": s.activation.rawValue, "optimizer": s.optimizer.rawValue, "lr": "\(s.lr)",
                "momentum": "\(s.momentum)", "weight_decay": "\(s.weightDecay)", "batch_size": "\(s.batchSize)",
                "seed": "\(s.seed)", "test_split": "\(s.testSplit)", "standardized": standardizer != nil ? "true" : "false",
                "epoch": "\(run.epochsDone)", "step": "\(run.stepsDone)", "features": dataset.featureNames.joined(separator: ","),
                "class_names": dataset.classNames.joined(separator: ","), "data": dataPath,
            ]
            if let l = s.labelColumn?.text { meta["label_column"] = l }
            do {
                try Checkpoint(model: model.stateDict(), optimizer: opt.stateDict(), standardizer: standardizer, metadata: meta).write(to: save)
            } catch { throw CLIError("--save \(save): \(error)") }
        }
        if let plot {
            let title = "\(URL(fileURLWithPath: dataPath).lastPathComponent): \(describe(model)), \(s.optimizer.rawValue) lr \(s.lr)"
            do { try AtomicFile.write(Data(TrainingPlot.svg(history: run.history, title: title, logLoss: plotLogScale).utf8), to: plot) }
            catch { throw CLIError("--plot \(plot): \(error)") }
        }

        if json {
            var o: [String: Any] = [
                "data": dataPath, "model": describe(model), "parameters": model.parameterCount,
                "optimizer": s.optimizer.rawValue, "lr": s.lr, "momentum": s.momentum, "weight_decay": s.weightDecay,
                "batch_size": s.batchSize, "seed": s.seed, "test_split": s.testSplit, "standardized": standardizer != nil,
                "classes": dataset.classNames, "epochs": run.epochsDone, "steps": run.stepsDone, "seconds": seconds,
                "history": run.history.map { r -> [String: Any] in
                    ["epoch": r.epoch, "train_loss": jsonNumber(r.trainLoss), "train_accuracy": jsonNumber(r.trainAccuracy),
                     "test_loss": jsonNumber(r.testLoss), "test_accuracy": jsonNumber(r.testAccuracy),
                     "steps": r.steps, "lr": r.lr, "seconds": r.seconds]
                },
                "train": evaluationJSON(trainEval),
                "test": testEval.map(evaluationJSON) ?? NSNull(),
            ]
            if let save { o["saved"] = save }
            if let plot { o["plot"] = plot }
            try printJSON(o)
            return
        }
        print(String(format: "final: train loss %.4f, accuracy %.2f%% (%d rows)", trainEval.loss, trainEval.accuracy * 100, trainEval.count))
        if let t = testEval {
            print(String(format: "       test  loss %.4f, accuracy %.2f%% (%d rows)", t.loss, t.accuracy * 100, t.count))
        }
        let shown = testEval ?? trainEval
        print("confusion matrix (\(testEval != nil ? "test" : "train") rows; row: true class, column: predicted):")
        print(confusionText(shown.confusion, names: dataset.classNames), terminator: "")
        print(String(format: "trained %d epochs (%d steps) in %.2f s", run.epochsDone - epochsBefore, run.stepsDone - stepsBefore, seconds))
        if let save { print("saved model and optimizer state to \(save)") }
        if let plot { print("wrote loss and accuracy plot to \(plot)") }
    }

    func describe(_ model: Sequential) -> String { ModelOptions.describe(model) }

    func evaluationJSON(_ e: Evaluation) -> [String: Any] {
        ["loss": jsonNumber(e.loss), "accuracy": jsonNumber(e.accuracy), "rows": e.count, "confusion": e.confusion]
    }

    /// A number for JSON, or null when missing or not finite (a diverged loss is NaN; JSON has no NaN).
    func jsonNumber(_ v: Double?) -> Any { v.flatMap { $0.isFinite ? $0 : nil } ?? NSNull() }

    func confusionText(_ m: [[Int]], names: [String]) -> String {
        let width = max(5, (names.map(\.count) + m.flatMap { $0 }.map { String($0).count }).max()! + 1)
        func pad(_ s: String) -> String { String(repeating: " ", count: max(0, width - s.count)) + s }
        var s = pad("") + names.map(pad).joined() + "\n"
        for (i, row) in m.enumerated() { s += pad(names[i]) + row.map { pad(String($0)) }.joined() + "\n" }
        return s
    }
}

/// The learning-rate schedules of `backprop train --lr-schedule`.
enum LRScheduleName: String, CaseIterable, ExpressibleByArgument {
    case constant, cosine, step

    init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

/// Progress and epoch lines: a redrawn bar on stderr when it is a terminal, plain lines otherwise;
/// nothing but the final JSON on stdout with --json.
final class Output {
    let json: Bool
    let interactive: Bool
    var barShown = false
    var lastDraw = Date.distantPast

    init(json: Bool, interactive: Bool) { self.json = json; self.interactive = interactive }

    func line(_ s: String) {
        guard !json else { return }
        clearBar()
        print(s)
    }

    func clearBar() {
        if barShown { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)); barShown = false }
    }

    static func duration(_ s: Double) -> String {
        // Past a billion seconds an estimate says nothing (and Int() of a huge one would trap).
        guard s.isFinite, s >= 0, s < 1e9 else { return "?" }
        let t = Int(s.rounded())
        return t >= 60 ? String(format: "%d:%02d", t / 60, t % 60) : String(format: "%.1fs", s)
    }

    func progress(epoch: Int, of total: Int, batch: Int, batches: Int, loss: Double, accuracy: Double, speed: Double, left: Double) {
        // Redraw at most 20 times a second (and at the end of an epoch): drawing is not free.
        let now = Date()
        guard batch == batches || now.timeIntervalSince(lastDraw) >= 0.05 else { return }
        lastDraw = now
        let width = 24
        let filled = batches > 0 ? width * batch / batches : width
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let text = String(format: "epoch %d/%d [%@] %d/%d loss %.4f acc %.2f%% %.0f samples/s, %@ left",
                          epoch, total, bar, batch, batches, loss, accuracy * 100, speed, Output.duration(left))
        FileHandle.standardError.write(Data(("\r\u{1B}[2K" + text).utf8))
        barShown = true
    }

    func epoch(_ r: EpochRecord, of total: Int, speed: Double, left: Double) {
        var s = String(format: "epoch %d/%d  loss %.4f  acc %.2f%%", r.epoch, total, r.trainLoss, r.trainAccuracy * 100)
        if let tl = r.testLoss, let ta = r.testAccuracy { s += String(format: "  test loss %.4f  test acc %.2f%%", tl, ta * 100) }
        s += String(format: "  %.0f samples/s  %@ left", speed, Output.duration(left))
        line(s)
    }
}
