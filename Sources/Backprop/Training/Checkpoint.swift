import Foundation

/// What a model file says about its model, enough to rebuild and use it: the MLP's layer sizes and
/// activation, the task, the names of its inputs and outputs, and the standardization of its inputs
/// (and of a regression's target). It is kept as strings in the safetensors `__metadata__`, beside
/// the parameters, so that the model file alone is enough to predict.
///
/// The keys: `format` (`backprop-mlp`), `task`, `inputs`, `hidden` (`16` or `64,32`, `none`),
/// `outputs`, `activation`, `feature_names`, `class_names` (JSON arrays of strings), `label_name`,
/// `input_mean` and `input_std` (JSON arrays of numbers) when the inputs were standardized,
/// `target_mean` and `target_std` when a regression's target was, and `pytorch_module`, the
/// PyTorch module the parameters load into.
public struct ModelCard: Sendable {
    /// Classification or regression.
    public var task: Task
    /// The number of input features.
    public var inputs: Int
    /// The hidden layer sizes (empty for softmax or linear regression).
    public var hidden: [Int]
    /// The number of outputs: one logit per class, or 1 for a regression.
    public var outputs: Int
    /// The activation between the layers.
    public var activation: Activation
    /// The input columns, in the order the model takes them.
    public var featureNames: [String]
    /// The class of each output (empty for a regression).
    public var classNames: [String]
    /// The name of the label (or target) column.
    public var labelName: String
    /// The standardization of the inputs, when the model was trained on standardized inputs.
    public var inputScaler: Standardizer?
    /// The standardization of a regression's target: the model predicts standardized values.
    public var targetScaler: Standardizer?

    /// A card for an MLP of `hidden` layers on the data set `data`'s columns.
    public init(data: Dataset, hidden: [Int], activation: Activation, inputScaler: Standardizer? = nil,
                targetScaler: Standardizer? = nil) {
        task = data.task
        inputs = data.featureCount
        self.hidden = hidden
        outputs = data.task == .classification ? data.classCount : 1
        self.activation = activation
        featureNames = data.featureNames
        classNames = data.classNames
        labelName = data.labelName
        self.inputScaler = inputScaler
        self.targetScaler = targetScaler
    }

    /// A new MLP of this shape (initialized from `generator`, as `makeMLP` does).
    public func makeModel(dtype: DType = .float32, using generator: inout RandomGenerator) -> Sequential {
        makeMLP(inputs: inputs, hidden: hidden, outputs: outputs, activation: activation, dtype: dtype, using: &generator)
    }

    /// The PyTorch module the parameters load into:
    /// `torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))`.
    public var pytorchModule: String {
        let act: String
        switch activation {
        case .relu: act = "torch.nn.ReLU()"
        case .tanh: act = "torch.nn.Tanh()"
        case .sigmoid: act = "torch.nn.Sigmoid()"
        case .gelu: act = "torch.nn.GELU()"
        }
        var layers: [String] = []
        var width = inputs
        for h in hidden {
            layers.append("torch.nn.Linear(\(width), \(h))")
            layers.append(act)
            width = h
        }
        layers.append("torch.nn.Linear(\(width), \(outputs))")
        return "torch.nn.Sequential(\(layers.joined(separator: ", ")))"
    }

    static let format = "backprop-mlp"

    /// The card as `__metadata__` strings.
    public var metadata: [String: String] {
        var m: [String: String] = [
            "format": Self.format, "task": task.rawValue, "inputs": "\(inputs)",
            "hidden": hidden.isEmpty ? "none" : hidden.map(String.init).joined(separator: ","),
            "outputs": "\(outputs)", "activation": activation.rawValue, "pytorch_module": pytorchModule,
            "feature_names": MetadataText.strings(featureNames), "class_names": MetadataText.strings(classNames),
            "label_name": labelName,
        ]
        if let s = inputScaler {
            m["input_mean"] = MetadataText.numbers(s.mean.scalars)
            m["input_std"] = MetadataText.numbers(s.std.scalars)
        }
        if let s = targetScaler {
            m["target_mean"] = MetadataText.numbers(s.mean.scalars)
            m["target_std"] = MetadataText.numbers(s.std.scalars)
        }
        return m
    }

