import Foundation

// The layers of convolutional networks, with PyTorch's names, defaults, initialization, state_dict
// names and printed form: Conv1d, Conv2d, ConvTranspose2d, MaxPool1d, MaxPool2d, AvgPool2d,
// AdaptiveAvgPool2d, BatchNorm1d, BatchNorm2d, GroupNorm, Flatten, LeakyReLU, ELU, SiLU, Softplus
// and Dropout2d.

/// Python's spelling of a tuple of ints: `(3, 3)`.
func pythonTuple(_ v: [Int]) -> String { v.count == 1 ? "(\(v[0]),)" : "(" + v.map(String.init).joined(separator: ", ") + ")" }
/// Python's `True` / `False`.
func pythonBool(_ b: Bool) -> String { b ? "True" : "False" }

/// A convolution's weight and bias as PyTorch draws them: kaiming-uniform with a = sqrt(5) for the
/// weight, then U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias (fan_in from the weight's shape).
func convInitialValues(_ weightShape: [Int], bias: Bool, dtype: DType, using generator: inout RandomGenerator) -> (Tensor, Tensor?) {
    let w = Init.kaimingUniform(weightShape, a: 5.0.squareRoot(), dtype: dtype, using: &generator)
    let fanIn = Init.fans(weightShape).fanIn
    let bound = fanIn > 0 ? 1 / Double(fanIn).squareRoot() : 0
    let b = bias ? Tensor.uniform([weightShape[0]], low: -bound, high: bound, dtype: dtype, using: &generator) : nil
    return (w, b)
}

/// A 2-d convolution (PyTorch's `nn.Conv2d`): weight [out, in / groups, kH, kW], bias [out].
public final class Conv2d: Module {
    /// [outChannels, inChannels / groups, kH, kW].
    public let weight: Parameter
    /// [outChannels], or nil without bias.
    public let bias: Parameter?
    /// The options, as given.
    public let inChannels: Int, outChannels: Int, kernelSize: [Int], stride: [Int], padding: ConvPadding, dilation: [Int], groups: Int

