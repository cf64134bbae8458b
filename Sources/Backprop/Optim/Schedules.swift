import Foundation

/// A learning rate as a function of the epoch (or step) count, from the optimizer's initial rate.
///
/// Use one with `LRScheduler`, which sets the optimizer's `lr` as PyTorch's schedulers do after each
/// `step()`. Formulas are PyTorch's closed forms.
public protocol LRSchedule: Sendable {
    /// The learning rate after `epoch` calls of `LRScheduler.step()`, for the initial rate `baseLR`.
    func learningRate(epoch: Int, baseLR: Double) -> Double
}

/// lr = base * gamma^floor(epoch / stepSize) (PyTorch's `StepLR`).
public struct StepLR: LRSchedule {
    /// How many epochs each rate lasts.
    public let stepSize: Int
    /// The factor the rate is multiplied by every `stepSize` epochs.
    public let gamma: Double
    /// A step decay by `gamma` every `stepSize` (positive) epochs.
    public init(stepSize: Int, gamma: Double = 0.1) {
        precondition(stepSize > 0, "StepLR: step_size must be positive, got \(stepSize)")
        self.stepSize = stepSize; self.gamma = gamma
    }
    /// base * gamma^floor(epoch / stepSize).
    public func learningRate(epoch: Int, baseLR: Double) -> Double {
        baseLR * Foundation.pow(gamma, Double(epoch / stepSize))
    }
}

/// lr = etaMin + (base - etaMin) (1 + cos(pi epoch / tMax)) / 2 (PyTorch's `CosineAnnealingLR`).
public struct CosineAnnealingLR: LRSchedule {
    /// The number of epochs of the half cosine, from `baseLR` down to `etaMin`.
    public let tMax: Int
    /// The lowest learning rate, reached at epoch `tMax`.
    public let etaMin: Double
    /// A cosine annealing over `tMax` (positive) epochs down to `etaMin`.
    public init(tMax: Int, etaMin: Double = 0) {
        precondition(tMax > 0, "CosineAnnealingLR: T_max must be positive, got \(tMax)")
        self.tMax = tMax; self.etaMin = etaMin
    }
    /// etaMin + (base - etaMin) (1 + cos(pi epoch / tMax)) / 2.
    public func learningRate(epoch: Int, baseLR: Double) -> Double {
        etaMin + (baseLR - etaMin) * (1 + Foundation.cos(Double.pi * Double(epoch) / Double(tMax))) / 2
    }
}

/// Linear warm-up: lr = base * (start + (end - start) * min(epoch, totalIters) / totalIters)
/// (PyTorch's `LinearLR`; defaults start 1/3, end 1, 5 iterations).
public struct LinearLR: LRSchedule {
    /// The factor of the base rate at epoch 0 (in (0, 1]).
    public let startFactor: Double
    /// The factor of the base rate from epoch `totalIters` on (in [0, 1]).
    public let endFactor: Double
    /// The number of epochs over which the factor moves from `startFactor` to `endFactor`.
    public let totalIters: Int
    /// A linear change of the factor from `startFactor` to `endFactor` over `totalIters` epochs.
    public init(startFactor: Double = 1.0 / 3, endFactor: Double = 1, totalIters: Int = 5) {
        precondition(startFactor > 0 && startFactor <= 1, "LinearLR: starting multiplicative factor expected to be greater than 0 and less or equal to 1, got \(startFactor)")
        precondition(endFactor >= 0 && endFactor <= 1, "LinearLR: ending multiplicative factor expected to be between 0 and 1, got \(endFactor)")
        precondition(totalIters > 0, "LinearLR: total_iters must be positive, got \(totalIters)")
        self.startFactor = startFactor; self.endFactor = endFactor; self.totalIters = totalIters
    }
    /// base * (start + (end - start) * min(epoch, totalIters) / totalIters).
    public func learningRate(epoch: Int, baseLR: Double) -> Double {
        baseLR * (startFactor + (endFactor - startFactor) * Double(Swift.min(epoch, totalIters)) / Double(totalIters))
    }
}

/// A warm-up schedule followed by another from `milestone` on, whose epochs restart at 0 there
/// (PyTorch's `SequentialLR(schedulers=[warmup, after], milestones=[milestone])`).
public struct WarmupSchedule: LRSchedule {
    /// The schedule before `milestone`.
    public let warmup: any LRSchedule
    /// The schedule from `milestone` on, its epochs counted from 0 at the milestone.
    public let after: any LRSchedule
    /// The epoch at which `after` takes over.
    public let milestone: Int
    /// `warmup` for epochs 0..<milestone, then `after`.
    ///
    /// ```swift
    /// let schedule = WarmupSchedule(warmup: LinearLR(totalIters: 5), then: CosineAnnealingLR(tMax: 45), milestone: 5)
    /// ```
    public init(warmup: any LRSchedule, then after: any LRSchedule, milestone: Int) {
        self.warmup = warmup; self.after = after; self.milestone = milestone
    }
    /// `warmup`'s rate before the milestone, `after`'s at `epoch - milestone` from it on.
    public func learningRate(epoch: Int, baseLR: Double) -> Double {
        epoch < milestone ? warmup.learningRate(epoch: epoch, baseLR: baseLR)
                          : after.learningRate(epoch: epoch - milestone, baseLR: baseLR)
    }
}

/// Drives an optimizer's learning rate along a schedule: call `step()` once per epoch, after the
/// epoch's optimizer steps, as with PyTorch's `scheduler.step()`.
public final class LRScheduler {
    /// The optimizer whose `lr` the scheduler sets.
    public let optimizer: any Optimizer
    /// The learning rate as a function of the epoch.
    public let schedule: any LRSchedule
    /// The learning rate the optimizer had when the scheduler was made.
    public let baseLR: Double
    /// How many times `step()` was called.
    public private(set) var epoch = 0

    /// Sets the optimizer's rate to the schedule's value at epoch 0.
    public init(_ optimizer: any Optimizer, schedule: any LRSchedule) {
        self.optimizer = optimizer
        self.schedule = schedule
        baseLR = optimizer.lr
        optimizer.lr = schedule.learningRate(epoch: 0, baseLR: baseLR)
    }

    /// Advances one epoch and updates the optimizer's learning rate.
    public func step() {
        epoch += 1
        optimizer.lr = schedule.learningRate(epoch: epoch, baseLR: baseLR)
    }

    /// The current learning rate.
    public var lastLR: Double { optimizer.lr }
}
