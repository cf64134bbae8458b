import Foundation
import Backprop

// backprop-bench: the workloads W1-W9 of ../shared/WORKLOADS.md, side by side with the PyTorch
// scripts (same workload names, same result keys).
//
//   swift run -c release backprop-bench [--json] [--threads N] [--only w3[,w5...]]
//
// With more than one workload selected, each runs in a fresh child process (as each PyTorch script
// does), so that peak RSS and page-fault costs of one workload do not leak into another.

let workloads: [(String, () -> WorkloadResult)] = [
    ("w1_seed_step", w1SeedStep), ("w2_small_ops", w2SmallOps), ("w3_gemm", w3Gemm),
    ("w4_elementwise", w4Elementwise), ("w5_softmax_ce", w5SoftmaxCE), ("w6_mlp", w6MLP),
    ("w7_small_mlp", w7SmallMLP), ("w8_digits", w8Digits),
    ("w9_cnn", w9CNN),
    ("w10_gpt", w10GPT),
]

struct Options {
    var json = false
    var threads = 2
    var only: [String] = []
    var inProcess = false
}

func usage() -> Never {
    FileHandle.standardError.write("""
    usage: backprop-bench [--json] [--threads N] [--only w1,w3,...] [--in-process]
      --threads N    worker threads for kernels and BLAS (default 2)
      --only LIST    workloads to run (w1..w10, comma separated)
      --json         print one JSON object {"threads": N, "workloads": {"w1_seed_step": {"results": ...}}}
      --in-process   run the selected workloads in this process instead of one child each\n
    """.data(using: .utf8)!)
    exit(2)
}

func parseOptions() -> Options {
    var o = Options()
    var args = CommandLine.arguments.dropFirst()
    while let a = args.popFirst() {
        switch a {
        case "--json": o.json = true
        case "--in-process": o.inProcess = true
        case "--threads":
            guard let v = args.popFirst(), let n = Int(v), n >= 1 else { usage() }
            o.threads = n
        case "--only":
            guard let v = args.popFirst() else { usage() }
            o.only = v.split(separator: ",").map { String($0).lowercased() }
        case "-h", "--help": usage()
        default:
            FileHandle.standardError.write("error: unknown argument \(a)\n".data(using: .utf8)!)
            usage()
        }
    }
    return o
}

func meta(_ o: Options, wall: Double) -> String {
    "{\"backprop\": \"\(BackpropInfo.version)\", \"threads\": \(o.threads), \"matmul\": \(Value.text(MatmulBackend.description).json), "
        + "\"wall_s\": \(round(wall, 3)), \"peak_rss_mib\": \(round(peakRSSMiB(), 1))}"
}

let options = parseOptions()
let selected = workloads.filter { w in
    options.only.isEmpty || options.only.contains { w.0 == $0 || w.0.hasPrefix($0 + "_") }
}
if selected.isEmpty {
    FileHandle.standardError.write("error: --only \(options.only.joined(separator: ",")) selects no workload (w1..w10)\n".data(using: .utf8)!)
    exit(2)
}
/// The launcher's ranks under `mpirun` (W6 trains data-parallel over them), else one process. Started
/// before `--threads` is applied (the group would otherwise split the cores between the ranks).
let benchGroup: ProcessGroup = {
    do { return try ProcessGroup.world() } catch {
        FileHandle.standardError.write("error: \(error)\n".data(using: .utf8)!)
        exit(1)
    }
}()
if benchGroup.isDistributed && !benchGroup.isMain {
    // Rank 0 alone prints.
    let devNull = open("/dev/null", O_WRONLY)
    if devNull >= 0 { dup2(devNull, STDOUT_FILENO); close(devNull) }
}
if benchGroup.isDistributed && selected.map(\.0) != ["w6_mlp"] {
    FileHandle.standardError.write("error: under mpirun only W6 runs data-parallel: give --only w6\n".data(using: .utf8)!)
    exit(2)
}
Parallelism.threads = options.threads

/// Runs one workload in a child process and returns its JSON line.
func runChild(_ name: String) -> String {
    let p = Process()
    #if os(Linux)
    p.executableURL = URL(fileURLWithPath: "/proc/self/exe")
    #else
    p.executableURL = Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
    #endif
    p.arguments = ["--json", "--in-process", "--threads", "\(options.threads)", "--only", name]
    let pipe = Pipe()
    p.standardOutput = pipe
    do { try p.run() } catch {
        FileHandle.standardError.write("error: cannot start a child for \(name): \(error)\n".data(using: .utf8)!)
        exit(1)
    }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0, let s = String(data: data, encoding: .utf8) else {
        FileHandle.standardError.write("error: workload \(name) failed (status \(p.terminationStatus))\n".data(using: .utf8)!)
        exit(1)
    }
    // The child prints {"threads": .., "workloads": {"name": {...}}}; keep the inner object.
    let obj = try! JSONSerialization.jsonObject(with: Data(s.utf8)) as! [String: Any]
    let inner = (obj["workloads"] as! [String: Any])[name]!
    return String(data: try! JSONSerialization.data(withJSONObject: inner, options: [.sortedKeys]), encoding: .utf8)!
}

if selected.count > 1 && !options.inProcess {
    var parts: [String] = []
    for (name, _) in selected {
        if !options.json { FileHandle.standardError.write("[\(name)]\n".data(using: .utf8)!) }
        let js = runChild(name)
        parts.append("\"\(name)\": \(js)")
        if !options.json {
            let obj = try! JSONSerialization.jsonObject(with: Data(js.utf8)) as! [String: Any]
            let res = obj["results"] as! [String: Any]
            print("== \(name)")
            for k in res.keys.sorted() where !(res[k] is [Any]) { print("  \(k.padding(toLength: 34, withPad: " ", startingAt: 0))  \(res[k]!)") }
        }
    }
    if options.json { print("{\"threads\": \(options.threads), \"workloads\": {\(parts.joined(separator: ", "))}}") }
    exit(0)
}

var parts: [String] = []
for (name, fn) in selected {
    let t0 = Clock.now()
    let r = fn()
    let wall = Clock.now() - t0
    if options.json {
        parts.append("\"\(name)\": " + r.json(meta: meta(options, wall: wall)))
    } else {
        print("== \(r.name)  (backprop \(BackpropInfo.version), threads=\(options.threads), matmul: \(MatmulBackend.description), wall=\(String(format: "%.3f", wall)) s)")
        let w = r.rows.map { $0.0.count }.max() ?? 0
        for (label, v, unit) in r.rows { print("  \(label.padding(toLength: w, withPad: " ", startingAt: 0))  \(v)  \(unit)") }
    }
}
if options.json { print("{\"threads\": \(options.threads), \"workloads\": {\(parts.joined(separator: ", "))}}") }
