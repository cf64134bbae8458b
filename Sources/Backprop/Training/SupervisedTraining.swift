import Foundation

/// The activation between the layers of an MLP.
public enum Activation: String, CaseIterable, Sendable {
    /// `ReLU`, `Tanh`, `Sigmoid` or `GELU` (exact), named as `backprop train --activation` names them.
    case relu, tanh, sigmoid, gelu

    /// A new module computing this activation.
    public func module() -> any Module {
        switch self {
        case .relu: return ReLU()
        case .tanh: return Tanh()
        case .sigmoid: return Sigmoid()
        case .gelu: return GELU()
        }
    }
}

/// A multi-layer perceptron: `Linear(inputs, h1), act, Linear(h1, h2), act, ..., Linear(hk, outputs)`,
/// so its parameters are named `0.weight`, `0.bias`, `2.weight`, ... as in PyTorch.
public func makeMLP(inputs: Int, hidden: [Int], outputs: Int, activation: Activation = .relu,
                    dtype: DType = .float32, using generator: inout RandomGenerator) -> Sequential {
    var layers: [any Module] = []
    var width = inputs
    for h in hidden {
        layers.append(Linear(width, h, dtype: dtype, using: &generator))
        layers.append(activation.module())
        width = h
    }
    layers.append(Linear(width, outputs, dtype: dtype, using: &generator))
    return Sequential(layers)
}

/// Loss, accuracy and confusion matrix of a classifier on a data set.
public struct Evaluation: Sendable {
    /// Mean cross-entropy.
    public let loss: Double
    /// Fraction of rows whose arg-max class is the label.
    public let accuracy: Double
    /// `confusion[true][predicted]` counts.
    public let confusion: [[Int]]
    /// Number of rows.
    public let count: Int
}

/// What one epoch did.
public struct EpochRecord: Sendable {
    /// 1-based epoch number (counting epochs of earlier runs when resumed).
    public let epoch: Int
    /// Mean cross-entropy over the epoch's batches (weighted by batch size), as measured during training.
    public let trainLoss: Double
    /// Accuracy on the epoch's batches during training.
    public let trainAccuracy: Double
    /// Loss and accuracy on the test part after the epoch, when there is one.
    public let testLoss: Double?
    /// Accuracy on the test part after the epoch, when there is one.
    public let testAccuracy: Double?
    /// Optimizer steps taken in this epoch.
    public let steps: Int
    /// Learning rate used.
    public let lr: Double
    /// Wall-clock seconds of the epoch's training steps.
    public let seconds: Double
}

/// Progress within an epoch, for progress bars.
public struct BatchProgress: Sendable {
    /// The 1-based epoch number.
    public let epoch: Int
    /// The 1-based number of the batch just trained.
    public let batch: Int
    /// The number of batches in this epoch.
    public let batches: Int
    /// Mean loss over the epoch's rows so far (weighted by batch size).
    public let runningLoss: Double
    /// Accuracy over the epoch's rows so far.
    public let runningAccuracy: Double
    /// Rows trained per second of wall-clock time since the epoch started.
    public let samplesPerSecond: Double
}

/// Mini-batch training of a classifier with cross-entropy, as a loop over epochs.
///
/// Each epoch shuffles the training rows with a generator seeded from `seed` and the epoch number,
/// so a run resumed from a checkpoint draws the same batches as an uninterrupted one.
public final class ClassifierTraining {
    /// The classifier: its output is one logit per class.
    public let model: any Module
    /// The optimizer over the model's parameters.
    public let optimizer: any Optimizer
    /// The rows trained on.
    public let train: Dataset
    /// The rows evaluated after each epoch, or nil (also when given an empty set).
    public let test: Dataset?
    /// Rows per mini-batch (0: the whole training set in one batch).
    public let batchSize: Int
    /// Whether each epoch reshuffles the training rows.
    public let shuffle: Bool
    /// The seed of the epochs' shuffles (with the epoch number).
    public let seed: UInt64
    /// Epochs completed (including those of the run a checkpoint came from).
    public private(set) var epochsDone: Int
    /// Optimizer steps taken (including earlier runs).
    public private(set) var stepsDone: Int
    /// The records of the epochs run by this object.
    public private(set) var history: [EpochRecord] = []

