import CBackpropKernels
import Foundation

/// The fused scaled dot-product attention of `n` independent heads stored contiguously:
/// q [n, L, E], k [n, S, E], v [n, S, Ev], an optional additive mask [n, L, S] (0 or a number,
/// -inf where a position is masked out) and the causal rule (key j > query i masked out).
///
/// Forward keeps the attention weights P = softmax(scale q k^T + mask) [n, L, S] for the backward
/// pass. Heads are split over the worker threads; each head's products run on one thread in the
/// built-in kernel (a head is small: nanoGPT's are 64 x 64 x 32). Rows whose keys are all masked
/// out get zero weights (PyTorch's `_safe_softmax`), hence a zero output.
enum AttentionKernels {
    /// C[m, n] = A B (A [m, k] or its transpose stored [k, m]; B [k, n] or stored [n, k]) on this thread.
    @inline(__always)
    static func product<T: FloatElement>(m: Int, n: Int, k: Int, _ a: UnsafePointer<T>, transA: Bool,
                                         _ b: UnsafePointer<T>, transB: Bool, _ c: UnsafeMutablePointer<T>,
                                         accumulate: Bool = false) {
        if !accumulate { c.update(repeating: 0, count: m * n) }
        if m == 0 || n == 0 || k == 0 { return }
        if m * n * k >= MatmulKernels.blockedThreshold && k >= 8 {
            BuiltinGemm.call(m: m, n: n, k: k, a, transA ? m : k, transA, b, transB ? k : n, transB, c, ldc: n)
        } else {
            BuiltinGemm.callSmall(m: m, n: n, k: k, a, transA ? m : k, transA, b, transB ? k : n, transB, c)
        }
    }

    /// Row-wise softmax of `row` (length `count`, the first `valid` entries not masked by the causal
    /// rule; the rest set to 0), in place. A row without a finite entry becomes all zeros.
    @inline(__always)
    static func softmaxRow<T: FloatElement>(_ row: UnsafeMutablePointer<T>, count: Int, valid: Int) {
        if valid < count { (row + valid).update(repeating: 0, count: count - valid) }
        if valid == 0 { return }
        if T.self == Float.self && valid >= 16 {
            let r = UnsafeMutableRawPointer(row).assumingMemoryBound(to: Float.self)
            let m = bp_max_f32(r, valid)
            if m == -Float.infinity { r.update(repeating: 0, count: valid); return }
            let s = bp_exp_shift_sum_f32(r, m.isFinite ? m : 0, r, valid)
            let inv = 1 / s
            for j in 0..<valid { r[j] *= inv }
            return
        }
        var m = -T.infinity
        for j in 0..<valid { m = Swift.max(m, row[j]) }
        if m == -T.infinity { row.update(repeating: 0, count: valid); return }
        if !m.isFinite { m = m.isNaN ? m : 0 }
        var s: T = 0
        for j in 0..<valid {
            let e = T.exp(row[j] - m)
            row[j] = e
            s += e
        }
        let inv = 1 / s
        for j in 0..<valid { row[j] *= inv }
    }

    /// out [n, L, Ev] and the weights p [n, L, S].
    static func forward<T: FloatElement>(n: Int, l: Int, s: Int, e: Int, ev: Int, scale: T,
                                         _ q: UnsafePointer<T>, _ k: UnsafePointer<T>, _ v: UnsafePointer<T>,
                                         mask: UnsafePointer<T>?, causal: Bool,
                                         _ p: UnsafeMutablePointer<T>, _ out: UnsafeMutablePointer<T>) {
        nonisolated(unsafe) let (q, k, v, mask, p, out) = (q, k, v, mask, p, out)
        Parallelism.dynamic(n) { h in
            let ph = p + h * l * s
            product(m: l, n: s, k: e, q + h * l * e, transA: false, k + h * s * e, transB: true, ph)
            let mh = mask.map { $0 + h * l * s }
            for i in 0..<l {
                let row = ph + i * s
                let valid = causal ? Swift.min(s, i + 1) : s
                if let mh {
                    let mr = mh + i * s
                    for j in 0..<valid { row[j] = row[j] * scale + mr[j] }
                } else {
                    for j in 0..<valid { row[j] *= scale }
                }
                softmaxRow(row, count: s, valid: valid)
            }
            product(m: l, n: ev, k: s, ph, transA: false, v + h * s * ev, transB: false, out + h * l * ev)
        }
    }

    /// From the weights p and the output gradient g [n, L, Ev]: dq [n, L, E], dk [n, S, E],
    /// dv [n, S, Ev] and ds [n, L, S], the gradient of the masked, scaled scores (what the mask gets).
    static func backward<T: FloatElement>(n: Int, l: Int, s: Int, e: Int, ev: Int, scale: T,
                                          _ q: UnsafePointer<T>, _ k: UnsafePointer<T>, _ v: UnsafePointer<T>,
                                          _ p: UnsafePointer<T>, _ g: UnsafePointer<T>,
                                          dq: UnsafeMutablePointer<T>?, dk: UnsafeMutablePointer<T>?,
                                          dv: UnsafeMutablePointer<T>?, ds: UnsafeMutablePointer<T>) {
        nonisolated(unsafe) let (q, k, v, p, g, dq, dk, dv, ds) = (q, k, v, p, g, dq, dk, dv, ds)
        Parallelism.dynamic(n) { h in
            let ph = p + h * l * s, gh = g + h * l * ev, dsh = ds + h * l * s
            if let dv { product(m: s, n: ev, k: l, ph, transA: true, gh, transB: false, dv + h * s * ev) }
            // dP = G V^T, then dS = P * (dP - rowsum(dP * P)).
            product(m: l, n: s, k: ev, gh, transA: false, v + h * s * ev, transB: true, dsh)
            for i in 0..<l {
                let pr = ph + i * s, dr = dsh + i * s
                var dot: T = 0
                for j in 0..<s { dot += pr[j] * dr[j] }
                for j in 0..<s { dr[j] = pr[j] * (dr[j] - dot) }
            }
            // d(q k^T) = scale dS.
            if let dq {
                product(m: l, n: e, k: s, dsh, transA: false, k + h * s * e, transB: false, dq + h * l * e)
                let d = dq + h * l * e
                for i in 0..<(l * e) { d[i] *= scale }
            }
            if let dk {
                product(m: s, n: e, k: l, dsh, transA: true, q + h * l * e, transB: false, dk + h * s * e)
                let d = dk + h * s * e
                for i in 0..<(s * e) { d[i] *= scale }
            }
        }
    }
}
