// Normalization and the other ops of the CNN models: batch_norm (training or not, running
// statistics updated in place), group_norm, pad (constant, reflect, replicate), flatten with
// dims, unflatten, and dropout2d.

extension BackwardRule {
    static let batchNorm = BackwardRule("NativeBatchNormBackward0",
        "dx = w * rstd * (G - mean(G) - xhat * mean(G * xhat)), dw = sum(G * xhat), db = sum(G), per channel")
    static let pad = BackwardRule("ConstantPadNdBackward0", "dx = G at the positions each output entry was read from (summed where read twice)")
}

/// How `pad` fills the new entries (PyTorch's `mode=`).
public enum PadMode: String, Sendable {
    /// A constant value.
    case constant
    /// The input mirrored at its edges, the edge itself not repeated.
    case reflect
    /// The edge entry repeated.
    case replicate
    /// The input repeated from its other side.
    case circular
}

enum NormKernels {
    /// The mean and 1 / sqrt(biased variance + eps) of each channel of x seen as [n, c, s], and the
    /// unbiased variance (for the running statistics); accumulated in double, two passes.
    static func channelStats<T: FloatElement>(_ x: UnsafePointer<T>, n: Int, c: Int, s: Int, eps: Double,
                                              mean: UnsafeMutablePointer<Double>, invstd: UnsafeMutablePointer<Double>,
                                              unbiased: UnsafeMutablePointer<Double>) {
        // As PyTorch's CPU kernel: the sums in double, the mean rounded to the element type, the
        // squared deviations from it in the element type, 1 / sqrt(var + eps) in double, rounded.
        nonisolated(unsafe) let (px, pm, pi, pu) = (x, mean, invstd, unbiased)
        let m = n * s
        let parallel = n * c * s >= 1 << 16
        Parallelism.dynamic(parallel ? c : 1) { ch in
            for k in parallel ? ch..<(ch + 1) : 0..<c {
                var sum = 0.0
                for i in 0..<n { sum += doubleSum(px + (i * c + k) * s, s) }
                let muT = T(sum / Double(m))
                var sq = 0.0
                for i in 0..<n { sq += squaredDeviationSum(px + (i * c + k) * s, s, muT) }
                pm[k] = Double(muT)
                pi[k] = Double(T(1 / (sq / Double(m) + eps).squareRoot()))
                pu[k] = m > 1 ? sq / Double(m - 1) : .nan
            }
        }
    }

    /// The sum of `n` values accumulated in double, four lanes at a time.
    @inline(__always)
    static func doubleSum<T: FloatElement>(_ p: UnsafePointer<T>, _ n: Int) -> Double {
        var a = SIMD4<Double>(), j = 0
        while j + 4 <= n {
            a += SIMD4(Double(p[j]), Double(p[j + 1]), Double(p[j + 2]), Double(p[j + 3]))
            j += 4
        }
        var t = a.sum()
        while j < n { t += Double(p[j]); j += 1 }
        return t
    }

    /// The sum of (p[j] - mu)^2, each square in the element type, accumulated in double.
    @inline(__always)
    static func squaredDeviationSum<T: FloatElement>(_ p: UnsafePointer<T>, _ n: Int, _ mu: T) -> Double {
        var a = SIMD4<Double>(), j = 0
        while j + 4 <= n {
            let d0 = p[j] - mu, d1 = p[j + 1] - mu, d2 = p[j + 2] - mu, d3 = p[j + 3] - mu
            a += SIMD4(Double(d0 * d0), Double(d1 * d1), Double(d2 * d2), Double(d3 * d3))
            j += 4
        }
        var t = a.sum()
        while j < n { let d = p[j] - mu; t += Double(d * d); j += 1 }
        return t
    }

    /// (sum of g, sum of g (x - mu)) over `n` entries, eight lanes at a time in the element type.
    @inline(__always)
    static func gradientSums<T: FloatElement>(_ x: UnsafePointer<T>, _ g: UnsafePointer<T>, _ n: Int, _ mu: T) -> (Double, Double) {
        var a = SIMD8<T>(), b = SIMD8<T>(), j = 0
        let m = SIMD8<T>(repeating: mu)
        while j + 8 <= n {
            let gv = UnsafeRawPointer(g + j).loadUnaligned(as: SIMD8<T>.self)
            let xv = UnsafeRawPointer(x + j).loadUnaligned(as: SIMD8<T>.self)
            a += gv
            b += gv * (xv - m)
            j += 8
        }
        var ta = Double(a.sum()), tb = Double(b.sum())
        while j < n { ta += Double(g[j]); tb += Double(g[j] * (x[j] - mu)); j += 1 }
        return (ta, tb)
    }