    /// A layer drawn from `generator` as `nn.Conv2d(in, out, kernel_size, stride, padding, dilation, groups, bias)` draws it.
    public convenience init(_ inChannels: Int, _ outChannels: Int, kernelSize: SpatialSize, stride: SpatialSize = 1, padding: ConvPadding = 0,
                            dilation: SpatialSize = 1, groups: Int = 1, bias: Bool = true, dtype: DType = .float32,
                            using generator: inout RandomGenerator) {
        let k = kernelSize.expanded(2, "Conv2d", "kernel_size")
        precondition(inChannels > 0 && outChannels > 0 && groups > 0 && inChannels % groups == 0 && outChannels % groups == 0,
                     "Conv2d: in_channels (\(inChannels)) and out_channels (\(outChannels)) must be positive and divisible by groups (\(groups))")
        let (w, b) = convInitialValues([outChannels, inChannels / groups] + k, bias: bias, dtype: dtype, using: &generator)
        self.init(weight: w, bias: b, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }

    /// `nn.Conv2d(...)` drawn from the default generator (seed it with `manualSeed(_:)`).
    public convenience init(_ inChannels: Int, _ outChannels: Int, kernelSize: SpatialSize, stride: SpatialSize = 1,
                            padding: ConvPadding = 0, dilation: SpatialSize = 1, groups: Int = 1, bias: Bool = true, dtype: DType = .float32) {
        let k = kernelSize.expanded(2, "Conv2d", "kernel_size")
        precondition(inChannels > 0 && outChannels > 0 && groups > 0 && inChannels % groups == 0 && outChannels % groups == 0,
                     "Conv2d: in_channels (\(inChannels)) and out_channels (\(outChannels)) must be positive and divisible by groups (\(groups))")
        let (w, b) = RandomGenerator.withDefault {
            convInitialValues([outChannels, inChannels / groups] + k, bias: bias, dtype: dtype, using: &$0)
        }
        self.init(weight: w, bias: b, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }

    /// A layer holding `weight` [out, in / groups, kH, kW] and `bias` [out] (or none).
    public init(weight: Tensor, bias: Tensor?, stride: SpatialSize = 1, padding: ConvPadding = 0, dilation: SpatialSize = 1, groups: Int = 1) {
        precondition(weight.rank == 4 && bias.map { $0.shape == [weight.shape[0]] } ?? true,
                     "Conv2d: weight must be [out, in/groups, kH, kW] and bias [out], got \(weight.shape) and \(bias?.shape ?? [])")
        inChannels = weight.shape[1] * groups; outChannels = weight.shape[0]; self.groups = groups
        kernelSize = Array(weight.shape[2...]); self.stride = stride.expanded(2, "Conv2d", "stride")
        self.padding = padding; self.dilation = dilation.expanded(2, "Conv2d", "dilation")
        self.weight = Parameter(weight)
        self.bias = bias.map(Parameter.init)
    }

    /// `x.conv2d(weight, bias:stride:padding:dilation:groups:)`.
    public func forward(_ x: Tensor) -> Tensor {
        x.conv2d(weight.value, bias: bias?.value, stride: SpatialSize(stride), padding: padding, dilation: SpatialSize(dilation), groups: groups)
    }

    /// `1, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1)`, as PyTorch prints it.
    public var extraRepr: String { convRepr(inChannels, outChannels, kernelSize, stride, padding, dilation, groups, bias != nil, outputPadding: nil) }
}

/// PyTorch's `extra_repr` of a convolution.
func convRepr(_ cin: Int, _ cout: Int, _ k: [Int], _ s: [Int], _ p: ConvPadding, _ d: [Int], _ groups: Int, _ bias: Bool,
              outputPadding: [Int]?) -> String {
    var parts = ["\(cin)", "\(cout)", "kernel_size=\(pythonTuple(k))", "stride=\(pythonTuple(s))"]
    switch p {
    case .same: parts.append("padding=same")
    case .valid: parts.append("padding=valid")
    case .explicit(let v):
        let pv = v.values.count == 1 ? Array(repeating: v.values[0], count: k.count) : v.values
        if pv.contains(where: { $0 != 0 }) { parts.append("padding=\(pythonTuple(pv))") }
    }
    if d.contains(where: { $0 != 1 }) { parts.append("dilation=\(pythonTuple(d))") }
    if let op = outputPadding, op.contains(where: { $0 != 0 }) { parts.append("output_padding=\(pythonTuple(op))") }
    if groups != 1 { parts.append("groups=\(groups)") }
    if !bias { parts.append("bias=False") }
    return parts.joined(separator: ", ")
}

/// A 1-d convolution (PyTorch's `nn.Conv1d`): weight [out, in / groups, k], bias [out].
public final class Conv1d: Module {
    /// [outChannels, inChannels / groups, k].
    public let weight: Parameter
    /// [outChannels], or nil without bias.
    public let bias: Parameter?
    /// The options, as given.
    public let inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int, padding: ConvPadding, dilation: Int, groups: Int

    /// A layer drawn from `generator` as `nn.Conv1d(in, out, kernel_size, ...)` draws it.
    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: ConvPadding = 0,
                dilation: Int = 1, groups: Int = 1, bias: Bool = true, dtype: DType = .float32, using generator: inout RandomGenerator) {
        precondition(inChannels > 0 && outChannels > 0 && groups > 0 && inChannels % groups == 0 && outChannels % groups == 0,
                     "Conv1d: in_channels (\(inChannels)) and out_channels (\(outChannels)) must be positive and divisible by groups (\(groups))")
        self.inChannels = inChannels; self.outChannels = outChannels; self.kernelSize = kernelSize
        self.stride = stride; self.padding = padding; self.dilation = dilation; self.groups = groups
        let (w, b) = convInitialValues([outChannels, inChannels / groups, kernelSize], bias: bias, dtype: dtype, using: &generator)
        weight = Parameter(w)
        self.bias = b.map(Parameter.init)
    }

    /// `nn.Conv1d(...)` drawn from the default generator (seed it with `manualSeed(_:)`).
    public convenience init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: ConvPadding = 0,
                            dilation: Int = 1, groups: Int = 1, bias: Bool = true, dtype: DType = .float32) {
        var g = RandomGenerator.withDefault { $0 }
        self.init(inChannels, outChannels, kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation,
                  groups: groups, bias: bias, dtype: dtype, using: &g)
        RandomGenerator.withDefault { $0 = g }
    }