    /// The card in `metadata`, or nil when it has none (no `format` key: a file of parameters only,
    /// as PyTorch's `save_file` writes one); throws `DataError` naming `file` and the key when a
    /// value is missing or malformed.
    public static func from(metadata m: [String: String], file: String, dtype: DType = .float32) throws -> ModelCard? {
        guard let format = m["format"] else { return nil }
        func fail(_ key: String, _ what: String) -> DataError {
            DataError(file: file, "metadata '\(key)' must be \(what), got \(m[key].map { "'\($0)'" } ?? "nothing")")
        }
        guard format == Self.format else { throw fail("format", "'\(Self.format)'") }
        func value<T>(_ key: String, _ what: String, _ parse: (String) -> T?) throws -> T {
            guard let text = m[key], let v = parse(text) else { throw fail(key, what) }
            return v
        }
        let size = { (t: String) -> Int? in Int(t).flatMap { (1...(1 << 24)).contains($0) ? $0 : nil } }
        let task = try value("task", "classification or regression") { Task(rawValue: $0) }
        let inputs = try value("inputs", "a whole number from 1 to 2^24", size)
        let hidden = try value("hidden", "layer sizes like 64,32, or none") { t -> [Int]? in
            if t == "none" { return [] }
            let parts = t.split(separator: ",", omittingEmptySubsequences: false).map { size(String($0)) }
            return parts.contains(where: { $0 == nil }) ? nil : parts.map { $0! }
        }
        let outputs = try value("outputs", "a whole number from 1 to 2^24", size)
        let activation = try value("activation", Activation.allCases.map(\.rawValue).joined(separator: ", ")) { Activation(rawValue: $0) }
        let features = try value("feature_names", "a JSON array of \(inputs) strings") { t in
            MetadataText.parseStrings(t).flatMap { $0.count == inputs ? $0 : nil }
        }
        let classCount = task == .classification ? outputs : 0
        let classes = try value("class_names", "a JSON array of \(classCount) strings") { t in
            MetadataText.parseStrings(t).flatMap { $0.count == classCount ? $0 : nil }
        }
        if task == .regression && outputs != 1 { throw fail("outputs", "1 for a regression") }
        if task == .classification && outputs < 2 { throw fail("outputs", "at least 2 classes") }
        func scaler(_ prefix: String, count: Int) throws -> Standardizer? {
            let (meanKey, stdKey) = (prefix + "_mean", prefix + "_std")
            guard m[meanKey] != nil || m[stdKey] != nil else { return nil }
            let mean = try value(meanKey, "a JSON array of \(count) finite numbers") { t in
                MetadataText.parseNumbers(t).flatMap { $0.count == count && $0.allSatisfy(\.isFinite) ? $0 : nil }
            }
            let std = try value(stdKey, "a JSON array of \(count) positive finite numbers") { t in
                MetadataText.parseNumbers(t).flatMap { $0.count == count && $0.allSatisfy { $0.isFinite && $0 > 0 } ? $0 : nil }
            }
            return Standardizer(mean: Tensor(mean, shape: [count], dtype: dtype), std: Tensor(std, shape: [count], dtype: dtype))
        }
        var card = ModelCard(task: task, inputs: inputs, hidden: hidden, outputs: outputs, activation: activation,
                             featureNames: features, classNames: classes, labelName: m["label_name"] ?? "y")
        card.inputScaler = try scaler("input", count: inputs)
        card.targetScaler = task == .regression ? try scaler("target", count: 1) : nil
        return card
    }

    /// A card with every field given.
    public init(task: Task, inputs: Int, hidden: [Int], outputs: Int, activation: Activation, featureNames: [String],
                classNames: [String], labelName: String, inputScaler: Standardizer? = nil, targetScaler: Standardizer? = nil) {
        self.task = task; self.inputs = inputs; self.hidden = hidden; self.outputs = outputs; self.activation = activation
        self.featureNames = featureNames; self.classNames = classNames; self.labelName = labelName
        self.inputScaler = inputScaler; self.targetScaler = targetScaler
    }
}

