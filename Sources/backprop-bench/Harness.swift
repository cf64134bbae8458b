import Foundation
import Backprop

/// Timing helpers with the same rules as ../shared/bench/pytorch/common.py.
enum Clock {
    /// Monotonic seconds.
    @inline(__always) static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}

/// Keeps a value alive so that the optimizer cannot drop the work that made it.
@inline(never) func blackHole<T>(_ x: T) { withExtendedLifetime(x) {} }

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    if s.isEmpty { return 0 }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// (max - min) / median in percent.
func spread(_ xs: [Double]) -> Double {
    let m = median(xs)
    guard m != 0, let lo = xs.min(), let hi = xs.max() else { return 0 }
    return 100 * (hi - lo) / m
}

/// Seconds per call of `fn`: `repeat` samples of `number` calls each, after `warmup` calls.
func timeit(_ number: Int, _ repeats: Int, warmup: Int = 0, _ fn: () -> Void) -> [Double] {
    for _ in 0..<warmup { fn() }
    var out: [Double] = []
    for _ in 0..<repeats {
        let t = Clock.now()
        for _ in 0..<number { fn() }
        out.append((Clock.now() - t) / Double(number))
    }
    return out
}

/// Items per second of `body` (which handles `itemsPerCall` items) over a window of at least `seconds`.
func throughputWindow(itemsPerCall: Int, seconds: Double = 2, _ body: () -> Void) -> Double {
    var calls = 0
    let start = Clock.now()
    var elapsed = 0.0
    repeat { body(); calls += 1; elapsed = Clock.now() - start } while elapsed < seconds
    return Double(calls * itemsPerCall) / elapsed
}

/// The smallest power-of-two call count whose loop takes at least `target` seconds.
func calibrate(_ target: Double, maxNumber: Int = 1 << 20, _ fn: () -> Void) -> Int {
    var n = 1
    while n < maxNumber {
        let t = Clock.now()
        for _ in 0..<n { fn() }
        if Clock.now() - t >= target { break }
        n *= 2
    }
    return n
}

func round(_ x: Double, _ digits: Int) -> Double {
    let p = pow(10.0, Double(digits))
    return (x * p).rounded() / p
}

/// The peak resident set size of this process so far, in MiB (getrusage ru_maxrss).
func peakRSSMiB() -> Double {
    var ru = rusage()
    #if os(Linux)
    getrusage(RUSAGE_SELF.rawValue, &ru)
    return Double(ru.ru_maxrss) / 1024          // KiB on Linux
    #else
    getrusage(RUSAGE_SELF, &ru)
    return Double(ru.ru_maxrss) / 1024 / 1024   // bytes on macOS
    #endif
}

/// One JSON-able result value.
enum Value {
    case number(Double)
    case int(Int)
    case list([Double])
    case text(String)

    var json: String {
        switch self {
        case .number(let x): return x.isFinite ? "\(x)" : "null"
        case .int(let i): return "\(i)"
        case .list(let xs): return "[" + xs.map { $0.isFinite ? "\($0)" : "null" }.joined(separator: ", ") + "]"
        case .text(let s): return "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
    }
}

/// The results of one workload: ordered keys (as the PyTorch scripts name them) and table rows.
struct WorkloadResult {
    let name: String
    var results: [(String, Value)] = []
    var rows: [(String, String, String)] = []

    mutating func set(_ key: String, _ v: Double, digits: Int = 4) { results.append((key, .number(round(v, digits)))) }
    mutating func set(_ key: String, _ v: Int) { results.append((key, .int(v))) }
    mutating func set(_ key: String, _ v: [Double], digits: Int = 3) { results.append((key, .list(v.map { round($0, digits) }))) }
    mutating func row(_ label: String, _ v: Double, _ unit: String) { rows.append((label, String(format: "%12.3f", v), unit)) }

    func json(meta: String) -> String {
        let r = results.map { "\"\($0.0)\": \($0.1.json)" }.joined(separator: ", ")
        return "{\"workload\": \"\(name)\", \"results\": {\(r)}, \"meta\": \(meta)}"
    }
}
