import Foundation

/// Accuracy and confusion matrix of a classifier.
public struct ClassificationMetrics: Sendable {
    /// Fraction of rows whose arg-max class is the label.
    public let accuracy: Double
    /// `confusion[true][predicted]` counts.
    public let confusion: [[Int]]
}

/// How close a regression's predictions are to the targets, in the target's own units.
public struct RegressionMetrics: Sendable {
    /// The coefficient of determination, 1 - SSE / SST (1 is perfect, 0 predicts the mean).
    public let r2: Double
    /// Mean absolute error.
    public let mae: Double
    /// Root mean squared error.
    public let rmse: Double
    /// Mean squared error (RMSE squared).
    public var mse: Double { rmse * rmse }

    /// The metrics of `predictions` against `targets` (in the same units; neither empty).
    public init(predictions: [Double], targets: [Double]) {
        precondition(predictions.count == targets.count, "RegressionMetrics: \(predictions.count) predictions for \(targets.count) targets")
        let n = Double(targets.count)
        let mean = targets.reduce(0, +) / n
        var sse = 0.0, sst = 0.0, sae = 0.0
        for (p, y) in zip(predictions, targets) {
            sse += (p - y) * (p - y); sae += Swift.abs(p - y); sst += (y - mean) * (y - mean)
        }
        r2 = sst > 0 ? 1 - sse / sst : .nan
        mae = sae / n
        rmse = (sse / n).squareRoot()
    }
}

/// The loss and the metrics of a model on a data set.
public struct Evaluation: Sendable {
    /// The mean of the training objective: cross-entropy, or the regression loss (in the units
    /// the model was trained in: standardized ones when the target was standardized).
    public let loss: Double
    /// Number of rows.
    public let count: Int
    /// Accuracy and confusion matrix, for a classifier.
    public let classification: ClassificationMetrics?
    /// R², MAE and RMSE in the target's units, for a regression.
    public let regression: RegressionMetrics?

    /// Fraction of rows classified right (NaN for a regression).
    public var accuracy: Double { classification?.accuracy ?? .nan }
    /// `confusion[true][predicted]` counts (empty for a regression).
    public var confusion: [[Int]] { classification?.confusion ?? [] }
    /// The score an `EpochRecord` keeps: accuracy for a classifier, R² for a regression.
    public var score: Double { classification?.accuracy ?? regression?.r2 ?? .nan }
}

/// What one epoch did.
public struct EpochRecord: Sendable {
    /// 1-based epoch number (counting epochs of earlier runs when resumed).
    public let epoch: Int
    /// Mean loss over the epoch's batches (weighted by batch size), as measured during training.
    public let trainLoss: Double
    /// The score on the epoch's batches during training: accuracy for a classifier, R² for a regression.
    public let trainScore: Double
    /// Loss on the test part after the epoch, when there is one.
    public let testLoss: Double?
    /// The score on the test part after the epoch, when there is one.
    public let testScore: Double?
    /// Optimizer steps taken in this epoch.
    public let steps: Int
    /// Learning rate used.
    public let lr: Double
    /// Wall-clock seconds of the epoch's training steps.
    public let seconds: Double

    /// A record of epoch `epoch`.
    public init(epoch: Int, trainLoss: Double, trainScore: Double, testLoss: Double?, testScore: Double?,
                steps: Int, lr: Double, seconds: Double) {
        self.epoch = epoch; self.trainLoss = trainLoss; self.trainScore = trainScore
        self.testLoss = testLoss; self.testScore = testScore; self.steps = steps; self.lr = lr; self.seconds = seconds
    }
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
    /// The score over the epoch's rows so far (accuracy, or R² on the training scale).
    public let runningScore: Double
    /// Rows trained per second of wall-clock time since the epoch started.
    public let samplesPerSecond: Double
}

/// What a batch adds to an epoch's running score: correct rows, or the sums R² is made of.
struct ScoreSums {
    var rows = 0.0, correct = 0.0
    var sse = 0.0, sumY = 0.0, sumY2 = 0.0