    /// `x.conv1d(weight, bias:stride:padding:dilation:groups:)`.
    public func forward(_ x: Tensor) -> Tensor {
        x.conv1d(weight.value, bias: bias?.value, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }

    /// `2, 4, kernel_size=(3,), stride=(1,)`, as PyTorch prints it.
    public var extraRepr: String { convRepr(inChannels, outChannels, [kernelSize], [stride], padding, [dilation], groups, bias != nil, outputPadding: nil) }
}

/// A 2-d transposed convolution (PyTorch's `nn.ConvTranspose2d`): weight [in, out / groups, kH, kW], bias [out].
public final class ConvTranspose2d: Module {
    /// [inChannels, outChannels / groups, kH, kW].
    public let weight: Parameter
    /// [outChannels], or nil without bias.
    public let bias: Parameter?
    /// The options, as given.
    public let inChannels: Int, outChannels: Int, kernelSize: [Int], stride: [Int], padding: [Int], outputPadding: [Int],
        groups: Int, dilation: [Int]

    /// A layer drawn from `generator` as `nn.ConvTranspose2d(in, out, kernel_size, ...)` draws it.
    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: SpatialSize, stride: SpatialSize = 1, padding: SpatialSize = 0,
                outputPadding: SpatialSize = 0, groups: Int = 1, bias: Bool = true, dilation: SpatialSize = 1, dtype: DType = .float32,
                using generator: inout RandomGenerator) {
        precondition(inChannels > 0 && outChannels > 0 && groups > 0 && inChannels % groups == 0 && outChannels % groups == 0,
                     "ConvTranspose2d: in_channels (\(inChannels)) and out_channels (\(outChannels)) must be positive and divisible by groups (\(groups))")
        let op = "ConvTranspose2d"
        self.inChannels = inChannels; self.outChannels = outChannels; self.groups = groups
        self.kernelSize = kernelSize.expanded(2, op, "kernel_size"); self.stride = stride.expanded(2, op, "stride")
        self.padding = padding.expanded(2, op, "padding"); self.outputPadding = outputPadding.expanded(2, op, "output_padding")
        self.dilation = dilation.expanded(2, op, "dilation")
        // PyTorch's bias bound comes from the weight's fan_in (out / groups * kH * kW), the bias has out entries.
        let shape = [inChannels, outChannels / groups] + self.kernelSize
        let w = Init.kaimingUniform(shape, a: 5.0.squareRoot(), dtype: dtype, using: &generator)
        let bound = 1 / Double(Init.fans(shape).fanIn).squareRoot()
        weight = Parameter(w)
        self.bias = bias ? Parameter(Tensor.uniform([outChannels], low: -bound, high: bound, dtype: dtype, using: &generator)) : nil
    }

    /// `nn.ConvTranspose2d(...)` drawn from the default generator (seed it with `manualSeed(_:)`).
    public convenience init(_ inChannels: Int, _ outChannels: Int, kernelSize: SpatialSize, stride: SpatialSize = 1,
                            padding: SpatialSize = 0, outputPadding: SpatialSize = 0, groups: Int = 1, bias: Bool = true,
                            dilation: SpatialSize = 1, dtype: DType = .float32) {
        var g = RandomGenerator.withDefault { $0 }
        self.init(inChannels, outChannels, kernelSize: kernelSize, stride: stride, padding: padding, outputPadding: outputPadding,
                  groups: groups, bias: bias, dilation: dilation, dtype: dtype, using: &g)
        RandomGenerator.withDefault { $0 = g }
    }

