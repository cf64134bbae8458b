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
    public convenience init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, dtype: DType = .float32,
                            using generator: inout RandomGenerator) {
        let (w, b) = Linear.initialValues(inFeatures, outFeatures, bias: bias, dtype: dtype, using: &generator)
        self.init(weight: w, bias: b)
    }

    /// A layer holding `weight` [out, in] and `bias` [out] (or none) as its parameters.
    public init(weight: Tensor, bias: Tensor?) {
        precondition(weight.rank == 2 && weight.shape.allSatisfy { $0 > 0 },
                     "Linear: weight must be a non-empty matrix [out, in], got shape \(weight.shape)")
        precondition(bias == nil || bias!.shape == [weight.shape[0]],
                     "Linear: bias of shape \(bias!.shape) for a weight of shape \(weight.shape)")
        outFeatures = weight.shape[0]
        inFeatures = weight.shape[1]
        self.weight = Parameter(weight)
        self.bias = bias.map(Parameter.init)
    }

    /// nn.Linear's initial weight and bias, drawn from `generator` in PyTorch's order.
    static func initialValues(_ inFeatures: Int, _ outFeatures: Int, bias: Bool, dtype: DType,
                              using generator: inout RandomGenerator) -> (Tensor, Tensor?) {
        precondition(inFeatures > 0 && outFeatures > 0,
                     "Linear: sizes must be positive, got in \(inFeatures), out \(outFeatures)")
        let w = Init.kaimingUniform([outFeatures, inFeatures], a: 5.0.squareRoot(), dtype: dtype, using: &generator)
        let bound = 1 / Double(inFeatures).squareRoot()
        let b = bias ? Tensor.uniform([outFeatures], low: -bound, high: bound, dtype: dtype, using: &generator) : nil
        return (w, b)
    }

    /// `x.linear(weight:bias:)`: x W^T + b for `x` [..., inFeatures], giving [..., outFeatures].
    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.shape.last == inFeatures,
                     "Linear(\(inFeatures), \(outFeatures)): input of shape \(x.shape) has \(x.shape.last ?? 0) features, expected \(inFeatures)")
        return x.linear(weight: weight.value, bias: bias?.value)
    }

    /// `in_features=4, out_features=16, bias=True`, as PyTorch prints a Linear layer.
    public var extraRepr: String {
        "in_features=\(inFeatures), out_features=\(outFeatures), bias=\(bias == nil ? "False" : "True")"
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
    /// `approximate='none'` or `approximate='tanh'`, as PyTorch prints it.
    public var extraRepr: String { "approximate='\(approximate == .tanh ? "tanh" : "none")'" }
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

    /// A dropout layer with drop probability `p` (between 0 and 1) and the seed of its mask
    /// generator; without a seed, one is drawn from the default generator (`manualSeed(_:)`).
    public init(p: Double = 0.5, seed: UInt64? = nil) {
        precondition(p >= 0 && p <= 1, "Dropout: probability has to be between 0 and 1, but got \(p)")
        self.p = p
        generator = RandomGenerator(seed: seed ?? RandomGenerator.withDefault { $0.next() })
    }

    /// Turns dropout on (`true`, training) or off (`false`, evaluation).
    public func setTraining(_ training: Bool) { isTraining = training }
    /// Whether dropout is active.
    public var ownTrainingMode: Bool? { isTraining }
    /// `p=0.5, inplace=False`, as PyTorch prints it.
    public var extraRepr: String { "p=\(p), inplace=False" }

    /// `x` times a fresh random mask scaled by 1 / (1 - p) in training mode; `x` itself in evaluation mode.
    public func forward(_ x: Tensor) -> Tensor {
        guard isTraining, p > 0 else { return x }
        if p == 1 { return x * 0.0 }
        let scale = 1 / (1 - p)
        let mask = (0..<x.count).map { _ in generator.nextUniform() < p ? 0.0 : scale }
        return x * Tensor(mask, shape: x.shape, dtype: x.dtype)
    }
}
