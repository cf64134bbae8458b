import Foundation
import Testing
@testable import Backprop

/// The same inputs through the `backprop` executable: one line on stderr naming the file (line and
/// column) or the flag, exit status 1, never a crash.
@Suite struct BadInputCLITests {
    static let iris = Fixtures.path("iris.csv")

    static func temporary(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("backprop-bad-\(UUID().uuidString)-\(name)").path
    }

    /// Runs the CLI and checks the failure's shape; returns its one stderr line.
    @discardableResult
    static func failure(_ args: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let r = try CLI.run(args)
        #expect(r.status == 1, "status \(r.status); stderr: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stdout.isEmpty, "stdout: \(r.stdout)", sourceLocation: sourceLocation)
        let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.isEmpty }
        #expect(lines.count == 1 && r.stderr.hasPrefix("error: "), "stderr: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(!r.stderr.contains("Fatal error") && !r.stderr.contains("Usage"), "stderr: \(r.stderr)", sourceLocation: sourceLocation)
        return r.stderr
    }

    @Test("train on a CSV with a label no class id fits", arguments: ["99999999999999999999", "nan", "inf", "-inf"])
    func badLabel(_ label: String) throws {
        let path = Self.temporary("labels.csv")
        defer { unlink(path) }
        try Data("a,b,label\n1,2,0\n3,4,1\n5,6,\(label)\n".utf8).write(to: URL(fileURLWithPath: path))
        let err = try Self.failure(["train", "--data", path])
        #expect(err.hasPrefix("error: \(path):4:3: label '\(label)' is "), "\(err)")
    }

    @Test("train rejects bad flag values in one line naming the flag", arguments: [
        (["--epochs", "0"], "--epochs"),
        (["--epochs", "99999999999999999999"], "--epochs"),
        (["--epochs", "ten"], "--epochs"),
        (["--steps", "2000000000"], "--steps"),
        (["--epochs", "3", "--steps", "3"], "--steps"),
        (["--warmup-epochs=-2"], "--warmup-epochs"),
        (["--lr-schedule", "linear"], "--lr-schedule"),
        (["--optimizer", "rmsprop"], "--optimizer"),
        (["--activation", "swish"], "--activation"),
        (["--hidden", "64,x"], "--hidden"),
        (["--hidden", "99999999999999999999"], "--hidden"),
        (["--hidden", "16000000,16000000"], "--hidden"),
        (["--lr", "nan"], "--lr"),
        (["--lr", "abc"], "--lr"),
        (["--lr=-0.1"], "--lr"),
        (["--momentum", "1", "--optimizer", "sgd"], "--momentum"),
        (["--weight-decay", "inf"], "--weight-decay"),
        (["--batch-size=-1"], "--batch-size"),
        (["--batch-size", "1e3"], "--batch-size"),
        (["--seed=-1"], "--seed"),
        (["--seed", "18446744073709551616"], "--seed"),
        (["--test-split", "1"], "--test-split"),
        (["--test-split", "nan"], "--test-split"),
        (["--label-column", "9"], "label column 9"),
        (["--init", "a.safetensors", "--resume", "b.safetensors"], "--resume"),
    ])
    func badFlags(_ args: [String], _ needle: String) throws {
        let err = try Self.failure(["train", "--data", Self.iris] + args)
        #expect(err.contains(needle), "\(err)")
    }

    @Test("a mini-batch larger than any data set trains as one batch")
    func hugeBatchSize() throws {
        let r = try CLI.run(["train", "--data", Self.iris, "--batch-size", "9223372036854775807", "--steps", "1", "--hidden", "4"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("trained 1 epochs (1 steps)"), "\(r.stdout)")
    }

    @Test("--resume: bad metadata and optimizer state name the file and the key")
    func badCheckpoint() throws {
        let good = Self.temporary("good.safetensors")
        let goodState = Checkpoint.optimizerPath(for: good)
        defer { unlink(good); unlink(goodState) }
        let r = try CLI.run(["train", "--data", Self.iris, "--hidden", "4", "--epochs", "1", "--save", good])
        #expect(r.status == 0, "\(r.stderr)")
        let model = try SafeTensors.read(good), state = try SafeTensors.read(goodState)
        #expect(model.metadata["hidden"] == "4" && state.metadata["optimizer"] == "adam")
        // Each key is spoiled where it lives: the model's in the model file, the run's in the optimizer file (both for step).
        let cases: [(key: String, value: String, needle: String)] = [
            ("epoch", "-5", "the checkpoint's 'epoch' metadata must be a whole number from 0 to 2^53, got '-5'"),
            ("step", "99999999999999999999", "the checkpoint's 'step' metadata must be a whole number from 0 to 2^53"),
            ("lr", "nan", "the checkpoint's 'lr' metadata must be a positive number, got 'nan'"),
            ("hidden", "0", "metadata 'hidden' must be layer sizes like 64,32, or none, got '0'"),
            ("test_split", "2", "the checkpoint's 'test_split' metadata must be a fraction in [0, 1), got '2'"),
            ("optimizer", "rmsprop", "the checkpoint's 'optimizer' metadata must be sgd, adam or adamw, got 'rmsprop'"),
        ]
        for c in cases {
            let bad = Self.temporary("bad.safetensors"), badState = Checkpoint.optimizerPath(for: bad)
            defer { unlink(bad); unlink(badState) }
            var (m, o) = (model.metadata, state.metadata)
            if m[c.key] != nil { m[c.key] = c.value }
            if o[c.key] != nil || m[c.key] == nil { o[c.key] = c.value }
            try SafeTensors.write(model.tensors, metadata: m, to: bad)
            try SafeTensors.write(state.tensors, metadata: o, to: badState)
            let err = try Self.failure(["train", "--data", Self.iris, "--resume", bad, "--epochs", "1"])
            #expect(err.contains("--resume \(bad): ") && err.contains(c.needle), "\(c.key): \(err)")
        }
        let bad = Self.temporary("step.safetensors"), badState = Checkpoint.optimizerPath(for: bad)
        defer { unlink(bad); unlink(badState) }
        try SafeTensors.write(model.tensors, metadata: model.metadata, to: bad)
        let tensors = state.tensors.map { $0.name == "state.0.step" ? ($0.name, Tensor(scalar: 1e30)) : $0 }
        try SafeTensors.write(tensors, metadata: state.metadata, to: badState)
        let err = try Self.failure(["train", "--data", Self.iris, "--resume", bad, "--epochs", "1"])
        #expect(err.contains("--resume \(badState): ") && err.contains("state.0.step must be a positive whole number"), "\(err)")
        // Without the optimizer file beside it, a model file does not resume (and says to use --init).
        unlink(badState)
        let lone = try Self.failure(["train", "--data", Self.iris, "--resume", bad, "--epochs", "1"])
        #expect(lone.contains("no optimizer state beside it (\(badState) is missing)"), "\(lone)")
        // Given options must agree with the checkpoint, compared as values.
        let hidden = try Self.failure(["train", "--data", Self.iris, "--resume", good, "--hidden", "8"])
        #expect(hidden.contains("--hidden 8 differs from the checkpoint's 4"), "\(hidden)")
        let same = try CLI.run(["train", "--data", Self.iris, "--resume", good, "--hidden", " 4", "--optimizer", "ADAM", "--epochs", "1"])
        #expect(same.status == 0, "\(same.stderr)")
    }

    @Test("a flag value of 100,000 characters is shortened in the one-line message")
    func longValueIsAbridged() throws {
        let deep = String(repeating: "[", count: 50_000) + String(repeating: "]", count: 50_000)
        let err = try Self.failure(["walkthrough", "--features", deep])
        #expect(err.count < 400, "\(err.count) characters")
        #expect(err.contains("'--features <features>': lists nested deeper than 32 levels at character 33"), "\(err)")
        #expect(err.contains("(100000 characters)"), "\(err)")
    }

    @Test("walkthrough and graph: literal and count flags that no Int holds", arguments: [
        ["walkthrough", "--target", "[1e30]"],
        ["walkthrough", "--target", "[-1]"],
        ["walkthrough", "--features", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"],
        ["walkthrough", "--steps", "99999999999999999999"],
        ["walkthrough", "--steps", "2000000"],
        ["walkthrough", "--lr", "inf"],
        ["graph", "--limit", "0"],
        ["graph", "--lr", "nan"],
        ["gradcheck", "--trials", "0"],
    ])
    func badNotebookFlags(_ args: [String]) throws {
        let err = try Self.failure(args)
        let flag = args[1]
        #expect(err.contains(flag), "\(err)")
    }

    @Test("--help still prints the usage, on stdout, with status 0")
    func helpIsUnchanged() throws {
        let r = try CLI.run(["train", "--help"])
        #expect(r.status == 0 && r.stderr.isEmpty, "\(r.stderr)")
        // As one line: the help wraps at the terminal width.
        let help = r.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(help.contains("USAGE: backprop train <options>"), "\(r.stdout)")
        for values in ["(values: constant, cosine, step)", "(values: sgd, adam, adamw)", "(values: relu, tanh, sigmoid, gelu)"] {
            #expect(help.contains(values), "\(values) in \(r.stdout)")
        }
    }
}