    /// y = x * scale[c] + shift[c] for x seen as [n, c, s].
    static func affine<T: FloatElement>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, n: Int, c: Int, s: Int,
                                        scale: UnsafePointer<T>, shift: UnsafePointer<T>) {
        nonisolated(unsafe) let (px, py, scale, shift) = (x, y, scale, shift)
        Parallelism.chunked(n * c, grain: Swift.max(1, (1 << 16) / Swift.max(s, 1))) { lo, hi in
            for row in lo..<hi {
                let k = row % c, a = scale[k], b = shift[k]
                let p = px + row * s, q = py + row * s
                for j in 0..<s { q[j] = p[j] * a + b }
            }
        }
    }

    /// The batch-norm backward for x seen as [n, c, s]: dx (when `dx` is given), and per channel
    /// sum(G) and sum(G * xhat). `weight` (when given) holds float32 or float64 values (`weightDtype`).
    static func backward<T: FloatElement>(_ x: UnsafePointer<T>, _ g: UnsafePointer<T>, dx: UnsafeMutablePointer<T>?,
                                          n: Int, c: Int, s: Int, mean: UnsafePointer<Double>, invstd: UnsafePointer<Double>,
                                          weight: UnsafeRawPointer?, weightDtype: DType,
                                          sumG: UnsafeMutablePointer<Double>, sumGX: UnsafeMutablePointer<Double>) {
        nonisolated(unsafe) let (px, pg, pdx, s1, s2, mean, invstd, weight) = (x, g, dx, sumG, sumGX, mean, invstd, weight)
        let m = Double(n * s)
        let parallel = n * c * s >= 1 << 16
        Parallelism.dynamic(parallel ? c : 1) { ch in
            for k in parallel ? ch..<(ch + 1) : 0..<c {
                let mu = T(mean[k])
                var a = 0.0, b = 0.0
                for i in 0..<n {
                    let (ta, tb) = gradientSums(px + (i * c + k) * s, pg + (i * c + k) * s, s, mu)
                    a += ta; b += tb
                }
                let inv = invstd[k]
                s1[k] = a; s2[k] = b * inv
                guard let pdx else { continue }
                // dx = w inv (G - a/m - xhat * (b inv)/m), xhat = (x - mu) inv.
                let w = weight.map { weightDtype == .float32 ? Double($0.load(fromByteOffset: 4 * k, as: Float.self))
                                                             : $0.load(fromByteOffset: 8 * k, as: Double.self) } ?? 1
                let scale = T(w * inv), meanG = T(a / m), coef = T(b * inv * inv / m)
                for i in 0..<n {
                    let p = px + (i * c + k) * s, q = pg + (i * c + k) * s, o = pdx + (i * c + k) * s
                    for j in 0..<s { o[j] = scale * (q[j] - meanG - (p[j] - mu) * coef) }
                }
            }
        }
    }
}

extension OpDescription {
    static let normalizationOps: [OpDescription] = [batchNorm, groupNorm, pad, flatten, unflatten, dropout2d]

