// Convolutions: conv1d, conv2d and conv_transpose2d, as PyTorch's F.conv1d, F.conv2d and
// F.conv_transpose2d. All three are made of three products (ConvKernels), each the others'
// gradient: forward (patches times weight), backward (its adjoint: the weight's transpose times
// the columns, added back into the image) and the weight gradient. Each product is recorded with
// a backward made of the other two, so that gradients of every order are there.

extension BackwardRule {
    static let convolution = BackwardRule("ConvolutionBackward0",
        "dx = conv_transpose2d(G, weight), dweight = G correlated with x over the batch, dbias = G summed over batch and positions")
    static let convolutionTranspose = BackwardRule("ConvolutionBackward0",
        "dx = conv2d(G, weight), dweight = x correlated with G over the batch, dbias = G summed over batch and positions")
    static let convolutionWeight = BackwardRule("ConvolutionBackwardBackward0",
        "dG = conv2d(x, H), dx = conv_transpose2d(G, H) for the weight gradient's incoming gradient H")
}

/// A size given once for every spatial dim or once per dim (PyTorch's `stride=2` or `stride=(2, 1)`):
/// written `2` or `[2, 1]`.
public struct SpatialSize: ExpressibleByIntegerLiteral, ExpressibleByArrayLiteral, Equatable, Sendable,
    CustomStringConvertible {
    /// One value, or one per spatial dim.
    public let values: [Int]
    /// The same value for every dim.
    public init(integerLiteral value: Int) { values = [value] }
    /// One value per dim (or one for all).
    public init(arrayLiteral elements: Int...) { values = elements }
    /// One value per dim (or one for all).
    public init(_ values: [Int]) { self.values = values }
    /// The same value for every dim.
    public init(_ value: Int) { values = [value] }
    /// The values for `dims` spatial dims; stops with a message naming `op` and `name` when the count is wrong.
    func expanded(_ dims: Int, _ op: String, _ name: String) -> [Int] {
        if values.count == 1 { return Array(repeating: values[0], count: dims) }
        precondition(values.count == dims, "\(op): expected \(name) to be a single integer value or a list of \(dims) values, got \(values)")
        return values
    }
    /// `2` or `[2, 1]`.
    public var description: String { values.count == 1 ? "\(values[0])" : "\(values)" }
}

/// The padding of a convolution: numbers (PyTorch's `padding=1` or `(1, 2)`), `"same"` (the
/// output as large as the input, stride 1 only) or `"valid"` (none).
public enum ConvPadding: ExpressibleByIntegerLiteral, ExpressibleByArrayLiteral, Equatable, Sendable {
    /// Zeros added on both sides of each spatial dim.
    case explicit(SpatialSize)
    /// As much as keeps the output's size equal to the input's (the extra one on the far side when odd).
    case same
    /// No padding.
    case valid
    /// The same padding on both sides of every spatial dim.
    public init(integerLiteral value: Int) { self = .explicit(SpatialSize(integerLiteral: value)) }
    /// One padding per spatial dim.
    public init(arrayLiteral elements: Int...) { self = .explicit(SpatialSize(elements)) }
}

extension OpDescription {
    static let convolutionOps: [OpDescription] = [conv2d, conv1d, convTranspose2d] + poolingOps

    static func spatial(_ c: OpCall, _ key: String, default value: Int) throws -> SpatialSize {
        SpatialSize(try c.kwargs.ints(key) ?? [value])
    }

    static func convPadding(_ c: OpCall) throws -> ConvPadding {
        if let s = c.kwargs.values["padding"] as? String {
            switch s {
            case "same": return .same
            case "valid": return .valid
            default: throw c.error("padding must be a number, a list, \"same\" or \"valid\", got \"\(s)\"")
            }
        }
        return .explicit(try spatial(c, "padding", default: 0))
    }

