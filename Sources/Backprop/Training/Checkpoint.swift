import Foundation

/// A training checkpoint in one safetensors file: the model's parameters under their PyTorch names
/// (`0.weight`, ...; loadable with `model.load_state_dict(safetensors.torch.load_file(f), strict=False)`),
/// the optimizer state under `optimizer.` (`optimizer.state.0.exp_avg`, ...), the input
/// standardization under `standardizer.mean` / `standardizer.std`, and string metadata
/// (architecture, optimizer, epoch, ...) in the header's `__metadata__`.
public struct Checkpoint: Sendable {
    /// Model parameters by name.
    public var model: [(name: String, tensor: Tensor)]
    /// Optimizer state by name (without the `optimizer.` prefix).
    public var optimizer: [(name: String, tensor: Tensor)]
    /// The standardization of the inputs, when the model was trained on standardized data.
    public var standardizer: Standardizer?
    /// Free-form strings: `hidden`, `activation`, `optimizer`, `epoch`, ...
    public var metadata: [String: String]

    /// A checkpoint of the model's parameters, and optionally the optimizer state, the standardization
    /// and metadata strings.
    public init(model: [(name: String, tensor: Tensor)], optimizer: [(name: String, tensor: Tensor)] = [],
                standardizer: Standardizer? = nil, metadata: [String: String] = [:]) {
        self.model = model; self.optimizer = optimizer; self.standardizer = standardizer; self.metadata = metadata
    }

    /// The model's parameters by name, as `Module.load(stateDict:)` takes them.
    public var modelState: [String: Tensor] { Dictionary(model.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a }) }
    /// The optimizer state by name, as `Optimizer.load(stateDict:)` takes it.
    public var optimizerState: [String: Tensor] { Dictionary(optimizer.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a }) }

    static let optimizerPrefix = "optimizer."
    static let standardizerPrefix = "standardizer."

    /// Writes the checkpoint atomically (temporary file, then rename).
    public func write(to path: String) throws {
        var tensors = model
        tensors += optimizer.map { (Self.optimizerPrefix + $0.name, $0.tensor) }
        if let s = standardizer {
            tensors.append((Self.standardizerPrefix + "mean", s.mean))
            tensors.append((Self.standardizerPrefix + "std", s.std))
        }
        try SafeTensors.write(tensors, metadata: metadata, to: path)
    }

    /// Reads a checkpoint, or any safetensors file of parameters (everything without a known prefix
    /// counts as a model parameter).
    public static func read(_ path: String) throws -> Checkpoint {
        let c = try SafeTensors.read(path)
        var cp = Checkpoint(model: [], metadata: c.metadata)
        var mean: Tensor?, std: Tensor?
        for (name, t) in c.tensors {
            if name.hasPrefix(optimizerPrefix) {
                cp.optimizer.append((String(name.dropFirst(optimizerPrefix.count)), t))
            } else if name == standardizerPrefix + "mean" {
                mean = t
            } else if name == standardizerPrefix + "std" {
                std = t
            } else {
                cp.model.append((name, t))
            }
        }
        if let mean, let std {
            guard mean.rank == 1, mean.shape == std.shape, mean.dtype.isFloatingPoint, std.dtype.isFloatingPoint else {
                throw DataError(file: path, "standardizer.mean \(mean.shape) and standardizer.std \(std.shape) must be float vectors of one length")
            }
            guard mean.scalars.allSatisfy(\.isFinite) else {
                throw DataError(file: path, "standardizer.mean must hold finite numbers")
            }
            guard std.scalars.allSatisfy({ $0.isFinite && $0 > 0 }) else {
                throw DataError(file: path, "standardizer.std must hold positive finite numbers")
            }
            cp.standardizer = Standardizer(mean: mean, std: std)
        } else if mean != nil || std != nil {
            throw DataError(file: path, "has only one of standardizer.mean and standardizer.std")
        }
        return cp
    }
}