    static let batchNorm = OpDescription(
        "batch_norm", .reduction,
        pytorch: "F.batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5)",
        swift: "x.batchNorm(runningMean: rm, runningVar: rv, weight: w, bias: b, training: false, momentum: 0.1, eps: 1e-5)",
        note: "running statistics (Buffer) updated in place in training, with the unbiased variance", rules: [.batchNorm],
        replay: { c in
            let rm = c.optionalTensor(named: "running_mean", default: 1).map(Buffer.init)
            let rv = c.optionalTensor(named: "running_var", default: 2).map(Buffer.init)
            let y = try c.tensor(0).batchNorm(runningMean: rm, runningVar: rv, weight: c.optionalTensor(named: "weight", default: 3),
                                              bias: c.optionalTensor(named: "bias", default: 4),
                                              training: try c.kwargs.bool("training") ?? false,
                                              momentum: try c.kwargs.double("momentum") ?? 0.1, eps: try c.kwargs.double("eps") ?? 1e-5)
            if let rm { c.kwargs.updated["running_mean"] = rm.value }
            if let rv { c.kwargs.updated["running_var"] = rv.value }
            return [y]
        },
        gradcheck: [.problem("training", "x.batchNorm(runningMean:runningVar:weight:bias:training: true)") { g in
            let s = [g.int(2..<4), g.int(1..<4)] + (0..<g.int(0..<3)).map { _ in g.int(1..<4) }
            let c = s[1]
            return GradcheckProblem(inputs: [g.normal(s), g.normal([c]), g.normal([c])], wrt: [0, 1, 2], function: {
                $0[0].batchNorm(runningMean: nil, runningVar: nil, weight: $0[1], bias: $0[2], training: true)
            })
        }, .problem("eval", "x.batchNorm(runningMean:runningVar:weight:bias:training: false)") { g in
            let s = [g.int(1..<4), g.int(1..<4), g.int(1..<4)], c = s[1]
            let rm = Buffer(g.normal([c])), rv = Buffer(g.uniform([c], 0.5, 2))
            return GradcheckProblem(inputs: [g.normal(s), g.normal([c]), g.normal([c])], wrt: [0, 1, 2], function: {
                $0[0].batchNorm(runningMean: rm, runningVar: rv, weight: $0[1], bias: $0[2], training: false)
            })
        }])

    static let groupNorm = OpDescription(
        "group_norm", .reduction, pytorch: "F.group_norm(x, num_groups, weight=None, bias=None, eps=1e-5)",
        swift: "x.groupNorm(numGroups: 2, weight: w, bias: b, eps: 1e-5)",
        note: "composed: (x - mean) * rsqrt(var + eps) over each group's channels, then * w + b per channel",
        rules: [.meanDims, .sub, .rsqrt, .mul, .add],
        replay: { c in
            [try c.tensor(0).groupNorm(numGroups: try c.kwargs.required(try c.kwargs.int("num_groups"), "group_norm", "num_groups"),
                                       weight: c.optionalTensor(named: "weight", default: 1), bias: c.optionalTensor(named: "bias", default: 2),
                                       eps: try c.kwargs.double("eps") ?? 1e-5)]
        },
        gradcheck: [.problem("x.groupNorm(numGroups:weight:bias:)") { g in
            let groups = g.int(1..<3), c = groups * g.int(1..<3)
            let s = [g.int(1..<3), c] + (0..<g.int(0..<3)).map { _ in g.int(1..<4) }
            // At least two values per group, so that the variance is not zero.
            let shape = s.count == 2 && c == groups ? s + [2] : s
            return GradcheckProblem(inputs: [g.normal(shape), g.normal([c]), g.normal([c])], wrt: [0, 1, 2], function: {
                $0[0].groupNorm(numGroups: groups, weight: $0[1], bias: $0[2])
            })
        }])

    static let pad = OpDescription(
        "pad", .shape, pytorch: "F.pad(x, pad, mode=\"constant\", value=0)", swift: "x.pad([1, 1, 2, 0], mode: .constant, value: 0)",
        note: "pairs from the last dim; also reflect, replicate, circular; negative pads crop", rules: [.pad],
        replay: { c in
            let p = try c.kwargs.required(try c.kwargs.ints("pad"), "pad", "pad")
            let modeName = try c.kwargs.string("mode") ?? "constant"
            guard let mode = PadMode(rawValue: modeName) else { throw c.error("unknown padding mode \(modeName)") }
            return [try c.tensor(0).pad(p, mode: mode, value: try c.kwargs.double("value") ?? 0)]
        },
        gradcheck: [.unary("x.pad(_:mode:value:)") { g in
            let mode = [PadMode.constant, .reflect, .replicate, .circular][g.int(0..<4)]
            let s = [g.int(1..<3), g.int(2..<4), g.int(3..<5)]
            let p = (0..<4).map { _ in mode == .constant ? g.int(-1..<3) : g.int(0..<2) }
            return (g.normal(s), { $0.pad(p, mode: mode, value: 0.5) })
        }])

