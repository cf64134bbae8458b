// Attention: scaled_dot_product_attention (one fused kernel, forward and backward) and baddbmm.

extension BackwardRule {
    static let scaledDotProductAttention = BackwardRule(
        "ScaledDotProductAttentionBackward0",
        "P = softmax(scale q k^T + mask); dv = P^T G, dS = P * (G v^T - rowsum(P * G v^T)), dq = scale dS k, dk = scale dS^T q, dmask = dS")
}

extension OpDescription {
    static let attentionOps: [OpDescription] = [scaledDotProductAttention, baddbmm]

    static let scaledDotProductAttention = OpDescription(
        "scaled_dot_product_attention", .linearAlgebra,
        pytorch: "F.scaled_dot_product_attention(q, k, v, attn_mask=None, is_causal=True, scale=None)",
        swift: "Tensor.scaledDotProductAttention(q, k, v, attnMask: nil, isCausal: true, scale: nil)",
        note: "fused and threaded over heads; dropout_p 0; a bool mask (true: attend) or a float mask added to the scores (with a gradient)",
        rules: [.scaledDotProductAttention],
        replay: { c in
            let q = try c.tensor(0), k = try c.tensor(1), v = try c.tensor(2)
            let mask = c.optionalTensor(named: "attn_mask", default: 3)
            let dropout = try c.kwargs.double("dropout_p") ?? 0
            guard dropout == 0 else { throw c.error("dropout_p must be 0 (no dropout in attention)") }
            let causal = try c.kwargs.bool("is_causal") ?? false
            guard !(causal && mask != nil) else { throw c.error("attn_mask should not be set when is_causal=True") }
            try Tensor.checkAttentionShapes(q, k, v, mask, fail: { c.error($0) })
            return [Tensor.scaledDotProductAttention(q, k, v, attnMask: mask, isCausal: causal, scale: try c.kwargs.double("scale"))]
        },
        gradcheck: [.problem("plain", "Tensor.scaledDotProductAttention(q, k, v)") { g in
            let (batch, l, s, e, ev) = attentionShapes(&g)
            return GradcheckProblem(inputs: [g.normal(batch + [l, e]), g.normal(batch + [s, e]), g.normal(batch + [s, ev])],
                                    wrt: [0, 1, 2], function: { Tensor.scaledDotProductAttention($0[0], $0[1], $0[2]) })
        }, .problem("causal", "Tensor.scaledDotProductAttention(q, k, v, isCausal: true, scale: 0.7)") { g in
            let (batch, l, s, e, ev) = attentionShapes(&g)
            return GradcheckProblem(inputs: [g.normal(batch + [l, e]), g.normal(batch + [s, e]), g.normal(batch + [s, ev])],
                                    wrt: [0, 1, 2],
                                    function: { Tensor.scaledDotProductAttention($0[0], $0[1], $0[2], isCausal: true, scale: 0.7) })
        }, .problem("float_mask", "Tensor.scaledDotProductAttention(q, k, v, attnMask: m)") { g in
            let (batch, l, s, e, ev) = attentionShapes(&g)
            let maskShape = g.int(0..<2) == 0 ? [l, s] : batch + [l, s]
            return GradcheckProblem(inputs: [g.normal(batch + [l, e]), g.normal(batch + [s, e]), g.normal(batch + [s, ev]), g.normal(maskShape)],
                                    wrt: [0, 1, 2, 3],
                                    function: { Tensor.scaledDotProductAttention($0[0], $0[1], $0[2], attnMask: $0[3]) })
        }, .problem("bool_mask", "Tensor.scaledDotProductAttention(q, k, v, attnMask: boolMask)") { g in
            let (batch, l, s, e, ev) = attentionShapes(&g)
            // Some rows may lose every key: they give zeros, with zero gradients.
            let mask = g.normal([l, s]).gt(-0.5)
            return GradcheckProblem(inputs: [g.normal(batch + [l, e]), g.normal(batch + [s, e]), g.normal(batch + [s, ev])],
                                    wrt: [0, 1, 2],
                                    function: { Tensor.scaledDotProductAttention($0[0], $0[1], $0[2], attnMask: mask) })
        }])

