import ArgumentParser
import Backprop
import Foundation

/// `backprop exercise`: derive the gradients of a step by hand; each answer is checked against autograd.
struct ExerciseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exercise",
        abstract: "Derive the gradients of a softmax classifier's step by hand and have them checked (exit status 0 when all are right).",
        discussion: """
        Without --seed: the notebook's step (its options --weights, --bias, --features, --target; the rows of --features form one batch), \
        asking for grad_c, grad_W and grad_b. With --seed: a random instance of --classes, --feature-count and --rows, and with \
        --hidden a ReLU layer before the classifier (grad_c, grad_W2, grad_b2, grad_h, grad_z, grad_W1, grad_b1).
        Give the answers as nested arrays, e.g. --grad-c '[[-1, 1]]', or type them at the prompts when no answer flag is given. \
        Wrong entries are listed with how far off they are, with the step of the derivation that gives them.
        """)

    @OptionGroup(title: "The notebook (without --seed)") var notebook: NotebookInputs
    @Option(help: ArgumentHelp("Draw a random instance with this seed instead of the notebook's step.", valueName: "n"))
    var seed: UInt64?
    @Option(help: ArgumentHelp("Classes of the random instance (2 to 10, default 3).", valueName: "n"))
    var classes: Int = 3
    @Option(help: ArgumentHelp("Features of the random instance (1 to 10, default 3).", valueName: "n"))
    var featureCount: Int = 3
    @Option(help: ArgumentHelp("Rows of the random instance's batch (1 to 10, default 2).", valueName: "n"))
    var rows: Int = 2
    @Option(help: ArgumentHelp("Width of a hidden ReLU layer in the random instance (1 to 10; none by default).", valueName: "n"))
    var hidden: Int?

    @Option(name: .customLong("grad-c"), help: ArgumentHelp("Your d loss / d c.", valueName: "nested array"), transform: { try TensorLiteral($0) })
    var gradC: TensorLiteral?
    @Option(name: .customLong("grad-W"), help: ArgumentHelp("Your d loss / d W.", valueName: "nested array"), transform: { try TensorLiteral($0) })
    var gradW: TensorLiteral?
    @Option(name: .customLong("grad-b"), help: ArgumentHelp("Your d loss / d b.", valueName: "nested array"), transform: { try TensorLiteral($0) })
    var gradB: TensorLiteral?
    @Option(name: .customLong("grad-W2"), help: ArgumentHelp("With --hidden: d loss / d W2.", valueName: "nested array"), transform: { try TensorLiteral($0) })
    var gradW2: TensorLiteral?
    @Option(name: .customLong("grad-b2"), help: ArgumentHelp("With --hidden: d loss / d b2.", valueName: "nested array"), transform: { try TensorLiteral($0) })
    var gradB2: TensorLiteral?
    @Option(name: .customLong("grad-h"), help: ArgumentHelp("With --hidden: d loss / d h (h = relu(z)).", valueName: "nested array"), transform: { try TensorLiteral($0) })
    var gradH: TensorLiteral?
    @Option(name: .customLong("grad-z"), help: ArgumentHelp("With --hidden: d loss / d z (z = x.mm(W1) + b1).", valueName: "nested array"), transform: { try TensorLiteral($0) })
    var gradZ: TensorLiteral?
    @Option(name: .customLong("grad-W1"), help: ArgumentHelp("With --hidden: d loss / d W1.", valueName: "nested array"), transform: { try TensorLiteral($0) })
    var gradW1: TensorLiteral?
    @Option(name: .customLong("grad-b1"), help: ArgumentHelp("With --hidden: d loss / d b1.", valueName: "nested array"), transform: { try TensorLiteral($0) })
    var gradB1: TensorLiteral?
    @Flag(help: "Print one JSON object (the problem's answers' verdicts) instead of text; no prompts.")
    var json = false
    @Option(help: ArgumentHelp("Also write the exercise as a page whose input fields are checked on the spot (no prompts then).", valueName: "file"))
    var html: String?

    func validate() throws {
        for (flag, value) in [("--classes", classes), ("--feature-count", featureCount), ("--rows", rows)] where !(1...10).contains(value) {
            throw ValidationError("\(flag) must be a whole number from \(flag == "--classes" ? 2 : 1) to 10, got \(value)")
        }
        if classes < 2 { throw ValidationError("--classes must be a whole number from 2 to 10, got \(classes)") }
        if let hidden, !(1...10).contains(hidden) { throw ValidationError("--hidden must be a whole number from 1 to 10, got \(hidden)") }
        if seed == nil && hidden != nil { throw ValidationError("--hidden applies to a random instance: give --seed too") }
    }

    var given: [(flag: String, name: String, literal: TensorLiteral?)] {
        [("--grad-c", "grad_c", gradC), ("--grad-W", "grad_W", gradW), ("--grad-b", "grad_b", gradB),
         ("--grad-W2", "grad_W2", gradW2), ("--grad-b2", "grad_b2", gradB2), ("--grad-h", "grad_h", gradH),
         ("--grad-z", "grad_z", gradZ), ("--grad-W1", "grad_W1", gradW1), ("--grad-b1", "grad_b1", gradB1)]
    }

    func run() throws {
        var allRight = false
        try reportingErrors {
            let exercise: GradientExercise
            if let seed {
                exercise = GradientExercise.random(seed: seed, classes: classes, features: featureCount, rows: rows, hidden: hidden)
            } else {
                let (W, b, x, t) = try notebook.inputs(dtype: .float64)
                exercise = GradientExercise(notebook: NotebookStep(W: W, b: b, x: x, target: t))
            }
            let names = Set(exercise.questions.map(\.name))
            var answers: [String: Tensor] = [:]
            for g in given {
                guard let literal = g.literal else { continue }
                guard names.contains(g.name) else {
                    throw CLIError("\(g.flag): this exercise asks for \(exercise.questions.map(\.name).joined(separator: ", "))")
                }
                answers[g.name] = Tensor(literal.values, shape: literal.shape, dtype: .float64)
            }
            if let html {
                do { try ExplainFiles.writeAtomically(StepThroughPage.exercisePage(exercise), to: html) } catch let e as ExplainFileError {
                    throw CLIError(e.message)
                }
            }
            if !json { print(exercise.problemText()) }
            if let html, answers.isEmpty {
                if !json { print("wrote \(html): open it in a browser and type your answers there") }
                allRight = true
                return
            }
            if answers.isEmpty && !json {
                answers = prompt(exercise)
            }
            let report = exercise.check(answers)
            if json {
                try printJSON(report.jsonObject())
            } else {
                print(report.text(), terminator: "")
            }
            allRight = report.allRight
        }
        if !allRight { throw ExitCode(1) }
    }

    /// Reads each answer at a prompt; an empty line or the end of input leaves it unanswered.
    func prompt(_ exercise: GradientExercise) -> [String: Tensor] {
        var answers: [String: Tensor] = [:]
        print("Type each gradient as a nested array (an empty line skips it):")
        questions: for q in exercise.questions {
            for _ in 0..<3 {
                print("\(q.name) \(ExplainFormat.shape(q.shape)) = ", terminator: "")
                fflush(nil)
                guard let line = readLine() else { print(""); break questions }
                if line.trimmingCharacters(in: .whitespaces).isEmpty { continue questions }
                do { answers[q.name] = try GradientExercise.parseAnswer(line); continue questions } catch {
                    print("cannot read that: \(error)")
                }
            }
        }
        print("")
        return answers
    }
}
