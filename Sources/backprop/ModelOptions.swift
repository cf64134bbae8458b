import ArgumentParser
import Backprop
import Foundation

/// The optimizers `backprop train` builds.
enum OptimizerName: String, CaseIterable, ExpressibleByArgument {
    case sgd, adam, adamw

    init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

extension Activation: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

extension LabelColumn: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }

    /// The text `LabelColumn(_:)` reads back (nil for `.last`), as a checkpoint stores it.
    var text: String? {
        switch self {
        case .last: return nil
        case .index(let i): return String(i)
        case .name(let n): return n
        }
    }
}

/// Hidden layer sizes as `--hidden` and a checkpoint's `hidden` write them: `64,32`, or `none`
/// (or nothing) for no hidden layer.
enum HiddenSizes {
    /// The largest layer a size may ask for; `ModelOptions.maxParameters` bounds the whole model.
    static let maxSize = 1 << 24

    static func parse(_ text: String) throws -> [Int] {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.isEmpty || t == "none" { return [] }
        return try t.split(separator: ",", omittingEmptySubsequences: false).map { part in
            guard let n = Int(part.trimmingCharacters(in: .whitespaces)), n > 0, n <= maxSize else {
                throw CLIError("give layer sizes from 1 to \(maxSize) separated by commas (e.g. 64,32), or none")
            }
            return n
        }
    }

    static func text(_ sizes: [Int]) -> String { sizes.isEmpty ? "none" : sizes.map(String.init).joined(separator: ",") }
}

/// The model, data and optimizer options shared by `backprop train` and `backprop graph --mlp`,
/// so that `graph --mlp` draws the first step `train` would take with the same options.
///
/// ArgumentParser reads each value as its type (a malformed one names its flag); `validate()`
/// checks the ranges that do not depend on a checkpoint, `settings` the rest. Every bad value
/// gives one line on stderr and exit status 1.
struct ModelOptions: ParsableArguments {
    @Option(help: ArgumentHelp("CSV file: a header row, numeric features, and a label (or regression target) column.", valueName: "file.csv"))
    var data: String?
    @Option(help: ArgumentHelp("classification (a class label column, cross-entropy) or regression (a numeric target column) (default classification).", valueName: "task"))
    var task: Task?
    @Option(name: [.customLong("label-column"), .customLong("target-column")],
            help: ArgumentHelp("The label (or target) column: a 0-based index (negative counts from the end) or a header name (default: the last column).", valueName: "index-or-name"))
    var labelColumn: LabelColumn?
    @Option(help: ArgumentHelp("The regression loss: mse, l1 or huber (default mse).", valueName: "name"))
    var loss: RegressionLossName?
    @Option(help: ArgumentHelp("The Huber loss's delta, > 0 (default 1).", valueName: "delta"))
    var huberDelta: Double?
    @Option(help: ArgumentHelp("Hidden layer sizes, comma-separated, e.g. 64,32; 'none' for softmax (or linear) regression (default 64).", valueName: "sizes"),
            transform: { try HiddenSizes.parse($0) })
    var hidden: [Int]?
    @Option(help: ArgumentHelp("Activation between layers (default relu).", valueName: "name"))
    var activation: Activation?
    @Option(help: ArgumentHelp("The optimizer (default adam).", valueName: "name"))
    var optimizer: OptimizerName?
    @Option(help: ArgumentHelp("Learning rate (default 0.001 for adam/adamw, 0.1 for sgd).", valueName: "rate"))
    var lr: Double?
    @Option(help: ArgumentHelp("SGD momentum, in [0, 1) (default 0).", valueName: "m"))
    var momentum: Double?
    @Option(help: ArgumentHelp("Weight decay, >= 0 (default 0; 0.01 for adamw).", valueName: "wd"))
    var weightDecay: Double?
    @Option(help: ArgumentHelp("Rows per mini-batch; 0 for full-batch (default 32).", valueName: "n"))
    var batchSize: Int?
    @Option(help: ArgumentHelp("Seed of the split, the initial weights and the shuffling (default 0).", valueName: "n"))
    var seed: UInt64?
    @Option(help: ArgumentHelp("Fraction of rows held out for testing, in [0, 1) (default 0.2).", valueName: "fraction"))
    var testSplit: Double?
    @Flag(help: "Standardize features (and a regression's target) with the mean and std of the training part.")
    var standardize = false
    @Flag(help: "Keep the rows in file order within each epoch.")
    var noShuffle = false
    @Option(name: .customLong("init"), help: ArgumentHelp("Start from the parameters in this safetensors file (e.g. saved from PyTorch); its architecture and standardization are used when it records them.", valueName: "file.safetensors"))
    var initFile: String?
    @Flag(help: "Compute in float64 instead of float32.")
    var float64 = false