    static func attentionShapes(_ g: inout RandomGenerator) -> (batch: [Int], l: Int, s: Int, e: Int, ev: Int) {
        let batch: [Int] = [[], [g.int(1..<3)], [g.int(1..<3), g.int(1..<3)]][g.int(0..<3)]
        return (batch, g.int(1..<5), g.int(1..<5), g.int(1..<4), g.int(1..<4))
    }

    static let baddbmm = OpDescription(
        "baddbmm", .linearAlgebra, pytorch: "torch.baddbmm(input, b1, b2, beta=1, alpha=1)",
        swift: "input.baddbmm(b1, b2, beta: 1, alpha: 1)", note: "composed: beta * input + alpha * bmm(b1, b2)",
        rules: [.bmm, .mul, .add],
        replay: { c in
            [try c.tensor(0).baddbmm(try c.tensor(1), try c.tensor(2), beta: try c.kwargs.double("beta") ?? 1,
                                     alpha: try c.kwargs.double("alpha") ?? 1)]
        },
        gradcheck: [.all("input.baddbmm(b1, b2, beta: 0.5, alpha: 2)") { g in
            let (b, n, k, m) = (g.int(1..<3), g.int(1..<4), g.int(1..<4), g.int(1..<4))
            let inputShape: [Int] = [[b, n, m], [n, m], [m]][g.int(0..<3)]
            return ([g.normal(inputShape), g.normal([b, n, k]), g.normal([b, k, m])],
                    { $0[0].baddbmm($0[1], $0[2], beta: 0.5, alpha: 2) })
        }])
}

extension Tensor {
    /// Checks the shapes of an attention call: q [..., L, E], k [..., S, E], v [..., S, Ev] with
    /// the same batch dims, a mask broadcastable to [..., L, S]; calls `fail` with PyTorch's kind of message.
    static func checkAttentionShapes<E: Error>(_ q: Tensor, _ k: Tensor, _ v: Tensor, _ mask: Tensor?,
                                               fail: (String) -> E) throws(E) {
        let op = "scaled_dot_product_attention"
        guard q.rank >= 2, k.rank == q.rank, v.rank == q.rank else {
            throw fail("\(op): query, key and value must have the same rank >= 2, got shapes \(q.shape), \(k.shape), \(v.shape)")
        }
        let batch = Array(q.shape.dropLast(2))
        guard Array(k.shape.dropLast(2)) == batch, Array(v.shape.dropLast(2)) == batch else {
            throw fail("\(op): the batch dims of query \(q.shape), key \(k.shape) and value \(v.shape) differ")
        }
        guard k.shape[k.rank - 1] == q.shape[q.rank - 1], v.shape[v.rank - 2] == k.shape[k.rank - 2] else {
            throw fail("\(op): query \(q.shape), key \(k.shape), value \(v.shape): expected [..., L, E], [..., S, E], [..., S, Ev]")
        }
        guard q.dtype.isFloatingPoint, k.dtype == q.dtype, v.dtype == q.dtype else {
            throw fail("\(op): query, key and value must have the same floating point dtype, got \(q.dtype), \(k.dtype), \(v.dtype)")
        }
        if let mask {
            let full = batch + [q.shape[q.rank - 2], k.shape[k.rank - 2]]
            guard Shapes.broadcast(mask.shape, full) == full else {
                throw fail("\(op): attn_mask of shape \(mask.shape) does not broadcast to \(full)")
            }
            guard mask.dtype.isFloatingPoint || mask.dtype == .bool else {
                throw fail("\(op): attn_mask must be a bool tensor (true: take part) or a float tensor (added to the scores), got \(mask.dtype)")
            }
        }
    }