    static let conv2d = OpDescription(
        "conv2d", .convolution, pytorch: "F.conv2d(x, weight, bias, stride=1, padding=0, dilation=1, groups=1)",
        swift: "x.conv2d(weight, bias: b, stride: 1, padding: 0, dilation: 1, groups: 1)",
        note: "padding also \"same\" or \"valid\"; im2col into the matrix kernels, threads over the batch",
        rules: [.convolution, .convolutionTranspose, .convolutionWeight],
        replay: { c in
            [try c.tensor(0).conv2d(try c.tensor(1), bias: c.optionalTensor(named: "bias", default: 2),
                                    stride: try spatial(c, "stride", default: 1), padding: try convPadding(c),
                                    dilation: try spatial(c, "dilation", default: 1), groups: try c.kwargs.int("groups") ?? 1)]
        },
        gradcheck: [.problem("x.conv2d(weight, bias:stride:padding:dilation:groups:)") { g in
            let groups = g.int(1..<3), cin = groups * g.int(1..<3), cout = groups * g.int(1..<3)
            let (kh, kw) = (g.int(1..<4), g.int(1..<3))
            let stride = [g.int(1..<3), g.int(1..<3)], dilation = [g.int(1..<3), 1], pad = [g.int(0..<2), g.int(0..<3)]
            let (h, w) = (g.int(0..<3) + (kh - 1) * dilation[0] + 1, g.int(0..<4) + kw)
            let x = g.normal([g.int(1..<3), cin, h, w]), wt = g.normal([cout, cin / groups, kh, kw]), b = g.normal([cout])
            return GradcheckProblem(inputs: [x, wt, b], wrt: [0, 1, 2], function: {
                $0[0].conv2d($0[1], bias: $0[2], stride: SpatialSize(stride), padding: .explicit(SpatialSize(pad)),
                             dilation: SpatialSize(dilation), groups: groups)
            })
        }, .problem("same", "x.conv2d(weight, padding: .same, dilation:)") { g in
            let k = g.int(1..<5), d = g.int(1..<3)
            let x = g.normal([1, 2, g.int(1..<5), g.int(1..<5)]), wt = g.normal([2, 2, k, k])
            return GradcheckProblem(inputs: [x, wt], wrt: [0, 1], function: { $0[0].conv2d($0[1], padding: .same, dilation: SpatialSize(d)) })
        }])

    static let conv1d = OpDescription(
        "conv1d", .convolution, pytorch: "F.conv1d(x, weight, bias, stride=1, padding=0, dilation=1, groups=1)",
        swift: "x.conv1d(weight, bias: b, stride: 1, padding: 0, dilation: 1, groups: 1)",
        note: "conv2d over a height of 1", rules: [.convolution, .convolutionTranspose, .convolutionWeight],
        replay: { c in
            [try c.tensor(0).conv1d(try c.tensor(1), bias: c.optionalTensor(named: "bias", default: 2),
                                    stride: try c.kwargs.ints("stride")?[0] ?? 1, padding: try convPadding(c),
                                    dilation: try c.kwargs.ints("dilation")?[0] ?? 1, groups: try c.kwargs.int("groups") ?? 1)]
        },
        gradcheck: [.problem("x.conv1d(weight, bias:stride:padding:dilation:groups:)") { g in
            let groups = g.int(1..<3), cin = groups * g.int(1..<3), cout = groups * g.int(1..<3), k = g.int(1..<4)
            let (s, d, p) = (g.int(1..<3), g.int(1..<3), g.int(0..<2))
            let x = g.normal([g.int(1..<3), cin, (k - 1) * d + 1 + g.int(0..<4)]), wt = g.normal([cout, cin / groups, k])
            let b = g.normal([cout])
            return GradcheckProblem(inputs: [x, wt, b], wrt: [0, 1, 2], function: {
                $0[0].conv1d($0[1], bias: $0[2], stride: s, padding: .explicit(SpatialSize(p)), dilation: d, groups: groups)
            })
        }])

