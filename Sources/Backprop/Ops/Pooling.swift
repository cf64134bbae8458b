// Pooling: max_pool2d and max_pool1d (the gradient goes to the first maximum of each window, as
// PyTorch's), avg_pool2d (ceil_mode, count_include_pad, divisor_override) and
// adaptive_avg_pool2d. The averages are linear maps of each plane, kept as lists of (output,
// input, weight) so that the forward, its adjoint and gradients of every order share them.

extension BackwardRule {
    static let maxPool2d = BackwardRule("MaxPool2DWithIndicesBackward0",
        "dx = G added at the position of each window's maximum (the first at ties)")
    static let avgPool2d = BackwardRule("AvgPool2DBackward0", "dx = G spread evenly over each window (divided as the forward)")
    static let adaptiveAvgPool2d = BackwardRule("AdaptiveAvgPool2DBackward0", "dx = G spread evenly over each adaptive window")
    static let poolAdjoint = BackwardRule("AvgPool2DBackwardBackward0", "dG = the same average of H as the forward")
}

/// The windows of one pooling along one dim: the output size and each window's start.
struct PoolAxis {
    let input: Int, output: Int, kernel: Int, stride: Int, padding: Int, dilation: Int

    /// PyTorch's pooling output size: floor (or ceil) of (in + 2 p - d (k - 1) - 1) / s, plus 1;
    /// with ceil_mode the last window must start inside the input or its left padding.
    init(_ op: String, input: Int, kernel: Int, stride: Int, padding: Int, dilation: Int, ceilMode: Bool) {
        precondition(kernel > 0 && stride > 0 && dilation > 0,
                     "\(op): kernel_size, stride and dilation must be greater than zero, got \(kernel), \(stride), \(dilation)")
        precondition(padding >= 0 && padding <= kernel / 2,
                     "\(op): pad should be at most half of effective kernel size, but got pad=\(padding), kernel_size=\(kernel)")
        let span = input + 2 * padding - dilation * (kernel - 1) - 1
        var out = span < 0 ? 0 : (span + (ceilMode ? stride - 1 : 0)) / stride + 1
        if ceilMode && out > 0 && (out - 1) * stride >= input + padding { out -= 1 }
        precondition(out > 0, "\(op): output size is too small for input size \(input) (kernel \(kernel), stride \(stride), padding \(padding), dilation \(dilation))")
        self.input = input; self.output = out; self.kernel = kernel; self.stride = stride
        self.padding = padding; self.dilation = dilation
    }
}

/// A linear map of each [H, W] plane to an [OH, OW] plane: out[o] = sum of weight * in[i].
struct PlaneMap: Sendable {
    var outputs: [Int32] = [], inputs: [Int32] = [], weights: [Double] = []
    let inPlane: Int, outPlane: Int
    let inShape: [Int], outShape: [Int]
}

