import CBackpropKernels
import Dispatch
import Foundation
import Synchronization

/// How many threads the kernels may use: large elementwise ops, reductions, softmax and matrix
/// products are split over this many workers (BLAS runs on one thread per call; see `dynamic`).
public enum Parallelism {
    nonisolated(unsafe) private static var count = Swift.max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// The number of worker threads (default: the active processor count). BLAS itself runs on one
    /// thread per call: large products are split into blocks here (see `dynamic`).
    ///
    /// Setting it changes the process-wide count; inside `withThreads(_:_:)` this thread reads its
    /// own count instead.
    public static var threads: Int {
        get {
            let own = Int(bp_threads_override())
            return own > 0 ? own : count
        }
        set {
            count = Swift.max(1, newValue)
        }
    }

    /// Runs `body` with `threads` workers for the kernels that this thread starts, leaving the
    /// process-wide count (which other threads go on using) as it is; the outer count is back when
    /// `body` returns. Results of Backprop's own kernels do not depend on the count (their sums are
    /// split by shape); a BLAS product split over more threads may differ in its last bits.
    ///
    /// ```swift
    /// let y = Parallelism.withThreads(1) { model(x) }
    /// ```
    public static func withThreads<R>(_ threads: Int, _ body: () throws -> R) rethrows -> R {
        let outer = threadOverride
        threadOverride = Swift.max(1, threads)
        defer { threadOverride = outer }
        return try body()
    }

    /// This thread's own count (0: the process-wide one); tests set it for a whole test, so that
    /// tests running side by side do not change each other's count.
    static var threadOverride: Int {
        get { Int(bp_threads_override()) }
        set { bp_set_threads_override(Int32(newValue)) }
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
    /// run on several threads at once for different blocks. The helpers are `WorkerPool`'s threads;
    /// they reach `body` only while this call runs (it returns after the last has let go of the job).
    static func dynamic(_ blocks: Int, _ body: (Int) -> Void) {
        let helpers = Swift.min(threads - 1, blocks - 1)
        if helpers <= 0 {
            for b in 0..<blocks { body(b) }
            return
        }
        withoutActuallyEscaping(body) { escaping in
            let job = DynamicJob(blocks: blocks, helpers: helpers, body: escaping)
            WorkerPool.shared.post(job)
            job.work()
            // Helpers that have not taken the job yet will not take it now.
            WorkerPool.shared.withdraw(job)
            // Blocks still running on a helper: wait for them, and for every helper to let go of
            // the job (a helper that took it late finds no block left and does not call `body`).
            var spins = 0
            while job.finished.load(ordering: .acquiring) < blocks || job.active.load(ordering: .acquiring) > 0 {
                spins += 1
                if spins > 256 { sched_yield() } else { bp_cpu_relax() }
            }
        }
    }

    /// Runs `body(lo, hi)` over `0..<n` split into contiguous chunks, on up to `threads` workers
    /// when `n >= grain`; in one call on this thread otherwise. Chunks are taken dynamically (see
    /// `dynamic`): the caller does a chunk a helper has not started.
    @inline(__always)
    static func chunked(_ n: Int, grain: Int = elementwiseGrain, _ body: (Int, Int) -> Void) {
        let t = n < grain * 2 ? 1 : threads
        if t <= 1 {
            body(0, n)
            return
        }
        let parts = Swift.min(t, n / grain)
        // Chunk edges on multiples of 16 elements keep SIMD loops aligned.
        let size = ((n + parts - 1) / parts + 15) & ~15
        dynamic(parts) { p in
            let lo = p * size, hi = Swift.min(n, lo + size)
            if lo < hi { body(lo, hi) }
        }
    }
}

/// The shared state of one `Parallelism.dynamic` call.
final class DynamicJob: @unchecked Sendable {
    let blocks: Int
    let body: (Int) -> Void
    let next = Atomic<Int>(0)
    let finished = Atomic<Int>(0)
    /// Helper places not yet taken (a job asks for at most `threads - 1` helpers).
    let places: Atomic<Int>
    /// Helpers that have taken the job and not yet let go of it.
    let active = Atomic<Int>(0)

    init(blocks: Int, helpers: Int, body: @escaping (Int) -> Void) {
        self.blocks = blocks
        self.places = Atomic(helpers)
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

/// Worker threads that stay awake a short while after each job, as OpenMP's do: parallel ops
/// that follow each other (a training step) find a helper already running instead of waking one
/// (tens of microseconds). A helper spins for `spinNanoseconds`, then sleeps until the next job.
///
/// The poster keeps the job alive: helpers reach it unretained, between `post` and the moment the
/// poster has withdrawn it and seen `active` fall to zero.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool()
    static let spinNanoseconds: UInt64 = 200_000

    private let lock = Mutex<Unmanaged<DynamicJob>?>(nil)
    private let generation = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let wake = DispatchSemaphore(value: 0)
    private let started = Mutex<Int>(0)

    /// Offers `job` to the helpers, starting threads the first time they are needed.
    func post(_ job: DynamicJob) {
        let helpers = job.places.load(ordering: .relaxed)
        started.withLock { n in
            while n < helpers {
                n += 1
                let t = Thread { [unowned self] in self.loop() }
                t.name = "backprop-worker-\(n)"
                t.start()
            }
        }
        lock.withLock { $0 = Unmanaged.passUnretained(job) }
        generation.add(1, ordering: .sequentiallyConsistent)
        let s = sleepers.exchange(0, ordering: .sequentiallyConsistent)
        for _ in 0..<s { wake.signal() }
    }

    /// Takes `job` back: from now on no helper takes it.
    func withdraw(_ job: DynamicJob) {
        lock.withLock { current in
            if let c = current, c.toOpaque() == Unmanaged.passUnretained(job).toOpaque() { current = nil }
        }
    }

    /// A helper place in the current job, if it has one left (the job's `active` counts this helper).
    private func take() -> Unmanaged<DynamicJob>? {
        lock.withLock { current -> Unmanaged<DynamicJob>? in
            guard let c = current else { return nil }
            return c._withUnsafeGuaranteedRef { job -> Unmanaged<DynamicJob>? in
                if job.places.load(ordering: .relaxed) <= 0 { return nil }
                job.places.subtract(1, ordering: .relaxed)
                job.active.add(1, ordering: .relaxed)
                return c
            }
        }
    }

    private func loop() {
        var seen = 0
        while true {
            if let job = take() {
                job._withUnsafeGuaranteedRef { j in
                    j.work()
                    j.active.subtract(1, ordering: .releasing)
                }
            }
            // Wait for the next job: spin a while, then sleep.
            let start = DispatchTime.now().uptimeNanoseconds
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                spins += 1
                if spins & 255 != 0 { bp_cpu_relax(); continue }
                if DispatchTime.now().uptimeNanoseconds - start < Self.spinNanoseconds { continue }
                sleepers.add(1, ordering: .sequentiallyConsistent)
                if generation.load(ordering: .sequentiallyConsistent) == seen { wake.wait() }
                spins = 0
            }
            seen = generation.load(ordering: .acquiring)
        }
    }
}
