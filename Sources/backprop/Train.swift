import ArgumentParser
import Backprop
import Foundation

/// `backprop train`: an MLP classifier (cross-entropy) or regression (MSE, L1 or Huber loss)
/// trained on a CSV file.
///
/// Options are typed and their ranges checked (here and in `ModelOptions`), so that every bad value gives one line
/// on stderr and exit status 1. The maths lives in the library (`SupervisedTraining`, `Checkpoint`, ...).
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train an MLP on a CSV file: a classifier (a class label column, cross-entropy) or, with --task regression, a regression (a numeric target, MSE, L1 or Huber loss).",
        discussion: """
        Examples: backprop train --data data/digits.csv --hidden 128 --standardize --plot digits.svg --save digits.safetensors
                  backprop train --data data/diabetes.csv --task regression --standardize --hidden 32 --save diabetes.safetensors

        The data is split once (--test-split, --seed); standardization is fitted on the training part only. \
        --save writes the model file (the parameters under PyTorch's names, 0.weight, 0.bias, ..., loadable \
        with load_state_dict(load_file(path)); the architecture, class names and standardization in its \
        metadata, enough for backprop predict) and beside it NAME.optimizer.safetensors (the optimizer state \
        and the run's settings), which --resume reads with it.
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
    @Option(help: ArgumentHelp("Save the model to this safetensors file and the optimizer state beside it (NAME.optimizer.safetensors), each atomically.", valueName: "file.safetensors"))
    var save: String?
    @Option(help: ArgumentHelp("The element type of the saved parameters: f32, f16, bf16 or f64 (default: the training dtype). The optimizer state keeps the training dtype.", valueName: "type"))
    var saveDtype: SaveDType?
    @Option(help: ArgumentHelp("Continue training from a model file written by --save and the optimizer file beside it (architecture, optimizer state, split and standardization come from them).", valueName: "file.safetensors"))
    var resume: String?
    @Option(help: ArgumentHelp("Write an SVG picture of the loss and the accuracy (R² for a regression) per epoch.", valueName: "file.svg"))
    var plot: String?
    @Flag(help: "Draw the loss in the --plot picture on a log scale.")
    var plotLogScale = false
    @Flag(help: "Run every step eagerly (default: each batch shape's step is recorded once and replayed by a CompiledStep, with the same numbers).")
    var eager = false
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
        if saveDtype != nil && save == nil { throw ValidationError("--save-dtype applies to --save") }
    }

    func run() throws {
        try reportingErrors { try train() }
    }

    // MARK: - Training

    func train() throws {
        guard let dataPath = options.data else { throw CLIError("--data FILE.csv is required (try data/iris.csv or data/digits.csv)") }
        try requireOutputDirectories([("--save", save), ("--plot", plot)])

        let checkpoint = try resume.map { path -> Checkpoint in
            do {
                let c = try Checkpoint.read(path)
                guard c.model.card != nil else {
                    throw CLIError("--resume \(path): not a model file written by backprop train --save (no format metadata); use --init to start from its parameters")
                }
                return c
            } catch let e as CLIError { throw e } catch { throw CLIError(flag: "--resume", path: path, error) }
        }
        let setup = try options.setup(checkpoint: checkpoint, resume: resume)
        let s = setup.settings
        let (dataset, trainPart, testPart, standardizer) = (setup.dataset, setup.train, setup.test, setup.standardizer)
        let (model, opt) = (setup.model, setup.optimizer)
        let objective = s.objective
        let regression = objective.task == .regression
        let saved = CheckpointMetadata(checkpoint?.training, path: resume ?? "")
        func count(_ text: String) -> Int? { Int(text).flatMap { (0...Self.maxCheckpointCount).contains($0) ? $0 : nil } }
        let epochsBefore = try saved.optional("epoch", "a whole number from 0 to 2^53", count) ?? 0
        let stepsBefore = try saved.optional("step", "a whole number from 0 to 2^53", count) ?? 0
        let warmup = warmupEpochs ?? 0
        let run = SupervisedTraining(model: model, optimizer: opt, train: trainPart, test: testPart, objective: objective,
                                     batchSize: s.batchSize, shuffle: !options.noShuffle, seed: s.seed,
                                     targetScaler: setup.targetScaler, epochsDone: epochsBefore, stepsDone: stepsBefore)
        // Under mpirun (issue 17): data parallelism over the launcher's ranks; only rank 0 prints and saves.
        let group = try startProcessGroup(batchSize: s.batchSize)
        if group.isDistributed { run.distributed = DistributedDataParallel(model, group: group) }
        run.eager = eager

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
        let interactive = isatty(STDERR_FILENO) == 1 && group.isMain
        let out = Output(json: json, interactive: interactive, scoreName: regression ? "R2" : "acc")
        out.line("model: \(describe(model)), \(model.parameterCount) parameters; \(objective.lossDescription) loss; \(s.optimizer.rawValue) lr \(s.lr)"
                 + (s.momentum != 0 ? " momentum \(s.momentum)" : "") + (s.weightDecay != 0 ? " weight decay \(s.weightDecay)" : ""))
        let what = regression ? "target \(dataset.labelName)" : "\(dataset.classCount) classes"
        let scaled = standardizer == nil ? "" : regression && setup.targetScaler != nil ? ", features and target standardized" : ", standardized"
        out.line("data: \(dataPath): \(trainPart.count) training rows, \(testPart.count) test rows, \(dataset.featureCount) features, \(what)"
                 + scaled + (resume != nil ? "; resuming after epoch \(epochsBefore)" : ""))
        if let note = setup.standardizationNote { out.line("init: \(note)") }
        if group.isDistributed {
            // The process ids, so that a launcher's message naming only a PID (MPICH's) names a rank too.
            let pids = group.allGather([Double(getpid())]).map { String(Int($0[0])) }.joined(separator: ", ")
            out.line("distributed: \(group.size) ranks (pids \(pids)) over \(group.backend), \(Parallelism.threads) thread\(Parallelism.threads == 1 ? "" : "s") each; global batch \(s.batchSize == 0 ? "all rows" : "\(s.batchSize) = \(group.size) x \(s.batchSize / group.size)")")
        }
        if !regression && dataset.classCount * 4 > dataset.count {
            out.line("note: \(dataset.classCount) classes for \(dataset.count) rows: if \(dataset.labelName) is a number to predict, train with --task regression")
        }

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
                             score: p.runningScore, speed: p.samplesPerSecond, left: left)
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
        // The other ranks hold the same parameters as rank 0, which evaluates, saves and prints.
        guard group.isMain else { return }

        let trainEval = SupervisedTraining.evaluate(model, on: trainPart, objective: objective, targetScaler: setup.targetScaler)
        let testEval = testPart.count > 0
            ? SupervisedTraining.evaluate(model, on: testPart, objective: objective, targetScaler: setup.targetScaler) : nil

        if let save {
            var training: [String: String] = [
                "optimizer": s.optimizer.rawValue, "lr": "\(s.lr)", "momentum": "\(s.momentum)", "weight_decay": "\(s.weightDecay)",
                "param_groups": opt.pytorchParamGroupsJSON(initialLR: s.lr),
                "batch_size": "\(s.batchSize)", "seed": "\(s.seed)", "test_split": "\(s.testSplit)",
                "epoch": "\(run.epochsDone)", "step": "\(run.stepsDone)", "data": dataPath,
            ]
            if case .regression(let loss) = objective {
                training["loss"] = loss.name
                if case .huber(let delta) = loss { training["huber_delta"] = "\(delta)" }
            }
            if let l = s.labelColumn?.text { training["label_column"] = l }
            let file = SavedModel(model: model, card: setup.card, extra: ["data": dataPath, "dtype": options.dtype.rawValue])
            do {
                try Checkpoint(model: file, optimizer: opt.stateDict(), training: training).write(to: save, floatsAs: saveDtype?.storage)
            } catch { throw CLIError("--save \(save): \(error)") }
        }
        if let plot {
            let title = "\(URL(fileURLWithPath: dataPath).lastPathComponent): \(describe(model)), \(s.optimizer.rawValue) lr \(s.lr)"
            do { try AtomicFile.write(Data(TrainingPlot.svg(history: run.history, title: title, objective: objective,
                                                            logLoss: plotLogScale).utf8), to: plot) }
            catch { throw CLIError("--plot \(plot): \(error)") }
        }

        if json {
            var o: [String: Any] = [
                "data": dataPath, "model": describe(model), "parameters": model.parameterCount,
                "optimizer": s.optimizer.rawValue, "lr": s.lr, "momentum": s.momentum, "weight_decay": s.weightDecay,
                "batch_size": s.batchSize, "seed": s.seed, "test_split": s.testSplit, "standardized": standardizer != nil,
                "classes": dataset.classNames, "epochs": run.epochsDone, "steps": run.stepsDone, "seconds": seconds,
                "history": run.history.map { r -> [String: Any] in
                    let score = regression ? "r2" : "accuracy"
                    return ["epoch": r.epoch, "train_loss": jsonNumber(r.trainLoss), "train_\(score)": jsonNumber(r.trainScore),
                            "test_loss": jsonNumber(r.testLoss), "test_\(score)": jsonNumber(r.testScore),
                            "steps": r.steps, "lr": r.lr, "seconds": r.seconds]
                },
                "train": evaluationJSON(trainEval),
                "test": testEval.map(evaluationJSON) ?? NSNull(),
                "task": objective.task.rawValue, "loss": objective.lossDescription,
                "world_size": group.size,
            ]
            if !regression { o["classes"] = dataset.classNames } else { o["target"] = dataset.labelName }
            if let save { o["saved"] = save; o["optimizer_state"] = Checkpoint.optimizerPath(for: save) }
            if let plot { o["plot"] = plot }
            try printJSON(o)
            return
        }
        print("final: train " + summary(trainEval, regression: regression))
        if let t = testEval { print("       test  " + summary(t, regression: regression)) }
        if !regression {
            let shown = testEval ?? trainEval
            print("confusion matrix (\(testEval != nil ? "test" : "train") rows; row: true class, column: predicted):")
            print(confusionText(shown.confusion, names: dataset.classNames), terminator: "")
        }
        print(String(format: "trained %d epochs (%d steps) in %.2f s", run.epochsDone - epochsBefore, run.stepsDone - stepsBefore, seconds))
        if let save {
            let type = saveDtype.map { " (\($0.storage.rawValue))" } ?? ""
            print("saved model to \(save)\(type), optimizer state to \(Checkpoint.optimizerPath(for: save))")
        }
        if let plot { print("wrote loss and \(regression ? "R^2" : "accuracy") plot to \(plot)") }
    }

    func describe(_ model: Sequential) -> String { ModelOptions.describe(model) }

    /// The launcher's process group (a single process without one). On ranks other than 0 standard
    /// output is silenced: rank 0 alone prints (errors still reach standard error from every rank).
    func startProcessGroup(batchSize: Int) throws -> ProcessGroup {
        let group: ProcessGroup
        do { group = try ProcessGroup.world() } catch { throw CLIError("\(error)") }
        guard group.isDistributed else { return group }
        if batchSize % group.size != 0 {
            throw CLIError("--batch-size \(batchSize) is the global batch and must be a multiple of the \(group.size) ranks (each takes batch-size / \(group.size) rows of it)")
        }
        if !group.isMain {
            fflush(nil)
            let devNull = open("/dev/null", O_WRONLY)
            if devNull >= 0 { dup2(devNull, STDOUT_FILENO); close(devNull) }
        }
        return group
    }

    /// `loss 0.0591, accuracy 98.00% (150 rows)`, or for a regression
    /// `loss 0.4012, R^2 0.5512, MAE 43.21, RMSE 54.10 (353 rows)`.
    func summary(_ e: Evaluation, regression: Bool) -> String {
        if let r = e.regression {
            return String(format: "loss %.4f, R^2 %.4f, MAE %.4g, RMSE %.4g (%d rows)", e.loss, r.r2, r.mae, r.rmse, e.count)
        }
        return String(format: "loss %.4f, accuracy %.2f%% (%d rows)", e.loss, e.accuracy * 100, e.count)
    }
}

/// `--save-dtype`: the element type of the saved parameters.
enum SaveDType: String, CaseIterable, ExpressibleByArgument {
    case f32, f16, bf16, f64

    init?(argument: String) { self.init(rawValue: argument.lowercased()) }

    var storage: SafeTensors.StorageType {
        switch self {
        case .f32: return .float32
        case .f16: return .float16
        case .bf16: return .bfloat16
        case .f64: return .float64
        }
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
    /// `acc` (shown as a percentage) or `R2`.
    let scoreName: String
    var barShown = false
    var lastDraw = Date.distantPast

    init(json: Bool, interactive: Bool, scoreName: String = "acc") {
        self.json = json; self.interactive = interactive; self.scoreName = scoreName
    }

    /// `acc 95.00%` or `R2 0.5512`.
    func score(_ v: Double) -> String {
        scoreName == "acc" ? String(format: "acc %.2f%%", v * 100) : String(format: "%@ %.4f", scoreName, v)
    }

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

    func progress(epoch: Int, of total: Int, batch: Int, batches: Int, loss: Double, score: Double, speed: Double, left: Double) {
        // Redraw at most 20 times a second (and at the end of an epoch): drawing is not free.
        let now = Date()
        guard batch == batches || now.timeIntervalSince(lastDraw) >= 0.05 else { return }
        lastDraw = now
        let width = 24
        let filled = batches > 0 ? width * batch / batches : width
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let text = String(format: "epoch %d/%d [%@] %d/%d loss %.4f %@ %.0f samples/s, %@ left",
                          epoch, total, bar, batch, batches, loss, self.score(score), speed, Output.duration(left))
        FileHandle.standardError.write(Data(("\r\u{1B}[2K" + text).utf8))
        barShown = true
    }

    func epoch(_ r: EpochRecord, of total: Int, speed: Double, left: Double) {
        var s = String(format: "epoch %d/%d  loss %.4f  %@", r.epoch, total, r.trainLoss, score(r.trainScore))
        if let tl = r.testLoss, let ts = r.testScore { s += String(format: "  test loss %.4f  test %@", tl, score(ts)) }
        s += String(format: "  %.0f samples/s  %@ left", speed, Output.duration(left))
        line(s)
    }
}
