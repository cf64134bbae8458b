import ArgumentParser
import Backprop
import Foundation

/// The model, data and optimizer options shared by `backprop train` and `backprop graph --mlp`,
/// so that `graph --mlp` draws the first step `train` would take with the same options.
///
/// Options are read as text and checked here, so that every bad value gives one line on stderr
/// and exit status 1.
struct ModelOptions: ParsableArguments {
    @Option(help: ArgumentHelp("CSV file: a header row, numeric features, and a class label column.", valueName: "file.csv"))
    var data: String?
    @Option(help: ArgumentHelp("The label column: a 0-based index (negative counts from the end) or a header name (default: the last column).", valueName: "index-or-name"))
    var labelColumn: String?
    @Option(help: ArgumentHelp("Hidden layer sizes, comma-separated, e.g. 64,32; 'none' for softmax regression (default 64).", valueName: "sizes"))
    var hidden: String?
    @Option(help: ArgumentHelp("Activation between layers: relu, tanh, sigmoid or gelu (default relu).", valueName: "name"))
    var activation: String?
    @Option(help: ArgumentHelp("sgd, adam or adamw (default adam).", valueName: "name"))
    var optimizer: String?
    @Option(help: ArgumentHelp("Learning rate (default 0.001 for adam/adamw, 0.1 for sgd).", valueName: "rate"))
    var lr: String?
    @Option(help: ArgumentHelp("SGD momentum (default 0).", valueName: "m"))
    var momentum: String?
    @Option(help: ArgumentHelp("Weight decay (default 0; 0.01 for adamw).", valueName: "wd"))
    var weightDecay: String?
    @Option(help: ArgumentHelp("Rows per mini-batch; 0 for full-batch (default 32).", valueName: "n"))
    var batchSize: String?
    @Option(help: ArgumentHelp("Seed of the split, the initial weights and the shuffling (default 0).", valueName: "n"))
    var seed: String?
    @Option(help: ArgumentHelp("Fraction of rows held out for testing, in [0, 1) (default 0.2).", valueName: "fraction"))
    var testSplit: String?
    @Flag(help: "Standardize features with the mean and std of the training part.")
    var standardize = false
    @Flag(help: "Keep the rows in file order within each epoch.")
    var noShuffle = false
    @Option(name: .customLong("init"), help: ArgumentHelp("Start from the parameters in this safetensors file (e.g. saved from PyTorch).", valueName: "file.safetensors"))
    var initFile: String?
    @Flag(help: "Compute in float64 instead of float32.")
    var float64 = false

    var dtype: DType { float64 ? .float64 : .float32 }

    /// The checked values of the options, with the defaults filled in.
    struct Settings {
        var hidden: [Int]
        var activation: Activation
        var optimizer: String
        var lr: Double
        var momentum: Double
        var weightDecay: Double
        var batchSize: Int
        var seed: UInt64
        var testSplit: Double
        var standardize: Bool
        var labelColumn: String?
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

    func number<T: LosslessStringConvertible>(_ flag: String, _ text: String?, _ what: String) throws -> T? {
        guard let text else { return nil }
        guard let v = T(text.trimmingCharacters(in: .whitespaces)) else { throw CLIError("\(flag) must be \(what), got '\(text)'") }
        return v
    }

    func parseHidden(_ text: String) throws -> [Int] {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.isEmpty || t == "none" { return [] }
        return try t.split(separator: ",", omittingEmptySubsequences: false).map { part in
            guard let n = Int(part.trimmingCharacters(in: .whitespaces)), n > 0 else {
                throw CLIError("--hidden must be positive layer sizes separated by commas (e.g. 64,32), got '\(text)'")
            }
            return n
        }
    }

    func parseActivation(_ text: String) throws -> Activation {
        guard let a = Activation(rawValue: text.lowercased()) else {
            throw CLIError("--activation must be one of relu, tanh, sigmoid, gelu; got '\(text)'")
        }
        return a
    }

