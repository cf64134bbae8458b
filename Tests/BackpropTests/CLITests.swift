import Testing
import Foundation
@testable import Backprop

/// Runs the built `backprop` executable (built by `swift test` next to the test bundle).
enum CLI {
    static var executable: URL? {
        let dir = Bundle.module.bundleURL.deletingLastPathComponent()
        let url = dir.appendingPathComponent("backprop")
        return FileManager.default.isExecutableFile(atPath: url.path) ? url : nil
    }

    struct Result { let status: Int32; let stdout: String; let stderr: String }

    static func run(_ args: [String], environment: [String: String]? = nil, input: String? = nil) throws -> Result {
        guard let exe = executable else { throw CLIMissing() }
        let p = Process()
        p.executableURL = exe
        p.arguments = args
        if let environment { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        // stderr goes to a file: reading two pipes one after the other would deadlock once the
        // child fills the second pipe's buffer (64 KB) while the first is still open.
        let errPath = FileManager.default.temporaryDirectory.appendingPathComponent("backprop-cli-\(UUID().uuidString).err").path
        guard FileManager.default.createFile(atPath: errPath, contents: nil), let err = FileHandle(forWritingAtPath: errPath) else {
            throw CLIMissing()
        }
        defer { try? FileManager.default.removeItem(atPath: errPath) }
        let out = Pipe()
        p.standardOutput = out
        p.standardError = err
        // Standard input is given text, or empty: a command that prompts never waits on the test's terminal.
        let inPipe = Pipe()
        p.standardInput = inPipe
        try p.run()
        inPipe.fileHandleForWriting.write(Data((input ?? "").utf8))
        try? inPipe.fileHandleForWriting.close()
        try? err.close()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let e = FileManager.default.contents(atPath: errPath) ?? Data()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    struct CLIMissing: Error, CustomStringConvertible {
        var description: String { "the backprop executable was not found next to the test bundle" }
    }
}

@Suite struct WalkthroughCLITests {
    @Test("`backprop walkthrough --json` reproduces seed.json", arguments: [
        (["--features", "[[8,-2]]", "--target", "[0]"], "seed_step_x_8_-2_target_0"),
        (["--second-point"], "seed_step_x_-10_20_target_1"),
    ])
    func jsonMatchesSeed(_ args: [String], _ name: String) throws {
        let r = try CLI.run(["walkthrough", "--json"] + args)
        #expect(r.status == 0, "\(r.stderr)")
        let got = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let v = Golden.cases("seed.json").first { $0["name"] as? String == name }!["values"] as! [String: Any]
        let pairs = ["c": "c", "softmax": "softmax", "log_softmax": "log_softmax", "nll_loss": "nll_loss",
                     "cross_entropy": "cross_entropy", "grad_c": "grad_c_manual", "grad_W_manual": "grad_W_manual",
                     "grad_b_manual": "grad_b_manual", "grad_W_autograd": "grad_W_autograd",
                     "grad_b_autograd": "grad_b_autograd", "W_new": "W_new", "b_new": "b_new"]
        for (key, ref) in pairs {
            let e = try GoldenFormat.tensor(v[ref], context: ref).scalars
            let g = flatten(got[key])
            #expect(g.count == e.count, "\(key)")
            for (a, b) in zip(g, e) { #expect(abs(a - b) <= 1e-6 + 1e-5 * abs(b), "\(key): \(a) vs \(b)") }
        }
        #expect(got["max_abs_diff"] as? Double == 0)
    }

    @Test("--steps 100 over both points reproduces the alternating run")
    func steps() throws {
        let r = try CLI.run(["walkthrough", "--json", "--features", "[[8,-2],[-10,20]]", "--target", "[0,1]", "--steps", "100"])
        #expect(r.status == 0, "\(r.stderr)")
        let got = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let steps = got["steps"] as! [[String: Any]]
        #expect(steps.count == 100)
        let c = Golden.cases("seed.json").first { $0["name"] as? String == "seed_train_alternating_100" }!
        let losses = c["losses"] as! [Double]
        for (k, s) in steps.enumerated() {
            let l = s["cross_entropy"] as! Double
            #expect(abs(l - losses[k]) <= 1e-6 + 1e-5 * abs(losses[k]), "step \(k + 1)")
        }
        let last = (c["checkpoints"] as! [[String: Any]]).last!
        let W = try GoldenFormat.tensor(last["W"], context: "W").scalars
        for (a, b) in zip(flatten(steps[99]["W_new"]), W) { #expect(abs(a - b) <= 1e-6 + 1e-5 * abs(b)) }
    }

    @Test("the text walkthrough shows every step and the verdict")
    func text() throws {
        let r = try CLI.run([])
        #expect(r.status == 0)
        for needle in ["c = x.mm(W) + b", "tensor([[ 4., 14.]], grad_fn=<AddBackward0>)", "grad_c = softmax - onehot",
                       "grad_W = x^T grad_c", "W.grad", "verdict: the hand-derived gradients and autograd agree",
                       "tensor([[1.0800, 1.9200],", "tensor(10.0000, grad_fn=<NllLossBackward0>)"] {
            #expect(r.stdout.contains(needle), "missing: \(needle)")
        }
    }

    @Test("--batch says that the mean divides grad_c by N")
    func batch() throws {
        let r = try CLI.run(["walkthrough", "--batch", "--features", "[[8,-2],[-10,20]]", "--target", "[0,1]"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("grad_c = (softmax - onehot) / N"))
        #expect(r.stdout.contains("N = 2"))
    }

    @Test("bad input gets one line naming the flag and a non-zero exit", arguments: [
        (["--weights", "[[1,2],[2,"], "--weights"),
        (["--weights", "[[1,2],[2]]"], "--weights"),
        (["--features", "[[1,2,3]]"], "--features"),
        (["--target", "[5]"], "--target"),
        (["--target", "[0,1]"], "--target"),
        (["--features", "[[1e999,2]]"], "--features"),
        (["--features", "[[nan,2]]"], "--features"),
        (["--steps", "-3"], "--steps"),
        (["--bias", "[[0,0,0]]"], "--bias"),
        (["--lr", "abc"], "--lr"),
        (["--target", "[1e30]"], "--target"),
        (["--target", "[0.5]"], "--target"),
        (["--steps", "99999999999999999999"], "--steps"),
    ])
    func badInput(_ args: [String], _ flag: String) throws {
        let r = try CLI.run(["walkthrough"] + args)
        #expect(r.status != 0)
        #expect(r.stdout.isEmpty)
        let lines = r.stderr.split(separator: "\n").filter { !$0.hasPrefix("Usage") && !$0.hasPrefix("  See") && !$0.isEmpty }
        #expect(lines.count == 1, "stderr: \(r.stderr)")
        #expect(r.stderr.contains(flag) || r.stderr.contains(flag.dropFirst(2)), "stderr: \(r.stderr)")
        #expect(!r.stderr.contains("Fatal error"))
    }

    func flatten(_ any: Any?) -> [Double] {
        if let n = any as? NSNumber { return [n.doubleValue] }
        if let l = any as? [Any] { return l.flatMap { flatten($0) } }
        return []
    }
}

@Suite struct ProgrammerErrorTests {
    @Test("mm of [1, 3] and [2, 2] stops, naming the op and the shapes")
    func mmShapeMismatch() async {
        await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let a = Tensor([[1.0, 2, 3]]), b = Tensor([[1.0, 2], [3, 4]])
            _ = a.mm(b)
        }.map { result in
            let text = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(text.contains("mm: [1, 3] x [2, 2]: inner dimensions 3 and 2 differ"), "\(text)")
        }
    }

    @Test("a class index out of range stops with the op's name")
    func classOutOfRange() async {
        await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor([[1.0, 2]]).crossEntropy(target: Tensor(indices: [2]))
        }.map { result in
            let text = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(text.contains("nll_loss: target 2 is out of bounds for 2 classes"), "\(text)")
        }
    }

    @Test("broadcasting mismatch names both shapes")
    func broadcastMismatch() async {
        await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.ones([2, 3]) + Tensor.ones([4])
        }.map { result in
            let text = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(text.contains("add: shapes [2, 3] and [4] cannot be broadcast together"), "\(text)")
        }
    }

    @Test("a second backward without retainGraph stops and says what to do")
    func secondBackward() async {
        await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let x = Tensor([1.0, 2]).requiringGrad()
            let y = x.exp().sum()
            y.backward()
            y.backward()
        }.map { result in
            let text = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(text.contains("Specify retain_graph=True"), "\(text)")
        }
    }
}

/// `backprop graph --mlp` takes `backprop train`'s model and data options.
@Suite struct GraphCommandTests {
    @Test("graph --mlp --explain: the first step of train's model, with PyTorch's parameter names")
    func mlpWithTrainOptions() throws {
        let r = try CLI.run(["graph", "--mlp", "--data", Fixtures.path("iris.csv"), "--hidden", "5,4", "--activation", "tanh",
                             "--standardize", "--batch-size", "8", "--seed", "3", "--explain"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        for name in ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"] {
            #expect(r.stdout.contains("leaf \(name)  shape"), "no step for \(name)")
        }
        #expect(r.stdout.contains("TanhBackward0"))
        #expect(r.stdout.contains("(loss)  shape []"))
        #expect(r.stdout.contains("AddmmBackward0"))
        #expect(r.stdout.contains("dx = x [8, 4] gets (no gradient: x does not require grad)"), "\(r.stdout)")
        #expect(r.stdout.contains("dW = 0.weight [5, 4] gets"), "\(r.stdout)")
    }

    @Test("graph rejects bad model options in one line", arguments: [
        (["graph", "--mlp", "--hidden", "0"], "--hidden"),
        (["graph", "--mlp", "--activation", "swish"], "--activation"),
        (["graph", "--mlp", "--data", "/nonexistent/x.csv"], "x.csv"),
        (["graph", "--data", "x.csv"], "--mlp"),
    ])
    func badOptions(_ args: [String], _ needle: String) throws {
        let r = try CLI.run(args)
        #expect(r.status != 0)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr.hasPrefix("error: ") && r.stderr.contains(needle), "stderr: \(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1, "stderr: \(r.stderr)")
    }
}