    static let flatten = OpDescription(
        "flatten", .shape, pytorch: "torch.flatten(x, start_dim=0, end_dim=-1)", swift: "x.flatten(startDim: 1, endDim: -1)",
        rules: [.view],
        replay: { c in [try c.tensor(0).flatten(startDim: try c.kwargs.int("start_dim") ?? 0, endDim: try c.kwargs.int("end_dim") ?? -1)] },
        gradcheck: [.unary("x.flatten(startDim:endDim:)") { g in
            let s = g.shape(minRank: 1, maxRank: 4), a = g.int(0..<s.count), b = g.int(a..<s.count)
            return (g.normal(s), { $0.flatten(startDim: a, endDim: b) })
        }])

    static let unflatten = OpDescription(
        "unflatten", .shape, pytorch: "torch.unflatten(x, dim, sizes)", swift: "x.unflatten(dim: 1, sizes: [2, -1])", rules: [.view],
        replay: { c in
            [try c.tensor(0).unflatten(dim: try c.kwargs.required(try c.kwargs.int("dim"), "unflatten", "dim"),
                                       sizes: try c.kwargs.required(try c.kwargs.ints("sizes"), "unflatten", "sizes"))]
        },
        gradcheck: [.unary("x.unflatten(dim:sizes:)") { g in
            let a = g.int(1..<3), b = g.int(1..<3)
            return (g.normal([2, a * b, 2]), { $0.unflatten(dim: 1, sizes: [a, -1]) })
        }])

    static let dropout2d = OpDescription(
        "dropout2d", .elementwise, pytorch: "F.dropout2d(x, p=0.5, training=True)", swift: "x.dropout2d(p: 0.5, training: true, using: &g)",
        note: "whole channels zeroed; the mask from Backprop's generator, not PyTorch's", rules: [.mul],
        replay: { c in
            let p = try c.kwargs.double("p") ?? 0.5, training = try c.kwargs.bool("training") ?? true
            // PyTorch's random mask cannot be replayed: only the deterministic cases (p = 0, or not training).
            guard p == 0 || p == 1 || !training else { throw c.error("dropout2d's random mask is not PyTorch's; replayable with p=0, p=1 or training=False") }
            var g = RandomGenerator(seed: 0)
            return [try c.tensor(0).dropout2d(p: p, training: training, using: &g)]
        },
        gradcheck: [.unary("x.dropout2d(p:training:using:)") { g in
            let seed = g.next()
            return (g.normal([2, 3, 2, 2]), { x in
                var r = RandomGenerator(seed: seed)
                return x.dropout2d(p: 0.4, training: true, using: &r)
            })
        }])
}

extension Tensor {
    /// Batch normalization over the channels of dim 1 of `self` [N, C, ...] (PyTorch's
    /// `F.batch_norm`). In training, normalizes with the batch's mean and biased variance per
    /// channel and updates the running statistics in place: `running = (1 - momentum) running +
    /// momentum stat`, with the unbiased variance; otherwise normalizes with the running statistics.
    /// Then times `weight` plus `bias` per channel when given.
    ///
    /// Backward: dx = w * rstd * (G - mean(G) - xhat * mean(G * xhat)), dw = sum(G * xhat), db = sum(G), per channel
    public func batchNorm(runningMean: Buffer?, runningVar: Buffer?, weight: Tensor? = nil, bias: Tensor? = nil,
                          training: Bool = false, momentum: Double = 0.1, eps: Double = 1e-5) -> Tensor {
        batchNorm(runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias, training: training,
                  momentum: momentum, eps: eps, averagingCount: nil)
    }