    mutating func add(output: Tensor, target: Tensor, task: Task) {
        rows += Double(target.count)
        switch task {
        case .classification:
            correct += Double(SupervisedTraining.correctCount(logits: output, labels: target))
        case .regression:
            for (p, y) in zip(output.scalars, target.scalars) { sse += (p - y) * (p - y); sumY += y; sumY2 += y * y }
        }
    }

    func score(_ task: Task) -> Double {
        guard rows > 0 else { return .nan }
        if task == .classification { return correct / rows }
        let sst = sumY2 - sumY * sumY / rows
        return sst > 0 ? 1 - sse / sst : .nan
    }
}

/// Mini-batch training of a classifier (cross-entropy) or a regression (MSE, L1 or Huber loss),
/// as a loop over epochs.
///
/// Each epoch shuffles the training rows with a generator seeded from `seed` and the epoch number,
/// so a run resumed from a checkpoint draws the same batches as an uninterrupted one.
public final class SupervisedTraining {
    /// The model: one logit per class, or one output for a regression.
    public let model: any Module
    /// The optimizer over the model's parameters.
    public let optimizer: any Optimizer
    /// The rows trained on.
    public let train: Dataset
    /// The rows evaluated after each epoch, or nil (also when given an empty set).
    public let test: Dataset?
    /// What is learnt, and with which loss.
    public let objective: Objective
    /// Rows per mini-batch (0: the whole training set in one batch).
    public let batchSize: Int
    /// Whether each epoch reshuffles the training rows.
    public let shuffle: Bool
    /// The seed of the epochs' shuffles (with the epoch number).
    public let seed: UInt64
    /// The standardization of a regression's target, to report its metrics in the target's units.
    public let targetScaler: Standardizer?
    /// Epochs completed (including those of the run a checkpoint came from).
    public private(set) var epochsDone: Int
    /// Optimizer steps taken (including earlier runs).
    public private(set) var stepsDone: Int
    /// The records of the epochs run by this object.
    public private(set) var history: [EpochRecord] = []
    /// Data parallelism (nil: this process alone): each rank trains on its share of every batch
    /// (`batchSize` is the global batch, a multiple of the world size), gradients are averaged over
    /// the ranks after each backward, and the epoch's loss and score are summed over all ranks.
    public var distributed: DistributedDataParallel? = nil
    /// Run every step eagerly instead of replaying a recorded `CompiledStep` (the CLI's `--eager`).
    /// Both give the same numbers, bit for bit; steps with data parallelism always run eagerly.
    public var eager = false
    /// The training step, recorded once per batch shape and replayed (see `CompiledStep`).
    private lazy var compiled = CompiledStep(model) { [unowned self] inputs in
        let (loss, output) = eagerStep(x: inputs[0], y: inputs[1])
        return [loss, output]
    }
    /// Why the compiled step runs eagerly (an op it cannot record), or nil.
    public var compiledFallbackReason: String? { eager ? nil : compiled.fallbackReason }

    /// A training loop for `model` on `train`, evaluated on `test`; `epochsDone` and `stepsDone`
    /// continue the counts of a resumed run.
    public init(model: any Module, optimizer: any Optimizer, train: Dataset, test: Dataset?,
                objective: Objective = .classification, batchSize: Int, shuffle: Bool = true, seed: UInt64 = 0,
                targetScaler: Standardizer? = nil, epochsDone: Int = 0, stepsDone: Int = 0) {
        self.model = model; self.optimizer = optimizer; self.train = train
        self.test = (test?.count ?? 0) > 0 ? test : nil
        self.objective = objective
        self.batchSize = batchSize; self.shuffle = shuffle; self.seed = seed; self.targetScaler = targetScaler
        self.epochsDone = epochsDone; self.stepsDone = stepsDone
    }

    /// One full-batch or mini-batch optimizer step; returns the batch loss and the model's output.
    @discardableResult
    public func step(x: Tensor, y: Tensor) -> (loss: Double, output: Tensor) {
        stepsDone += 1
        if distributed == nil && !eager {
            let r = compiled(x, y)
            return (r[0].item, r[1])
        }
        let (loss, output) = eagerStep(x: x, y: y)
        return (loss.item, output)
    }

