import ArgumentParser
import Backprop
import Foundation

/// `backprop graph`: the computation graph of the walkthrough, or of one step of a two-layer MLP,
/// in Graphviz DOT with each node's op, shape, value and gradient.
struct Graph: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the computation graph (Graphviz DOT) of the walkthrough or of one MLP training step, with every value and gradient.",
        discussion: """
        Without --mlp: the graph of the notebook's step (the walkthrough's options apply).
        With --mlp: one SGD step of relu(x W1^T + b1) W2^T + b2 with cross-entropy, on the first
        --batch-size rows of --data (a CSV file: a header row, numeric features, the class index in
        the last column) or on a small built-in example.
        Render it with --svg FILE (needs Graphviz's dot), or: backprop graph | dot -Tsvg > graph.svg
        """)

    @OptionGroup var notebook: NotebookOptions
    @Flag(help: "Show one training step of a two-layer MLP instead of the notebook.")
    var mlp = false
    @Option(help: ArgumentHelp("With --mlp: a CSV file (header, numeric features, class index last).", valueName: "file"))
    var data: String?
    @Option(help: "With --mlp: the width of the hidden layer.")
    var hidden = 8
    @Option(help: "With --mlp and --data: how many rows (the first ones) form the batch.")
    var batchSize = 8
    @Option(help: "With --mlp: the seed of the weights' initialization.")
    var seed: UInt64 = 0
    @Option(help: "The most values a node shows before it abridges them.")
    var limit = 12
    @Flag(help: "Print the backward pass step by step (rule, G, gradients sent) instead of the DOT.")
    var explain = false
    @Option(help: ArgumentHelp("Write the DOT here instead of standard output (written atomically).", valueName: "file"))
    var output: String?
    @Option(help: ArgumentHelp("Render the graph to this SVG file with Graphviz's dot.", valueName: "file"))
    var svg: String?

    func run() throws {
        try reportingErrors {
            let trace: BackwardTrace
            let title: String
            if mlp {
                guard hidden > 0 else { throw CLIError("--hidden must be at least 1, got \(hidden)") }
                guard batchSize > 0 else { throw CLIError("--batch-size must be at least 1, got \(batchSize)") }
                let lr = notebook.lr
                let dtype: DType = notebook.float64 ? .float64 : .float32
                let step: MLPStep
                if let data {
                    let (x, t, classes) = try GraphCSV.load(data, rows: batchSize, dtype: dtype)
                    step = MLPStep(x: x, target: t, classes: classes, hidden: hidden, seed: seed, lr: lr)
                } else {
                    step = MLPStep.example(hidden: hidden, seed: seed, lr: lr, dtype: dtype)
                }
                trace = step.trace
                title = "mlp_step"
            } else {
                let (W, b, x, t) = try notebook.inputs()
                let one = notebook.isOneStep(rows: x.shape[0])
                let xs = one ? x : x.rows(0..<1)
                let ts = one ? t : Tensor(indices: [t.integers[0]])
                let step = NotebookStep(W: W, b: b, x: xs, target: ts, lr: notebook.lr, explain: true)
                trace = step.trace!
                title = "walkthrough"
            }
            if explain {
                print("The backward pass of the \(mlp ? "MLP step" : "walkthrough"), node by node:\n")
                print(trace.text(limit: limit), terminator: "")
                return
            }
            let graph = ComputationGraph(trace)
            let dot = graph.dot(title: title, limit: limit)
            if let svg {
                try GraphvizRenderer.render(dot: dot, svgPath: svg)
            }
            if let output {
                do { try ExplainFiles.writeAtomically(dot, to: output) } catch let e as ExplainFileError { throw CLIError(e.message) }
            } else if svg == nil {
                print(dot, terminator: "")
            }
            if let svg { FileHandle.standardError.write(Data("wrote \(svg)\n".utf8)) }
        }
    }
}

/// Graphviz's `dot`, found on PATH at run time.
enum GraphvizRenderer {
    static let installHint = "Graphviz's dot is not installed: install it with `apt-get install graphviz` (Debian, Ubuntu) or `brew install graphviz` (macOS), or print the DOT with `backprop graph` and render it elsewhere"

    /// The path of an executable on PATH.
    static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let p = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    /// Runs `dot -Tsvg` on the text and puts its output at `svgPath` (a temporary file, then a rename).
    static func render(dot: String, svgPath: String) throws {
        guard let exe = which("dot") else { throw CLIError(installHint) }
        let target = URL(fileURLWithPath: svgPath)
        let dir = target.deletingLastPathComponent()
        let tag = UInt32.random(in: 0...UInt32.max)
        let dotFile = FileManager.default.temporaryDirectory.appendingPathComponent("backprop-graph-\(tag).dot")
        let tmpSVG = dir.appendingPathComponent(".\(target.lastPathComponent).tmp-\(tag)")
        defer { try? FileManager.default.removeItem(at: dotFile); try? FileManager.default.removeItem(at: tmpSVG) }
        try Data(dot.utf8).write(to: dotFile)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = ["-Tsvg", dotFile.path, "-o", tmpSVG.path]
        let err = Pipe()
        p.standardError = err
        try p.run()
        p.waitUntilExit()
        let errText = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        guard p.terminationStatus == 0 else {
            throw CLIError("dot failed (status \(p.terminationStatus)): \(errText.split(separator: "\n").first.map(String.init) ?? "") (writing \(svgPath))")
        }
        guard rename(tmpSVG.path, target.path) == 0 else {
            throw CLIError("cannot write \(svgPath): \(String(cString: strerror(errno)))")
        }
    }
}

/// A minimal CSV reader for `graph --mlp --data`: a header row, numeric features, the class index last.
enum GraphCSV {
    static func load(_ path: String, rows: Int, dtype: DType) throws -> (x: Tensor, target: Tensor, classes: Int) {
        guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("--data: cannot read \(path)") }
        let lines = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).map(String.init)
            .filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        guard lines.count >= 2 else { throw CLIError("\(path): expected a header row and at least one data row") }
        let header = lines[0].split(separator: ",", omittingEmptySubsequences: false)
        guard header.count >= 2 else { throw CLIError("\(path):1: expected at least one feature column and a label column") }
        var xs: [Double] = [], ts: [Int] = []
        var maxClass = 0
        for (k, line) in lines.dropFirst().enumerated() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            let lineNo = k + 2
            guard fields.count == header.count else {
                throw CLIError("\(path):\(lineNo): \(fields.count) fields, but the header has \(header.count)")
            }
            var values: [Double] = []
            for (j, f) in fields.enumerated() {
                let s = f.trimmingCharacters(in: .whitespaces)
                guard let v = Double(s), v.isFinite else {
                    throw CLIError("\(path):\(lineNo): field \(j + 1) (\(header[j])) is not a number: '\(s)'")
                }
                values.append(v)
            }
            let label = values.removeLast()
            guard label >= 0, label == label.rounded() else {
                throw CLIError("\(path):\(lineNo): the label '\(label)' is not a class index (0, 1, 2, ...)")
            }
            maxClass = max(maxClass, Int(label))
            if ts.count < rows { xs += values; ts.append(Int(label)) }
        }
        let features = header.count - 1
        return (Tensor(xs, shape: [ts.count, features], dtype: dtype),
                Tensor(indices: ts), maxClass + 1)
    }
}
