import ArgumentParser
import Backprop
import Foundation

/// The models `backprop explain` can step through.
enum ExplainModel: String, CaseIterable, ExpressibleByArgument {
    case notebook, mlp, cnn, attention

    init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

/// `backprop explain`: one backward pass explained, as text, JSON, or an interactive page.
struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Step through a backward pass: every node's rule and numbers, as text, JSON or an interactive HTML page.",
        discussion: """
        --model notebook (the default): the notebook's step (its options: --weights, --bias, --features, --target, --batch). \
        --model mlp: the first training step that `backprop train` takes with the same model and data options \
        (--data, --hidden, --activation, --standardize, --batch-size, --seed, ...; a small built-in example without --data). \
        The FashionCNN and attention pages come when those models exist.
        --html FILE writes one self-contained page (no network): the graph, Next / Previous and the arrow keys \
        through the steps, each rule in MathML with the numbers, finite-difference checks, the leaves' .grad so far.
        """)

    @Option(help: ArgumentHelp("The model: notebook or mlp (cnn and attention come with those models).", valueName: "name"))
    var model: ExplainModel = .notebook
    @OptionGroup(title: "The notebook (--model notebook)") var notebook: NotebookInputs
    @OptionGroup(title: "Model and data (--model mlp; as for backprop train)") var options: ModelOptions
    @Option(help: ArgumentHelp("Write the interactive page to this file (written atomically).", valueName: "file"))
    var html: String?
    @Flag(help: "Print the trace as JSON (one object per step, in the engine's order) instead of text.")
    var json = false
    @Option(help: "The most values a tensor shows in the text before it is abridged.")
    var limit = 12

    func validate() throws {
        guard limit >= 1 else { throw ValidationError("--limit must be at least 1, got \(limit)") }
    }

    func run() throws {
        try reportingErrors {
            let pass: ExplainedPass
            switch model {
            case .cnn, .attention:
                throw CLIError("--model \(model.rawValue): the \(model == .cnn ? "FashionCNN" : "CharGPT attention block") does not exist in this version of Backprop yet; try --model notebook or --model mlp")
            case .notebook:
                if let data = options.data { throw CLIError("--data \(data) applies to --model mlp only") }
                let (W, b, x, t) = try notebook.inputs(dtype: options.dtype)
                let one = notebook.isOneStep(rows: x.shape[0])
                let xs = one ? x : x.rows(0..<1)
                let ts = one ? t : Tensor(indices: [t.integers[0]])
                let step = NotebookStep(W: W, b: b, x: xs, target: ts, lr: options.lr ?? 0.01, explain: true)
                guard let e = NotebookExplanation(step) else { throw CLIError("the notebook's step was not recorded") }
                pass = ExplainedPass.notebook(e)
            case .mlp:
                let setup = try options.setup(builtIn: ExplainedTrainingStep.exampleData(dtype: options.dtype))
                let run = SupervisedTraining(model: setup.model, optimizer: setup.optimizer, train: setup.train, test: nil,
                                             objective: setup.settings.objective, batchSize: setup.settings.batchSize,
                                             shuffle: !options.noShuffle, seed: setup.settings.seed)
                let (x, y) = run.batches(epoch: 1)[0]
                let step: ExplainedTrainingStep
                do { step = try ExplainedTrainingStep(model: setup.model, optimizer: setup.optimizer, x: x, target: y) } catch {
                    throw CLIError("\(error)")
                }
                let s = setup.settings
                let description = "The first training step of <code>backprop train</code> with these options: "
                    + "\(ModelOptions.describe(setup.model)) on \(options.data.map { "<code>\(URL(fileURLWithPath: $0).lastPathComponent)</code>" } ?? "a small built-in example") "
                    + "(\(setup.train.count) training rows\(s.standardize ? ", standardized" : "")), a mini-batch of \(x.shape[0]) rows, "
                    + "cross-entropy loss, then \(s.optimizer.rawValue) with lr \(s.lr). Parameters are named as PyTorch names them."
                pass = ExplainedPass.trainingStep(step, model: setup.model, description: description)
            }
            if let html {
                do { try ExplainFiles.writeAtomically(ExplainPage.html(pass), to: html) } catch let e as ExplainFileError {
                    throw CLIError(e.message)
                }
            }
            if json {
                print(WalkthroughReport.json(WalkthroughReport.jsonObject(pass.trace)))
            } else if let html {
                print("wrote \(html): \(pass.views.count) steps; open it in a browser and press → to step through the backward pass")
            } else {
                print(pass.trace.text(limit: limit), terminator: "")
            }
        }
    }
}
