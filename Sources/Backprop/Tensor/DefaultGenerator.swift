import Foundation

/// The process-wide generator that layers and `rand*` use when no generator is given, as PyTorch's
/// default CPU generator; `manualSeed(_:)` reseeds it.
private final class DefaultGeneratorBox: @unchecked Sendable {
    // Recursive, so that `RandomGenerator.exclusively` can hold it around draws that take it again.
    let lock = NSRecursiveLock()
    // PyTorch starts its default generator from a fixed seed too: a run without `manualSeed` is repeatable.
    var generator = RandomGenerator(seed: 0)
}

private let defaultGeneratorBox = DefaultGeneratorBox()

/// Reseeds the default generator (PyTorch's `torch.manual_seed`): what follows draws the same numbers
/// for the same seed.
///
/// ```swift
/// manualSeed(0)
/// let model = Sequential(Linear(4, 16), ReLU(), Linear(16, 3))   // the same weights every run
/// ```
public func manualSeed(_ seed: UInt64) {
    defaultGeneratorBox.lock.withLock { defaultGeneratorBox.generator = RandomGenerator(seed: seed) }
}

extension RandomGenerator {
    /// Runs `body` while no other thread draws from the default generator: a `manualSeed(_:)` and
    /// the draws that follow it in `body` give the same numbers whatever other threads do.
    public static func exclusively<R>(_ body: () throws -> R) rethrows -> R {
        defaultGeneratorBox.lock.lock()
        defer { defaultGeneratorBox.lock.unlock() }
        return try body()
    }

    /// Runs `body` with the default generator (the one `manualSeed(_:)` seeds), one caller at a time.
    public static func withDefault<R>(_ body: (inout RandomGenerator) throws -> R) rethrows -> R {
        defaultGeneratorBox.lock.lock()
        defer { defaultGeneratorBox.lock.unlock() }
        return try body(&defaultGeneratorBox.generator)
    }
}

// The draws of Creation.swift and Init.swift from the default generator.
extension Tensor {
    /// Uniform random values in `[low, high)` from the default generator.
    public static func uniform(_ shape: [Int], low: Double = 0, high: Double = 1, dtype: DType = .float32) -> Tensor {
        RandomGenerator.withDefault { uniform(shape, low: low, high: high, dtype: dtype, using: &$0) }
    }

    /// Uniform random values in `[0, 1)` from the default generator (PyTorch's `torch.rand`).
    public static func rand(_ shape: Int..., dtype: DType = .float32) -> Tensor {
        RandomGenerator.withDefault { rand(shape, dtype: dtype, using: &$0) }
    }

    /// Normal random values from the default generator.
    public static func normal(_ shape: [Int], mean: Double = 0, std: Double = 1, dtype: DType = .float32) -> Tensor {
        RandomGenerator.withDefault { normal(shape, mean: mean, std: std, dtype: dtype, using: &$0) }
    }

    /// Standard normal random values from the default generator (PyTorch's `torch.randn`).
    public static func randn(_ shape: Int..., dtype: DType = .float32) -> Tensor {
        RandomGenerator.withDefault { randn(shape, dtype: dtype, using: &$0) }
    }

    /// Random integers in `[low, high)` from the default generator (PyTorch's `torch.randint`).
    public static func randint(_ low: Int, _ high: Int, _ shape: [Int]) -> Tensor {
        RandomGenerator.withDefault { randint(low, high, shape, using: &$0) }
    }

    /// A random permutation of 0..<n as int64 from the default generator (PyTorch's `torch.randperm`).
    public static func randperm(_ n: Int) -> Tensor {
        RandomGenerator.withDefault { randperm(n, using: &$0) }
    }

    /// A random permutation of 0..<n as int64, drawn from `generator` (a Fisher-Yates shuffle).
    public static func randperm(_ n: Int, using generator: inout RandomGenerator) -> Tensor {
        precondition(n >= 0, "randperm: n must be non-negative, got \(n)")
        var p = Array(0..<n)
        p.shuffle(using: &generator)
        return Tensor(indices: p, shape: [n])
    }
}

extension Init {
    /// `xavierUniform(_:gain:dtype:using:)` from the default generator.
    public static func xavierUniform(_ shape: [Int], gain: Double = 1, dtype: DType = .float32) -> Tensor {
        RandomGenerator.withDefault { xavierUniform(shape, gain: gain, dtype: dtype, using: &$0) }
    }

    /// `xavierNormal(_:gain:dtype:using:)` from the default generator.
    public static func xavierNormal(_ shape: [Int], gain: Double = 1, dtype: DType = .float32) -> Tensor {
        RandomGenerator.withDefault { xavierNormal(shape, gain: gain, dtype: dtype, using: &$0) }
    }

    /// `kaimingUniform(_:a:mode:nonlinearity:dtype:using:)` from the default generator.
    public static func kaimingUniform(_ shape: [Int], a: Double = 0, mode: FanMode = .fanIn,
                                      nonlinearity: Nonlinearity = .leakyRelu, dtype: DType = .float32) -> Tensor {
        RandomGenerator.withDefault {
            kaimingUniform(shape, a: a, mode: mode, nonlinearity: nonlinearity, dtype: dtype, using: &$0)
        }
    }

    /// `kaimingNormal(_:a:mode:nonlinearity:dtype:using:)` from the default generator.
    public static func kaimingNormal(_ shape: [Int], a: Double = 0, mode: FanMode = .fanIn,
                                     nonlinearity: Nonlinearity = .leakyRelu, dtype: DType = .float32) -> Tensor {
        RandomGenerator.withDefault {
            kaimingNormal(shape, a: a, mode: mode, nonlinearity: nonlinearity, dtype: dtype, using: &$0)
        }
    }
}

extension Linear {
    /// A layer from `inFeatures` to `outFeatures` whose weight and bias are drawn from the default
    /// generator (seed it with `manualSeed(_:)`): PyTorch's `nn.Linear(4, 16)`.
    public convenience init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, dtype: DType = .float32) {
        let (w, b) = RandomGenerator.withDefault {
            Linear.initialValues(inFeatures, outFeatures, bias: bias, dtype: dtype, using: &$0)
        }
        self.init(weight: w, bias: b)
    }
}

/// `makeMLP(inputs:hidden:outputs:activation:dtype:using:)` with weights from the default generator.
public func makeMLP(inputs: Int, hidden: [Int], outputs: Int, activation: Activation = .relu,
                    dtype: DType = .float32) -> Sequential {
    RandomGenerator.withDefault {
        makeMLP(inputs: inputs, hidden: hidden, outputs: outputs, activation: activation, dtype: dtype, using: &$0)
    }
}