enum PoolKernels {
    /// Max over each window of each plane; the argmax as a flat offset into the input (the first
    /// maximum; a NaN wins, the last one when there are several, as in PyTorch).
    static func maxPool<T: FloatElement>(_ x: UnsafePointer<T>, _ out: UnsafeMutablePointer<T>, _ arg: UnsafeMutablePointer<Int>,
                                         planes: Int, _ ah: PoolAxis, _ aw: PoolAxis) {
        let (h, w, oh, ow) = (ah.input, aw.input, ah.output, aw.output)
        nonisolated(unsafe) let (px, po, pa) = (x, out, arg)
        // The kernel offsets inside the input for each output row and column, computed once.
        func taps(_ a: PoolAxis) -> [[Int]] {
            (0..<a.output).map { o in
                (0..<a.kernel).map { o * a.stride - a.padding + $0 * a.dilation }.filter { $0 >= 0 && $0 < a.input }
            }
        }
        let rows = taps(ah), cols = taps(aw)
        let plain2x2 = ah.kernel == 2 && aw.kernel == 2 && ah.stride == 2 && aw.stride == 2 && ah.padding == 0 && aw.padding == 0
            && ah.dilation == 1 && aw.dilation == 1 && 2 * oh <= h && 2 * ow <= w   // (ceil_mode's last window may hang over)
        Parallelism.chunked(planes, grain: Swift.max(1, (1 << 16) / Swift.max(1, h * w))) { lo, hi in
            for p in lo..<hi {
                let base = p * h * w
                let plane = px + base
                if plain2x2 {
                    // The common window, as a plain loop that the compiler keeps in registers (a
                    // SIMD16 version spilled every lane to the stack): a later value wins when it
                    // is larger or NaN (PyTorch's rule), so ties keep the first maximum in row order.
                    for y in 0..<oh {
                        let r0 = plane + 2 &* y &* w, r1 = r0 + w
                        let o = (p &* oh &+ y) &* ow
                        let i0 = base &+ 2 &* y &* w
                        for xo in 0..<ow {
                            let i = 2 &* xo
                            var best = r0[i], at = i0 &+ i
                            let b = r0[i &+ 1], c = r1[i], d = r1[i &+ 1]
                            let tb = b > best || b != b
                            best = tb ? b : best; at = tb ? i0 &+ i &+ 1 : at
                            let tc = c > best || c != c
                            best = tc ? c : best; at = tc ? i0 &+ w &+ i : at
                            let td = d > best || d != d
                            best = td ? d : best; at = td ? i0 &+ w &+ i &+ 1 : at
                            po[o &+ xo] = best
                            pa[o &+ xo] = at
                        }
                    }
                    continue
                }
                for y in 0..<oh {
                    let ry = rows[y]
                    for xo in 0..<ow {
                        let cx = cols[xo]
                        var best = -T.infinity, at = -1
                        for iy in ry {
                            for ix in cx {
                                let v = plane[iy * w + ix]
                                if v > best || at < 0 || v.isNaN { best = v; at = iy * w + ix }
                            }
                        }
                        let o = (p * oh + y) * ow + xo
                        po[o] = best
                        pa[o] = base + at
                    }
                }
            }
        }
    }

    /// out[p, o] = sum of weight * x[p, i] over the map's entries.
    static func apply<T: FloatElement>(_ x: UnsafePointer<T>, _ out: UnsafeMutablePointer<T>, planes: Int, _ m: PlaneMap) {
        out.update(repeating: 0, count: planes * m.outPlane)
        m.outputs.withUnsafeBufferPointer { os in m.inputs.withUnsafeBufferPointer { ins in m.weights.withUnsafeBufferPointer { ws in
            for p in 0..<planes {
                let src = x + p * m.inPlane, dst = out + p * m.outPlane
                for e in 0..<os.count { dst[Int(os[e])] += T(ws[e]) * src[Int(ins[e])] }
            }
        } } }
    }

    /// The adjoint: dx[p, i] += weight * g[p, o].
    static func adjoint<T: FloatElement>(_ g: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>, planes: Int, _ m: PlaneMap) {
        dx.update(repeating: 0, count: planes * m.inPlane)
        m.outputs.withUnsafeBufferPointer { os in m.inputs.withUnsafeBufferPointer { ins in m.weights.withUnsafeBufferPointer { ws in
            for p in 0..<planes {
                let src = g + p * m.outPlane, dst = dx + p * m.inPlane
                for e in 0..<os.count { dst[Int(ins[e])] += T(ws[e]) * src[Int(os[e])] }
            }
        } } }
    }
}

extension OpDescription {
    static let poolingOps: [OpDescription] = [maxPool2d, maxPool1d, avgPool2d, adaptiveAvgPool2d]

    static func poolSize(_ c: OpCall, _ key: String) throws -> SpatialSize? {
        try c.kwargs.ints(key).map { SpatialSize($0) }
    }