    private func eagerStep(x: Tensor, y: Tensor) -> (loss: Tensor, output: Tensor) {
        optimizer.zeroGrad()
        let output = distributed?.forward(x) ?? model(x)
        let loss = objective.loss(output, y)
        loss.backward()
        distributed?.synchronizeGradients()
        optimizer.step()
        return (loss, output.detached())
    }

    /// The mini-batches of epoch `epoch` (1-based, counting earlier runs), in the order `runEpoch` takes them.
    public func batches(epoch: Int) -> [(x: Tensor, y: Tensor)] {
        var g = RandomGenerator(seed: seed &* 0x9E37_79B9 &+ UInt64(truncatingIfNeeded: epoch))
        if let group = distributed?.group, group.isDistributed {
            return train.batches(size: batchSize, shuffle: shuffle, using: &g, rank: group.rank, of: group.size)
        }
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
        var lossSum = 0.0
        var sums = ScoreSums()
        for (k, (x, y)) in batches.enumerated() {
            let r = step(x: x, y: y)
            lossSum += r.loss * Double(y.count)
            sums.add(output: r.output, target: y, task: objective.task)
            if let progress {
                let elapsed = Date().timeIntervalSince(start)
                progress(BatchProgress(epoch: epoch, batch: k + 1, batches: batches.count,
                                       runningLoss: lossSum / sums.rows, runningScore: sums.score(objective.task),
                                       samplesPerSecond: elapsed > 0 ? sums.rows / elapsed : 0))
            }
        }
        if let group = distributed?.group, group.isDistributed { sums.combine(&lossSum, over: group) }
        let seconds = Date().timeIntervalSince(start)
        epochsDone = epoch
        let t = test.map { SupervisedTraining.evaluate(model, on: $0, objective: objective, targetScaler: targetScaler) }
        let record = EpochRecord(epoch: epoch, trainLoss: sums.rows > 0 ? lossSum / sums.rows : .nan,
                                 trainScore: sums.score(objective.task), testLoss: t?.loss, testScore: t?.score,
                                 steps: batches.count, lr: optimizer.lr, seconds: seconds)
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

    /// The loss and metrics of `model` on `data`, in evaluation mode without grad: accuracy and the
    /// confusion matrix of a classifier, or R², MAE and RMSE of a regression in the target's units
    /// (undoing `targetScaler` when the target was standardized).
    public static func evaluate(_ model: any Module, on data: Dataset, objective: Objective = .classification,
                                targetScaler: Standardizer? = nil) -> Evaluation {
        let wasTraining = model.isTraining
        model.eval()
        defer { if wasTraining { model.train() } }
        return withNoGrad {
            let output = model(data.features)
            let loss = objective.loss(output, data.labels).item
            switch objective {
            case .classification:
                let pred = output.argmax(dim: 1).integers
                let y = data.labels.integers
                // A model may predict a class the data does not name (or labels may pass the names): the
                // matrix covers every class seen.
                let k = ([data.classCount] + pred.map { $0 + 1 } + y.map { $0 + 1 }).max()!
                var confusion = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
                var correct = 0
                for i in y.indices {
                    confusion[y[i]][pred[i]] += 1
                    if pred[i] == y[i] { correct += 1 }
                }
                let metrics = ClassificationMetrics(accuracy: y.isEmpty ? .nan : Double(correct) / Double(y.count), confusion: confusion)
                return Evaluation(loss: loss, count: y.count, classification: metrics, regression: nil)
            case .regression:
                var p = output.reshape([data.count]), y = data.labels
                if let targetScaler { (p, y) = (targetScaler.inverse(p), targetScaler.inverse(y)) }
                let metrics = data.count > 0 ? RegressionMetrics(predictions: p.scalars, targets: y.scalars) : nil
                return Evaluation(loss: loss, count: data.count, classification: nil, regression: metrics)
            }
        }
    }
}
