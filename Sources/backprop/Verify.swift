import ArgumentParser
import Backprop
import Foundation

/// `backprop verify FILE...`: replays PyTorch reference files through Backprop.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay PyTorch reference files (ops.json / expressions.json formats) and compare every value and gradient.",
        discussion: """
            Each single-op case is run forward and backward with its cotangent; each program case replays its \
            steps and compares every step value and leaf gradient. Prints every case's verdict and \
            'N passed, M failed'; a case whose op stops or rejects its arguments fails alone and the run goes on. \
            A file may set its tolerances per dtype in its header ("tolerance": {"float32": {"rtol": r, "atol": a}}). \
            A case with cotangent2 and grads2 (gradgrad.json) is also checked to second order: its gradients, \
            recorded with createGraph, are differentiated again. With no FILE, checks the reference files shipped \
            with Backprop (ops.json, ties.json, expressions.json, more_ops.json and gradgrad.json, made with PyTorch 2.15). Make your own with scripts/make_reference.py. \
            Exits 1 when a case fails or a file is malformed.
            """)

    @Argument(help: "Reference JSON files. Default: the files shipped with Backprop.")
    var files: [String] = []
    @Flag(help: "Also print counts per file and per op family.")
    var verbose = false
    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func run() throws {
        try reportingErrors {
            var targets: [(path: String, name: String)] = files.map { ($0, $0) }
            if targets.isEmpty {
                guard let dir = Bundle.module.resourceURL?.appendingPathComponent("Reference") else {
                    throw CLIError("cannot find the reference files shipped with backprop")
                }
                targets = ["ops.json", "ties.json", "expressions.json", "more_ops.json", "gradgrad.json"].map { (dir.appendingPathComponent($0).path, $0) }
            }
            let summary = VerificationSummary(files: targets.map { FileVerification.run($0.path, displayName: $0.name) })
            if json {
                try printJSON(summary.jsonObject)
            } else {
                print(summary.text(verbose: verbose), terminator: "")
            }
            if !summary.succeeded { throw ExitCode(1) }
        }
    }
}

/// `backprop gradcheck`: every differentiable op against finite differences.
struct GradcheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gradcheck",
        abstract: "Check every differentiable op's backward rule against Float64 finite differences on seeded random inputs.",
        discussion: """
            For each op, draws --trials random problems (random shapes with broadcasting, size-1 dims and \
            0-d tensors; values away from kinks), and compares the vector-Jacobian product of backward with \
            central differences (eps 1e-6, atol 1e-5, rtol 1e-3). With --order 2, checks the second \
            derivatives instead (gradgradcheck: the gradients, recorded with createGraph, against finite \
            differences of the gradients). Exits 1 when any op fails.
            """)

    @Option(help: "Seed of the random inputs.")
    var seed: UInt64 = 0
    @Option(help: "Random problems per op.")
    var trials = 10
    @Option(name: .customLong("op"), help: "Check only this op (PyTorch name or case name, e.g. pow or pow.tensor); repeatable.")
    var ops: [String] = []
    @Option(help: "1: first derivatives (gradcheck); 2: second derivatives (gradgradcheck).")
    var order = 1
    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func validate() throws {
        guard trials > 0 else { throw ValidationError("--trials must be at least 1, got \(trials)") }
        guard order == 1 || order == 2 else { throw ValidationError("--order must be 1 or 2, got \(order)") }
    }

    func run() throws {
        try reportingErrors {
            var cases = GradcheckSuite.cases
            if !ops.isEmpty {
                for o in ops where !cases.contains(where: { $0.op == o || $0.name == o }) {
                    throw CLIError("--op: no differentiable op named \(o) (known: \(Set(cases.map(\.op)).sorted().joined(separator: ", ")))")
                }
                cases = cases.filter { ops.contains($0.op) || ops.contains($0.name) }
            }
            let results = cases.map { GradcheckSuite.run($0, seed: seed, trials: trials, order: order) }
            let failed = results.filter { !$0.passed }
            if json {
                let obj: [String: Any] = [
                    "seed": seed, "trials": trials, "order": order, "passed": results.count - failed.count, "failed": failed.count,
                    "ops": results.map { r -> [String: Any] in
                        var o: [String: Any] = ["name": r.name, "op": r.op, "passed": r.passed, "inputs_checked": r.inputsChecked,
                                                "elements_checked": r.elementsChecked,
                                                "max_abs_error": r.maxAbsError.isFinite ? r.maxAbsError : Double.greatestFiniteMagnitude,
                                                "max_rel_error": r.maxRelError.isFinite ? r.maxRelError : Double.greatestFiniteMagnitude]
                        if let f = r.failure { o["failure"] = f }
                        return o
                    },
                ]
                try printJSON(obj)
            } else {
                let w = max(results.map(\.name.count).max() ?? 2, 2)
                func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: max(n, s.count), withPad: " ", startingAt: 0) }
                print("\(pad("op", w))  inputs  elements  max abs error  max rel error  result")
                for r in results {
                    let abs = String(format: "%.2e", r.maxAbsError), rel = String(format: "%.2e", r.maxRelError)
                    print("\(pad(r.name, w))  \(pad(String(r.inputsChecked), 6))  \(pad(String(r.elementsChecked), 8))  \(pad(abs, 13))  \(pad(rel, 13))  \(r.passed ? "pass" : "FAIL")")
                }
                for r in failed { print("FAIL \(r.name): \(r.failure ?? "")") }
                print("\(results.count - failed.count) ops passed, \(failed.count) failed (seed \(seed), \(trials) trials each, \(order == 1 ? "first" : "second") order, Float64, eps 1e-6, atol 1e-5, rtol 1e-3)")
            }
            if !failed.isEmpty { throw ExitCode(1) }
        }
    }
}