    static let maxPool2d = OpDescription(
        "max_pool2d", .convolution, pytorch: "F.max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False)",
        swift: "x.maxPool2d(kernelSize: 2, stride: nil, padding: 0, dilation: 1, ceilMode: false)",
        note: "the gradient to the first maximum of each window", rules: [.maxPool2d],
        replay: { c in
            let k = try c.kwargs.required(try poolSize(c, "kernel_size"), "max_pool2d", "kernel_size")
            return [try c.tensor(0).maxPool2d(kernelSize: k, stride: try poolSize(c, "stride"), padding: try poolSize(c, "padding") ?? 0,
                                              dilation: try poolSize(c, "dilation") ?? 1, ceilMode: try c.kwargs.bool("ceil_mode") ?? false)]
        },
        gradcheck: [.unary("x.maxPool2d(kernelSize:stride:padding:dilation:ceilMode:)") { g in
            let k = [g.int(1..<4), g.int(1..<3)], s = [g.int(1..<3), g.int(1..<3)], p = [g.int(0..<(k[0] / 2 + 1)), 0]
            let d = [1, g.int(1..<3)], ceil = g.int(0..<2) == 1
            let shape = [g.int(1..<3), g.int(1..<3), (k[0] - 1) * d[0] + 1 + g.int(0..<3), (k[1] - 1) * d[1] + 1 + g.int(0..<3)]
            // Distinct values: no ties for finite differences to straddle.
            return (g.distinct(shape), { $0.maxPool2d(kernelSize: SpatialSize(k), stride: SpatialSize(s), padding: SpatialSize(p),
                                                      dilation: SpatialSize(d), ceilMode: ceil) })
        }])

    static let maxPool1d = OpDescription(
        "max_pool1d", .convolution, pytorch: "F.max_pool1d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False)",
        swift: "x.maxPool1d(kernelSize: 2, stride: nil, padding: 0, dilation: 1, ceilMode: false)",
        note: "max_pool2d over a height of 1", rules: [.maxPool2d],
        replay: { c in
            let k = try c.kwargs.required(try c.kwargs.ints("kernel_size"), "max_pool1d", "kernel_size")[0]
            return [try c.tensor(0).maxPool1d(kernelSize: k, stride: try c.kwargs.ints("stride")?[0], padding: try c.kwargs.ints("padding")?[0] ?? 0,
                                              dilation: try c.kwargs.ints("dilation")?[0] ?? 1, ceilMode: try c.kwargs.bool("ceil_mode") ?? false)]
        },
        gradcheck: [.unary("x.maxPool1d(kernelSize:stride:padding:ceilMode:)") { g in
            let k = g.int(1..<4), s = g.int(1..<3), p = g.int(0..<(k / 2 + 1)), ceil = g.int(0..<2) == 1
            return (g.distinct([g.int(1..<3), g.int(1..<3), k + g.int(0..<4)]),
                    { $0.maxPool1d(kernelSize: k, stride: s, padding: p, ceilMode: ceil) })
        }])

