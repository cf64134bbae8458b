/// The activation between the layers of an MLP.
public enum Activation: String, CaseIterable, Sendable {
    /// `ReLU`, `Tanh`, `Sigmoid` or `GELU` (exact), named as `backprop train --activation` names them.
    case relu, tanh, sigmoid, gelu

    /// A new module computing this activation.
    public func module() -> any Module {
        switch self {
        case .relu: return ReLU()
        case .tanh: return Tanh()
        case .sigmoid: return Sigmoid()
        case .gelu: return GELU()
        }
    }
}

/// A multi-layer perceptron: `Linear(inputs, h1), act, Linear(h1, h2), act, ..., Linear(hk, outputs)`,
/// so its parameters are named `0.weight`, `0.bias`, `2.weight`, ... as in PyTorch.
public func makeMLP(inputs: Int, hidden: [Int], outputs: Int, activation: Activation = .relu,
                    dtype: DType = .float32, using generator: inout RandomGenerator) -> Sequential {
    var layers: [any Module] = []
    var width = inputs
    for h in hidden {
        layers.append(Linear(width, h, dtype: dtype, using: &generator))
        layers.append(activation.module())
        width = h
    }
    layers.append(Linear(width, outputs, dtype: dtype, using: &generator))
    return Sequential(layers)
}