    static let convTranspose2d = OpDescription(
        "conv_transpose2d", .convolution,
        pytorch: "F.conv_transpose2d(x, weight, bias, stride=1, padding=0, output_padding=0, groups=1, dilation=1)",
        swift: "x.convTranspose2d(weight, bias: b, stride: 1, padding: 0, outputPadding: 0, groups: 1, dilation: 1)",
        note: "the adjoint of conv2d", rules: [.convolutionTranspose, .convolution, .convolutionWeight],
        replay: { c in
            [try c.tensor(0).convTranspose2d(try c.tensor(1), bias: c.optionalTensor(named: "bias", default: 2),
                                             stride: try spatial(c, "stride", default: 1), padding: try spatial(c, "padding", default: 0),
                                             outputPadding: try spatial(c, "output_padding", default: 0),
                                             groups: try c.kwargs.int("groups") ?? 1, dilation: try spatial(c, "dilation", default: 1))]
        },
        gradcheck: [.problem("x.convTranspose2d(weight, bias:stride:padding:outputPadding:groups:dilation:)") { g in
            let groups = g.int(1..<3), cin = groups * g.int(1..<3), cout = groups * g.int(1..<3)
            let (kh, kw) = (g.int(1..<4), g.int(1..<3))
            let stride = [g.int(1..<3), g.int(1..<3)], dilation = [g.int(1..<3), 1]
            let pad = [g.int(0..<((kh - 1) * dilation[0] / 2 + 1)), 0]
            let outPad = [g.int(0..<stride[0]), 0]
            let x = g.normal([g.int(1..<3), cin, g.int(1..<4), g.int(1..<4)]), wt = g.normal([cin, cout / groups, kh, kw])
            let b = g.normal([cout])
            return GradcheckProblem(inputs: [x, wt, b], wrt: [0, 1, 2], function: {
                $0[0].convTranspose2d($0[1], bias: $0[2], stride: SpatialSize(stride), padding: SpatialSize(pad),
                                      outputPadding: SpatialSize(outPad), groups: groups, dilation: SpatialSize(dilation))
            })
        }])
}

extension Tensor {
    /// The 2-d cross-correlation of `self` [N, C, H, W] (or [C, H, W]) with `weight`
    /// [O, C / groups, kH, kW], plus `bias` [O] (PyTorch's `F.conv2d`): the output is
    /// [N, O, (H + 2 p - d (kH - 1) - 1) / s + 1, ...]. `padding` is numbers, `.same` or `.valid`.
    ///
    /// Backward: dx = conv_transpose2d(G, weight), dweight = G correlated with x over the batch, dbias = G summed over batch and positions
    public func conv2d(_ weight: Tensor, bias: Tensor? = nil, stride: SpatialSize = 1, padding: ConvPadding = 0,
                       dilation: SpatialSize = 1, groups: Int = 1) -> Tensor {
        let op = "conv2d"
        requireFloat(op)
        precondition(rank == 3 || rank == 4, "\(op): expected a 3-d (unbatched) or 4-d (batched) input, got shape \(shape)")
        if rank == 3 {
            return unsqueeze(0).conv2d(weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups).squeeze(0)
        }
        precondition(weight.rank == 4, "\(op): expected a 4-d weight [out, in/groups, kH, kW], got shape \(weight.shape)")
        let s = stride.expanded(2, op, "stride"), d = dilation.expanded(2, op, "dilation")
        var before = [0, 0], after = [0, 0]
        switch padding {
        case .explicit(let p): before = p.expanded(2, op, "padding"); after = before
        case .valid: break
        case .same:
            precondition(s == [1, 1], "\(op): padding='same' is not supported for strided convolutions (stride \(s))")
            for i in 0..<2 {
                let total = d[i] * (weight.shape[2 + i] - 1)
                before[i] = total / 2; after[i] = total - total / 2
            }
        }
        let g = Tensor.convGeometry(op, image: shape, weight: weight.shape, columnChannels: weight.shape[0], transposed: false,
                                    stride: s, before: before, after: after, dilation: d, outputPadding: [0, 0], groups: groups)
        return Tensor.convolution(.forward, self, weight, bias: bias, g, op)
    }

