import Testing
import Foundation
@testable import Backprop

/// scripts/make_reference.py against this build: runs only where a Python with PyTorch is found
/// (the BACKPROP_PYTHON environment variable, else `python3` on the PATH).
@Suite struct ReferenceScriptTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A Python interpreter that can `import torch`, or nil.
    static let python: String? = {
        let candidate = ProcessInfo.processInfo.environment["BACKPROP_PYTHON"] ?? "python3"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [candidate, "-c", "import torch"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return nil }
        p.waitUntilExit()
        return p.terminationStatus == 0 ? candidate : nil
    }()

    @Test("a reference file made by your PyTorch passes backprop verify",
          .enabled(if: python != nil, "no Python with PyTorch (set BACKPROP_PYTHON): skipped"))
    func scriptOutputVerifies() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("backprop-ref-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [Self.python!, Self.repoRoot.appendingPathComponent("scripts/make_reference.py").path, "--out", out, "--seed", "3"]
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let f = FileVerification.run(out)
        #expect(f.error == nil, "\(f.error ?? "")")
        #expect(f.results.count > 100)
        for r in f.results where !r.passed { Issue.record("\(r.name) (\(r.op)): \(r.failure ?? "")") }
    }
}
