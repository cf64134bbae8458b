import Dispatch
import Foundation
import Synchronization

/// How many threads the kernels may use: large elementwise ops, reductions, softmax and matrix
/// products are split over this many workers (BLAS runs on one thread per call; see `dynamic`).
public enum Parallelism {
    nonisolated(unsafe) private static var count = Swift.max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// The number of worker threads (default: the active processor count). BLAS itself runs on one
    /// thread per call: large products are split into blocks here (see `dynamic`).
    public static var threads: Int {
        get { count }
        set {
            count = Swift.max(1, newValue)
        }
    }

    /// Elements below which an elementwise op stays on the calling thread (thread start-up costs
    /// more than the work).
    static let elementwiseGrain = 1 << 18

    /// Runs `body(b)` for every block `b` in `0..<blocks`, on the calling thread and up to
    /// `threads - 1` helpers, each taking the next unclaimed block until none is left.
    ///
    /// Unlike a static split, nothing waits for a thread that the OS does not run (on a machine shared
    /// with other processes, a helper may not get a core for milliseconds): the caller goes on taking
    /// blocks itself and at the end waits only for blocks a helper has started. `body` must be safe to
    /// run on several threads at once for different blocks.
    static func dynamic(_ blocks: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let helpers = Swift.min(count - 1, blocks - 1)
        if helpers <= 0 {
            for b in 0..<blocks { body(b) }
            return
        }
        let job = DynamicJob(blocks: blocks, body: body)
        for _ in 0..<helpers { DispatchQueue.global().async { job.work() } }
        job.work()
        // Blocks still running on a helper: wait for them (a helper that starts late finds nothing
        // left and does not call `body`).
        var spins = 0
        while job.finished.load(ordering: .acquiring) < blocks {
            spins += 1
            if spins > 64 { sched_yield() }
        }
    }

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

/// The shared state of one `Parallelism.dynamic` call.
final class DynamicJob: Sendable {
    let blocks: Int
    let body: @Sendable (Int) -> Void
    let next = Atomic<Int>(0)
    let finished = Atomic<Int>(0)

    init(blocks: Int, body: @escaping @Sendable (Int) -> Void) {
        self.blocks = blocks
        self.body = body
    }

    func work() {
        while true {
            let b = next.add(1, ordering: .relaxed).oldValue
            if b >= blocks { return }
            body(b)
            finished.add(1, ordering: .releasing)
        }
    }
}