    /// The 1-d cross-correlation of `self` [N, C, L] (or [C, L]) with `weight` [O, C / groups, k],
    /// plus `bias` [O] (PyTorch's `F.conv1d`): conv2d over a height of 1.
    public func conv1d(_ weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: ConvPadding = 0,
                       dilation: Int = 1, groups: Int = 1) -> Tensor {
        precondition(rank == 2 || rank == 3, "conv1d: expected a 2-d (unbatched) or 3-d (batched) input, got shape \(shape)")
        precondition(weight.rank == 3, "conv1d: expected a 3-d weight [out, in/groups, k], got shape \(weight.shape)")
        let pad: ConvPadding
        switch padding {
        case .explicit(let p): pad = .explicit(SpatialSize([0] + p.expanded(1, "conv1d", "padding")))
        default: pad = padding
        }
        let y = unsqueeze(-2).conv2d(weight.unsqueeze(-2), bias: bias, stride: SpatialSize([1, stride]), padding: pad,
                                     dilation: SpatialSize([1, dilation]), groups: groups)
        return y.squeeze(-2)
    }

    /// The transposed convolution of `self` [N, Cin, H, W] (or [C, H, W]) with `weight`
    /// [Cin, Cout / groups, kH, kW], plus `bias` [Cout] (PyTorch's `F.conv_transpose2d`, the
    /// gradient of conv2d with respect to its input): the output is [N, Cout, (H - 1) s - 2 p +
    /// d (kH - 1) + output_padding + 1, ...].
    ///
    /// Backward: dx = conv2d(G, weight), dweight = x correlated with G over the batch, dbias = G summed over batch and positions
    public func convTranspose2d(_ weight: Tensor, bias: Tensor? = nil, stride: SpatialSize = 1, padding: SpatialSize = 0,
                                outputPadding: SpatialSize = 0, groups: Int = 1, dilation: SpatialSize = 1) -> Tensor {
        let op = "conv_transpose2d"
        requireFloat(op)
        precondition(rank == 3 || rank == 4, "\(op): expected a 3-d (unbatched) or 4-d (batched) input, got shape \(shape)")
        if rank == 3 {
            return unsqueeze(0).convTranspose2d(weight, bias: bias, stride: stride, padding: padding, outputPadding: outputPadding,
                                                groups: groups, dilation: dilation).squeeze(0)
        }
        precondition(weight.rank == 4, "\(op): expected a 4-d weight [in, out/groups, kH, kW], got shape \(weight.shape)")
        let s = stride.expanded(2, op, "stride"), d = dilation.expanded(2, op, "dilation")
        let p = padding.expanded(2, op, "padding"), op2 = outputPadding.expanded(2, op, "output_padding")
        for i in 0..<2 {
            precondition(op2[i] >= 0 && (op2[i] < s[i] || op2[i] < d[i]),
                         "\(op): output padding must be smaller than either stride or dilation, got output_padding \(op2), stride \(s), dilation \(d)")
        }
        let g = Tensor.convGeometry(op, image: shape, weight: weight.shape, columnChannels: weight.shape[0], transposed: true,
                                    stride: s, before: p, after: p, dilation: d, outputPadding: op2, groups: groups)
        return Tensor.convolution(.backward, self, weight, bias: bias, g, op)
    }

