import ArgumentParser
import Backprop
import Foundation

/// `backprop graph`: the computation graph of the walkthrough, or of the first training step of the
/// model `backprop train` would build from the same options, in Graphviz DOT with each node's op,
/// shape, value and gradient.
struct Graph: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the computation graph (Graphviz DOT) of the walkthrough or of one MLP training step, with every value and gradient.",
        discussion: """
        Without --mlp: the graph of the notebook's step (the notebook's options apply; --float64 too).
        With --mlp: the first training step (forward, the loss, backward) that `backprop train` \
        takes with the same model and data options: the same split, standardization, initial \
        weights (or --init) and first mini-batch; on a small built-in example without --data. \
        Parameters are named as in PyTorch (0.weight, 0.bias, ...).
        Render it with --svg FILE (needs Graphviz's dot), or: backprop graph | dot -Tsvg > graph.svg
        """)

    @OptionGroup(title: "The notebook (without --mlp)") var notebook: NotebookInputs
    @Flag(help: "Show the first training step of the MLP `backprop train` would build instead of the notebook.")
    var mlp = false
    @OptionGroup(title: "Model and data (with --mlp; as for backprop train)") var model: ModelOptions
    @Option(help: "The most values a node shows before it abridges them.")
    var limit = 12
    @Flag(help: "Print the backward pass step by step (rule, G, gradients sent) instead of the DOT.")
    var explain = false
    @Option(help: ArgumentHelp("Write the DOT here instead of standard output (written atomically).", valueName: "file"))
    var output: String?
    @Option(help: ArgumentHelp("Render the graph to this SVG file with Graphviz's dot.", valueName: "file"))
    var svg: String?

    func validate() throws {
        guard limit >= 1 else { throw ValidationError("--limit must be at least 1, got \(limit)") }
    }

    func run() throws {
        try reportingErrors {
            let trace: BackwardTrace
            let title: String
            if mlp {
                let setup = try model.setup(builtIn: ExplainedTrainingStep.exampleData(dtype: model.dtype))
                let objective = setup.settings.objective
                let run = SupervisedTraining(model: setup.model, optimizer: setup.optimizer, train: setup.train, test: nil,
                                             objective: objective, batchSize: setup.settings.batchSize, shuffle: !model.noShuffle,
                                             seed: setup.settings.seed)
                let (x, y) = run.batches(epoch: 1)[0]
                do {
                    trace = try ExplainedTrainingStep(model: setup.model, optimizer: setup.optimizer, x: x, target: y,
                                                      objective: objective).trace
                } catch { throw CLIError("\(error)") }
                title = "mlp_step"
            } else {
                if let data = model.data { throw CLIError("--data \(data) applies to --mlp only") }
                let lr = model.lr ?? 0.01
                let (W, b, x, t) = try notebook.inputs(dtype: model.dtype)
                let one = notebook.isOneStep(rows: x.shape[0])
                let xs = one ? x : x.rows(0..<1)
                let ts = one ? t : Tensor(indices: [t.integers[0]])
                let step = NotebookStep(W: W, b: b, x: xs, target: ts, lr: lr, explain: true)
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

    /// Runs `dot -Tsvg` on the text and puts its output at `svgPath` with `AtomicFile.write`.
    static func render(dot: String, svgPath: String) throws {
        guard let exe = which("dot") else { throw CLIError(installHint) }
        let tag = UInt32.random(in: 0...UInt32.max)
        let dotFile = FileManager.default.temporaryDirectory.appendingPathComponent("backprop-graph-\(tag).dot")
        let tmpSVG = FileManager.default.temporaryDirectory.appendingPathComponent("backprop-graph-\(tag).svg")
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
        do {
            try AtomicFile.write(try Data(contentsOf: tmpSVG), to: svgPath)
        } catch let e as DataError { throw CLIError(e.description) }
    }
}