/// A model file as PyTorch users keep one: exactly the module's `state_dict()` under PyTorch's
/// names, strictly loadable by `model.load_state_dict(safetensors.torch.load_file(path))`, and
/// the `ModelCard` (with any other strings) in the `__metadata__`.
public struct SavedModel: Sendable {
    /// The parameters by name, in the module's order.
    public var state: [(name: String, tensor: Tensor)]
    /// What the file says about the model; nil for a file without Backprop's metadata (one saved
    /// by PyTorch's `save_file`, say).
    public var card: ModelCard?
    /// Every `__metadata__` string, the card's among them.
    public var metadata: [String: String]
    /// The element type of each tensor in the file (empty for one not read from a file).
    public var storedTypes: [String: SafeTensors.StorageType]

    /// The file of `model`'s parameters, described by `card`, with `extra` metadata strings
    /// (which the card's keys override).
    public init(model: any Module, card: ModelCard, extra: [String: String] = [:]) {
        state = model.stateDict()
        self.card = card
        metadata = extra.merging(card.metadata) { _, cardValue in cardValue }
        storedTypes = [:]
    }

    /// Reads a model file: a safetensors file of parameters, with or without a model card.
    /// F16 and BF16 tensors are read into float32.
    public static func read(_ path: String) throws -> SavedModel {
        let c = try SafeTensors.read(path)
        let card = try ModelCard.from(metadata: c.metadata, file: path)
        return SavedModel(state: c.tensors, card: card, metadata: c.metadata, storedTypes: c.storedTypes)
    }

    init(state: [(name: String, tensor: Tensor)], card: ModelCard?, metadata: [String: String],
         storedTypes: [String: SafeTensors.StorageType]) {
        self.state = state; self.card = card; self.metadata = metadata; self.storedTypes = storedTypes
    }

    /// The parameters by name, as `Module.load(stateDict:)` takes them.
    public var stateDictionary: [String: Tensor] {
        Dictionary(state.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
    }

    /// Writes the file atomically (temporary file, then rename), the float tensors stored as
    /// `floatsAs` when given (F16, BF16, F32 or F64).
    public func write(to path: String, floatsAs: SafeTensors.StorageType? = nil) throws {
        try SafeTensors.write(state, metadata: metadata, floatsAs: floatsAs, to: path)
    }

    /// The model the card describes, with the file's parameters loaded strictly (every name and
    /// shape must fit), in `dtype`. Throws when the file has no card or its parameters do not fit.
    public func makeModel(dtype: DType = .float32) throws -> Sequential {
        guard let card else {
            throw ModuleLoadError(message: "the file has no model description (no 'format' metadata): it holds parameters only; build the module and load them with load(stateDict:)")
        }
        var g = RandomGenerator(seed: 0)
        let model = card.makeModel(dtype: dtype, using: &g)
        try model.load(stateDict: stateDictionary)
        return model
    }
}

/// A training checkpoint in two files, as Hugging Face's Trainer keeps `model.safetensors` and the
/// optimizer state apart: the model file (`SavedModel`: the parameters and the model card), and
/// beside it `<name>.optimizer.safetensors` with the optimizer state under PyTorch's names
/// (`state.0.exp_avg`, `state.0.step`, ...), PyTorch's `param_groups` as JSON in its
/// `__metadata__`, and the training run's settings (optimizer, learning rate, seed, split,
/// batch size, epoch and step counts) for `backprop train --resume`.
///
/// Both files carry the step count, so that a model file paired with another run's optimizer
/// state is caught when read.
public struct Checkpoint: Sendable {
    /// The model file.
    public var model: SavedModel
    /// The optimizer state by PyTorch's names (`state.0.exp_avg`, ...), as `Optimizer.stateDict()` gives it.
    public var optimizer: [(name: String, tensor: Tensor)]
    /// The optimizer file's strings: `optimizer`, `lr`, `param_groups`, `epoch`, `step`, `seed`, ...
    public var training: [String: String]