    /// `batchNorm`; with `averagingCount` (an int64 0-d tensor: `num_batches_tracked`) the running
    /// statistics' momentum is 1 / its value, read by the kernel (BatchNorm's `momentum=None`).
    func batchNorm(runningMean: Buffer?, runningVar: Buffer?, weight: Tensor?, bias: Tensor?,
                   training: Bool, momentum: Double, eps: Double, averagingCount: Tensor?) -> Tensor {
        let op = "batch_norm"
        requireFloat(op)
        precondition(rank >= 2, "\(op): expected an input of at least 2 dims [N, C, ...], got shape \(shape)")
        let (n, c) = (shape[0], shape[1])
        let s = shape.dropFirst(2).reduce(1, *)
        for (name, t) in [("weight", weight), ("bias", bias), ("running_mean", runningMean?.value), ("running_var", runningVar?.value)] {
            if let t { precondition(t.shape == [c], "\(op): \(name) of shape \(t.shape) for \(c) channels (input \(shape))") }
        }
        let channelShape = [1, c] + Array(repeating: 1, count: rank - 2)
        if !training {
            precondition(runningMean != nil && runningVar != nil, "\(op): running_mean and running_var must be defined in evaluation mode")
            // y = x * scale + shift, the per-channel factors recorded so that weight and bias get gradients.
            let inv = (runningVar!.value.to(dtype) + eps).rsqrt()
            let scale = weight.map { $0 * inv } ?? inv
            let shift = (bias ?? Tensor.zeros([c], dtype: dtype)) - runningMean!.value.to(dtype) * scale
            if !Tensor.recordsGrad([self] + [weight, bias].compactMap { $0 }) {
                let out = Tensor(shape: shape, dtype: dtype, zeroed: false)
                let (a, b) = (scale.to(dtype), shift.to(dtype))
                func run<T: FloatElement>(_: T.Type) {
                    KernelTape.launch((kernelRead(T.self), out.kernelWrite(T.self), a.kernelRead(T.self), b.kernelRead(T.self),
                                       n, c, s)) { x in
                        NormKernels.affine(x.0, x.1, n: x.4, c: x.5, s: x.6, scale: x.2, shift: x.3)
                    }
                }
                dispatchFloat(op, { run(Float.self) }, { run(Double.self) })
                return out
            }
            return self * scale.reshape(channelShape) + shift.reshape(channelShape)
        }
        precondition(n * s > 1, "\(op): expected more than 1 value per channel when training, got input size \(shape)")
        // Per channel in double: the mean, 1 / std and the unbiased variance, all in kernels (a
        // compiled step's replay computes them anew).
        let stats = Tensor(shape: [3 * c], dtype: .float64, zeroed: false)
        dispatchFloat(op, {
            KernelTape.launch((kernelRead(Float.self), stats.kernelWrite(Double.self), n, c, s, eps)) { a in
                NormKernels.channelStats(a.0, n: a.2, c: a.3, s: a.4, eps: a.5, mean: a.1, invstd: a.1 + a.3, unbiased: a.1 + 2 * a.3)
            }
        }, {
            KernelTape.launch((kernelRead(Double.self), stats.kernelWrite(Double.self), n, c, s, eps)) { a in
                NormKernels.channelStats(a.0, n: a.2, c: a.3, s: a.4, eps: a.5, mean: a.1, invstd: a.1 + a.3, unbiased: a.1 + 2 * a.3)
            }
        })
        // running = (1 - momentum) running + momentum stat, in double, rounded to the buffer's dtype,
        // in place (copy-on-write keeps a shared old value); the cumulative average's momentum is
        // 1 / num_batches_tracked, read by the kernel.
        func updateRunning(_ buffer: Buffer, _ offset: Int) {
            precondition(buffer.value.dtype.isFloatingPoint, "\(op): running statistics of dtype \(buffer.value.dtype)")
            let count = averagingCount.map { $0.kernelRead(Int64.self) }
            let stat = stats.kernelRead(Double.self) + offset
            if buffer.value.dtype == .float32 {
                KernelTape.launch((buffer.value.kernelUpdate(Float.self), stat, c, momentum, count)) { a in
                    let m = a.4.map { 1 / Double($0[0]) } ?? a.3
                    for k in 0..<a.2 { a.0[k] = Float((1 - m) * Double(a.0[k]) + m * a.1[k]) }
                }
            } else {
                KernelTape.launch((buffer.value.kernelUpdate(Double.self), stat, c, momentum, count)) { a in
                    let m = a.4.map { 1 / Double($0[0]) } ?? a.3
                    for k in 0..<a.2 { a.0[k] = (1 - m) * a.0[k] + m * a.1[k] }
                }
            }
        }
        if let runningMean { updateRunning(runningMean, 0) }
        if let runningVar { updateRunning(runningVar, 2 * c) }
        // y = x * alpha + beta, alpha = invstd * w, beta = b - mean * alpha in the element type (PyTorch's order).
        let w = weight?.to(dtype), b = bias?.to(dtype)
        let out = Tensor(shape: shape, dtype: dtype, zeroed: false)
        func transform<T: FloatElement>(_: T.Type) {
            let coefficients = Tensor(shape: [2 * c], dtype: dtype, zeroed: false)
            KernelTape.launch((kernelRead(T.self), out.kernelWrite(T.self), stats.kernelRead(Double.self),
                               coefficients.kernelWrite(T.self), w?.kernelRead(T.self), b?.kernelRead(T.self), n, c, s)) { a in
                let (x, o, st, ab, pw, pb, n, c, s) = a
                for k in 0..<c {
                    let alpha = T(st[c + k]) * (pw?[k] ?? 1)
                    ab[k] = alpha
                    ab[c + k] = (pb?[k] ?? 0) - T(st[k]) * alpha
                }
                NormKernels.affine(x, o, n: n, c: c, s: s, scale: ab, shift: ab + c)
            }
        }
        dispatchFloat(op, { transform(Float.self) }, { transform(Double.self) })
        let inputs = [self] + [weight, bias].compactMap { $0 }
        guard Tensor.recordsGrad(inputs) else { return out }
        let (hasWeight, hasBias) = (weight != nil, bias != nil)
        let x = detached(), wv = weight?.detached()
        return out.recorded(.batchNorm, inputs: inputs, saves: true) { node, g in
            let wi = hasWeight ? 1 : -1, bi = hasBias ? (hasWeight ? 2 : 1) : -1
            if GradNode.recordsGradients {
                // The same formula in recorded ops, for gradients of gradients.
                let xr = node.input(0, value: x)
                let dims = [0] + Array(2..<x.rank), m = Double(n * s)
                let mu = xr.mean(dims: dims, keepDim: true), xc = xr - mu
                let inv = ((xc * xc).mean(dims: dims, keepDim: true) + eps).rsqrt(), xhat = xc * inv
                let sg = g.sum(dims: dims, keepDim: true), sgx = (g * xhat).sum(dims: dims, keepDim: true)
                var dx = inv * (g - sg / m - xhat * sgx / m)
                if hasWeight { dx = dx * node.input(wi, value: wv!).reshape(channelShape) }
                var grads: [Tensor?] = [node.needsGrad(0) ? dx : nil]
                if hasWeight { grads.append(node.needsGrad(wi) ? sgx.reshape([c]) : nil) }
                if hasBias { grads.append(node.needsGrad(bi) ? sg.reshape([c]) : nil) }
                return InputGrads(grads)
            }
            let dx = node.needsGrad(0) ? Tensor(shape: x.shape, dtype: x.dtype, zeroed: false) : nil
            let dw = hasWeight && node.needsGrad(wi) ? Tensor(shape: [c], dtype: x.dtype, zeroed: false) : nil
            let db = hasBias && node.needsGrad(bi) ? Tensor(shape: [c], dtype: x.dtype, zeroed: false) : nil
            // Per channel sum(G), sum(G * xhat) in double, then rounded into the two gradients.
            let sums = Tensor(shape: [2 * c], dtype: .float64, zeroed: false)
            let weightArg = wv.map { UnsafeRawPointer($0.kernelRead(UInt8.self)) }
            let weightDtype = wv?.dtype ?? x.dtype
            func run<T: FloatElement>(_: T.Type) {
                KernelTape.launch((x.kernelRead(T.self), g.kernelRead(T.self), dx?.kernelWrite(T.self), stats.kernelRead(Double.self),
                                   weightArg, weightDtype, sums.kernelWrite(Double.self), dw?.kernelWrite(T.self),
                                   db?.kernelWrite(T.self), (n, c, s))) { a in
                    let (px, pg, pdx, st, pw, wdt, sm, pdw, pdb, (n, c, s)) = a
                    NormKernels.backward(px, pg, dx: pdx, n: n, c: c, s: s, mean: st, invstd: st + c, weight: pw, weightDtype: wdt,
                                         sumG: sm, sumGX: sm + c)
                    if let pdw { for k in 0..<c { pdw[k] = T(sm[c + k]) } }
                    if let pdb { for k in 0..<c { pdb[k] = T(sm[k]) } }
                }
            }
            x.dispatchFloat(op, { run(Float.self) }, { run(Double.self) })
            var grads: [Tensor?] = [dx]
            if hasWeight { grads.append(dw) }
            if hasBias { grads.append(db) }
            return InputGrads(grads)
        }
    }

