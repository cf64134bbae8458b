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
    @Option(help: ArgumentHelp("CSV file: a header row, numeric features, and a class label column.", valueName: "file.csv"))
    var data: String?
    @Option(help: ArgumentHelp("The label column: a 0-based index (negative counts from the end) or a header name (default: the last column).", valueName: "index-or-name"))
    var labelColumn: LabelColumn?
    @Option(help: ArgumentHelp("Hidden layer sizes, comma-separated, e.g. 64,32; 'none' for softmax regression (default 64).", valueName: "sizes"),
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
    @Flag(help: "Standardize features with the mean and std of the training part.")
    var standardize = false
    @Flag(help: "Keep the rows in file order within each epoch.")
    var noShuffle = false
    @Option(name: .customLong("init"), help: ArgumentHelp("Start from the parameters in this safetensors file (e.g. saved from PyTorch).", valueName: "file.safetensors"))
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
    }

    /// Everything a training run starts from: the data (split and standardized), the model and its optimizer.
    struct Setup {
        var settings: Settings
        var dataset: Dataset
        var train: Dataset
        var test: Dataset
        var standardizer: Standardizer?
        var model: Sequential
        var optimizer: any Optimizer
    }

    /// The settings; when resuming from the checkpoint at `resume` (with metadata `meta`), the
    /// checkpoint's values, which given options must agree with. Values from the checkpoint are
    /// checked as strictly as flags, and a bad one names the file and its metadata key.
    func settings(resuming meta: [String: String]?, from resume: String? = nil) throws -> Settings {
        let saved = CheckpointMetadata(meta, path: resume ?? "")
        func agree<T: Equatable>(_ flag: String, _ given: T?, _ key: String, _ show: (T) -> String,
                                 _ what: String, _ parse: (String) -> T?) throws -> T? {
            guard let value = try saved.required(key, what, parse) else { return given }
            if let given, given != value {
                throw CLIError("\(flag) \(show(given)) differs from the checkpoint's \(show(value)); leave it out when resuming")
            }
            return value
        }
        let hidden = try agree("--hidden", hidden, "hidden", HiddenSizes.text, "layer sizes like 64,32") { try? HiddenSizes.parse($0) } ?? [64]
        let activation = try agree("--activation", activation, "activation", \.rawValue, "an activation name") { Activation(argument: $0) } ?? .relu
        let optimizer = try agree("--optimizer", optimizer, "optimizer", \.rawValue, "sgd, adam or adamw") { OptimizerName(argument: $0) } ?? .adam
        let seed = try agree("--seed", seed, "seed", \.description, "a whole number >= 0") { UInt64($0) } ?? 0
        let testSplit = try agree("--test-split", testSplit, "test_split", \.description, "a fraction in [0, 1)") {
            Double($0).flatMap { $0 >= 0 && $0 < 1 ? $0 : nil }
        } ?? 0.2
        if meta != nil, standardize, meta?["standardized"] != "true" {
            throw CLIError("--standardize: the checkpoint was trained without standardization; leave it out when resuming")
        }
        func positive(_ text: String) -> Double? { Double(text).flatMap { $0.isFinite && $0 > 0 ? $0 : nil } }
        let s = Settings(
            hidden: hidden, activation: activation, optimizer: optimizer,
            lr: try lr ?? saved.optional("lr", "a positive number", positive) ?? (optimizer == .sgd ? 0.1 : 1e-3),
            momentum: try momentum ?? saved.optional("momentum", "a number in [0, 1)") { Double($0).flatMap { $0 >= 0 && $0 < 1 ? $0 : nil } } ?? 0,
            weightDecay: try weightDecay ?? saved.optional("weight_decay", "a number >= 0") { Double($0).flatMap { $0 >= 0 && $0.isFinite ? $0 : nil } }
                ?? (optimizer == .adamw ? 0.01 : 0),
            batchSize: try batchSize ?? saved.optional("batch_size", "a whole number >= 0") { Int($0).flatMap { $0 >= 0 ? $0 : nil } } ?? 32,
            seed: seed, testSplit: testSplit,
            standardize: meta.map { $0["standardized"] == "true" } ?? standardize,
            labelColumn: labelColumn ?? meta?["label_column"].map(LabelColumn.init))
        guard s.lr > 0 else { throw CLIError("--lr must be a positive number, got \(s.lr)") }
        if s.momentum != 0 && s.optimizer != .sgd { throw CLIError("--momentum applies to --optimizer sgd only") }
        return s
    }

    /// Reads the data (from `--data`, or `builtIn` when there is no --data), splits and standardizes it, builds
    /// the model (from --init or the checkpoint `resume` when given) and its optimizer (with the
    /// checkpoint's state), as `backprop train` does before its first step.
    func setup(checkpoint: Checkpoint? = nil, resume: String? = nil, builtIn: Dataset? = nil) throws -> Setup {
        let s = try settings(resuming: checkpoint?.metadata, from: resume)
        let dataPath = data ?? "(built-in example)"
        let dataset: Dataset
        if let data {
            dataset = try CSVReader.read(data, labelColumn: s.labelColumn ?? .last, dtype: dtype)
        } else if let builtIn {
            dataset = builtIn
        } else {
            throw CLIError("--data FILE.csv is required (try data/iris.csv or data/digits.csv)")
        }
        guard dataset.classCount >= 2 else { throw CLIError("\(dataPath): the label column has only one class (\(dataset.classNames[0]))") }
        let parameterCount = Self.parameterCount(inputs: dataset.featureCount, hidden: s.hidden, outputs: dataset.classCount)
        guard let parameterCount, parameterCount <= Self.maxParameters else {
            let count = parameterCount.map { "\($0) parameters" } ?? "more parameters than an Int counts"
            throw CLIError("--hidden \(HiddenSizes.text(s.hidden)): the model of \(dataset.featureCount) inputs and \(dataset.classCount) classes would have \(count), more than the \(Self.maxParameters) this command builds")
        }
        var (trainPart, testPart) = dataset.split(testFraction: s.testSplit, seed: s.seed)
        guard trainPart.count > 0 else { throw CLIError("--test-split \(s.testSplit) leaves no training rows of \(dataset.count)") }
        var standardizer: Standardizer? = nil
        if let checkpoint {
            if let saved = checkpoint.metadata["class_names"], saved != dataset.classNames.joined(separator: ",") {
                throw CLIError("--resume: the checkpoint was trained on classes \(saved), \(dataPath) has \(dataset.classNames.joined(separator: ","))")
            }
            standardizer = checkpoint.standardizer
            if s.standardize && standardizer == nil { throw CLIError("--resume: the checkpoint has no standardizer tensors") }
        } else if s.standardize {
            standardizer = Standardizer(fitting: trainPart.features)
        }
        if let st = standardizer {
            guard st.mean.count == dataset.featureCount else {
                throw CLIError("--resume: the checkpoint standardizes \(st.mean.count) features, \(dataPath) has \(dataset.featureCount)")
            }
            trainPart = st.transform(trainPart)
            testPart = st.transform(testPart)
        }

        var generator = RandomGenerator(seed: s.seed)
        let model = makeMLP(inputs: dataset.featureCount, hidden: s.hidden, outputs: dataset.classCount,
                            activation: s.activation, dtype: dtype, using: &generator)
        if let path = initFile ?? resume {
            let flag = initFile != nil ? "--init" : "--resume"
            do {
                let state = try checkpoint?.modelState ?? Checkpoint.read(path).modelState
                try model.load(stateDict: state)
            } catch {
                throw CLIError("\(flag) \(path): \(error) (model: \(ModelOptions.describe(model)))")
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
            do { try opt.load(stateDict: checkpoint.optimizerState) } catch { throw CLIError("--resume \(resume ?? ""): \(error)") }
        }
        return Setup(settings: s, dataset: dataset, train: trainPart, test: testPart, standardizer: standardizer,
                     model: model, optimizer: opt)
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

/// The `__metadata__` strings of a checkpoint given with `--resume`, read as strictly as flags:
/// a value that does not parse names the file and the key instead of being used or ignored.
struct CheckpointMetadata {
    let meta: [String: String]?
    let path: String

    init(_ meta: [String: String]?, path: String) { self.meta = meta; self.path = path }

    /// The value of `key` (`what` it must be), or nil when there is no checkpoint; throws when the
    /// checkpoint lacks the key or its value does not parse.
    func required<T>(_ key: String, _ what: String, _ parse: (String) -> T?) throws -> T? {
        guard let meta else { return nil }
        guard meta[key] != nil else {
            throw CLIError("--resume \(path): the checkpoint has no '\(key)' metadata; was it written by backprop train --save?")
        }
        return try optional(key, what, parse)
    }

    /// The value of `key`, or nil when there is no checkpoint or it lacks the key; throws when the
    /// value does not parse.
    func optional<T>(_ key: String, _ what: String, _ parse: (String) -> T?) throws -> T? {
        guard let text = meta?[key] else { return nil }
        guard let value = parse(text) else {
            throw CLIError("--resume \(path): the checkpoint's '\(key)' metadata must be \(what), got '\(text)'")
        }
        return value
    }
}
