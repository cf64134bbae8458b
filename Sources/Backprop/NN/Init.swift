import Foundation

/// Weight initializers with PyTorch's formulas (`torch.nn.init`), drawing from an explicit generator.
///
/// Fans follow `_calculate_fan_in_and_fan_out`: for a weight [out, in, k...], fan_in = in * k...
/// and fan_out = out * k.... Each function returns a new tensor; give it to `Parameter.assign`.
public enum Init {
    /// The nonlinearities that `gain(for:)` knows (PyTorch's `calculate_gain`).
    public enum Nonlinearity: String, Sendable {
        /// PyTorch's `calculate_gain` names in Swift casing: `linear`, `sigmoid`, `tanh`, `relu`, `leakyRelu`
        /// (`leaky_relu`, its slope given as `negativeSlope`) and `selu`.
        case linear, sigmoid, tanh, relu, leakyRelu, selu
    }

    /// The recommended gain for a nonlinearity: 1 for linear and sigmoid, 5/3 for tanh, sqrt(2) for
    /// relu, sqrt(2 / (1 + slope^2)) for leaky relu, 3/4 for selu.
    public static func gain(for nonlinearity: Nonlinearity, negativeSlope: Double = 0.01) -> Double {
        switch nonlinearity {
        case .linear, .sigmoid: return 1
        case .tanh: return 5.0 / 3
        case .relu: return 2.0.squareRoot()
        case .leakyRelu: return (2 / (1 + negativeSlope * negativeSlope)).squareRoot()
        case .selu: return 0.75
        }
    }

    /// (fan_in, fan_out) of a weight shape with at least 2 dims.
    public static func fans(_ shape: [Int]) -> (fanIn: Int, fanOut: Int) {
        precondition(shape.count >= 2,
                     "Init: fan in and fan out can not be computed for tensor with fewer than 2 dimensions (shape \(shape))")
        let receptive = shape.dropFirst(2).reduce(1, *)
        return (shape[1] * receptive, shape[0] * receptive)
    }

    /// Which fan `kaiming*` scales by.
    public enum FanMode: Sendable {
        /// The number of inputs of a unit (PyTorch's `mode="fan_in"`, the default).
        case fanIn
        /// The number of outputs of a unit (`mode="fan_out"`).
        case fanOut
    }

    /// U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio).
    public static func xavierUniform(_ shape: [Int], gain: Double = 1, dtype: DType = .float32,
                                     using generator: inout RandomGenerator) -> Tensor {
        let (fi, fo) = fans(shape)
        let a = gain * (2.0 / Double(fi + fo)).squareRoot() * 3.0.squareRoot()
        return Tensor.uniform(shape, low: -a, high: a, dtype: dtype, using: &generator)
    }

    /// N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)).
    public static func xavierNormal(_ shape: [Int], gain: Double = 1, dtype: DType = .float32,
                                    using generator: inout RandomGenerator) -> Tensor {
        let (fi, fo) = fans(shape)
        let std = gain * (2.0 / Double(fi + fo)).squareRoot()
        return Tensor.normal(shape, std: std, dtype: dtype, using: &generator)
    }

    /// U(-bound, bound) with bound = gain * sqrt(3 / fan) and gain = gain(nonlinearity, a) (He et al.).
    ///
    /// PyTorch's defaults: `a = 0`, `mode = .fanIn`, `nonlinearity = .leakyRelu`. `Linear` uses
    /// a = sqrt(5), which gives bound = 1 / sqrt(fan_in).
    public static func kaimingUniform(_ shape: [Int], a: Double = 0, mode: FanMode = .fanIn,
                                      nonlinearity: Nonlinearity = .leakyRelu, dtype: DType = .float32,
                                      using generator: inout RandomGenerator) -> Tensor {
        let (fi, fo) = fans(shape)
        let fan = Double(mode == .fanIn ? fi : fo)
        let std = gain(for: nonlinearity, negativeSlope: a) / fan.squareRoot()
        let bound = 3.0.squareRoot() * std
        return Tensor.uniform(shape, low: -bound, high: bound, dtype: dtype, using: &generator)
    }

    /// N(0, std^2) with std = gain(nonlinearity, a) / sqrt(fan).
    public static func kaimingNormal(_ shape: [Int], a: Double = 0, mode: FanMode = .fanIn,
                                     nonlinearity: Nonlinearity = .leakyRelu, dtype: DType = .float32,
                                     using generator: inout RandomGenerator) -> Tensor {
        let (fi, fo) = fans(shape)
        let fan = Double(mode == .fanIn ? fi : fo)
        let std = gain(for: nonlinearity, negativeSlope: a) / fan.squareRoot()
        return Tensor.normal(shape, std: std, dtype: dtype, using: &generator)
    }

    /// All zeros.
    public static func zeros(_ shape: [Int], dtype: DType = .float32) -> Tensor { Tensor.zeros(shape, dtype: dtype) }

    /// All ones.
    public static func ones(_ shape: [Int], dtype: DType = .float32) -> Tensor { Tensor.ones(shape, dtype: dtype) }
}
