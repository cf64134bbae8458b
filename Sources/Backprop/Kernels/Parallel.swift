import Dispatch
import Foundation

/// How many threads the kernels may use: large elementwise ops, reductions, softmax and matrix
/// products are split over this many workers (and BLAS is told the same number).
public enum Parallelism {
    nonisolated(unsafe) private static var count = Swift.max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// The number of worker threads (default: the active processor count). Setting it also sets
    /// OpenBLAS's thread count when OpenBLAS is in use.
    public static var threads: Int {
        get { count }
        set {
            count = Swift.max(1, newValue)
            MatmulBackend.setBLASThreads(count)
        }
    }

    /// Elements below which an elementwise op stays on the calling thread (thread start-up costs
    /// more than the work).
    static let elementwiseGrain = 1 << 18

    /// Runs `body(lo, hi)` over `0..<n` split into contiguous chunks, on up to `threads` workers
    /// when `n >= grain`; in one call on this thread otherwise.
    @inline(__always)
    static func chunked(_ n: Int, grain: Int = elementwiseGrain, _ body: (Int, Int) -> Void) {
        let t = count
        if t <= 1 || n < grain * 2 {
            body(0, n)
            return
        }
        let parts = Swift.min(t, n / grain)
        // Chunk edges on multiples of 16 elements keep SIMD loops aligned.
        let size = ((n + parts - 1) / parts + 15) & ~15
        withoutActuallyEscaping(body) { escaping in
            nonisolated(unsafe) let body = escaping
            DispatchQueue.concurrentPerform(iterations: parts) { p in
                let lo = p * size, hi = Swift.min(n, lo + size)
                if lo < hi { body(lo, hi) }
            }
        }
    }
}