    static let avgPool2d = OpDescription(
        "avg_pool2d", .convolution,
        pytorch: "F.avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None)",
        swift: "x.avgPool2d(kernelSize: 2, stride: nil, padding: 0, ceilMode: false, countIncludePad: true, divisorOverride: nil)",
        rules: [.avgPool2d, .poolAdjoint],
        replay: { c in
            let k = try c.kwargs.required(try poolSize(c, "kernel_size"), "avg_pool2d", "kernel_size")
            return [try c.tensor(0).avgPool2d(kernelSize: k, stride: try poolSize(c, "stride"), padding: try poolSize(c, "padding") ?? 0,
                                              ceilMode: try c.kwargs.bool("ceil_mode") ?? false,
                                              countIncludePad: try c.kwargs.bool("count_include_pad") ?? true,
                                              divisorOverride: try c.kwargs.int("divisor_override"))]
        },
        gradcheck: [.unary("x.avgPool2d(kernelSize:stride:padding:ceilMode:countIncludePad:divisorOverride:)") { g in
            let k = [g.int(1..<4), g.int(1..<3)], s = [g.int(1..<3), g.int(1..<3)], p = [g.int(0..<(k[0] / 2 + 1)), g.int(0..<(k[1] / 2 + 1))]
            let ceil = g.int(0..<2) == 1, include = g.int(0..<2) == 1, div: Int? = g.int(0..<3) == 0 ? 3 : nil
            return (g.normal([g.int(1..<3), g.int(1..<3), k[0] + g.int(0..<3), k[1] + g.int(0..<3)]),
                    { $0.avgPool2d(kernelSize: SpatialSize(k), stride: SpatialSize(s), padding: SpatialSize(p), ceilMode: ceil,
                                   countIncludePad: include, divisorOverride: div) })
        }])

    static let adaptiveAvgPool2d = OpDescription(
        "adaptive_avg_pool2d", .convolution, pytorch: "F.adaptive_avg_pool2d(x, output_size)", swift: "x.adaptiveAvgPool2d(outputSize: [1, 1])",
        rules: [.adaptiveAvgPool2d, .poolAdjoint],
        replay: { c in
            [try c.tensor(0).adaptiveAvgPool2d(outputSize: SpatialSize(try c.kwargs.required(try c.kwargs.ints("output_size"), "adaptive_avg_pool2d", "output_size")))]
        },
        gradcheck: [.unary("x.adaptiveAvgPool2d(outputSize:)") { g in
            let size = [g.int(1..<4), g.int(1..<4)]
            return (g.normal([g.int(1..<3), g.int(1..<3), g.int(1..<6), g.int(1..<6)]), { $0.adaptiveAvgPool2d(outputSize: SpatialSize(size)) })
        }])
}

extension Tensor {
    /// The maximum of each window of `self` [N, C, H, W] (or [C, H, W]) (PyTorch's `F.max_pool2d`):
    /// `stride` defaults to `kernelSize`; padding counts as -infinity.
    ///
    /// Backward: dx = G added at the position of each window's maximum (the first at ties)
    public func maxPool2d(kernelSize: SpatialSize, stride: SpatialSize? = nil, padding: SpatialSize = 0,
                          dilation: SpatialSize = 1, ceilMode: Bool = false) -> Tensor {
        let op = "max_pool2d"
        requireFloat(op)
        precondition(rank == 3 || rank == 4, "\(op): expected a 3-d or 4-d input, got shape \(shape)")
        let k = kernelSize.expanded(2, op, "kernel_size"), s = (stride ?? kernelSize).expanded(2, op, "stride")
        let p = padding.expanded(2, op, "padding"), d = dilation.expanded(2, op, "dilation")
        let (h, w) = (shape[rank - 2], shape[rank - 1])
        let ah = PoolAxis(op, input: h, kernel: k[0], stride: s[0], padding: p[0], dilation: d[0], ceilMode: ceilMode)
        let aw = PoolAxis(op, input: w, kernel: k[1], stride: s[1], padding: p[1], dilation: d[1], ceilMode: ceilMode)
        let planes = shape.dropLast(2).reduce(1, *)
        let outShape = Array(shape.dropLast(2)) + [ah.output, aw.output]
        let out = Tensor(shape: outShape, dtype: dtype, zeroed: false)
        // The argmax offsets are kept in an int64 tensor (Int's size), which the kernel writes:
        // a compiled step's replay computes them anew.
        let recording = Tensor.recordsGrad(self)
        let arg = Tensor(shape: recording ? outShape : [0], dtype: .int64, zeroed: false)
        func run<T: FloatElement>(_: T.Type) {
            if recording {
                KernelTape.launch((kernelRead(T.self), out.kernelWrite(T.self), arg.kernelWrite(Int.self), planes, ah, aw)) { a in
                    PoolKernels.maxPool(a.0, a.1, a.2, planes: a.3, a.4, a.5)
                }
            } else {
                // Without a graph the offsets are not kept: a scratch buffer of the kernel's own.
                KernelTape.launch((kernelRead(T.self), out.kernelWrite(T.self), out.count, planes, ah, aw)) { a in
                    let scratch = UnsafeMutablePointer<Int>.allocate(capacity: Swift.max(1, a.2))
                    defer { scratch.deallocate() }
                    PoolKernels.maxPool(a.0, a.1, scratch, planes: a.3, a.4, a.5)
                }
            }
        }
        dispatchFloat(op, { run(Float.self) }, { run(Double.self) })
        guard recording else { return out }
        let inShape = shape
        return out.recorded(.maxPool2d, self) { _, g in
            if GradNode.recordsGradients {
                // Gradients of gradients: the recorded scatter (offsets read once, in Swift).
                return InputGrads(Tensor.scatterAddingRecorded(g, offsets: arg.integers, into: inShape))
            }
            return InputGrads(Tensor.scatterAdding(g, offsets: arg, into: inShape))
        }
    }

