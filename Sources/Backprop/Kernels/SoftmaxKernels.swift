import CBackpropKernels
import Foundation

/// The softmax loop over a tensor seen as [outer, n, inner], softmax along n.
enum SoftmaxKernels {
    /// Elements per thread below which softmax rows stay on one thread.
    static let grain = 32768

    /// The sum of n contiguous values with eight independent partial sums (vectorizes).
    @inline(__always)
    static func sum<T: FloatElement>(_ p: UnsafePointer<T>, _ n: Int) -> T {
        var acc = SIMD8<T>()
        var i = 0
        while i + 8 <= n {
            acc += SIMD8<T>(UnsafeBufferPointer(start: p + i, count: 8))
            i += 8
        }
        var s = acc.sum()
        while i < n { s += p[i]; i += 1 }
        return s
    }

    /// dx for softmax (`log` false; y the softmax) or log-softmax (`log` true; y the log-softmax).
    static func backward<T: FloatElement>(_ y: UnsafePointer<T>, _ g: UnsafePointer<T>, _ out: UnsafeMutablePointer<T>,
                                          outer: Int, n: Int, inner: Int, log: Bool) {
        if n == 0 { return }
        nonisolated(unsafe) let (y, g, out) = (y, g, out)
        Parallelism.chunked(outer, grain: Swift.max(1, SoftmaxKernels.grain / Swift.max(n * inner, 1))) { lo, hi in
            if log && T.self == Float.self && inner == 1 && n < 16 && (hi - lo) * n >= 16 {
                // Short rows: the exponentials of all rows in one vectorized call first.
                bp_exp_f32(UnsafeRawPointer(y + lo * n).assumingMemoryBound(to: Float.self),
                           UnsafeMutableRawPointer(out + lo * n).assumingMemoryBound(to: Float.self), (hi - lo) * n)
                for o in lo..<hi {
                    let base = o * n
                    var s: T = 0
                    for j in 0..<n { s += g[base + j] }
                    for j in 0..<n { out[base + j] = g[base + j] - out[base + j] * s }
                }
                return
            }
            for o in lo..<hi {
                for k in 0..<inner {
                    let base = o * n * inner + k
                    var s: T = 0
                    if log && T.self == Float.self && inner == 1 && n >= 16 {
                        s = SoftmaxKernels.sum(g + base, n)
                        bp_exp_f32(UnsafeRawPointer(y + base).assumingMemoryBound(to: Float.self),
                                   UnsafeMutableRawPointer(out + base).assumingMemoryBound(to: Float.self), n)
                        for j in 0..<n { out[base + j] = g[base + j] - out[base + j] * s }
                    } else if log {
                        for j in 0..<n { s += g[base + j * inner] }
                        for j in 0..<n { let i = base + j * inner; out[i] = g[i] - T.exp(y[i]) * s }
                    } else {
                        for j in 0..<n { let i = base + j * inner; s += g[i] * y[i] }
                        for j in 0..<n { let i = base + j * inner; out[i] = g[i] * y[i] - y[i] * s }
                    }
                }
            }
        }
    }

    /// A float32 row's shift (its max; 0 when that is infinite) and the sum of exp(x - shift), the
    /// exponentials stored in `exps` when given: the first half of every vectorized softmax row.
    @inline(__always)
    static func shiftedExpSum(_ xr: UnsafePointer<Float>, _ n: Int, _ exps: UnsafeMutablePointer<Float>?) -> (Float, Float) {
        var m = bp_max_f32(xr, n)
        if !m.isFinite { m = m.isNaN ? m : 0 }
        return (m, bp_exp_shift_sum_f32(xr, m, exps, n))
    }

    /// log_softmax(x)[i, t_i] of float32 rows of c >= 16 elements into `out[i]` (untouched where
    /// t_i == ignoreIndex), with the arithmetic of `softmax(..., log: true)` on such rows.
    static func logSoftmaxPicked(_ x: UnsafePointer<Float>, rows: Int, c: Int, targets: UnsafePointer<Int64>,
                                 ignoreIndex: Int, _ out: UnsafeMutablePointer<Float>) {
        nonisolated(unsafe) let (x, out, targets) = (x, out, targets)
        Parallelism.chunked(rows, grain: Swift.max(1, grain / c)) { lo, hi in
            for o in lo..<hi {
                let t = Int(targets[o])
                if t == ignoreIndex { continue }
                let xr = x + o * c
                let (m, s) = shiftedExpSum(xr, c, nil)
                let ls = Foundation.logf(s)
                out[o] = xr[t] - m - ls
            }
        }
    }

    static func softmax<T: FloatElement>(_ x: UnsafePointer<T>, _ out: UnsafeMutablePointer<T>,
                                         outer: Int, n: Int, inner: Int, log: Bool) {
        if n == 0 { return }
        nonisolated(unsafe) let (x, out) = (x, out)
        Parallelism.chunked(outer, grain: Swift.max(1, grain / Swift.max(n * inner, 1))) { lo, hi in
        if T.self == Float.self && inner == 1 && n < 16 && (hi - lo) * n >= 16 {
            // Short contiguous float32 rows (a few classes): the exponentials of a block of rows in
            // one vectorized call instead of one libm call per element (in C, with small loops).
            bp_softmax_short_rows_f32(UnsafeRawPointer(x + lo * n).assumingMemoryBound(to: Float.self),
                                      UnsafeMutableRawPointer(out + lo * n).assumingMemoryBound(to: Float.self),
                                      hi - lo, n, log ? 1 : 0)
            return
        }
        if T.self == Float.self && inner == 1 && n >= 16 {
            // Contiguous float32 rows: vectorized max and exp.
            let xf = UnsafeRawPointer(x).assumingMemoryBound(to: Float.self)
            let of = UnsafeMutableRawPointer(out).assumingMemoryBound(to: Float.self)
            for o in lo..<hi {
                let xr = xf + o * n, orow = of + o * n
                let (m, s) = shiftedExpSum(xr, n, log ? nil : orow)
                if log {
                    let ls = Foundation.logf(s)
                    for j in 0..<n { orow[j] = xr[j] - m - ls }
                } else {
                    let inv = 1 / s
                    for j in 0..<n { orow[j] *= inv }
                }
            }
            return
        }
        for o in lo..<hi {
            for k in 0..<inner {
                let base = o * n * inner + k
                var m = -T.infinity
                for j in 0..<n { m = Swift.max(m, x[base + j * inner]) }
                if !m.isFinite { m = m.isNaN ? m : 0 }
                var s: T = 0
                if log {
                    for j in 0..<n { s += T.exp(x[base + j * inner] - m) }
                    let ls = T.log(s)
                    for j in 0..<n { out[base + j * inner] = x[base + j * inner] - m - ls }
                } else {
                    for j in 0..<n {
                        let e = T.exp(x[base + j * inner] - m)
                        out[base + j * inner] = e
                        s += e
                    }
                    let inv = 1 / s
                    for j in 0..<n { out[base + j * inner] *= inv }
                }
            }
        }
        }
    }
}
