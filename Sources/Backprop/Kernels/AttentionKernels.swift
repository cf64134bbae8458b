import CBackpropKernels
import Foundation

/// Where head `n` of an attention call keeps its rows in a buffer: at
/// `(n / heads) * perBatch + (n % heads) * perHead`, one row every `row` elements. Contiguous
/// [N, L, E] tensors have `heads` 1, `perBatch` L E and `row` E; nanoGPT's packed q, k, v
/// ([B, T, 3C], head h of q at column h D) have `heads` H, `perBatch` 3 T C, `perHead` D and `row` 3C.
struct HeadLayout {
    let heads: Int, perBatch: Int, perHead: Int, row: Int

    /// Contiguous [N, rows, width].
    static func contiguous(rows: Int, width: Int) -> HeadLayout { HeadLayout(heads: 1, perBatch: rows * width, perHead: 0, row: width) }

    @inline(__always) func offset(_ n: Int) -> Int { (n / heads) * perBatch + (n % heads) * perHead }
}

/// The fused scaled dot-product attention of `n` independent heads: q [L, E], k [S, E],
/// v [S, Ev] per head (placed by their `HeadLayout`s), an optional additive mask [n, L, S] (0 or
/// a number, -inf where a position is masked out) and the causal rule (key j > query i masked out).
///
/// Forward keeps the attention weights P = softmax(scale q k^T + mask) [n, L, S] for the backward
/// pass. Heads are split over the worker threads; each head's products run on one thread in the
/// built-in kernel (a head is small: nanoGPT's are 64 x 64 x 32). Rows whose keys are all masked
/// out get zero weights (PyTorch's `_safe_softmax`), hence a zero output.
enum AttentionKernels {
    /// C = A B (+ C when `accumulate`) for A [m, k] (row stride lda; or its transpose stored [k, m]),
    /// B [k, n] (or stored [n, k]) and C [m, n] with row stride ldc, on this thread.
    @inline(__always)
    static func product<T: FloatElement>(m: Int, n: Int, k: Int, _ a: UnsafePointer<T>, _ lda: Int, transA: Bool,
                                         _ b: UnsafePointer<T>, _ ldb: Int, transB: Bool,
                                         _ c: UnsafeMutablePointer<T>, _ ldc: Int, accumulate: Bool = false) {
        if !accumulate {
            if ldc == n { c.update(repeating: 0, count: m * n) } else { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
        }
        if m == 0 || n == 0 || k == 0 { return }
        if m * n * k >= MatmulKernels.blockedThreshold && k >= 8 {
            CGemm.blocked.run(m: m, n: n, k: k, a, lda, transA, b, ldb, transB, c, ldc: ldc)
        } else {
            CGemm.small.run(m: m, n: n, k: k, a, lda, transA, b, ldb, transB, c, ldc: ldc)
        }
    }

    /// Softmax of `row` (length `count`, the first `valid` entries not masked by the causal rule;
    /// the rest set to 0), in place. A row without a finite entry becomes all zeros.
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

    /// The output (placed by `lo`) and the weights p [n, L, S].
    static func forward<T: FloatElement>(n: Int, l: Int, s: Int, e: Int, ev: Int, scale: T,
                                         _ q: UnsafePointer<T>, _ lq: HeadLayout, _ k: UnsafePointer<T>, _ lk: HeadLayout,
                                         _ v: UnsafePointer<T>, _ lv: HeadLayout, mask: UnsafePointer<T>?, causal: Bool,
                                         _ p: UnsafeMutablePointer<T>, _ out: UnsafeMutablePointer<T>, _ lo: HeadLayout) {
        nonisolated(unsafe) let (q, k, v, mask, p, out) = (q, k, v, mask, p, out)
        Parallelism.dynamic(n) { h in
            let ph = p + h * l * s
            product(m: l, n: s, k: e, q + lq.offset(h), lq.row, transA: false, k + lk.offset(h), lk.row, transB: true, ph, s)
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
            product(m: l, n: ev, k: s, ph, s, transA: false, v + lv.offset(h), lv.row, transB: false, out + lo.offset(h), lo.row)
        }
    }

    /// From the weights p and the output gradient g (placed like the output): dq, dk, dv (placed
    /// like q, k, v; each when asked for) and ds [n, L, S], the gradient of the masked, scaled
    /// scores (what a float mask gets).
    static func backward<T: FloatElement>(n: Int, l: Int, s: Int, e: Int, ev: Int, scale: T,
                                          _ q: UnsafePointer<T>, _ lq: HeadLayout, _ k: UnsafePointer<T>, _ lk: HeadLayout,
                                          _ v: UnsafePointer<T>, _ lv: HeadLayout,
                                          _ p: UnsafePointer<T>, _ g: UnsafePointer<T>, _ lg: HeadLayout,
                                          dq: UnsafeMutablePointer<T>?, dk: UnsafeMutablePointer<T>?,
                                          dv: UnsafeMutablePointer<T>?, ds: UnsafeMutablePointer<T>) {
        nonisolated(unsafe) let (q, k, v, p, g, dq, dk, dv, ds) = (q, k, v, p, g, dq, dk, dv, ds)
        Parallelism.dynamic(n) { h in
            let ph = p + h * l * s, gh = g + lg.offset(h), dsh = ds + h * l * s
            if let dv { product(m: s, n: ev, k: l, ph, s, transA: true, gh, lg.row, transB: false, dv + lv.offset(h), lv.row) }
            // dP = G V^T, then dS = P * (dP - rowsum(dP * P)).
            product(m: l, n: s, k: ev, gh, lg.row, transA: false, v + lv.offset(h), lv.row, transB: true, dsh, s)
            for i in 0..<l {
                let pr = ph + i * s, dr = dsh + i * s
                var dot: T = 0
                for j in 0..<s { dot += pr[j] * dr[j] }
                for j in 0..<s { dr[j] = pr[j] * (dr[j] - dot) }
            }
            // d(q k^T) = scale dS.
            if let dq {
                let d = dq + lq.offset(h)
                product(m: l, n: e, k: s, dsh, s, transA: false, k + lk.offset(h), lk.row, transB: false, d, lq.row)
                for i in 0..<l { let r = d + i * lq.row; for j in 0..<e { r[j] *= scale } }
            }
            if let dk {
                let d = dk + lk.offset(h)
                product(m: s, n: e, k: l, dsh, s, transA: true, q + lq.offset(h), lq.row, transB: false, d, lk.row)
                for i in 0..<s { let r = d + i * lk.row; for j in 0..<e { r[j] *= scale } }
            }
        }
    }
}
