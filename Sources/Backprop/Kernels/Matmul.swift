import CBackpropKernels
import Dispatch

/// Matrix products on row-major buffers: BLAS for large products when one is loaded, the built-in
/// cache-blocked kernel (C, AVX2+FMA when the CPU has it) for middle sizes, a plain loop for tiny ones.
enum MatmulKernels {
    /// Multiply-adds (m n k) from which a loaded BLAS does the product.
    /// (Above the W8 sizes, 32 x 64 x 128: below it waking BLAS's threads costs more than the
    /// built-in kernel's whole product.)
    static let blasThreshold = 96 * 96 * 96
    /// Multiply-adds from which the blocked kernel beats the plain loop (packing costs).
    static let blockedThreshold = 16 * 16 * 16
    /// Multiply-adds from which the built-in kernel splits rows over threads.
    static let threadThreshold = 128 * 128 * 128

    /// C[m,n] = A[m,k] B[k,n] (+ C when `accumulate`), with A and B row-major, optionally transposed
    /// (`transA`: A is stored as [k,m]; `transB`: B is stored as [n,k]).
    static func gemm<T: FloatElement>(m: Int, n: Int, k: Int,
                                      _ a: UnsafePointer<T>, transA: Bool,
                                      _ b: UnsafePointer<T>, transB: Bool,
                                      _ c: UnsafeMutablePointer<T>, accumulate: Bool = false,
                                      backend: Backend = .auto) {
        if m == 0 || n == 0 { return }
        let work = m * n * k
        // The size test comes first: BLAS is only loaded (its threads started) once a product needs it.
        if k > 0, backend == .blas || (backend == .auto && work >= blasThreshold), let lib = BLAS.library {
            blas(lib, m: m, n: n, k: k, a, transA: transA, b, transB: transB, c, accumulate: accumulate)
            return
        }
        if k > 0, backend == .builtin || (backend == .auto && work >= blockedThreshold && k >= 8
                                           && !(n <= 16 && k <= 256 && work < threadThreshold)) {
            // The blocked kernel writes C itself when it does not accumulate (no zeroing pass).
            BuiltinGemm.run(m: m, n: n, k: k, a, transA: transA, b, transB: transB, c, accumulate: accumulate,
                            threads: work >= threadThreshold ? Parallelism.threads : 1)
            return
        }
        if !accumulate { c.update(repeating: 0, count: m * n) }
        if k == 0 { return }
        if backend == .auto && n <= 16 && k <= 256 && (m >= 32 || work >= blockedThreshold) && work < threadThreshold {
            // Few columns (a small Linear layer, or the weight gradient of one with few inputs):
            // the narrow-B kernel, whose copy of B costs no more than the blocked kernel's packing.
            BuiltinGemm.callNarrow(m: m, n: n, k: k, a, transA ? m : k, transA, b, transB, c)
        } else if backend == .narrow {
            precondition(n <= 16 && k <= 256, "gemm: the narrow kernel needs n <= 16, k <= 256")
            BuiltinGemm.callNarrow(m: m, n: n, k: k, a, transA ? m : k, transA, b, transB, c)
        } else if backend == .naive {
            naive(m: m, n: n, k: k, a, transA: transA, b, transB: transB, c)
        } else {
            BuiltinGemm.callSmall(m: m, n: n, k: k, a, transA ? m : k, transA, b, transB ? k : n, transB, c)
        }
    }

    /// Which code does a product: chosen by size (`auto`) or forced, for tests that compare paths.
    enum Backend { case auto, naive, builtin, blas, narrow, small }

    /// A BLAS product, split into blocks of rows (or of columns, when C is wide) over the worker
    /// threads with `Parallelism.dynamic`; BLAS itself runs on one thread per call.
    static func blas<T: FloatElement>(_ lib: BLAS.Library, m: Int, n: Int, k: Int,
                                      _ a: UnsafePointer<T>, transA: Bool, _ b: UnsafePointer<T>, transB: Bool,
                                      _ c: UnsafeMutablePointer<T>, accumulate: Bool) {
        let lda = transA ? m : k, ldb = transB ? k : n
        let threads = Parallelism.threads
        let byRows = m >= n
        let span = byRows ? m : n
        // Blocks of at least 64 rows (columns), about four per thread, so that a late helper costs
        // little and the blocks stay large enough for BLAS's own blocking.
        let blocks = threads <= 1 ? 1 : Swift.max(1, Swift.min(4 * threads, span / 64))
        if blocks == 1 {
            blasCall(lib, m: m, n: n, k: k, a, lda, transA, b, ldb, transB, c, n, accumulate)
            return
        }
        let size = (span + blocks - 1) / blocks
        nonisolated(unsafe) let (pa, pb, pc) = (a, b, c)
        Parallelism.dynamic(blocks) { blk in
            let lo = blk * size, hi = Swift.min(span, lo + size)
            if lo >= hi { return }
            if byRows {
                blasCall(lib, m: hi - lo, n: n, k: k, transA ? pa + lo : pa + lo * lda, lda, transA,
                         pb, ldb, transB, pc + lo * n, n, accumulate)
            } else {
                blasCall(lib, m: m, n: hi - lo, k: k, pa, lda, transA,
                         transB ? pb + lo * ldb : pb + lo, ldb, transB, pc + lo, n, accumulate)
            }
        }
    }

