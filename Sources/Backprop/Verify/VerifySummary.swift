import Foundation

/// The outcome of replaying one reference file.
public struct FileVerification: Sendable {
    /// The file as the user named it.
    public let path: String
    /// One result per case, in file order (empty when the file is malformed).
    public let results: [CaseResult]
    /// Why the file could not be replayed (which case and field), or nil.
    public let error: String?

    /// The number of cases that passed.
    public var passed: Int { results.filter(\.passed).count }
    /// The number of cases that failed (unknown ops included).
    public var failed: Int { results.count - passed }

    /// Replays the file at `path`, catching a malformed file as `error`.
    public static func run(_ path: String, displayName: String? = nil) -> FileVerification {
        do {
            return FileVerification(path: displayName ?? path, results: try Verifier.verifyFile(path), error: nil)
        } catch {
            return FileVerification(path: displayName ?? path, results: [], error: "\(error)")
        }
    }
}

/// Totals over several reference files, per op family, as text lines or a JSON object.
public struct VerificationSummary {
    /// The files, in the order given.
    public let files: [FileVerification]
    /// A summary of these files.
    public init(files: [FileVerification]) { self.files = files }

    /// Cases passed over all files.
    public var passed: Int { files.reduce(0) { $0 + $1.passed } }
    /// Cases failed over all files.
    public var failed: Int { files.reduce(0) { $0 + $1.failed } }
    /// Whether every case passed and every file could be read.
    public var succeeded: Bool { failed == 0 && files.allSatisfy { $0.error == nil } }

    /// (family, passed, failed), sorted by family name.
    public var families: [(family: String, passed: Int, failed: Int)] {
        var counts: [String: (Int, Int)] = [:]
        for f in files {
            for r in f.results {
                let fam = OpRegistry.family(of: r.op)
                var c = counts[fam] ?? (0, 0)
                if r.passed { c.0 += 1 } else { c.1 += 1 }
                counts[fam] = c
            }
        }
        return counts.keys.sorted().map { ($0, counts[$0]!.0, counts[$0]!.1) }
    }

    /// The report: every case's verdict (`ok` or `FAIL` with what differed or why it stopped),
    /// per-family and per-file counts when `verbose`, and the last line `N passed, M failed`.
    public func text(verbose: Bool) -> String {
        var lines: [String] = []
        for f in files {
            if let e = f.error { lines.append("error: \(e)") }
            for r in f.results {
                lines.append(r.passed ? "ok   \(f.path): \(r.name) (\(r.op))"
                                      : "FAIL \(f.path): \(r.name) (\(r.op)): \(r.failure ?? "")")
            }
        }
        if verbose {
            for f in files where f.error == nil { lines.append("\(f.path): \(f.passed) passed, \(f.failed) failed") }
            for (fam, p, m) in families { lines.append("  \(fam): \(p) passed, \(m) failed") }
        }
        let malformed = files.filter { $0.error != nil }.count
        lines.append("\(passed) passed, \(failed) failed" + (malformed > 0 ? ", \(malformed) file\(malformed == 1 ? "" : "s") malformed" : ""))
        return lines.joined(separator: "\n") + "\n"
    }

    /// The report as a JSON-ready object: totals, families and every case of every file.
    public var jsonObject: [String: Any] {
        [
            "passed": passed, "failed": failed, "ok": succeeded,
            "families": Dictionary(uniqueKeysWithValues: families.map { ($0.family, ["passed": $0.passed, "failed": $0.failed]) }),
            "files": files.map { f -> [String: Any] in
                var o: [String: Any] = ["path": f.path, "passed": f.passed, "failed": f.failed,
                                        "cases": f.results.map { r -> [String: Any] in
                                            var c: [String: Any] = ["name": r.name, "op": r.op, "family": OpRegistry.family(of: r.op),
                                                                    "passed": r.passed]
                                            if let failure = r.failure { c["failure"] = failure }
                                            return c
                                        }]
                if let e = f.error { o["error"] = e }
                return o
            },
        ]
    }
}