    var dtype: DType { float64 ? .float64 : .float32 }

    /// The most parameters a model built from these options may have (8 GiB of float32): past it
    /// the allocation, not the user, would decide how the run ends.
    static let maxParameters = 1 << 31

    /// The ranges every use of these options needs (`--lr` is also the notebook's, in `graph`,
    /// where it may be negative; `settings` requires it positive for training).
    func validate() throws {
        if let lr, !lr.isFinite { throw ValidationError("--lr must be a finite number, got \(lr)") }
        if let m = momentum, !(m >= 0 && m < 1) { throw ValidationError("--momentum must be in [0, 1), got \(m)") }
        if let wd = weightDecay, !(wd >= 0 && wd.isFinite) { throw ValidationError("--weight-decay must be a finite number >= 0, got \(wd)") }
        if let b = batchSize, b < 0 { throw ValidationError("--batch-size must be 0 (full batch) or more, got \(b)") }
        if let t = testSplit, !(t >= 0 && t < 1) { throw ValidationError("--test-split must be in [0, 1), got \(t)") }
        if let d = huberDelta, !(d > 0 && d.isFinite) { throw ValidationError("--huber-delta must be a finite number > 0, got \(d)") }
    }

    /// The checked values of the options, with the defaults filled in.
    struct Settings {
        var hidden: [Int]
        var activation: Activation
        var optimizer: OptimizerName
        var lr: Double
        var momentum: Double
        var weightDecay: Double
        var batchSize: Int
        var seed: UInt64
        var testSplit: Double
        var standardize: Bool
        var labelColumn: LabelColumn?
        var objective: Objective
    }

    /// Everything a training run starts from: the data (split and standardized), the model and its optimizer.
    struct Setup {
        var settings: Settings
        var dataset: Dataset
        var train: Dataset
        var test: Dataset
        var standardizer: Standardizer?
        var targetScaler: Standardizer?
        /// Where the standardization came from, when --init is given: its file, fitted, or none.
        var standardizationNote: String?
        var model: Sequential
        var optimizer: any Optimizer
        /// The model file's description of the model these settings build.
        var card: ModelCard
    }