    /// `x.convTranspose2d(weight, ...)`.
    public func forward(_ x: Tensor) -> Tensor {
        x.convTranspose2d(weight.value, bias: bias?.value, stride: SpatialSize(stride), padding: SpatialSize(padding),
                          outputPadding: SpatialSize(outputPadding), groups: groups, dilation: SpatialSize(dilation))
    }

    /// As PyTorch prints it.
    public var extraRepr: String {
        convRepr(inChannels, outChannels, kernelSize, stride, .explicit(SpatialSize(padding)), dilation, groups, bias != nil,
                 outputPadding: outputPadding)
    }
}

/// The maximum of each window (PyTorch's `nn.MaxPool2d`; `stride` defaults to `kernelSize`).
public final class MaxPool2d: Module {
    /// The options, as given.
    public let kernelSize: SpatialSize, stride: SpatialSize, padding: SpatialSize, dilation: SpatialSize, ceilMode: Bool
    /// `nn.MaxPool2d(kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False)`.
    public init(_ kernelSize: SpatialSize, stride: SpatialSize? = nil, padding: SpatialSize = 0, dilation: SpatialSize = 1, ceilMode: Bool = false) {
        self.kernelSize = kernelSize; self.stride = stride ?? kernelSize; self.padding = padding; self.dilation = dilation; self.ceilMode = ceilMode
    }
    /// `x.maxPool2d(...)`.
    public func forward(_ x: Tensor) -> Tensor {
        x.maxPool2d(kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode)
    }
    /// `kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False`.
    public var extraRepr: String {
        "kernel_size=\(kernelSize), stride=\(stride), padding=\(padding), dilation=\(dilation), ceil_mode=\(pythonBool(ceilMode))"
    }
}

/// The maximum of each window along the last dim (PyTorch's `nn.MaxPool1d`).
public final class MaxPool1d: Module {
    /// The options, as given.
    public let kernelSize: Int, stride: Int, padding: Int, dilation: Int, ceilMode: Bool
    /// `nn.MaxPool1d(kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False)`.
    public init(_ kernelSize: Int, stride: Int? = nil, padding: Int = 0, dilation: Int = 1, ceilMode: Bool = false) {
        self.kernelSize = kernelSize; self.stride = stride ?? kernelSize; self.padding = padding; self.dilation = dilation; self.ceilMode = ceilMode
    }
    /// `x.maxPool1d(...)`.
    public func forward(_ x: Tensor) -> Tensor {
        x.maxPool1d(kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode)
    }
    /// `kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False`.
    public var extraRepr: String {
        "kernel_size=\(kernelSize), stride=\(stride), padding=\(padding), dilation=\(dilation), ceil_mode=\(pythonBool(ceilMode))"
    }
}

/// The mean of each window (PyTorch's `nn.AvgPool2d`).
public final class AvgPool2d: Module {
    /// The options, as given.
    public let kernelSize: SpatialSize, stride: SpatialSize, padding: SpatialSize, ceilMode: Bool, countIncludePad: Bool, divisorOverride: Int?
    /// `nn.AvgPool2d(kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None)`.
    public init(_ kernelSize: SpatialSize, stride: SpatialSize? = nil, padding: SpatialSize = 0, ceilMode: Bool = false,
                countIncludePad: Bool = true, divisorOverride: Int? = nil) {
        self.kernelSize = kernelSize; self.stride = stride ?? kernelSize; self.padding = padding; self.ceilMode = ceilMode
        self.countIncludePad = countIncludePad; self.divisorOverride = divisorOverride
    }
    /// `x.avgPool2d(...)`.
    public func forward(_ x: Tensor) -> Tensor {
        x.avgPool2d(kernelSize: kernelSize, stride: stride, padding: padding, ceilMode: ceilMode, countIncludePad: countIncludePad,
                    divisorOverride: divisorOverride)
    }
    /// `kernel_size=2, stride=2, padding=0`.
    public var extraRepr: String { "kernel_size=\(kernelSize), stride=\(stride), padding=\(padding)" }
}