    /// A training loop for `model` on `train`, evaluated on `test`; `epochsDone` and `stepsDone`
    /// continue the counts of a resumed run.
    public init(model: any Module, optimizer: any Optimizer, train: Dataset, test: Dataset?, batchSize: Int,
                shuffle: Bool = true, seed: UInt64 = 0, epochsDone: Int = 0, stepsDone: Int = 0) {
        self.model = model; self.optimizer = optimizer; self.train = train
        self.test = (test?.count ?? 0) > 0 ? test : nil
        self.batchSize = batchSize; self.shuffle = shuffle; self.seed = seed
        self.epochsDone = epochsDone; self.stepsDone = stepsDone
    }

    /// One full-batch or mini-batch optimizer step; returns the batch loss and correct count.
    @discardableResult
    public func step(x: Tensor, y: Tensor) -> (loss: Double, correct: Int) {
        optimizer.zeroGrad()
        let logits = model(x)
        let loss = logits.crossEntropy(target: y)
        loss.backward()
        optimizer.step()
        stepsDone += 1
        return (loss.item, ClassifierTraining.correctCount(logits: logits, labels: y))
    }

    /// The mini-batches of epoch `epoch` (1-based, counting earlier runs), in the order `runEpoch` takes them.
    public func batches(epoch: Int) -> [(x: Tensor, y: Tensor)] {
        var g = RandomGenerator(seed: seed &* 0x9E37_79B9 &+ UInt64(truncatingIfNeeded: epoch))
        return train.batches(size: batchSize, shuffle: shuffle, using: &g)
    }

    /// Runs one epoch (at most `stepLimit` steps) and evaluates the test part.
    @discardableResult
    public func runEpoch(stepLimit: Int? = nil, progress: ((BatchProgress) -> Void)? = nil) -> EpochRecord {
        model.train()
        let epoch = epochsDone + 1
        var batches = batches(epoch: epoch)
        if let stepLimit, stepLimit < batches.count { batches = Array(batches.prefix(max(0, stepLimit))) }
        let start = Date()
        var lossSum = 0.0, correct = 0, seen = 0
        for (k, (x, y)) in batches.enumerated() {
            let r = step(x: x, y: y)
            let n = y.count
            lossSum += r.loss * Double(n); correct += r.correct; seen += n
            if let progress {
                let elapsed = Date().timeIntervalSince(start)
                progress(BatchProgress(epoch: epoch, batch: k + 1, batches: batches.count,
                                       runningLoss: lossSum / Double(seen), runningAccuracy: Double(correct) / Double(seen),
                                       samplesPerSecond: elapsed > 0 ? Double(seen) / elapsed : 0))
            }
        }
        let seconds = Date().timeIntervalSince(start)
        epochsDone = epoch
        let t = test.map { ClassifierTraining.evaluate(model, on: $0) }
        let record = EpochRecord(epoch: epoch, trainLoss: seen > 0 ? lossSum / Double(seen) : .nan,
                                 trainAccuracy: seen > 0 ? Double(correct) / Double(seen) : .nan,
                                 testLoss: t?.loss, testAccuracy: t?.accuracy, steps: batches.count,
                                 lr: optimizer.lr, seconds: seconds)
        history.append(record)
        return record
    }

    /// Rows whose arg-max logit is the label.
    public static func correctCount(logits: Tensor, labels: Tensor) -> Int {
        let pred = logits.argmax(dim: 1).integers
        let y = labels.integers
        var c = 0
        for i in y.indices where pred[i] == y[i] { c += 1 }
        return c
    }

    /// Loss, accuracy and confusion matrix of `model` on `data`, in evaluation mode without grad.
    public static func evaluate(_ model: any Module, on data: Dataset) -> Evaluation {
        model.eval()
        defer { model.train() }
        return withNoGrad {
            let logits = model(data.features)
            let loss = logits.crossEntropy(target: data.labels).item
            let pred = logits.argmax(dim: 1).integers
            let y = data.labels.integers
            let k = data.classCount
            var confusion = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
            var correct = 0
            for i in y.indices {
                confusion[y[i]][pred[i]] += 1
                if pred[i] == y[i] { correct += 1 }
            }
            return Evaluation(loss: loss, accuracy: y.isEmpty ? .nan : Double(correct) / Double(y.count),
                              confusion: confusion, count: y.count)
        }
    }
}