    /// The maximum of each window of `self` [N, C, L] (or [C, L]) (PyTorch's `F.max_pool1d`).
    public func maxPool1d(kernelSize: Int, stride: Int? = nil, padding: Int = 0, dilation: Int = 1, ceilMode: Bool = false) -> Tensor {
        precondition(rank == 2 || rank == 3, "max_pool1d: expected a 2-d or 3-d input, got shape \(shape)")
        return unsqueeze(-2).maxPool2d(kernelSize: SpatialSize([1, kernelSize]), stride: SpatialSize([1, stride ?? kernelSize]),
                                       padding: SpatialSize([0, padding]), dilation: SpatialSize([1, dilation]), ceilMode: ceilMode).squeeze(-2)
    }

    /// The mean of each window of `self` [N, C, H, W] (or [C, H, W]) (PyTorch's `F.avg_pool2d`):
    /// the divisor is `divisorOverride` when given, else the window's size with its padding
    /// (`countIncludePad`, clipped at the padded edge) or without.
    ///
    /// Backward: dx = G spread evenly over each window (divided as the forward)
    public func avgPool2d(kernelSize: SpatialSize, stride: SpatialSize? = nil, padding: SpatialSize = 0, ceilMode: Bool = false,
                          countIncludePad: Bool = true, divisorOverride: Int? = nil) -> Tensor {
        let op = "avg_pool2d"
        requireFloat(op)
        precondition(rank == 3 || rank == 4, "\(op): expected a 3-d or 4-d input, got shape \(shape)")
        if let divisorOverride { precondition(divisorOverride != 0, "\(op): divisor must be not zero") }
        let k = kernelSize.expanded(2, op, "kernel_size"), s = (stride ?? kernelSize).expanded(2, op, "stride")
        let p = padding.expanded(2, op, "padding")
        let (h, w) = (shape[rank - 2], shape[rank - 1])
        let ah = PoolAxis(op, input: h, kernel: k[0], stride: s[0], padding: p[0], dilation: 1, ceilMode: ceilMode)
        let aw = PoolAxis(op, input: w, kernel: k[1], stride: s[1], padding: p[1], dilation: 1, ceilMode: ceilMode)
        var m = PlaneMap(inPlane: h * w, outPlane: ah.output * aw.output, inShape: shape,
                         outShape: Array(shape.dropLast(2)) + [ah.output, aw.output])
        for y in 0..<ah.output {
            var y0 = y * s[0] - p[0], y1 = Swift.min(y0 + k[0], h + p[0])
            let padded = y1 - y0
            y0 = Swift.max(y0, 0); y1 = Swift.min(y1, h)
            for x in 0..<aw.output {
                var x0 = x * s[1] - p[1], x1 = Swift.min(x0 + k[1], w + p[1])
                let size = padded * (x1 - x0)
                x0 = Swift.max(x0, 0); x1 = Swift.min(x1, w)
                if y0 >= y1 || x0 >= x1 { continue }
                let divisor = divisorOverride ?? (countIncludePad ? size : (y1 - y0) * (x1 - x0))
                for iy in y0..<y1 {
                    for ix in x0..<x1 {
                        m.outputs.append(Int32(y * aw.output + x)); m.inputs.append(Int32(iy * w + ix))
                        m.weights.append(1 / Double(divisor))
                    }
                }
            }
        }
        return Tensor.planeMap(self, m, rule: .avgPool2d, op: op)
    }