    /// The settings; when resuming from the checkpoint at `resume` (with metadata `meta`), the
    /// checkpoint's values, which given options must agree with.
    func settings(resuming meta: [String: String]?, from resume: String? = nil) throws -> Settings {
        func fromCheckpoint(_ key: String) throws -> String {
            guard let v = meta?[key] else { throw CLIError("--resume \(resume ?? ""): the checkpoint has no '\(key)' metadata; was it written by backprop train --save?") }
            return v
        }
        func agree(_ flag: String, _ given: String?, _ key: String) throws -> String? {
            guard meta != nil else { return given }
            let saved = try fromCheckpoint(key)
            if let given, given != saved {
                throw CLIError("\(flag) \(given) differs from the checkpoint's \(saved); leave it out when resuming")
            }
            return saved
        }
        let hiddenText = try agree("--hidden", hidden.map { try parseHidden($0).map(String.init).joined(separator: ",") }, "hidden") ?? "64"
        let act = try parseActivation(try agree("--activation", activation?.lowercased(), "activation") ?? "relu")
        let opt = (try agree("--optimizer", optimizer?.lowercased(), "optimizer") ?? "adam")
        guard ["sgd", "adam", "adamw"].contains(opt) else { throw CLIError("--optimizer must be sgd, adam or adamw; got '\(opt)'") }
        let seedText = try agree("--seed", seed, "seed")
        let splitText = try agree("--test-split", testSplit.flatMap { Double($0) }.map { "\($0)" } ?? testSplit, "test_split")
        if meta != nil, standardize, meta?["standardized"] != "true" {
            throw CLIError("--standardize: the checkpoint was trained without standardization; leave it out when resuming")
        }
        let s = Settings(hidden: try parseHidden(hiddenText), activation: act, optimizer: opt,
                         lr: try number("--lr", lr, "a positive number") ?? Double(meta?["lr"] ?? "") ?? (opt == "sgd" ? 0.1 : 1e-3),
                         momentum: try number("--momentum", momentum, "a number in [0, 1)") ?? Double(meta?["momentum"] ?? "") ?? 0,
                         weightDecay: try number("--weight-decay", weightDecay, "a number >= 0") ?? Double(meta?["weight_decay"] ?? "") ?? (opt == "adamw" ? 0.01 : 0),
                         batchSize: try number("--batch-size", batchSize, "a whole number >= 0") ?? Int(meta?["batch_size"] ?? "") ?? 32,
                         seed: try number("--seed", seedText, "a whole number >= 0") ?? 0,
                         testSplit: try number("--test-split", splitText, "a fraction in [0, 1)") ?? 0.2,
                         standardize: meta.map { $0["standardized"] == "true" } ?? standardize,
                         labelColumn: labelColumn ?? meta?["label_column"])
        guard s.lr.isFinite, s.lr > 0 else { throw CLIError("--lr must be a positive number, got \(s.lr)") }
        guard s.momentum >= 0, s.momentum < 1 else { throw CLIError("--momentum must be in [0, 1), got \(s.momentum)") }
        guard s.weightDecay >= 0, s.weightDecay.isFinite else { throw CLIError("--weight-decay must be >= 0, got \(s.weightDecay)") }
        guard s.batchSize >= 0 else { throw CLIError("--batch-size must be 0 (full batch) or more, got \(s.batchSize)") }
        guard s.testSplit >= 0, s.testSplit < 1 else { throw CLIError("--test-split must be in [0, 1), got \(s.testSplit)") }
        if s.momentum != 0 && s.optimizer != "sgd" { throw CLIError("--momentum applies to --optimizer sgd only") }
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
            dataset = try CSVReader.read(data, labelColumn: s.labelColumn.map(LabelColumn.init) ?? .last, dtype: dtype)
        } else if let builtIn {
            dataset = builtIn
        } else {
            throw CLIError("--data FILE.csv is required (try data/iris.csv or data/digits.csv)")
        }
        guard dataset.classCount >= 2 else { throw CLIError("\(dataPath): the label column has only one class (\(dataset.classNames[0]))") }
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
        case "sgd": opt = SGD(params, lr: s.lr, momentum: s.momentum, weightDecay: s.weightDecay)
        case "adamw": opt = AdamW(params, lr: s.lr, weightDecay: s.weightDecay)
        default: opt = Adam(params, lr: s.lr, weightDecay: s.weightDecay)
        }
        if let checkpoint {
            do { try opt.load(stateDict: checkpoint.optimizerState) } catch { throw CLIError("--resume \(resume ?? ""): \(error)") }
        }
        return Setup(settings: s, dataset: dataset, train: trainPart, test: testPart, standardizer: standardizer,
                     model: model, optimizer: opt)
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