    /// The settings; when resuming (`saved` holds the checkpoint's strings) the checkpoint's values,
    /// which given options must agree with; with `--init` of a model file that has a card, its
    /// architecture and task the same way. Values from a file are checked as strictly as flags,
    /// and a bad one names the file and its metadata key.
    func settings(from saved: CheckpointMetadata) throws -> Settings {
        // The model: from a checkpoint, or from a model file given to --init that describes it.
        let task = try saved.agreeing("--task", task, "task", \.rawValue, "classification or regression", required: true) {
            Task(rawValue: $0)
        } ?? .classification
        let hidden = try saved.agreeing("--hidden", hidden, "hidden", HiddenSizes.text, "layer sizes like 64,32", required: true) {
            try? HiddenSizes.parse($0)
        } ?? [64]
        let activation = try saved.agreeing("--activation", activation, "activation", \.rawValue, "an activation name", required: true) {
            Activation(argument: $0)
        } ?? .relu
        // The rest of the run: from a checkpoint only.
        let run = saved.resuming ? saved : CheckpointMetadata(nil, path: "")
        let optimizer = try run.agreeing("--optimizer", optimizer, "optimizer", \.rawValue, "sgd, adam or adamw", required: true) {
            OptimizerName(argument: $0)
        } ?? .adam
        let seed = try run.agreeing("--seed", seed, "seed", \.description, "a whole number >= 0", required: true) { UInt64($0) } ?? 0
        let testSplit = try run.agreeing("--test-split", testSplit, "test_split", \.description, "a fraction in [0, 1)", required: true) {
            Double($0).flatMap { $0 >= 0 && $0 < 1 ? $0 : nil }
        } ?? 0.2
        if saved.resuming, standardize, saved.meta?["standardized"] != "true" {
            throw CLIError("--standardize: the checkpoint was trained without standardization; leave it out when resuming")
        }
        let objective = try self.objective(task: task, run: run)
        func positive(_ text: String) -> Double? { Double(text).flatMap { $0.isFinite && $0 > 0 ? $0 : nil } }
        let s = Settings(
            hidden: hidden, activation: activation, optimizer: optimizer,
            lr: try lr ?? run.optional("lr", "a positive number", positive) ?? (optimizer == .sgd ? 0.1 : 1e-3),
            momentum: try momentum ?? run.optional("momentum", "a number in [0, 1)") { Double($0).flatMap { $0 >= 0 && $0 < 1 ? $0 : nil } } ?? 0,
            weightDecay: try weightDecay ?? run.optional("weight_decay", "a number >= 0") { Double($0).flatMap { $0 >= 0 && $0.isFinite ? $0 : nil } }
                ?? (optimizer == .adamw ? 0.01 : 0),
            batchSize: try batchSize ?? run.optional("batch_size", "a whole number >= 0") { Int($0).flatMap { $0 >= 0 ? $0 : nil } } ?? 32,
            seed: seed, testSplit: testSplit,
            standardize: saved.resuming ? saved.meta?["standardized"] == "true" : standardize,
            labelColumn: labelColumn ?? (saved.resuming ? saved.meta?["label_column"].map(LabelColumn.init) : nil),
            objective: objective)
        guard s.lr > 0 else { throw CLIError("--lr must be a positive number, got \(s.lr)") }
        if s.momentum != 0 && s.optimizer != .sgd { throw CLIError("--momentum applies to --optimizer sgd only") }
        return s
    }

    /// The loss: cross-entropy for a classifier (where --loss and --huber-delta do not apply), the
    /// regression loss otherwise (a checkpoint's, which given flags must agree with).
    func objective(task: Task, run: CheckpointMetadata) throws -> Objective {
        guard task == .regression else {
            if let loss { throw CLIError("--loss \(loss.rawValue) applies to --task regression (a classifier is trained with cross-entropy)") }
            if huberDelta != nil { throw CLIError("--huber-delta applies to --task regression --loss huber") }
            return .classification
        }
        let name = try run.agreeing("--loss", loss, "loss", \.rawValue, "mse, l1 or huber") { RegressionLossName(rawValue: $0) } ?? .mse
        if huberDelta != nil && name != .huber { throw CLIError("--huber-delta applies to --loss huber") }
        switch name {
        case .mse: return .regression(.mse)
        case .l1: return .regression(.l1)
        case .huber:
            let delta = try run.agreeing("--huber-delta", huberDelta, "huber_delta", \.description, "a number > 0") {
                Double($0).flatMap { $0 > 0 && $0.isFinite ? $0 : nil }
            } ?? 1
            return .regression(.huber(delta: delta))
        }
    }