    /// The mean of each of `outputSize` windows of `self` [N, C, H, W] (or [C, H, W]) per plane,
    /// window i spanning [floor(i H / OH), ceil((i + 1) H / OH)) (PyTorch's `F.adaptive_avg_pool2d`).
    ///
    /// Backward: dx = G spread evenly over each adaptive window
    public func adaptiveAvgPool2d(outputSize: SpatialSize) -> Tensor {
        let op = "adaptive_avg_pool2d"
        requireFloat(op)
        precondition(rank == 3 || rank == 4, "\(op): expected a 3-d or 4-d input, got shape \(shape)")
        let o = outputSize.expanded(2, op, "output_size")
        precondition(o.allSatisfy { $0 > 0 }, "\(op): output_size must be positive, got \(o)")
        let (h, w) = (shape[rank - 2], shape[rank - 1])
        precondition(h > 0 && w > 0, "\(op): expected non-empty spatial dims, got shape \(shape)")
        var m = PlaneMap(inPlane: h * w, outPlane: o[0] * o[1], inShape: shape, outShape: Array(shape.dropLast(2)) + o)
        for y in 0..<o[0] {
            let y0 = y * h / o[0], y1 = ((y + 1) * h + o[0] - 1) / o[0]
            for x in 0..<o[1] {
                let x0 = x * w / o[1], x1 = ((x + 1) * w + o[1] - 1) / o[1]
                let weight = 1 / Double((y1 - y0) * (x1 - x0))
                for iy in y0..<y1 {
                    for ix in x0..<x1 {
                        m.outputs.append(Int32(y * o[1] + x)); m.inputs.append(Int32(iy * w + ix)); m.weights.append(weight)
                    }
                }
            }
        }
        return Tensor.planeMap(self, m, rule: .adaptiveAvgPool2d, op: op)
    }

    /// A plane map applied to `x` (`adjoint`: its transpose), recorded with the other as backward.
    /// (The adjoint's own rule, for gradients of gradients:)
    ///
    /// Backward: dG = the same average of H as the forward
    static func planeMap(_ x: Tensor, _ m: PlaneMap, rule: BackwardRule, op: String, adjoint: Bool = false) -> Tensor {
        let planes = adjoint ? x.count / Swift.max(1, m.outPlane) : x.count / Swift.max(1, m.inPlane)
        let out = Tensor(shape: adjoint ? m.inShape : m.outShape, dtype: x.dtype, zeroed: false)
        func run<T: FloatElement>(_: T.Type) {
            KernelTape.launch((x.kernelRead(T.self), out.kernelWrite(T.self), planes, m, adjoint)) { a in
                if a.4 { PoolKernels.adjoint(a.0, a.1, planes: a.2, a.3) } else { PoolKernels.apply(a.0, a.1, planes: a.2, a.3) }
            }
        }
        x.dispatchFloat(op, { run(Float.self) }, { run(Double.self) })
        guard Tensor.recordsGrad(x) else { return out }
        return out.recorded(adjoint ? .poolAdjoint : rule, x) { _, g in
            InputGrads(planeMap(g, m, rule: rule, op: op, adjoint: !adjoint))
        }
    }
}