    /// A checkpoint of `model` (written with its `training` strings' `step`) and the optimizer state.
    public init(model: SavedModel, optimizer: [(name: String, tensor: Tensor)], training: [String: String]) {
        self.model = model; self.optimizer = optimizer; self.training = training
    }

    /// The optimizer state by name, as `Optimizer.load(stateDict:)` takes it.
    public var optimizerState: [String: Tensor] {
        Dictionary(optimizer.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
    }

    static let optimizerFormat = "backprop-optimizer"

    /// The optimizer file that belongs to the model file `modelPath`: `iris.safetensors` ->
    /// `iris.optimizer.safetensors`.
    public static func optimizerPath(for modelPath: String) -> String {
        let suffix = ".safetensors"
        let stem = modelPath.hasSuffix(suffix) ? String(modelPath.dropLast(suffix.count)) : modelPath
        return stem + ".optimizer" + suffix
    }

    /// Writes the optimizer file, then the model file, each atomically; the optimizer file's
    /// metadata gets `param_names` (the parameter of each state index, PyTorch's `params` order),
    /// the model file's the training run's `epoch` and `step`. Float tensors of the model file are
    /// stored as `floatsAs` when given (the optimizer state keeps its dtype, so a resumed run is exact).
    public func write(to modelPath: String, floatsAs: SafeTensors.StorageType? = nil) throws {
        var t = training
        t["format"] = Self.optimizerFormat
        t["param_names"] = MetadataText.strings(model.state.map(\.name))
        try SafeTensors.write(optimizer, metadata: t, to: Self.optimizerPath(for: modelPath))
        var m = model
        for key in ["epoch", "step"] { m.metadata[key] = training[key] }
        try m.write(to: modelPath, floatsAs: floatsAs)
    }

    /// Reads the model file at `modelPath` and the optimizer file beside it; throws `DataError`
    /// when the optimizer file is missing, is not one, or belongs to another step of training.
    public static func read(_ modelPath: String) throws -> Checkpoint {
        let model = try SavedModel.read(modelPath)
        let path = optimizerPath(for: modelPath)
        guard FileManager.default.fileExists(atPath: path) else {
            throw DataError(file: modelPath, "no optimizer state beside it (\(path) is missing)")
        }
        let o = try SafeTensors.read(path)
        guard o.metadata["format"] == optimizerFormat else {
            throw DataError(file: path, "not an optimizer file written by Backprop (no format '\(optimizerFormat)' metadata)")
        }
        if let a = model.metadata["step"], let b = o.metadata["step"], a != b {
            throw DataError(file: path, "holds the optimizer state of step \(b), but \(modelPath) was saved at step \(a)")
        }
        return Checkpoint(model: model, optimizer: o.tensors, training: o.metadata)
    }
}

/// Lists in metadata strings: JSON arrays of strings, and of numbers written so that they read back
/// exactly (Swift's shortest round-trip form, parsed with `Double(_:)`, not with a JSON parser
/// that may miss the last bit).
enum MetadataText {
    static func strings(_ values: [String]) -> String {
        "[" + values.map(SafeTensors.jsonString).joined(separator: ", ") + "]"
    }

    static func numbers(_ values: [Double]) -> String {
        "[" + values.map { "\($0)" }.joined(separator: ", ") + "]"
    }

    static func parseStrings(_ text: String) -> [String]? {
        guard let data = text.data(using: .utf8), let a = try? JSONSerialization.jsonObject(with: data) as? [Any] else { return nil }
        let s = a.compactMap { $0 as? String }
        return s.count == a.count ? s : nil
    }

    static func parseNumbers(_ text: String) -> [Double]? {
        let t = text.trimmingCharacters(in: .whitespaces)
        guard t.hasPrefix("["), t.hasSuffix("]") else { return nil }
        let inner = t.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
        if inner.isEmpty { return [] }
        var out: [Double] = []
        for part in inner.split(separator: ",", omittingEmptySubsequences: false) {
            guard let v = Double(part.trimmingCharacters(in: .whitespaces)) else { return nil }
            out.append(v)
        }
        return out
    }
}