    /// Reads the data (from `--data`, or `builtIn` when there is no --data), splits and standardizes it, builds
    /// the model (from --init or the checkpoint when given) and its optimizer (with the
    /// checkpoint's state), as `backprop train` does before its first step.
    func setup(checkpoint: Checkpoint? = nil, resume: String? = nil, builtIn: Dataset? = nil) throws -> Setup {
        let initial = try initFile.map { path -> SavedModel in
            do { return try SavedModel.read(path) } catch { throw CLIError(flag: "--init", path: path, error) }
        }
        let source = checkpoint?.model ?? initial
        let card = source?.card
        let saved: CheckpointMetadata
        if let checkpoint, let resume {
            var meta = checkpoint.training.merging(checkpoint.model.metadata) { run, _ in run }
            meta["standardized"] = card?.inputScaler != nil ? "true" : "false"
            saved = CheckpointMetadata(meta, path: resume)
        } else if let card, let initFile {
            saved = CheckpointMetadata(card.metadata, path: initFile, flag: "--init", resuming: false)
        } else {
            saved = CheckpointMetadata(nil, path: "")
        }
        let s = try settings(from: saved)
        let task = s.objective.task
        let dataPath = data ?? "(built-in example)"
        let dataset: Dataset
        if let data {
            dataset = try CSVReader.read(data, labelColumn: s.labelColumn ?? .last, task: task, dtype: dtype)
        } else if let builtIn, task == .classification {
            dataset = builtIn
        } else {
            throw CLIError("--data FILE.csv is required (try data/iris.csv or data/digits.csv\(task == .regression ? "; data/diabetes.csv for a regression" : ""))")
        }
        if task == .classification {
            guard dataset.classCount >= 2 else { throw CLIError("\(dataPath): the label column has only one class (\(dataset.classNames[0]))") }
        }
        let outputs = task == .classification ? dataset.classCount : 1
        let parameterCount = Self.parameterCount(inputs: dataset.featureCount, hidden: s.hidden, outputs: outputs)
        guard let parameterCount, parameterCount <= Self.maxParameters else {
            let count = parameterCount.map { "\($0) parameters" } ?? "more parameters than an Int counts"
            let what = task == .classification ? "\(dataset.classCount) classes" : "1 output"
            throw CLIError("--hidden \(HiddenSizes.text(s.hidden)): the model of \(dataset.featureCount) inputs and \(what) would have \(count), more than the \(Self.maxParameters) this command builds")
        }
        var (trainPart, testPart) = dataset.split(testFraction: s.testSplit, seed: s.seed)
        guard trainPart.count > 0 else { throw CLIError("--test-split \(s.testSplit) leaves no training rows of \(dataset.count)") }
        let flag = checkpoint != nil ? "--resume" : "--init"
        let filePath = resume ?? initFile ?? ""
        if let card {
            if card.task == .classification, card.classNames != dataset.classNames {
                throw CLIError("\(flag) \(filePath): the model was trained on classes \(card.classNames.joined(separator: ",")), \(dataPath) has \(dataset.classNames.joined(separator: ","))")
            }
            guard card.inputs == dataset.featureCount else {
                throw CLIError("\(flag) \(filePath): the model takes \(card.inputs) features, \(dataPath) has \(dataset.featureCount)")
            }
        }
        var standardizer: Standardizer? = nil, targetScaler: Standardizer? = nil
        var note: String? = nil
        if let card, card.inputScaler != nil || checkpoint != nil {
            // A checkpoint's standardization, or the one a model file given to --init was trained with.
            standardizer = card.inputScaler
            targetScaler = card.targetScaler
            if s.standardize && standardizer == nil { throw CLIError("--resume: the checkpoint has no standardization") }
            if checkpoint == nil { note = "standardized with the statistics in \(filePath)" }
        } else if s.standardize {
            standardizer = Standardizer(fitting: trainPart.features)
            if task == .regression { targetScaler = Standardizer(fitting: trainPart.labels.reshape([trainPart.count, 1])) }
            if let initFile { note = "\(initFile) has no standardization: fitted on the training rows" }
        } else if let initFile {
            note = "\(initFile) has no standardization: features used as they are"
        }
        if let st = standardizer {
            trainPart = st.transform(trainPart, target: targetScaler)
            testPart = st.transform(testPart, target: targetScaler)
        }

        var generator = RandomGenerator(seed: s.seed)
        let model = makeMLP(inputs: dataset.featureCount, hidden: s.hidden, outputs: outputs,
                            activation: s.activation, dtype: dtype, using: &generator)
        if let source {
            do { try model.load(stateDict: source.stateDictionary) } catch {
                throw CLIError("\(flag) \(filePath): \(error) (model: \(ModelOptions.describe(model)))")
            }
        }
        let params = model.parameters()
        let opt: any Optimizer
        switch s.optimizer {
        case .sgd: opt = SGD(params, lr: s.lr, momentum: s.momentum, weightDecay: s.weightDecay)
        case .adamw: opt = AdamW(params, lr: s.lr, weightDecay: s.weightDecay)
        case .adam: opt = Adam(params, lr: s.lr, weightDecay: s.weightDecay)
        }
        if let checkpoint {
            do { try opt.load(stateDict: checkpoint.optimizerState) } catch {
                throw CLIError("--resume \(Checkpoint.optimizerPath(for: resume ?? "")): \(error)")
            }
        }
        let newCard = ModelCard(data: dataset, hidden: s.hidden, activation: s.activation, inputScaler: standardizer, targetScaler: targetScaler)
        return Setup(settings: s, dataset: dataset, train: trainPart, test: testPart, standardizer: standardizer,
                     targetScaler: targetScaler, standardizationNote: note, model: model, optimizer: opt, card: newCard)
    }