    /// The geometry of a convolution. For conv2d `input` is the image side; for conv_transpose2d
    /// (`transposed`) it is the column side, and the image's size follows from the parameters.
    static func convGeometry(_ op: String, image input: [Int], weight: [Int], columnChannels: Int, transposed: Bool,
                             stride: [Int], before: [Int], after: [Int], dilation: [Int], outputPadding: [Int],
                             groups: Int) -> ConvGeometry {
        precondition(groups > 0, "\(op): non-positive groups is not supported, got \(groups)")
        precondition(stride.allSatisfy { $0 > 0 }, "\(op): non-positive stride is not supported, got \(stride)")
        precondition(dilation.allSatisfy { $0 > 0 }, "\(op): dilation should be greater than zero, got \(dilation)")
        precondition(before.allSatisfy { $0 >= 0 }, "\(op): negative padding is not supported, got \(before)")
        let (kh, kw) = (weight[2], weight[3])
        precondition(columnChannels % groups == 0 || transposed,
                     "\(op): out_channels (\(columnChannels)) must be divisible by groups (\(groups))")
        if transposed {
            let cin = input[1]
            precondition(weight[0] == cin, "\(op): weight of shape \(weight) expects \(weight[0]) input channels, got input of shape \(input)")
            precondition(cin % groups == 0, "\(op): input channels (\(cin)) must be divisible by groups (\(groups))")
            let oh = (input[2] - 1) * stride[0] - before[0] - after[0] + dilation[0] * (kh - 1) + outputPadding[0] + 1
            let ow = (input[3] - 1) * stride[1] - before[1] - after[1] + dilation[1] * (kw - 1) + outputPadding[1] + 1
            precondition(oh > 0 && ow > 0, "\(op): the output size [\(oh), \(ow)] is too small for input of shape \(input)")
            return ConvGeometry(batch: input[0], groups: groups, imageChannels: weight[1] * groups, height: oh, width: ow,
                                columnChannels: cin, outHeight: input[2], outWidth: input[3], kernelHeight: kh, kernelWidth: kw,
                                strideH: stride[0], strideW: stride[1], padH: before[0], padW: before[1],
                                dilationH: dilation[0], dilationW: dilation[1])
        }
        let c = input[1]
        precondition(c == weight[1] * groups,
                     "\(op): expected input of shape \(input) to have \(weight[1] * groups) channels (weight \(weight), groups \(groups)), but got \(c) channels instead")
        let eh = input[2] + before[0] + after[0], ew = input[3] + before[1] + after[1]
        let dkh = dilation[0] * (kh - 1) + 1, dkw = dilation[1] * (kw - 1) + 1
        precondition(eh >= dkh && ew >= dkw,
                     "\(op): calculated padded input size per channel: (\(eh) x \(ew)). Kernel size: (\(dkh) x \(dkw)). Kernel size can't be greater than actual input size")
        return ConvGeometry(batch: input[0], groups: groups, imageChannels: c, height: input[2], width: input[3],
                            columnChannels: columnChannels, outHeight: (eh - dkh) / stride[0] + 1, outWidth: (ew - dkw) / stride[1] + 1,
                            kernelHeight: kh, kernelWidth: kw, strideH: stride[0], strideW: stride[1], padH: before[0], padW: before[1],
                            dilationH: dilation[0], dilationW: dilation[1])
    }

    /// Which of the three products of a convolution.
    enum ConvProduct { case forward, backward, weightGradient }