/// The mean of each of a fixed number of windows (PyTorch's `nn.AdaptiveAvgPool2d`).
public final class AdaptiveAvgPool2d: Module {
    /// The output's spatial size.
    public let outputSize: SpatialSize
    /// `nn.AdaptiveAvgPool2d(output_size)`.
    public init(_ outputSize: SpatialSize) { self.outputSize = outputSize }
    /// `x.adaptiveAvgPool2d(outputSize:)`.
    public func forward(_ x: Tensor) -> Tensor { x.adaptiveAvgPool2d(outputSize: outputSize) }
    /// `output_size=1`.
    public var extraRepr: String { "output_size=\(outputSize.values.count == 1 ? "\(outputSize.values[0])" : pythonTuple(outputSize.values))" }
}

/// Batch normalization over dim 1 (PyTorch's `_BatchNorm`, shared by `BatchNorm1d` and `BatchNorm2d`):
/// weight (ones) and bias (zeros) when affine; the buffers running_mean (zeros), running_var
/// (ones) and num_batches_tracked (an int64 0-d tensor) when tracking running statistics.
public class BatchNormBase: Module {
    /// [numFeatures], or nil when not affine.
    public let weight: Parameter?
    /// [numFeatures], or nil when not affine.
    public let bias: Parameter?
    /// The running mean (a buffer), or nil when not tracking.
    public let runningMean: Buffer?
    /// The running (unbiased) variance (a buffer), or nil when not tracking.
    public let runningVar: Buffer?
    /// The number of training batches seen (an int64 0-d buffer), or nil when not tracking.
    public let numBatchesTracked: Buffer?
    /// The options, as given.
    public let numFeatures: Int, eps: Double, momentum: Double?, affine: Bool, trackRunningStats: Bool
    /// Whether the layer is in training mode (true after `init`, as in PyTorch).
    public private(set) var isTraining = true
    let ranks: [Int]

    init(_ numFeatures: Int, eps: Double, momentum: Double?, affine: Bool, trackRunningStats: Bool, dtype: DType, ranks: [Int]) {
        precondition(numFeatures > 0, "BatchNorm: num_features must be positive, got \(numFeatures)")
        self.numFeatures = numFeatures; self.eps = eps; self.momentum = momentum; self.affine = affine
        self.trackRunningStats = trackRunningStats; self.ranks = ranks
        weight = affine ? Parameter(Tensor.ones([numFeatures], dtype: dtype)) : nil
        bias = affine ? Parameter(Tensor.zeros([numFeatures], dtype: dtype)) : nil
        runningMean = trackRunningStats ? Buffer(Tensor.zeros([numFeatures], dtype: dtype)) : nil
        runningVar = trackRunningStats ? Buffer(Tensor.ones([numFeatures], dtype: dtype)) : nil
        numBatchesTracked = trackRunningStats ? Buffer(Tensor(scalar: 0, dtype: .int64)) : nil
    }

    /// `weight` and `bias` (PyTorch's names), when affine.
    public var directParameters: [(name: String, parameter: Parameter)] {
        guard let weight, let bias else { return [] }
        return [("weight", weight), ("bias", bias)]
    }
    /// `running_mean`, `running_var`, `num_batches_tracked` (PyTorch's names), when tracking.
    public var directBuffers: [(name: String, buffer: Buffer)] {
        guard let runningMean, let runningVar, let numBatchesTracked else { return [] }
        return [("running_mean", runningMean), ("running_var", runningVar), ("num_batches_tracked", numBatchesTracked)]
    }
    /// No children.
    public var children: [(name: String, module: any Module)] { [] }
    /// Batch statistics (`true`) or running statistics (`false`).
    public func setTraining(_ training: Bool) { isTraining = training }
    /// The mode.
    public var ownTrainingMode: Bool? { isTraining }

