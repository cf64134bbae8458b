import Foundation

/// Layer normalization over the last `n` elements of each of `rows` rows, fused: one pass for
/// the moments and one for the output in forward; one pass per row for dx and a column sum for
/// the weight and bias gradients in backward. Rows are split over the worker threads.
enum LayerNormKernels {
    /// Rows per thread block below which it stays on one thread.
    static let grain = 1 << 15

    /// y = (x - mean) * rstd * w + b per row; `mean` and `rstd` (1 / sqrt(var + eps), the biased
    /// variance) stored per row for backward. The moments are accumulated in double for float32.
    static func forward<T: FloatElement>(_ x: UnsafePointer<T>, rows: Int, n: Int, eps: Double,
                                         weight: UnsafePointer<T>?, bias: UnsafePointer<T>?,
                                         _ y: UnsafeMutablePointer<T>, mean: UnsafeMutablePointer<T>, rstd: UnsafeMutablePointer<T>) {
        nonisolated(unsafe) let (x, weight, bias, y, mean, rstd) = (x, weight, bias, y, mean, rstd)
        Parallelism.chunked(rows, grain: Swift.max(1, grain / Swift.max(n, 1))) { lo, hi in
            for r in lo..<hi {
                let xr = x + r * n, yr = y + r * n
                var s = SIMD8<Double>(), i = 0
                while i + 8 <= n {
                    for l in 0..<8 { s[l] += Double(xr[i + l]) }
                    i += 8
                }
                var sum = s.sum()
                while i < n { sum += Double(xr[i]); i += 1 }
                let m = sum / Double(n)
                var q = 0.0
                for j in 0..<n { let d = Double(xr[j]) - m; q += d * d }
                let inv = 1 / (q / Double(n) + eps).squareRoot()
                let (mt, it) = (T(m), T(inv))
                mean[r] = mt; rstd[r] = it
                switch (weight, bias) {
                case (let w?, let b?): for j in 0..<n { yr[j] = (xr[j] - mt) * it * w[j] + b[j] }
                case (let w?, nil): for j in 0..<n { yr[j] = (xr[j] - mt) * it * w[j] }
                case (nil, let b?): for j in 0..<n { yr[j] = (xr[j] - mt) * it + b[j] }
                case (nil, nil): for j in 0..<n { yr[j] = (xr[j] - mt) * it }
                }
            }
        }
    }

    /// dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) with dxhat = G * w, per row;
    /// dw = sum over rows of G * xhat, db = sum over rows of G (each when asked for).
    static func backward<T: FloatElement>(_ x: UnsafePointer<T>, _ g: UnsafePointer<T>, rows: Int, n: Int,
                                          weight: UnsafePointer<T>?, mean: UnsafePointer<T>, rstd: UnsafePointer<T>,
                                          dx: UnsafeMutablePointer<T>?, dw: UnsafeMutablePointer<T>?, db: UnsafeMutablePointer<T>?) {
        nonisolated(unsafe) let (x, g, weight, mean, rstd, dx) = (x, g, weight, mean, rstd, dx)
        if let dx {
            Parallelism.chunked(rows, grain: Swift.max(1, grain / Swift.max(n, 1))) { lo, hi in
                for r in lo..<hi {
                    let xr = x + r * n, gr = g + r * n, dr = dx + r * n
                    let (m, s) = (mean[r], rstd[r])
                    var a: T = 0, b: T = 0   // sums of dxhat and dxhat * xhat
                    for j in 0..<n {
                        let dh = weight.map { gr[j] * $0[j] } ?? gr[j]
                        a += dh
                        b += dh * (xr[j] - m) * s
                    }
                    let (ma, mb) = (a / T(n), b / T(n))
                    for j in 0..<n {
                        let dh = weight.map { gr[j] * $0[j] } ?? gr[j]
                        dr[j] = s * (dh - ma - (xr[j] - m) * s * mb)
                    }
                }
            }
        }
        if dw == nil && db == nil { return }
        if let dw { dw.update(repeating: 0, count: n) }
        if let db { db.update(repeating: 0, count: n) }
        for r in 0..<rows {
            let xr = x + r * n, gr = g + r * n
            let (m, s) = (mean[r], rstd[r])
            if let dw { for j in 0..<n { dw[j] += gr[j] * ((xr[j] - m) * s) } }
            if let db { for j in 0..<n { db[j] += gr[j] } }
        }
    }
}
