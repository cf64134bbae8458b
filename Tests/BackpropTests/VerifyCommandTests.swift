import Testing
import Foundation
@testable import Backprop

/// `backprop verify` and `backprop gradcheck`: the library side of their reports, then the
/// built executable itself when it sits next to the test bundle (as after `swift build`/`swift test`).
@Suite struct VerifyCommandTests {
    static func write(_ object: Any) -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("backprop-verify-\(UUID().uuidString).json").path
        let data = try! JSONSerialization.data(withJSONObject: object)
        FileManager.default.createFile(atPath: path, contents: data)
        return path
    }

    @Test("ops.json: 376 passed, 0 failed, with per-family counts")
    func opsSummary() {
        let s = VerificationSummary(files: [FileVerification.run(Golden.path("ops.json"), displayName: "ops.json")])
        #expect(s.succeeded)
        let text = s.text(verbose: true)
        #expect(text.hasSuffix("376 passed, 0 failed\n"), "\(text)")
        #expect(text.contains("  loss: 94 passed, 0 failed"))
        #expect(s.families.reduce(0) { $0 + $1.passed } == 376)
    }

    @Test("an unknown op counts as a failed case, by name")
    func unknownOp() {
        var cases = Golden.cases("ops.json").prefix(2).map { $0 }
        cases[1]["op"] = "frobnicate"
        let path = Self.write(["cases": cases])
        defer { try? FileManager.default.removeItem(atPath: path) }
        let s = VerificationSummary(files: [FileVerification.run(path)])
        #expect(!s.succeeded)
        #expect(s.passed == 1 && s.failed == 1)
        #expect(s.text(verbose: false).contains("(frobnicate): unknown op frobnicate"))
        #expect(s.families.contains { $0.family == "unknown" && $0.failed == 1 })
    }

    @Test("a malformed case fails by itself, naming the case and the field; the others still run")
    func malformed() {
        var cases = Golden.cases("ops.json").prefix(3).map { $0 }
        cases[1]["cotangent"] = ["shape": [2, 3], "dtype": "float32", "data": [1]]
        let name = cases[1]["name"] as! String
        let path = Self.write(["cases": cases])
        defer { try? FileManager.default.removeItem(atPath: path) }
        let f = FileVerification.run(path)
        #expect(f.error == nil)
        #expect(f.results.count == 3 && f.passed == 2)
        #expect(f.results[1].failure?.contains("\(name): cotangent") == true, "\(f.results[1])")
        #expect(!VerificationSummary(files: [f]).succeeded)
    }

    @Test("a file that is not a case list is malformed as a whole")
    func malformedFile() {
        let path = Self.write(["no cases": 1])
        defer { try? FileManager.default.removeItem(atPath: path) }
        let f = FileVerification.run(path)
        #expect(f.error?.contains("missing \"cases\"") == true)
        #expect(VerificationSummary(files: [f]).text(verbose: false).hasSuffix("0 passed, 0 failed, 1 file malformed\n"))
    }

    @Test("a wrong reference value fails its case and says which element")
    func wrongValue() {
        var cases = Golden.cases("ops.json").prefix(1).map { $0 }
        var out = cases[0]["output"] as! [String: Any]
        out["data"] = (out["data"] as! [Double]).map { $0 + 1 }
        cases[0]["output"] = out
        let path = Self.write(["cases": cases])
        defer { try? FileManager.default.removeItem(atPath: path) }
        let s = VerificationSummary(files: [FileVerification.run(path)])
        #expect(s.failed == 1)
        #expect(s.text(verbose: false).contains("add_same_f32 (add): output: element "))
    }

    // MARK: - The executable

    static let executable: String? = {
        let url = Bundle.module.bundleURL.deletingLastPathComponent().appendingPathComponent("backprop")
        return FileManager.default.isExecutableFile(atPath: url.path) ? url.path : nil
    }()

    static func run(_ args: [String]) throws -> (status: Int32, out: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable!)
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test("backprop verify with no file checks the shipped reference files", .enabled(if: executable != nil, "backprop executable not built next to the tests"))
    func verifyShipped() throws {
        let r = try Self.run(["verify"])
        #expect(r.status == 0, "\(r.out)")
        #expect(r.out.hasSuffix("723 passed, 0 failed\n"), "\(r.out)")
    }

    @Test("backprop verify exits 1 on a failing case and on a malformed file", .enabled(if: executable != nil, "backprop executable not built next to the tests"))
    func verifyFails() throws {
        var cases = Golden.cases("ops.json").prefix(2).map { $0 }
        cases[0]["op"] = "frobnicate"
        let path = Self.write(["cases": cases])
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try Self.run(["verify", path])
        #expect(r.status == 1)
        #expect(r.out.contains("1 passed, 1 failed"))
        let bad = Self.write(["nothing": 1])
        defer { try? FileManager.default.removeItem(atPath: bad) }
        let m = try Self.run(["verify", "--json", bad])
        #expect(m.status == 1)
        #expect(m.out.contains("missing \\\"cases\\\""), "\(m.out)")
    }

    @Test("backprop gradcheck prints a passing table", .enabled(if: executable != nil, "backprop executable not built next to the tests"))
    func gradcheckCommand() throws {
        let r = try Self.run(["gradcheck", "--trials", "1"])
        #expect(r.status == 0, "\(r.out)")
        #expect(r.out.contains("\(GradcheckSuite.cases.count) ops passed, 0 failed"))
        let bad = try Self.run(["gradcheck", "--op", "nonexistent"])
        #expect(bad.status == 1)
    }
}