    /// Group normalization (PyTorch's `F.group_norm`): the channels of `self` [N, C, ...] split into
    /// `numGroups` groups, each sample's group normalized by its mean and biased variance, then
    /// times `weight` plus `bias` per channel. Composed of recorded ops.
    public func groupNorm(numGroups: Int, weight: Tensor? = nil, bias: Tensor? = nil, eps: Double = 1e-5) -> Tensor {
        let op = "group_norm"
        requireFloat(op)
        precondition(rank >= 2, "\(op): expected an input of at least 2 dims [N, C, ...], got shape \(shape)")
        let c = shape[1]
        precondition(numGroups > 0 && c % numGroups == 0, "\(op): expected number of channels in input (\(c)) to be divisible by num_groups (\(numGroups))")
        for (name, t) in [("weight", weight), ("bias", bias)] {
            if let t { precondition(t.shape == [c], "\(op): \(name) of shape \(t.shape) for \(c) channels (input \(shape))") }
        }
        let grouped = reshape([shape[0], numGroups, count / Swift.max(1, shape[0] * numGroups)])
        let mean = grouped.mean(dims: [2], keepDim: true)
        let centered = grouped - mean
        let variance = (centered * centered).mean(dims: [2], keepDim: true)
        var y = (centered * (variance + eps).rsqrt()).reshape(shape)
        let channelShape = [1, c] + Array(repeating: 1, count: rank - 2)
        if let weight { y = y * weight.reshape(channelShape) }
        if let bias { y = y + bias.reshape(channelShape) }
        return y
    }