    /// One cblas_sgemm / cblas_dgemm call on row-major buffers.
    static func blasCall<T: FloatElement>(_ lib: BLAS.Library, m: Int, n: Int, k: Int,
                                          _ a: UnsafePointer<T>, _ lda: Int, _ transA: Bool,
                                          _ b: UnsafePointer<T>, _ ldb: Int, _ transB: Bool,
                                          _ c: UnsafeMutablePointer<T>, _ ldc: Int, _ accumulate: Bool) {
        let ta = transA ? BLAS.trans : BLAS.noTrans, tb = transB ? BLAS.trans : BLAS.noTrans
        if T.self == Float.self {
            lib.sgemm(BLAS.rowMajor, ta, tb, Int32(m), Int32(n), Int32(k), 1,
                      UnsafeRawPointer(a).assumingMemoryBound(to: Float.self), Int32(lda),
                      UnsafeRawPointer(b).assumingMemoryBound(to: Float.self), Int32(ldb),
                      accumulate ? 1 : 0, UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self), Int32(ldc))
        } else {
            lib.dgemm(BLAS.rowMajor, ta, tb, Int32(m), Int32(n), Int32(k), 1,
                      UnsafeRawPointer(a).assumingMemoryBound(to: Double.self), Int32(lda),
                      UnsafeRawPointer(b).assumingMemoryBound(to: Double.self), Int32(ldb),
                      accumulate ? 1 : 0, UnsafeMutableRawPointer(c).assumingMemoryBound(to: Double.self), Int32(ldc))
        }
    }

    /// The plain triple loop in the cache-friendly i-p-j order (vectorizes along j); adds into C.
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

/// The built-in blocked kernel (CBackpropKernels): the AVX2+FMA build where the CPU has both,
/// the portable build otherwise; rows of C split over threads for large products.
enum BuiltinGemm {
    static let hasAVX2FMA = bp_cpu_has_avx2_fma() != 0

    static var variantName: String { hasAVX2FMA ? "AVX2+FMA" : "portable" }

    /// C += A B (C already holds the starting values), or C = A B when not `accumulate` (C is then
    /// only written), split over `threads` in blocks of rows (a multiple of 6, the kernel's register
    /// tile height) or, when C has too few rows for that, of columns (a multiple of 16, the tile
    /// width). Each element of C is computed by one thread, over the whole of k in the same order
    /// whatever the split, so the result does not depend on `threads`.
    static func run<T: FloatElement>(m: Int, n: Int, k: Int, _ a: UnsafePointer<T>, transA: Bool,
                                     _ b: UnsafePointer<T>, transB: Bool, _ c: UnsafeMutablePointer<T>,
                                     accumulate: Bool = true, threads: Int) {
        let lda = transA ? m : k, ldb = transB ? k : n
        let rowParts = Swift.max(1, Swift.min(threads, m / 24))
        let colParts = Swift.max(1, Swift.min(threads, n / 32))
        nonisolated(unsafe) let (pa, pb, pc) = (a, b, c)
        if rowParts >= colParts || rowParts == threads {
            if rowParts == 1 {
                call(m: m, n: n, k: k, a, lda, transA, b, ldb, transB, c, ldc: n, overwrite: !accumulate)
                return
            }
            let size = ((m + rowParts - 1) / rowParts + 5) / 6 * 6
            Parallelism.dynamic(rowParts) { p in
                let lo = p * size, hi = Swift.min(m, lo + size)
                if lo < hi {
                    call(m: hi - lo, n: n, k: k, transA ? pa + lo : pa + lo * lda, lda, transA,
                         pb, ldb, transB, pc + lo * n, ldc: n, overwrite: !accumulate)
                }
            }
        } else {
            let size = ((n + colParts - 1) / colParts + 15) / 16 * 16
            Parallelism.dynamic(colParts) { p in
                let lo = p * size, hi = Swift.min(n, lo + size)
                if lo < hi {
                    call(m: m, n: hi - lo, k: k, pa, lda, transA,
                         transB ? pb + lo * ldb : pb + lo, ldb, transB, pc + lo, ldc: n, overwrite: !accumulate)
                }
            }
        }
    }