    /// softmax(scale q k^T + mask) v over the last two dims (PyTorch's
    /// `F.scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
    /// is_causal=False, scale=None)`), with q [..., L, E], k [..., S, E], v [..., S, Ev] giving
    /// [..., L, Ev]. `scale` defaults to 1 / sqrt(E). `isCausal` masks out the keys after each query
    /// (key j > query i, PyTorch's top-left `tril`); `attnMask`, broadcastable to [..., L, S], is
    /// either bool (true where a key takes part) or float (added to the scores, and it gets a
    /// gradient). A query whose keys are all masked out gets zeros.
    ///
    /// One fused kernel (scores, mask, softmax and the product with v) split over the heads; the
    /// weights are kept for backward, which is fused too.
    ///
    /// Backward: P = softmax(scale q k^T + mask); dv = P^T G, dS = P * (G v^T - rowsum(P * G v^T)), dq = scale dS k, dk = scale dS^T q, dmask = dS
    ///
    /// ```swift
    /// let y = Tensor.scaledDotProductAttention(q, k, v, isCausal: true)   // nanoGPT's attention
    /// ```
    public static func scaledDotProductAttention(_ query: Tensor, _ key: Tensor, _ value: Tensor, attnMask: Tensor? = nil,
                                                 dropoutP: Double = 0, isCausal: Bool = false, scale: Double? = nil) -> Tensor {
        let op = "scaled_dot_product_attention"
        precondition(dropoutP == 0, "\(op): dropout_p must be 0 (Backprop's attention has no dropout), got \(dropoutP)")
        precondition(!(isCausal && attnMask != nil), "\(op): Explicit attn_mask should not be set when is_causal=True")
        do {
            try checkAttentionShapes(query, key, value, attnMask, fail: { AttentionShapeError(message: $0) })
        } catch { preconditionFailure(error.message) }
        let (l, e) = (query.shape[query.rank - 2], query.shape[query.rank - 1])
        let (s, ev) = (key.shape[key.rank - 2], value.shape[value.rank - 1])
        let batch = Array(query.shape.dropLast(2))
        let n = batch.reduce(1, *)
        let sc = scale ?? 1 / Double(e).squareRoot()
        let fullMask = batch + [l, s]
        // A bool mask becomes 0 where true (the key takes part) and -inf where false.
        let maskValues = attnMask.map { m in
            withNoGrad {
                m.dtype == .bool ? Tensor.where(m, Tensor.zeros(fullMask, dtype: query.dtype), -Double.infinity)
                                 : m.to(query.dtype).expand(fullMask)
            }
        }
        let boolMask = attnMask?.dtype == .bool
        let weights = Tensor(shape: fullMask, dtype: query.dtype, zeroed: false)
        let out = Tensor(shape: batch + [l, ev], dtype: query.dtype, zeroed: false)
        let (lq, lk, lv) = (HeadLayout.contiguous(rows: l, width: e), HeadLayout.contiguous(rows: s, width: e),
                            HeadLayout.contiguous(rows: s, width: ev))
        let lo = HeadLayout.contiguous(rows: l, width: ev)
        func run<T: FloatElement>(_: T.Type) {
            KernelTape.launch((query.kernelRead(T.self), key.kernelRead(T.self), value.kernelRead(T.self), weights.kernelWrite(T.self),
                               out.kernelWrite(T.self), maskValues?.kernelRead(T.self), (n, l, s, e, ev), T(sc),
                               (lq, lk, lv, lo), maskValues == nil && isCausal)) { a in
                let (q, k, v, p, o, m, (n, l, s, e, ev), sc, (lq, lk, lv, lo), causal) = a
                AttentionKernels.forward(n: n, l: l, s: s, e: e, ev: ev, scale: sc, q, lq, k, lk, v, lv, mask: m,
                                         causal: causal, p, o, lo)
            }
        }
        query.dispatchFloat(op, { run(Float.self) }, { run(Double.self) })
        var inputs = [query, key, value]
        if let attnMask { inputs.append(attnMask) }
        guard Tensor.recordsGrad(inputs) else { return out }
        let (q0, k0, v0, p0) = (query.detached(), key.detached(), value.detached(), weights)
        let maskShape = attnMask?.shape
        let dtype = query.dtype
        return out.recorded(.scaledDotProductAttention, inputs: inputs, saves: true) { node, g in
            if GradNode.recordsGradients {
                let causalMask: Tensor? = isCausal ? Tensor.full([l, s], -Double.infinity, dtype: dtype).triu(diagonal: 1) : nil
                let (q, k, v) = (node.input(0, value: q0), node.input(1, value: k0), node.input(2, value: v0))
                let mask = boolMask ? maskValues : (node.inputCount > 3 ? attnMask.map { node.input(3, value: $0.detached()) } : nil)
                let (dq, dk, dv, ds) = composedAttentionGradients(q, k, v, g, mask: mask, causalMask: causalMask, scale: sc)
                return InputGrads([dq, dk, dv] + (maskShape.map { [boolMask ? nil : ds.sumTo($0)] } ?? []))
            }
            let needQ = node.needsGrad(0), needK = node.needsGrad(1), needV = node.needsGrad(2)
            let dq = needQ ? Tensor(shape: q0.shape, dtype: q0.dtype, zeroed: false) : nil
            let dk = needK ? Tensor(shape: k0.shape, dtype: k0.dtype, zeroed: false) : nil
            let dv = needV ? Tensor(shape: v0.shape, dtype: v0.dtype, zeroed: false) : nil
            let ds = Tensor(shape: fullMask, dtype: q0.dtype, zeroed: false)
            let gc = g.dtype == q0.dtype ? g : g.to(q0.dtype)
            func back<T: FloatElement>(_: T.Type) {
                KernelTape.launch((q0.kernelRead(T.self), k0.kernelRead(T.self), v0.kernelRead(T.self), p0.kernelRead(T.self),
                                   gc.kernelRead(T.self), ds.kernelWrite(T.self), dq?.kernelWrite(T.self), dk?.kernelWrite(T.self),
                                   dv?.kernelWrite(T.self), (n, l, s, e, ev), T(sc), (lq, lk, lv, lo))) { a in
                    let (q, k, v, p, gp, dsp, dqp, dkp, dvp, (n, l, s, e, ev), sc, (lq, lk, lv, lo)) = a
                    AttentionKernels.backward(n: n, l: l, s: s, e: e, ev: ev, scale: sc, q, lq, k, lk, v, lv, p, gp, lo,
                                              dq: dqp, dk: dkp, dv: dvp, ds: dsp)
                }
            }
            q0.dispatchFloat(op, { back(Float.self) }, { back(Double.self) })
            let dmask = maskShape.flatMap { node.inputCount > 3 && node.needsGrad(3) ? ds.sumTo($0) : nil }
            return InputGrads([dq, dk, dv] + (maskShape == nil ? [] : [dmask]))
        }
    }