    /// Batch statistics in training (updating the running ones), running statistics in evaluation.
    public func forward(_ x: Tensor) -> Tensor {
        precondition(ranks.contains(x.rank) && x.shape[1] == numFeatures,
                     "\(type(of: self)): expected a \(ranks.map { "\($0)-d" }.joined(separator: " or ")) input with \(numFeatures) channels in dim 1, got shape \(x.shape)")
        let useBatch = isTraining || runningMean == nil
        if isTraining, let n = numBatchesTracked {
            // num_batches_tracked += 1 in a kernel (a compiled step's replay counts too).
            if n.value.dtype != .int64 || n.value.count != 1 { n.value = Tensor(scalar: n.value.item, dtype: .int64) }
            KernelTape.launch(n.value.kernelUpdate(Int64.self)) { $0[0] += 1 }
        }
        // momentum nil: the cumulative average, 1 / num_batches_tracked (read by the kernel).
        let count = isTraining && momentum == nil ? numBatchesTracked?.value : nil
        return x.batchNorm(runningMean: isTraining || !useBatch ? runningMean : nil, runningVar: isTraining || !useBatch ? runningVar : nil,
                           weight: weight?.value, bias: bias?.value, training: useBatch, momentum: momentum ?? 0, eps: eps,
                           averagingCount: count)
    }

    /// `16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True`.
    public var extraRepr: String {
        "\(numFeatures), eps=\(eps), momentum=\(momentum.map { "\($0)" } ?? "None"), affine=\(pythonBool(affine)), track_running_stats=\(pythonBool(trackRunningStats))"
    }
}

/// Batch normalization of [N, C] or [N, C, L] (PyTorch's `nn.BatchNorm1d`).
public final class BatchNorm1d: BatchNormBase {
    /// `nn.BatchNorm1d(num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True)`; momentum nil
    /// gives the cumulative average.
    public init(_ numFeatures: Int, eps: Double = 1e-5, momentum: Double? = 0.1, affine: Bool = true, trackRunningStats: Bool = true,
                dtype: DType = .float32) {
        super.init(numFeatures, eps: eps, momentum: momentum, affine: affine, trackRunningStats: trackRunningStats, dtype: dtype, ranks: [2, 3])
    }
}

/// Batch normalization of [N, C, H, W] (PyTorch's `nn.BatchNorm2d`).
public final class BatchNorm2d: BatchNormBase {
    /// `nn.BatchNorm2d(num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True)`; momentum nil
    /// gives the cumulative average.
    public init(_ numFeatures: Int, eps: Double = 1e-5, momentum: Double? = 0.1, affine: Bool = true, trackRunningStats: Bool = true,
                dtype: DType = .float32) {
        super.init(numFeatures, eps: eps, momentum: momentum, affine: affine, trackRunningStats: trackRunningStats, dtype: dtype, ranks: [4])
    }
}

/// Group normalization (PyTorch's `nn.GroupNorm`): weight (ones) and bias (zeros) [C] when affine.
public final class GroupNorm: Module {
    /// [numChannels], or nil when not affine.
    public let weight: Parameter?
    /// [numChannels], or nil when not affine.
    public let bias: Parameter?
    /// The options, as given.
    public let numGroups: Int, numChannels: Int, eps: Double, affine: Bool
    /// `nn.GroupNorm(num_groups, num_channels, eps=1e-5, affine=True)`.
    public init(_ numGroups: Int, _ numChannels: Int, eps: Double = 1e-5, affine: Bool = true, dtype: DType = .float32) {
        precondition(numGroups > 0 && numChannels % numGroups == 0, "GroupNorm: num_channels (\(numChannels)) must be divisible by num_groups (\(numGroups))")
        self.numGroups = numGroups; self.numChannels = numChannels; self.eps = eps; self.affine = affine
        weight = affine ? Parameter(Tensor.ones([numChannels], dtype: dtype)) : nil
        bias = affine ? Parameter(Tensor.zeros([numChannels], dtype: dtype)) : nil
    }
    /// `x.groupNorm(numGroups:weight:bias:eps:)`.
    public func forward(_ x: Tensor) -> Tensor { x.groupNorm(numGroups: numGroups, weight: weight?.value, bias: bias?.value, eps: eps) }
    /// `2, 4, eps=1e-05, affine=True`.
    public var extraRepr: String { "\(numGroups), \(numChannels), eps=\(eps), affine=\(pythonBool(affine))" }
}