    /// The narrow-B kernel (C): n <= 16, k <= 256.
    @inline(__always)
    static func callNarrow<T: FloatElement>(m: Int, n: Int, k: Int, _ a: UnsafePointer<T>, _ lda: Int, _ transA: Bool,
                                            _ b: UnsafePointer<T>, _ transB: Bool, _ c: UnsafeMutablePointer<T>) {
        CGemm.narrow.run(m: m, n: n, k: k, a, lda, transA, b, transB ? k : n, transB, c)
    }

    /// The unpacked loops (C), for small and thin products.
    @inline(__always)
    static func callSmall<T: FloatElement>(m: Int, n: Int, k: Int, _ a: UnsafePointer<T>, _ lda: Int, _ transA: Bool,
                                           _ b: UnsafePointer<T>, _ ldb: Int, _ transB: Bool, _ c: UnsafeMutablePointer<T>) {
        CGemm.small.run(m: m, n: n, k: k, a, lda, transA, b, ldb, transB, c)
    }

    /// The blocked kernel (C) on the calling thread: C += A B, or C = A B when `overwrite`.
    @inline(__always)
    static func call<T: FloatElement>(m: Int, n: Int, k: Int, _ a: UnsafePointer<T>, _ lda: Int, _ transA: Bool,
                                      _ b: UnsafePointer<T>, _ ldb: Int, _ transB: Bool, _ c: UnsafeMutablePointer<T>,
                                      ldc: Int, overwrite: Bool = false) {
        (overwrite ? CGemm.blockedOverwrite : CGemm.blocked).run(m: m, n: n, k: k, a, lda, transA, b, ldb, transB, c,
                                                                ldc: ldc)
    }
}

/// One family of the C matrix kernels (blocked, small, narrow: C += A B; blocked overwrite: C = A B)
/// with the same arguments in all sixteen, each built for AVX2+FMA and portably; `run` picks by
/// element type and CPU.
struct CGemm {
    typealias F32 = @convention(c) (Int, Int, Int, UnsafePointer<Float>?, Int, Int32,
                                    UnsafePointer<Float>?, Int, Int32, UnsafeMutablePointer<Float>?, Int) -> Void
    typealias F64 = @convention(c) (Int, Int, Int, UnsafePointer<Double>?, Int, Int32,
                                    UnsafePointer<Double>?, Int, Int32, UnsafeMutablePointer<Double>?, Int) -> Void
    let f32: F32, f64: F64

    init(avx2: (F32, F64), generic: (F32, F64)) {
        (f32, f64) = BuiltinGemm.hasAVX2FMA ? avx2 : generic
    }

    static let blocked = CGemm(avx2: (bp_sgemm_avx2, bp_dgemm_avx2), generic: (bp_sgemm_generic, bp_dgemm_generic))
    static let blockedOverwrite = CGemm(avx2: (bp_sgemm_avx2_overwrite, bp_dgemm_avx2_overwrite),
                                        generic: (bp_sgemm_generic_overwrite, bp_dgemm_generic_overwrite))
    static let small = CGemm(avx2: (bp_sgemm_avx2_small, bp_dgemm_avx2_small),
                             generic: (bp_sgemm_generic_small, bp_dgemm_generic_small))
    static let narrow = CGemm(avx2: (bp_sgemm_avx2_narrow, bp_dgemm_avx2_narrow),
                              generic: (bp_sgemm_generic_narrow, bp_dgemm_generic_narrow))

    /// C (row stride `ldc`, n unless given) += A B.
    @inline(__always)
    func run<T: FloatElement>(m: Int, n: Int, k: Int, _ a: UnsafePointer<T>, _ lda: Int, _ transA: Bool,
                              _ b: UnsafePointer<T>, _ ldb: Int, _ transB: Bool, _ c: UnsafeMutablePointer<T>,
                              ldc: Int? = nil) {
        let ldc = ldc ?? n
        let ta: Int32 = transA ? 1 : 0, tb: Int32 = transB ? 1 : 0
        if T.self == Float.self {
            f32(m, n, k, UnsafeRawPointer(a).assumingMemoryBound(to: Float.self), lda, ta,
                UnsafeRawPointer(b).assumingMemoryBound(to: Float.self), ldb, tb,
                UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self), ldc)
        } else {
            f64(m, n, k, UnsafeRawPointer(a).assumingMemoryBound(to: Double.self), lda, ta,
                UnsafeRawPointer(b).assumingMemoryBound(to: Double.self), ldb, tb,
                UnsafeMutableRawPointer(c).assumingMemoryBound(to: Double.self), ldc)
        }
    }
}

