import Foundation

/// y = x W^T + b, with weight [out, in] and bias [out] (PyTorch's `nn.Linear`).
///
/// Initialized as PyTorch does: the weight by kaiming-uniform with a = sqrt(5), that is
/// U(-1/sqrt(in), 1/sqrt(in)), then the bias by U(-1/sqrt(in), 1/sqrt(in)), both drawn from `generator`.
public final class Linear: Module {
    /// [outFeatures, inFeatures].
    public let weight: Parameter
    /// [outFeatures], or nil without bias.
    public let bias: Parameter?
    /// The size of each input row (the last dimension of `forward`'s input).
    public let inFeatures: Int
    /// The size of each output row.
    public let outFeatures: Int

    /// A layer from `inFeatures` to `outFeatures`, with a bias unless `bias` is false, its weight and bias
    /// drawn from `generator` as `nn.Linear` draws them.
    ///
    /// ```swift
    /// var g = RandomGenerator(seed: 0)
    /// let layer = Linear(4, 16, using: &g)   // weight [16, 4], bias [16]
    /// ```
    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, dtype: DType = .float32,
                using generator: inout RandomGenerator) {
        precondition(inFeatures > 0 && outFeatures > 0,
                     "Linear: sizes must be positive, got in \(inFeatures), out \(outFeatures)")
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        weight = Parameter(Init.kaimingUniform([outFeatures, inFeatures], a: 5.0.squareRoot(), dtype: dtype,
                                               using: &generator))
        let bound = 1 / Double(inFeatures).squareRoot()
        self.bias = bias ? Parameter(Tensor.uniform([outFeatures], low: -bound, high: bound, dtype: dtype,
                                                    using: &generator)) : nil
    }

    /// `x.linear(weight:bias:)`: x W^T + b for `x` [..., inFeatures], giving [..., outFeatures].
    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.shape.last == inFeatures,
                     "Linear(\(inFeatures), \(outFeatures)): input of shape \(x.shape) has \(x.shape.last ?? 0) features, expected \(inFeatures)")
        return x.linear(weight: weight.value, bias: bias?.value)
    }

    /// `weight`, then `bias` when the layer has one (PyTorch's names).
    public var directParameters: [(name: String, parameter: Parameter)] {
        bias.map { [("weight", weight), ("bias", $0)] } ?? [("weight", weight)]
    }
}

/// Modules applied one after the other; children are named "0", "1", ... (PyTorch's `nn.Sequential`).
public final class Sequential: Module {
    /// The modules, in the order they are applied.
    public let layers: [any Module]

    /// A sequence of `layers`, applied first to last.
    public init(_ layers: [any Module]) { self.layers = layers }
    /// A sequence of `layers`, applied first to last: `Sequential(Linear(4, 16, using: &g), ReLU(), Linear(16, 3, using: &g))`.
    public convenience init(_ layers: any Module...) { self.init(layers) }

    /// Each layer's `forward`, applied to the previous layer's output.
    public func forward(_ x: Tensor) -> Tensor {
        var y = x
        for layer in layers { y = layer.forward(y) }
        return y
    }

    /// The layers, named by their position: `"0"`, `"1"`, ...
    public var children: [(name: String, module: any Module)] {
        layers.enumerated().map { (String($0.offset), $0.element) }
    }
}

/// max(x, 0) (PyTorch's `nn.ReLU`).
public final class ReLU: Module {
    /// A ReLU layer (it has no parameters).
    public init() {}
    /// `x.relu()`.
    public func forward(_ x: Tensor) -> Tensor { x.relu() }
}

/// 1 / (1 + e^-x) (PyTorch's `nn.Sigmoid`).
public final class Sigmoid: Module {
    /// A sigmoid layer (it has no parameters).
    public init() {}
    /// `x.sigmoid()`.
    public func forward(_ x: Tensor) -> Tensor { x.sigmoid() }
}

/// tanh(x) (PyTorch's `nn.Tanh`).
public final class Tanh: Module {
    /// A tanh layer (it has no parameters).
    public init() {}
    /// `x.tanh()`.
    public func forward(_ x: Tensor) -> Tensor { x.tanh() }
}

/// The Gaussian error linear unit (PyTorch's `nn.GELU`): the exact x Φ(x) by default, or the
/// tanh form 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) with `approximate: .tanh`.
///
/// It applies `Tensor.gelu(approximate:)`, whose backward rule is written next to its forward.
public final class GELU: Module {
    /// Which formula: `.none` (exact, PyTorch's default) or `.tanh`.
    public let approximate: GeluApproximation

    /// A GELU layer with the exact form (`.none`, the default) or the tanh approximation (`.tanh`).
    public init(approximate: GeluApproximation = .none) { self.approximate = approximate }
    /// `x.gelu(approximate: approximate)`.
    public func forward(_ x: Tensor) -> Tensor { x.gelu(approximate: approximate) }
}

/// Zeroes each element with probability `p` in training mode and scales the rest by 1 / (1 - p);
/// the identity in evaluation mode (PyTorch's `nn.Dropout`). The mask is drawn from the module's
/// own seeded generator. Backward: dx = G * mask / (1 - p).
public final class Dropout: Module {
    /// The probability that an element is zeroed in training mode.
    public let p: Double
    /// Whether the module is in training mode (true after `init`, as in PyTorch).
    public private(set) var isTraining = true
    var generator: RandomGenerator

    /// A dropout layer with drop probability `p` (between 0 and 1) and the seed of its mask generator.
    public init(p: Double = 0.5, seed: UInt64 = 0) {
        precondition(p >= 0 && p <= 1, "Dropout: probability has to be between 0 and 1, but got \(p)")
        self.p = p
        generator = RandomGenerator(seed: seed)
    }

    /// Turns dropout on (`true`, training) or off (`false`, evaluation).
    public func setTraining(_ training: Bool) { isTraining = training }

    /// `x` times a fresh random mask scaled by 1 / (1 - p) in training mode; `x` itself in evaluation mode.
    public func forward(_ x: Tensor) -> Tensor {
        guard isTraining, p > 0 else { return x }
        if p == 1 { return x * 0.0 }
        let scale = 1 / (1 - p)
        let mask = (0..<x.count).map { _ in generator.nextUniform() < p ? 0.0 : scale }
        return x * Tensor(mask, shape: x.shape, dtype: x.dtype)
    }
}