    /// The attention gradients composed of recorded ops (what `createGraph` needs): P =
    /// softmax(scale q k^T + masks), dv = P^T G, dS = P * (G v^T - rowsum(P * G v^T)), dq = scale dS k,
    /// dk = scale dS^T q, and dS itself.
    static func composedAttentionGradients(_ q: Tensor, _ k: Tensor, _ v: Tensor, _ g: Tensor, mask: Tensor?, causalMask: Tensor?,
                                           scale: Double) -> (Tensor, Tensor, Tensor, Tensor) {
        var scores = q.matmul(k.transpose(-2, -1)) * scale
        if let causalMask { scores = scores + causalMask }
        if let mask { scores = scores + mask }
        let p = scores.softmax(dim: -1)
        let dv = p.transpose(-2, -1).matmul(g)
        let dp = g.matmul(v.transpose(-2, -1))
        let ds = p * (dp - (dp * p).sum(dims: [-1], keepDim: true))
        return (ds.matmul(k) * scale, ds.transpose(-2, -1).matmul(q) * scale, dv, ds)
    }

    /// nanoGPT's causal self-attention read straight from `c_attn`'s output: `qkv` [B, T, 3C] holds
    /// q, k and v side by side; the result [B, T, C] is
    ///
    ///     q, k, v = qkv.split(C, dim=2)                       # each viewed [B, H, T, C/H]
    ///     y = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale)
    ///     y.transpose(1, 2).reshape(B, T, C)
    ///
    /// computed by the fused kernel of `scaledDotProductAttention` reading each head in place
    /// (no split, no transposed copies, forward or backward); its gradient is that of the composition.
    public static func causalSelfAttention(packed qkv: Tensor, heads: Int, scale: Double? = nil) -> Tensor {
        precondition(qkv.rank == 3 && qkv.shape[2] % 3 == 0 && heads > 0 && (qkv.shape[2] / 3) % heads == 0,
                     "causalSelfAttention: packed q, k, v of shape \(qkv.shape) for \(heads) heads: expected [B, T, 3C], C divisible by the heads")
        qkv.requireFloat("causalSelfAttention")
        let (b, t, c) = (qkv.shape[0], qkv.shape[1], qkv.shape[2] / 3)
        let d = c / heads, n = b * heads
        let sc = scale ?? 1 / Double(d).squareRoot()
        let lin = HeadLayout(heads: heads, perBatch: t * 3 * c, perHead: d, row: 3 * c)
        let lout = HeadLayout(heads: heads, perBatch: t * c, perHead: d, row: c)
        let weights = Tensor(shape: [b, heads, t, t], dtype: qkv.dtype, zeroed: false)
        let out = Tensor(shape: [b, t, c], dtype: qkv.dtype, zeroed: false)
        func run<T: FloatElement>(_: T.Type) {
            KernelTape.launch((qkv.kernelRead(T.self), weights.kernelWrite(T.self), out.kernelWrite(T.self), (n, t, c, d), T(sc),
                               lin, lout)) { a in
                let (x, p, o, (n, t, c, d), sc, lin, lout) = a
                AttentionKernels.forward(n: n, l: t, s: t, e: d, ev: d, scale: sc, x, lin, x + c, lin, x + 2 * c, lin,
                                         mask: nil, causal: true, p, o, lout)
            }
        }
        qkv.dispatchFloat("causalSelfAttention", { run(Float.self) }, { run(Double.self) })
        guard Tensor.recordsGrad(qkv) else { return out }
        let x0 = qkv.detached()
        return out.recorded(.scaledDotProductAttention, qkv, save0: x0, save1: weights) { node, g in
            if GradNode.recordsGradients {
                let x = node.input(0, value: node.saved0!)
                func heads4(_ z: Tensor) -> Tensor { z.reshape([b, t, heads, d]).transpose(1, 2) }
                let parts = x.split(c, dim: 2)
                let causalMask = Tensor.full([t, t], -Double.infinity, dtype: x.dtype).triu(diagonal: 1)
                let gh = heads4(g)
                let (dq, dk, dv, _) = composedAttentionGradients(heads4(parts[0]), heads4(parts[1]), heads4(parts[2]), gh,
                                                                 mask: nil, causalMask: causalMask, scale: sc)
                func back(_ z: Tensor) -> Tensor { z.transpose(1, 2).reshape([b, t, c]) }
                return InputGrads(Tensor.cat([back(dq), back(dk), back(dv)], dim: 2))
            }
            let x = node.saved0!, p = node.saved1!
            let dx = Tensor(shape: x.shape, dtype: x.dtype, zeroed: false)
            let ds = Tensor(shape: p.shape, dtype: x.dtype, zeroed: false)
            let gc = g.dtype == x.dtype ? g : g.to(x.dtype)
            func back<T: FloatElement>(_: T.Type) {
                KernelTape.launch((x.kernelRead(T.self), p.kernelRead(T.self), gc.kernelRead(T.self), dx.kernelWrite(T.self),
                                   ds.kernelWrite(T.self), (n, t, c, d), T(sc), lin, lout)) { a in
                    let (xp, pp, gp, dxp, dsp, (n, t, c, d), sc, lin, lout) = a
                    AttentionKernels.backward(n: n, l: t, s: t, e: d, ev: d, scale: sc, xp, lin, xp + c, lin, xp + 2 * c, lin,
                                              pp, gp, lout, dq: dxp, dk: dxp + c, dv: dxp + 2 * c, ds: dsp)
                }
            }
            x.dispatchFloat("causalSelfAttention", { back(Float.self) }, { back(Double.self) })
            return InputGrads(dx)
        }
    }

    /// beta * self + alpha * (batch1 @ batch2) for batch1 [b, n, k] and batch2 [b, k, m], `self`
    /// broadcastable to [b, n, m] (PyTorch's `torch.baddbmm`). With beta 0, `self` is ignored (its
    /// NaNs do not propagate), as in PyTorch. Composed of recorded ops.
    public func baddbmm(_ batch1: Tensor, _ batch2: Tensor, beta: Double = 1, alpha: Double = 1) -> Tensor {
        precondition(batch1.rank == 3 && batch2.rank == 3, "baddbmm: batch1 and batch2 must be 3-d, got shapes \(batch1.shape) and \(batch2.shape)")
        let target = [batch1.shape[0], batch1.shape[1], batch2.shape[2]]
        precondition(Shapes.broadcast(shape, target) == target,
                     "baddbmm: input of shape \(shape) does not broadcast to the product's shape \(target)")
        let product = batch1.bmm(batch2)
        let scaled = alpha == 1 ? product : product * alpha
        if beta == 0 { return scaled }
        return (beta == 1 ? self : self * beta) + scaled
    }
}

/// A malformed attention call (the message names the op and the shapes).
struct AttentionShapeError: Error { let message: String }
