import ArgumentParser
import Backprop
import Foundation

/// The command line of `fashion-cnn`.
struct Options: ParsableArguments {
    enum OptimizerName: String, ExpressibleByArgument { case adam, sgd }

    @Option(help: "The folder of Fashion-MNIST's IDX files (gzip or not).")
    var data = "/usr/share/datasets/fashion-mnist"
    @Option(help: "Passes over the training images.") var epochs = 3
    @Option(help: "Stop after this many optimizer steps in all (epochs continue as needed).") var steps: Int?
    @Option(name: .customLong("batch-size"), help: "Images per step.") var batchSize = 64
    @Option(help: "adam or sgd.") var optimizer = OptimizerName.adam
    @Option(help: "Learning rate (default 1e-3 for adam, 0.01 for sgd).") var lr: Double?
    @Option(help: "SGD's momentum.") var momentum = 0.0
    @Option(help: "Seed of the initial weights and of the shuffling.") var seed: UInt64 = 0
    @Flag(name: .customLong("no-shuffle"), help: "Train on the rows in file order.") var noShuffle = false
    @Option(name: .customLong("train-limit"), help: "Use only the first N training images.") var trainLimit: Int?
    @Option(name: .customLong("test-limit"), help: "Use only the first N test images.") var testLimit: Int?
    @Option(name: .customLong("init"), help: "Start from this state (safetensors, PyTorch's state_dict names).") var initFile: String?
    @Option(help: "Write the final state here (safetensors).") var save: String?
    @Option(help: "Write an SVG of loss and accuracy per epoch here.") var plot: String?
    @Option(help: "Worker threads.") var threads = 2
    @Flag(help: "Print one JSON object: final test loss and accuracy, per-step losses, seconds, samples/s.") var json = false
    @Flag(help: "Train eagerly instead of replaying a recorded CompiledStep (the same results, slower).") var eager = false

    var shuffle: Bool { !noShuffle }
    var learningRate: Double { lr ?? (optimizer == .adam ? 1e-3 : 0.01) }

    func validate() throws {
        guard epochs > 0, batchSize > 0, steps.map({ $0 > 0 }) ?? true else {
            throw ValidationError("--epochs, --batch-size and --steps must be positive")
        }
        guard (trainLimit ?? 1) > 0, (testLimit ?? 1) > 0 else { throw ValidationError("--train-limit and --test-limit must be positive") }
    }

    /// The training and test sets, or a one-line error and exit 1.
    func loadData() -> (ImageDataset, ImageDataset) {
        guard FileManager.default.fileExists(atPath: data) else {
            fail("no Fashion-MNIST in \(data): install it with `apt-get install dataset-fashion-mnist` (Debian, Ubuntu) or pass --data DIR holding train-images-idx3-ubyte.gz and the three other IDX files")
        }
        do {
            return (try ImageDataset(mnistDirectory: data, train: true, limit: trainLimit),
                    try ImageDataset(mnistDirectory: data, train: false, limit: testLimit))
        } catch { fail("\(error)") }
    }

    /// Loads a state file into `model` strictly, or a one-line error and exit 1.
    func load(_ model: any Module, from file: String) {
        do {
            let state = Dictionary(try SafeTensors.read(file).tensors.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
            _ = try model.loadStateDict(state)
        } catch { fail("\(file): \(error)") }
    }
}

/// Prints `message` as one line on stderr and exits 1.
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("fashion-cnn: error: \(message)\n".utf8))
    exit(1)
}

/// Progress, history and the final report of a run.
struct Report {
    let opts: Options
    let batchesPerEpoch: Int
    let interactive = isatty(STDERR_FILENO) == 1
    let start = Date()
    var losses: [Double] = []
    var samples = 0, trainSeconds = 0.0, lastStep = Date()
    var epochLoss = 0.0, epochCorrect = 0, epochSamples = 0, epochSteps = 0
    var history: [EpochRecord] = []
    var final: (loss: Double, accuracy: Double) = (.nan, .nan)

    init(_ opts: Options, batchesPerEpoch: Int) { self.opts = opts; self.batchesPerEpoch = batchesPerEpoch }

    var done: Bool { opts.steps.map { losses.count >= $0 } ?? false }

    mutating func step(epoch: Int, loss: Double, output: Tensor, labels: Tensor) {
        let now = Date()
        trainSeconds += now.timeIntervalSince(lastStep); lastStep = now
        losses.append(loss)
        let n = labels.count
        samples += n; epochSamples += n; epochSteps += 1
        epochLoss += loss * Double(n)
        epochCorrect += zip(output.argmax(dim: 1).integers, labels.integers).filter { $0 == $1 }.count
        if interactive && !opts.json && (epochSteps % 10 == 0 || epochSteps == batchesPerEpoch) {
            let width = 30, filled = width * epochSteps / max(batchesPerEpoch, 1)
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            let line = String(format: "\repoch %d/%d [%@] %d/%d  loss %.4f  %.0f samples/s", epoch, opts.epochs, bar, epochSteps,
                              batchesPerEpoch, epochLoss / Double(epochSamples), Double(samples) / max(trainSeconds, 1e-9))
            FileHandle.standardError.write(Data(line.utf8))
        }
    }

    mutating func epoch(_ epoch: Int, testLoss: Double, accuracy: Double) {
        final = (testLoss, accuracy)
        history.append(EpochRecord(epoch: epoch, trainLoss: epochLoss / Double(max(epochSamples, 1)),
                                   trainScore: Double(epochCorrect) / Double(max(epochSamples, 1)), testLoss: testLoss,
                                   testScore: accuracy, steps: epochSteps, lr: opts.learningRate, seconds: trainSeconds))
        if !opts.json {
            if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
            print(String(format: "epoch %d: train loss %.4f, test loss %.4f, test accuracy %.2f%%", epoch,
                         epochLoss / Double(max(epochSamples, 1)), testLoss, 100 * accuracy))
        }
        epochLoss = 0; epochCorrect = 0; epochSamples = 0; epochSteps = 0
        lastStep = Date()
    }

    func finish(_ model: any Module, _ step: CompiledStep) {
        do {
            if let file = opts.save { try SafeTensors.write(model.stateDict(), to: file) }
            if let file = opts.plot {
                let svg = TrainingPlot.svg(history: history, title: "FashionCNN on Fashion-MNIST (\(opts.optimizer.rawValue), batch \(opts.batchSize))")
                try AtomicFile.write(Data(svg.utf8), to: file)
            }
        } catch { fail("\(error)") }
        let seconds = Date().timeIntervalSince(start)
        if opts.json {
            let doc: [String: Any] = ["test_loss": final.loss, "test_accuracy": final.accuracy, "losses": losses, "steps": losses.count,
                                      "epochs": history.count, "seconds": seconds, "train_seconds": trainSeconds,
                                      "samples_per_second": Double(samples) / max(trainSeconds, 1e-9), "threads": opts.threads,
                                      "seed": opts.seed, "compiled": !opts.eager, "compiled_replays": step.replays,
                                      "compiled_fallback": step.fallbackReason ?? NSNull()]
            let data = try! JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(String(format: "%d steps in %.1f s (training %.1f s, %.0f samples/s); test accuracy %.2f%%", losses.count, seconds,
                         trainSeconds, Double(samples) / max(trainSeconds, 1e-9), 100 * final.accuracy))
        }
    }
}