    /// `self` padded (PyTorch's `F.pad`): `pad` holds (before, after) pairs starting from the last
    /// dim; negative values crop. `mode` fills with `value`, mirrors, repeats the edge or wraps.
    ///
    /// Backward: dx = G at the positions each output entry was read from (summed where read twice)
    public func pad(_ pad: [Int], mode: PadMode = .constant, value: Double = 0) -> Tensor {
        let op = "pad"
        precondition(pad.count % 2 == 0 && pad.count / 2 <= rank,
                     "\(op): padding length must be divisible by 2 and at most twice the number of dims, got \(pad) for shape \(shape)")
        let k = pad.count / 2
        var outShape = shape
        var before = [Int](repeating: 0, count: rank)
        for i in 0..<k {
            let d = rank - 1 - i
            before[d] = pad[2 * i]
            outShape[d] = shape[d] + pad[2 * i] + pad[2 * i + 1]
            precondition(outShape[d] >= 0, "\(op): the padded size of dim \(d) would be \(outShape[d]) (shape \(shape), pad \(pad))")
            if mode == .reflect {
                precondition(pad[2 * i] < shape[d] && pad[2 * i + 1] < shape[d] && pad[2 * i] >= 0 && pad[2 * i + 1] >= 0,
                             "\(op): padding size should be less than the corresponding input dimension, but got: padding (\(pad[2 * i]), \(pad[2 * i + 1])) at dimension \(d) of input \(shape)")
            } else if mode != .constant {
                precondition(pad[2 * i] >= 0 && pad[2 * i + 1] >= 0 && shape[d] > 0, "\(op): \(mode.rawValue) padding needs non-negative pads and a non-empty input, got \(pad) for \(shape)")
                if mode == .circular {
                    precondition(pad[2 * i] <= shape[d] && pad[2 * i + 1] <= shape[d], "\(op): padding value causes wrapping around more than once (pad \(pad), shape \(shape))")
                }
            }
        }
        // For each output entry, the input offset it reads, or -1 for the fill value.
        let total = outShape.reduce(1, *)
        var offsets = [Int](repeating: 0, count: total)
        var strides = [Int](repeating: 1, count: rank)
        for d in stride(from: rank - 2, through: 0, by: -1) { strides[d] = strides[d + 1] * shape[d + 1] }
        var index = [Int](repeating: 0, count: rank)
        for o in 0..<total {
            var off = 0
            for d in 0..<rank {
                var i = index[d] - before[d]
                let size = shape[d]
                if i < 0 || i >= size {
                    switch mode {
                    case .constant: off = -1
                    case .reflect: i = i < 0 ? -i : 2 * (size - 1) - i
                    case .replicate: i = i < 0 ? 0 : size - 1
                    case .circular: i = ((i % size) + size) % size
                    }
                    if off < 0 { break }
                }
                off += i * strides[d]
            }
            offsets[o] = off
            var d = rank - 1
            while d >= 0 { index[d] += 1; if index[d] < outShape[d] { break }; index[d] = 0; d -= 1 }
        }
        let kept = offsets.indices.filter { offsets[$0] >= 0 }
        let out: Tensor
        if kept.count == total {
            out = detached().taking(offsets, shape: outShape)
        } else {
            let fill = Tensor.full(outShape, value, dtype: dtype)
            let picked = detached().taking(kept.map { offsets[$0] }, shape: [kept.count])
            out = Tensor.placing(picked, at: kept, into: fill)
        }
        guard Tensor.recordsGrad(self) else { return out }
        let inShape = shape, keptOffsets = kept.map { offsets[$0] }, all = kept.count == total
        return out.recorded(.pad, self) { _, g in
            let flat = g.reshape([g.count])
            let picked = all ? flat : flat.takingRecorded(kept, shape: [kept.count])
            return InputGrads(Tensor.scatterAddingRecorded(picked, offsets: keptOffsets, into: inShape))
        }
    }

