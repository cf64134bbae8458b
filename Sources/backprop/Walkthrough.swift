import ArgumentParser
import Backprop

/// The walkthrough's options: the notebook's inputs, the learning rate and the dtype.
struct NotebookOptions: ParsableArguments {
    @OptionGroup var data: NotebookInputs
    @Option(help: "Learning rate of the SGD update.")
    var lr: Double = 0.01
    @Flag(help: "Compute in float64 instead of float32.")
    var float64 = false

    /// Whether all rows form one step (--batch).
    var batch: Bool { data.batch }

    func validate() throws {
        guard lr.isFinite else { throw ValidationError("--lr must be a finite number, got \(lr)") }
    }

    /// The checked inputs: W, b [1, classes], x and the class indices.
    func inputs() throws -> (W: Tensor, b: Tensor, x: Tensor, target: Tensor) {
        try data.inputs(dtype: float64 ? .float64 : .float32)
    }

    /// Whether the options describe one step (one row, or all rows with --batch).
    func isOneStep(rows: Int) -> Bool { data.isOneStep(rows: rows) }
}

/// A tensor written as a nested list on the command line, e.g. `[[1,2],[2,1]]`, parsed with the
/// other arguments so that malformed text is reported with its flag.
struct TensorLiteral: Sendable, CustomStringConvertible {
    let text: String
    let shape: [Int]
    let values: [Double]

    init(_ text: String) throws {
        do { (shape, values) = try TensorTextParser.parse(text) } catch let e as TensorParseError { throw CLIError(e.message) }
        self.text = text
    }

    /// A literal written in this file.
    init(known text: String) {
        do { try self.init(text) } catch { fatalError("TensorLiteral(known: \(text)): \(error)") }
    }

    var description: String { text }
}

/// The notebook's inputs, shared by `walkthrough` and `graph` (whose --lr and --float64 are those of `ModelOptions`).
struct NotebookInputs: ParsableArguments {
    @Option(help: "Weights W [features, classes] as a nested list (default: [[1,2],[2,1]]).", transform: { try TensorLiteral($0) })
    var weights = TensorLiteral(known: "[[1,2],[2,1]]")
    @Option(help: "Bias b [1, classes] (default: [[0,0]]).", transform: { try TensorLiteral($0) })
    var bias = TensorLiteral(known: "[[0,0]]")
    @Option(help: "Features x [rows, features]; one row per step unless --batch (default: [[8,-2]]).", transform: { try TensorLiteral($0) })
    var features = TensorLiteral(known: "[[8,-2]]")
    @Option(help: "Class index of each row (default: [0]).", transform: { try TensorLiteral($0) })
    var target = TensorLiteral(known: "[0]")
    @Flag(help: "Use the notebook's second data point: features [[-10,20]], target [1].")
    var secondPoint = false
    @Flag(help: "Use all rows in one step (the mean reduction divides grad_c by N).")
    var batch = false

    /// The checked inputs in `dtype`: W, b [1, classes], x and the class indices.
    func inputs(dtype: DType) throws -> (W: Tensor, b: Tensor, x: Tensor, target: Tensor) {
        let x = try matrix(secondPoint ? TensorLiteral(known: "[[-10,20]]") : features, flag: "--features", dtype: dtype)
        let W = try matrix(weights, flag: "--weights", dtype: dtype)
        var b = try matrix(bias, flag: "--bias", dtype: dtype, allowVector: true)
        let t = secondPoint ? TensorLiteral(known: "[1]") : target
        let (tShape, tValues) = (t.shape, t.values)

        guard x.shape[1] == W.shape[0] else {
            throw CLIError("--features has \(x.shape[1]) columns but --weights has \(W.shape[0]) rows: x [\(x.shape[0]), \(x.shape[1])] cannot multiply W [\(W.shape[0]), \(W.shape[1])]")
        }
        let classes = W.shape[1]
        if b.rank == 1 { b = b.reshape([1, b.shape[0]]) }
        guard b.shape == [1, classes] else {
            throw CLIError("--bias has shape \(b.shape) but --weights has \(classes) columns (classes): expected [1, \(classes)]")
        }
        guard tShape.count == 1 || (tShape.isEmpty) else { throw CLIError("--target must be a list of class indices, got shape \(tShape)") }
        guard tValues.count == x.shape[0] else {
            throw CLIError("--target has \(tValues.count) class indices but --features has \(x.shape[0]) rows")
        }
        for v in tValues {
            guard v == v.rounded() else { throw CLIError("--target: \(v) is not an integer class index") }
            // Compared as doubles: Int(v) of a value past Int's range would stop the program.
            guard v >= 0 && v < Double(classes) else {
                throw CLIError("--target: class index \(v.magnitude < 1e15 ? String(Int(v)) : "\(v)") is out of range for \(classes) classes (0...\(classes - 1))")
            }
        }
        return (W, b, x, Tensor(indices: tValues.map { Int($0) }))
    }

