import Foundation
import Testing
@testable import Backprop

/// The test bundle's own files (Tests/BackpropTests/Fixtures): the iris data and parameters, the
/// NumPy and safetensors files written by Python, optim.json and printing.json.
enum Fixtures {
    static func path(_ file: String) -> String {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures").appendingPathComponent(file).path
    }

    static func object(_ file: String) -> [String: Any] { JSONFile.object(path(file)) }
    static func cases(_ file: String) -> [[String: Any]] { JSONFile.cases(path(file)) }
    static func caseNames(_ file: String) -> [String] { JSONFile.caseNames(path(file)) }
}

/// The PyTorch golden reference files (ops.json, ties.json, expressions.json, seed.json,
/// autograd.json), read from their one copy in the project: Sources/backprop/Reference, which the
/// `backprop` executable ships for `backprop verify` and scripts/refresh_golden.sh refreshes from
/// ../shared/golden. Found from this file's path, so the tests need nothing outside the checkout.
enum Golden {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // Tests/BackpropTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // the package root
        .appendingPathComponent("Sources/backprop/Reference")

    static func path(_ file: String) -> String { directory.appendingPathComponent(file).path }

    static func object(_ file: String) -> [String: Any] { JSONFile.object(path(file)) }
    static func cases(_ file: String) -> [[String: Any]] { JSONFile.cases(path(file)) }
    static func caseNames(_ file: String) -> [String] { JSONFile.caseNames(path(file)) }
}

/// A reference file's top-level object and its `cases` list; stops the test run naming the file
/// when it is missing or malformed.
enum JSONFile {
    static func object(_ path: String) -> [String: Any] {
        do { return try GoldenFormat.loadObject(path) } catch { fatalError("\(error)") }
    }

    static func cases(_ path: String) -> [[String: Any]] {
        guard let cases = object(path)["cases"] as? [[String: Any]] else { fatalError("\(path): no \"cases\" list") }
        return cases
    }

    static func caseNames(_ path: String) -> [String] {
        cases(path).map { $0["name"] as! String }
    }
}

/// The checkout's own files (data sets, scripts), found from this file's path.
enum Repository {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }
}

/// The Python that the checks of files in PyTorch run: `BACKPROP_PYTHON`, else `python3` on the
/// PATH, when it can import torch, safetensors and NumPy; nil otherwise, and those tests skip.
enum PythonForTests {
    static let skipMessage: Comment = "no Python with torch, safetensors and numpy: pip install torch safetensors numpy, then set BACKPROP_PYTHON to that python (or put it first on the PATH as python3)"

    static let interpreter: String? = {
        let env = ProcessInfo.processInfo.environment
        var candidates = [env["BACKPROP_PYTHON"]].compactMap { $0 }
        for dir in (env["PATH"] ?? "").split(separator: ":") { candidates.append("\(dir)/python3") }
        return candidates.first { path in
            guard FileManager.default.isExecutableFile(atPath: path) else { return false }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: path)
            p.arguments = ["-c", "import torch, safetensors.torch, numpy"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            guard (try? p.run()) != nil else { return false }
            p.waitUntilExit()
            return p.terminationStatus == 0
        }
    }()
}