/// Merges dims `startDim` through `endDim` (PyTorch's `nn.Flatten`, default from dim 1).
public final class Flatten: Module {
    /// The options, as given.
    public let startDim: Int, endDim: Int
    /// `nn.Flatten(start_dim=1, end_dim=-1)`.
    public init(startDim: Int = 1, endDim: Int = -1) { self.startDim = startDim; self.endDim = endDim }
    /// `x.flatten(startDim:endDim:)`.
    public func forward(_ x: Tensor) -> Tensor { x.flatten(startDim: startDim, endDim: endDim) }
    /// `start_dim=1, end_dim=-1`.
    public var extraRepr: String { "start_dim=\(startDim), end_dim=\(endDim)" }
}

/// x where x > 0, else negativeSlope * x (PyTorch's `nn.LeakyReLU`).
public final class LeakyReLU: Module {
    /// The slope for negative inputs.
    public let negativeSlope: Double
    /// `nn.LeakyReLU(negative_slope=0.01)`.
    public init(negativeSlope: Double = 0.01) { self.negativeSlope = negativeSlope }
    /// `x.leakyRelu(negativeSlope:)`.
    public func forward(_ x: Tensor) -> Tensor { x.leakyRelu(negativeSlope: negativeSlope) }
    /// `negative_slope=0.01`.
    public var extraRepr: String { "negative_slope=\(negativeSlope)" }
}

/// x where x > 0, else alpha (e^x - 1) (PyTorch's `nn.ELU`).
public final class ELU: Module {
    /// The scale of the negative part.
    public let alpha: Double
    /// `nn.ELU(alpha=1.0)`.
    public init(alpha: Double = 1) { self.alpha = alpha }
    /// `x.elu(alpha:)`.
    public func forward(_ x: Tensor) -> Tensor { x.elu(alpha: alpha) }
    /// `alpha=1.0`.
    public var extraRepr: String { "alpha=\(alpha)" }
}

/// x sigmoid(x) (PyTorch's `nn.SiLU`).
public final class SiLU: Module {
    /// `nn.SiLU()`.
    public init() {}
    /// `x.silu()`.
    public func forward(_ x: Tensor) -> Tensor { x.silu() }
}

/// log(1 + e^(beta x)) / beta (PyTorch's `nn.Softplus`).
public final class Softplus: Module {
    /// The options, as given.
    public let beta: Double, threshold: Double
    /// `nn.Softplus(beta=1.0, threshold=20.0)`.
    public init(beta: Double = 1, threshold: Double = 20) { self.beta = beta; self.threshold = threshold }
    /// `x.softplus(beta:threshold:)`.
    public func forward(_ x: Tensor) -> Tensor { x.softplus(beta: beta, threshold: threshold) }
    /// `beta=1.0, threshold=20.0`.
    public var extraRepr: String { "beta=\(beta), threshold=\(threshold)" }
}

/// Zeroes whole channels with probability `p` in training mode, scaling the rest by 1 / (1 - p)
/// (PyTorch's `nn.Dropout2d`); the identity in evaluation mode. The mask comes from the module's own
/// seeded generator.
public final class Dropout2d: Module {
    /// The probability that a channel is zeroed in training mode.
    public let p: Double
    /// Whether the module is in training mode (true after `init`, as in PyTorch).
    public private(set) var isTraining = true
    var generator: RandomGenerator
    /// `nn.Dropout2d(p=0.5)`, its masks drawn from a generator seeded with `seed`.
    public init(p: Double = 0.5, seed: UInt64 = 0) {
        precondition(p >= 0 && p <= 1, "Dropout2d: probability has to be between 0 and 1, but got \(p)")
        self.p = p
        generator = RandomGenerator(seed: seed)
    }
    /// Turns dropout on (`true`) or off (`false`).
    public func setTraining(_ training: Bool) { isTraining = training }
    /// The mode.
    public var ownTrainingMode: Bool? { isTraining }
    /// `x.dropout2d(p:training:using:)`.
    public func forward(_ x: Tensor) -> Tensor { x.dropout2d(p: p, training: isTraining, using: &generator) }
    /// `p=0.5, inplace=False`.
    public var extraRepr: String { "p=\(p), inplace=False" }
}