    /// The parameter count of `makeMLP` with these sizes, or nil when it overflows an Int.
    static func parameterCount(inputs: Int, hidden: [Int], outputs: Int) -> Int? {
        var total = 0, width = inputs
        for h in hidden + [outputs] {
            let (weights, o1) = width.multipliedReportingOverflow(by: h)
            let (layer, o2) = weights.addingReportingOverflow(h)
            let (sum, o3) = total.addingReportingOverflow(layer)
            guard !o1, !o2, !o3 else { return nil }
            total = sum
            width = h
        }
        return total
    }

    /// `MLP 4-64-3 (ReLU)`.
    static func describe(_ model: Sequential) -> String {
        let linears = model.layers.compactMap { $0 as? Linear }
        guard let first = linears.first else { return "empty" }
        let sizes = [first.inFeatures] + linears.map(\.outFeatures)
        let act = model.layers.first { !($0 is Linear) }.map { String(describing: type(of: $0)) }
        return "MLP " + sizes.map(String.init).joined(separator: "-") + (act.map { " (\($0))" } ?? " (linear)")
    }
}

/// The regression losses of `--loss`.
enum RegressionLossName: String, CaseIterable, ExpressibleByArgument {
    case mse, l1, huber

    init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

extension Task: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

/// The `__metadata__` strings of a file whose settings a run takes: a checkpoint given with
/// `--resume` (both files' strings), or a model file given with `--init` (its card's). They are read
/// as strictly as flags: a value that does not parse names the file and the key instead of being
/// used or ignored.
struct CheckpointMetadata {
    let meta: [String: String]?
    let path: String
    /// The flag that named the file: `--resume` or `--init`.
    let flag: String
    /// Whether the whole run continues from it (else only the model's architecture is taken).
    let resuming: Bool

    init(_ meta: [String: String]?, path: String, flag: String = "--resume", resuming: Bool = true) {
        self.meta = meta; self.path = path; self.flag = flag; self.resuming = resuming && meta != nil
    }

    /// How messages name the file, and what the user is doing with it.
    var what: String { flag == "--resume" ? "checkpoint" : "model file" }
    var using: String { flag == "--resume" ? "resuming" : "starting from it" }

    /// The value of `key` (`what` it must be), or nil when there is no file; throws when the
    /// file lacks the key or its value does not parse.
    func required<T>(_ key: String, _ what: String, _ parse: (String) -> T?) throws -> T? {
        guard let meta else { return nil }
        guard meta[key] != nil else {
            throw CLIError("\(flag) \(path): the \(self.what) has no '\(key)' metadata; was it written by backprop train --save?")
        }
        return try optional(key, what, parse)
    }

    /// The value of `key`, or nil when there is no file or it lacks the key; throws when the
    /// value does not parse.
    func optional<T>(_ key: String, _ what: String, _ parse: (String) -> T?) throws -> T? {
        guard let text = meta?[key] else { return nil }
        guard let value = parse(text) else {
            throw CLIError("\(flag) \(path): the \(self.what)'s '\(key)' metadata must be \(what), got '\(text)'")
        }
        return value
    }

    /// The file's value of `key` when it has one (a given flag must agree with it), else `given`;
    /// with `required`, a file without the key is an error.
    func agreeing<T: Equatable>(_ flagName: String, _ given: T?, _ key: String, _ show: (T) -> String,
                                _ what: String, required: Bool = false, _ parse: (String) -> T?) throws -> T? {
        guard let value = try required ? self.required(key, what, parse) : optional(key, what, parse) else { return given }
        if let given, given != value {
            throw CLIError("\(flagName) \(show(given)) differs from the \(self.what)'s \(show(value)); leave it out when \(using)")
        }
        return value
    }
}