    /// One of the three products, recorded with a backward made of the other two.
    ///
    /// - forward: `a` image, `b` weight, plus `bias` -> the column side;
    /// - backward: `a` column side, `b` weight, plus `bias` -> the image side;
    /// - weightGradient: `a` column side, `b` image -> the weight, whose rule (for gradients of
    ///   gradients) is
    ///
    /// Backward: dG = conv2d(x, H), dx = conv_transpose2d(G, H) for the weight gradient's incoming gradient H
    static func convolution(_ kind: ConvProduct, _ a: Tensor, _ b: Tensor, bias: Tensor? = nil, _ g: ConvGeometry,
                            _ op: String) -> Tensor {
        precondition(a.dtype == b.dtype && (bias == nil || bias!.dtype == a.dtype),
                     "\(op): input (\(a.dtype)), weight (\(b.dtype)) and bias (\(bias?.dtype.rawValue ?? "none")) must have the same dtype")
        let outShape: [Int]
        switch kind {
        case .forward: outShape = g.columnShape
        case .backward: outShape = g.imageShape
        case .weightGradient: outShape = g.weightShape
        }
        if let bias {
            precondition(bias.shape == [outShape[1]], "\(op): expected bias of shape [\(outShape[1])], got \(bias.shape)")
        }
        let out = Tensor(shape: outShape, dtype: a.dtype, zeroed: kind == .backward)
        func run<T: FloatElement>(_: T.Type) {
            KernelTape.launch((out.kernelWrite(T.self), a.kernelRead(T.self), b.kernelRead(T.self), bias?.kernelRead(T.self),
                               kind, g, outShape[0], outShape[1], outShape[2] * outShape[3])) { x in
                let (o, pa, pb, pbias, kind, g, batch, channels, positions) = x
                switch kind {
                case .forward: ConvKernels.forward(image: pa, weight: pb, columns: o, g)
                case .backward: ConvKernels.backward(columns: pa, weight: pb, image: o, g)
                case .weightGradient: ConvKernels.weightGradient(columns: pa, image: pb, weight: o, g)
                }
                if let pbias { ConvKernels.addBias(o, pbias, batch: batch, channels: channels, positions: positions) }
            }
        }
        a.dispatchFloat(op, { run(Float.self) }, { run(Double.self) })
        let inputs = bias.map { [a, b, $0] } ?? [a, b]
        guard Tensor.recordsGrad(inputs) else { return out }
        let rule: BackwardRule = kind == .forward ? .convolution : kind == .backward ? .convolutionTranspose : .convolutionWeight
        return out.recorded(rule, a, b, bias, save0: a.detached(), save1: b.detached()) { node, grad in
            let (av, bv) = (node.saved0!, node.saved1!)
            func first() -> Tensor { node.input(0, value: av) }
            func second() -> Tensor { node.input(1, value: bv) }
            var ga: Tensor?, gb: Tensor?, gbias: Tensor?
            switch kind {
            case .forward:
                if node.needsGrad(0) { ga = Tensor.convolution(.backward, grad, second(), g, op) }
                if node.needsGrad(1) { gb = Tensor.convolution(.weightGradient, grad, first(), g, op) }
            case .backward:
                if node.needsGrad(0) { ga = Tensor.convolution(.forward, grad, second(), g, op) }
                if node.needsGrad(1) { gb = Tensor.convolution(.weightGradient, first(), grad, g, op) }
            case .weightGradient:
                if node.needsGrad(0) { ga = Tensor.convolution(.forward, second(), grad, g, op) }
                if node.needsGrad(1) { gb = Tensor.convolution(.backward, first(), grad, g, op) }
            }
            if node.inputCount == 3 && node.needsGrad(2) { gbias = channelSums(grad) }
            return InputGrads(ga, gb, gbias)
        }
    }

    /// The sum over batch and positions of each channel of [N, C, H, W] (a bias gradient).
    static func channelSums(_ g: Tensor) -> Tensor {
        if GradNode.recordsGradients { return g.sum(dims: [0, 2, 3]) }
        let c = g.shape[1]
        let out = Tensor(shape: [c], dtype: g.dtype, zeroed: false)
        func run<T: FloatElement>(_: T.Type) {
            KernelTape.launch((g.kernelRead(T.self), out.kernelWrite(T.self), g.shape[0], c, g.shape[2] * g.shape[3])) { a in
                ConvKernels.biasGradient(a.0, a.1, batch: a.2, channels: a.3, positions: a.4) }
        }
        g.dispatchFloat("conv2d", { run(Float.self) }, { run(Double.self) })
        return out
    }
}
