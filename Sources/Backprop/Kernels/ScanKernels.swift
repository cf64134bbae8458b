// Running sums along a dim and triangular copies: the loops of cumsum and tril/triu.

enum ScanKernels {
    /// out[o, j, k] = sum of x[o, 0...j, k] (or of x[o, j..<n, k] when `reverse`), for a tensor seen as
    /// [outer, n, inner], accumulated in Double (as PyTorch's CPU cumsum accumulates float32).
    static func cumsum<T: FloatElement>(_ x: UnsafePointer<T>, _ out: UnsafeMutablePointer<T>,
                                        outer: Int, n: Int, inner: Int, reverse: Bool) {
        for o in 0..<outer {
            for k in 0..<inner {
                var s = 0.0
                for step in 0..<n {
                    let j = reverse ? n - 1 - step : step
                    let i = (o * n + j) * inner + k
                    s += x[i].double
                    out[i] = T(s)
                }
            }
        }
    }

    /// A copy of `batch` matrices [rows, cols] with the entries above diagonal `diagonal` (lower) or
    /// below it (upper) set to zero.
    static func triangle<T>(_ x: UnsafePointer<T>, _ out: UnsafeMutablePointer<T>, batch: Int, rows: Int, cols: Int,
                            diagonal: Int, lower: Bool, zero: T) {
        for b in 0..<batch {
            for i in 0..<rows {
                let base = (b * rows + i) * cols
                for j in 0..<cols {
                    let keep = lower ? j - i <= diagonal : j - i >= diagonal
                    out[base + j] = keep ? x[base + j] : zero
                }
            }
        }
    }
}