    /// `base` with `values[i]` written at flat offset `positions[i]` (no autograd).
    static func placing(_ values: Tensor, at positions: [Int], into base: Tensor) -> Tensor {
        var out = base.detached()
        func run<T>(_: T.Type) {
            out.withMutablePointer(T.self) { o in values.withPointer(T.self) { v in for i in positions.indices { o[positions[i]] = v[i] } } }
        }
        switch base.dtype {
        case .float32: run(Float.self)
        case .float64: run(Double.self)
        case .int64: run(Int64.self)
        case .bool: run(UInt8.self)
        }
        return out
    }

    /// The dims `startDim` through `endDim` merged into one (PyTorch's `torch.flatten`), a reshape.
    public func flatten(startDim: Int, endDim: Int = -1) -> Tensor {
        if rank == 0 { return reshape([1]) }
        let a = Shapes.normalize(startDim, rank: rank, op: "flatten"), b = Shapes.normalize(endDim, rank: rank, op: "flatten")
        precondition(a <= b, "flatten: start_dim (\(startDim)) cannot come after end_dim (\(endDim))")
        return reshape(Array(shape[..<a]) + [shape[a...b].reduce(1, *)] + Array(shape[(b + 1)...]))
    }

    /// Dim `dim` split into `sizes` (one may be -1) (PyTorch's `torch.unflatten`), a reshape.
    public func unflatten(dim: Int, sizes: [Int]) -> Tensor {
        let d = Shapes.normalize(dim, rank: rank, op: "unflatten")
        var sizes = sizes
        let known = sizes.filter { $0 != -1 }.reduce(1, *)
        if let i = sizes.firstIndex(of: -1) {
            precondition(known > 0 && shape[d] % known == 0, "unflatten: sizes \(sizes) do not divide dim \(dim) of size \(shape[d])")
            sizes[i] = shape[d] / known
        }
        precondition(sizes.reduce(1, *) == shape[d], "unflatten: provided sizes \(sizes) don't multiply up to the size of dim \(dim) (\(shape[d])) in the input tensor")
        return reshape(Array(shape[..<d]) + sizes + Array(shape[(d + 1)...]))
    }

    /// Whole channels zeroed with probability `p` in training, the rest scaled by 1 / (1 - p)
    /// (PyTorch's `F.dropout2d`), for `self` [N, C, H, W] or [C, H, W]; the mask drawn from `generator`.
    /// `self` unchanged when not training.
    public func dropout2d(p: Double = 0.5, training: Bool = true, using generator: inout RandomGenerator) -> Tensor {
        precondition(p >= 0 && p <= 1, "dropout2d: dropout probability has to be between 0 and 1, but got \(p)")
        precondition(rank == 3 || rank == 4, "dropout2d: expected a 3-d or 4-d input, got shape \(shape)")
        guard training, p > 0 else { return self }
        let planes = rank == 4 ? shape[0] * shape[1] : shape[0]
        let scale = p == 1 ? 0 : 1 / (1 - p)
        let mask = (0..<planes).map { _ in generator.nextUniform() < p ? 0.0 : scale }
        let maskShape = rank == 4 ? [shape[0], shape[1], 1, 1] : [shape[0], 1, 1]
        return self * Tensor(mask, shape: maskShape, dtype: dtype)
    }
}
