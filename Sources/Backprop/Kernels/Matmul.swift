/// Matrix products on row-major buffers.
enum MatmulKernels {
    /// C[m,n] = A[m,k] B[k,n] (+ C when `accumulate`), with A and B row-major, optionally transposed
    /// (`transA`: A is stored as [k,m]; `transB`: B is stored as [n,k]).
    static func gemm<T: FloatElement>(m: Int, n: Int, k: Int,
                                      _ a: UnsafePointer<T>, transA: Bool,
                                      _ b: UnsafePointer<T>, transB: Bool,
                                      _ c: UnsafeMutablePointer<T>, accumulate: Bool = false) {
        if !accumulate { c.update(repeating: 0, count: m * n) }
        if m == 0 || n == 0 || k == 0 { return }
        naive(m: m, n: n, k: k, a, transA: transA, b, transB: transB, c)
    }

    /// The plain triple loop in the cache-friendly i-p-j order (vectorizes along j).
    static func naive<T: FloatElement>(m: Int, n: Int, k: Int, _ a: UnsafePointer<T>, transA: Bool,
                                       _ b: UnsafePointer<T>, transB: Bool, _ c: UnsafeMutablePointer<T>) {
        if transB {
            for i in 0..<m {
                for j in 0..<n {
                    var s: T = 0
                    for p in 0..<k { s += (transA ? a[p * m + i] : a[i * k + p]) * b[j * k + p] }
                    c[i * n + j] += s
                }
            }
            return
        }
        for i in 0..<m {
            let ci = c + i * n
            for p in 0..<k {
                let av = transA ? a[p * m + i] : a[i * k + p]
                let bp = b + p * n
                for j in 0..<n { ci[j] += av * bp[j] }
            }
        }
    }
}