    /// Whether the options describe one step (one row, or all rows with --batch).
    func isOneStep(rows: Int) -> Bool { batch || rows == 1 }

    func matrix(_ literal: TensorLiteral, flag: String, dtype: DType, allowVector: Bool = false) throws -> Tensor {
        let (shape, values) = (literal.shape, literal.values)
        guard shape.count == 2 || (allowVector && shape.count == 1) else {
            throw CLIError("\(flag) must be a matrix like [[1,2],[3,4]], got \(shape.count)-d shape \(shape)")
        }
        guard shape.allSatisfy({ $0 > 0 }) else { throw CLIError("\(flag) must not be empty (shape \(shape))") }
        return Tensor(values, shape: shape, dtype: dtype)
    }
}

/// `backprop walkthrough`: the notebook, step by step.
struct Walkthrough: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the \"Backpropagation Again\" notebook: forward pass, hand-derived and autograd gradients, SGD update.")

    @OptionGroup var notebook: NotebookOptions
    @Option(help: "Number of SGD steps (cycling through the rows of the features).")
    var steps: Int?

    /// The most steps one run takes: each is kept for the report.
    static let maxSteps = 1_000_000

    func validate() throws {
        if let steps, !(0...Self.maxSteps).contains(steps) {
            throw ValidationError("--steps must be a whole number from 0 to \(Self.maxSteps), got \(steps)")
        }
    }
    @Flag(help: "Print one JSON object instead of text.")
    var json = false
    @Flag(help: "After the forward pass, explain the backward pass: every node's rule and numbers, and the chain rule behind grad_c, grad_W and grad_b.")
    var explain = false
    @Option(help: ArgumentHelp("Also write the explanation as one self-contained HTML page (steps, formulas, graph picture).", valueName: "file"))
    var html: String?

    func run() throws {
        try reportingErrors {
            let (W, b, x, t) = try notebook.inputs()
            let oneStep = steps == nil && notebook.isOneStep(rows: x.shape[0])
            if (explain || html != nil) && !oneStep && steps != 1 {
                throw CLIError("--explain and --html explain one step: use one row, --batch, or --steps 1")
            }

            if oneStep || explain || html != nil {
                let xs = oneStep || notebook.batch ? x : x.reshape([x.shape[0], x.shape[1]]).rows(0..<1)
                let ts = oneStep || notebook.batch ? t : Tensor(indices: [t.integers[0]])
                let step = NotebookStep(W: W, b: b, x: xs, target: ts, lr: notebook.lr, explain: explain || html != nil)
                let explanation = NotebookExplanation(step)
                if let html, let explanation {
                    do { try ExplainFiles.writeAtomically(ExplainPage.html(explanation), to: html) } catch let e as ExplainFileError {
                        throw CLIError(e.message)
                    }
                }
                if json {
                    var o = WalkthroughReport.jsonObject(step)
                    if explain, let trace = step.trace { o["trace"] = WalkthroughReport.jsonObject(trace) }
                    print(WalkthroughReport.json(o))
                } else {
                    print(WalkthroughReport.text(step, explanation: explain ? explanation?.text() : nil), terminator: "")
                    if let html { print("\nwrote \(html)") }
                }
                return
            }
            let count = steps ?? x.shape[0]
            let run = NotebookRun(W: W, b: b, x: x, target: t, lr: notebook.lr, steps: count, batch: notebook.batch)
            if json {
                print(WalkthroughReport.json(["steps": run.steps.enumerated().map { k, s -> [String: Any] in
                    var o = WalkthroughReport.jsonObject(s); o["step"] = k + 1; o["loss"] = s.crossEntropy.item; return o }]))
            } else if count == 1, let s = run.steps.first {
                print(WalkthroughReport.text(s), terminator: "")
            } else {
                print(WalkthroughReport.runText(run, batch: notebook.batch), terminator: "")
            }
        }
    }
}

extension Tensor {
    /// Rows `r` of a matrix, as a new matrix (no autograd).
    func rows(_ r: Range<Int>) -> Tensor {
        let w = shape[1]
        return Tensor(Array(scalars[(r.lowerBound * w)..<(r.upperBound * w)]), shape: [r.count, w], dtype: dtype)
    }
}
