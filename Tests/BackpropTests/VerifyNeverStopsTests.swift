import Foundation
import Testing
@testable import Backprop

/// `backprop verify` gives every case its verdict: a case that makes an op stop (a programmer
/// error such as a shape mismatch) or reject its arguments is that case's failure, and the run
/// goes on to its final line.
@Suite struct VerifyNeverStopsTests {
    /// Passing, failing (wrong value), stopping (mm of [2, 3] and [2, 3]), rejected (a bad
    /// rounding_mode), unknown and malformed cases, then a passing one.
    static func mixedFile() -> String {
        var cases: [[String: Any]] = []
        let golden = Golden.cases("ops.json")
        let add = golden.first { $0["name"] as? String == "add_same_f32" }!
        cases.append(add)
        var wrong = add
        wrong["name"] = "wrong_value"
        var out = wrong["output"] as! [String: Any]
        out["data"] = (out["data"] as! [Double]).map { $0 + 1 }
        wrong["output"] = out
        cases.append(wrong)
        let t23: [String: Any] = ["shape": [2, 3], "dtype": "float32", "data": [1, 2, 3, 4, 5, 6]]
        cases.append(["name": "mm_stops", "op": "mm", "arg_names": ["input", "mat2"], "args": [t23, t23], "kwargs": [:],
                      "output": t23, "cotangent": NSNull(), "grads": [NSNull(), NSNull()]])
        cases.append(["name": "cat_stops", "op": "cat", "arg_names": ["tensors"],
                      "args": [[["shape": [], "dtype": "float32", "data": [1]]]], "kwargs": ["dim": 0],
                      "output": t23, "cotangent": NSNull(), "grads": [NSNull()]])
        cases.append(["name": "bad_rounding", "op": "div", "arg_names": ["input", "other"], "args": [t23, t23],
                      "kwargs": ["rounding_mode": "up"], "output": t23, "cotangent": NSNull(), "grads": [NSNull(), NSNull()]])
        cases.append(["name": "unknown", "op": "frobnicate", "args": [t23], "output": t23])
        cases.append(["name": "malformed", "op": "exp", "args": [["shape": [2], "data": [1]]], "output": t23])
        cases.append(golden.first { $0["name"] as? String == "mm_basic_f64" }!)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("backprop-mixed-\(UUID().uuidString).json").path
        FileManager.default.createFile(atPath: path, contents: try! JSONSerialization.data(withJSONObject: ["cases": cases]))
        return path
    }

    @Test("every case gets a verdict, stopped ones with the op's message")
    func libraryVerdicts() throws {
        let path = Self.mixedFile()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let results = try Verifier.verifyFile(path)
        #expect(results.map(\.name) == ["add_same_f32", "wrong_value", "mm_stops", "cat_stops", "bad_rounding", "unknown",
                                        "malformed", "mm_basic_f64"])
        #expect(results.map(\.passed) == [true, false, false, false, false, false, false, true])
        #expect(results[2].failure?.hasPrefix("stopped: mm: [2, 3] x [2, 3]: inner dimensions 3 and 2 differ") == true,
                "\(results[2].failure ?? "")")
        #expect(results[3].failure?.contains("cat: zero-dimensional tensor") == true, "\(results[3].failure ?? "")")
        #expect(results[4].failure?.contains("rounding_mode") == true)
        #expect(results[5].failure == "unknown op frobnicate")
        #expect(results[6].failure?.contains("malformed: args[0]") == true, "\(results[6].failure ?? "")")
    }

    @Test("a file's own tolerances, per dtype, replace the suggested ones")
    func fileTolerances() throws {
        var c = Golden.cases("ops.json").first { $0["name"] as? String == "add_same_f32" }!
        var out = c["output"] as! [String: Any]
        out["data"] = (out["data"] as! [Double]).map { $0 * (1 + 1e-4) }
        c["output"] = out
        func run(_ header: [String: Any]) throws -> Bool {
            var doc = header
            doc["cases"] = [c]
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("backprop-tol-\(UUID().uuidString).json").path
            FileManager.default.createFile(atPath: path, contents: try JSONSerialization.data(withJSONObject: doc))
            defer { try? FileManager.default.removeItem(atPath: path) }
            return try Verifier.verifyFile(path)[0].passed
        }
        #expect(try !run([:]))
        #expect(try run(["tolerance": ["float32": ["rtol": 1e-3, "atol": 1e-5], "float64": ["rtol": 1e-7, "atol": 1e-7]]]))
        #expect(try !run(["tolerance": ["float64": ["rtol": 1e-3, "atol": 1e-5]]]))
        #expect(throws: ReferenceFileError.self) { try run(["tolerance": ["float32": ["rtol": -1, "atol": 0]]]) }
    }

    @Test("backprop verify prints every verdict and the final line, and exits 1",
          .enabled(if: VerifyCommandTests.executable != nil, "backprop executable not built next to the tests"))
    func commandVerdicts() throws {
        let path = Self.mixedFile()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try VerifyCommandTests.run(["verify", path])
        #expect(r.status == 1)
        for name in ["add_same_f32", "wrong_value", "mm_stops", "cat_stops", "bad_rounding", "unknown", "malformed", "mm_basic_f64"] {
            #expect(r.out.contains(": \(name) ("), "no verdict for \(name):\n\(r.out)")
        }
        #expect(r.out.hasSuffix("2 passed, 6 failed\n"), "\(r.out)")
    }
}
