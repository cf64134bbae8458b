import Foundation

/// Samples as rows of tensors that share their first dim: features and targets, images and labels,
/// token sequences (PyTorch's `torch.utils.data.TensorDataset`). Any dtypes, any shapes after the first.
///
/// ```swift
/// let data = TensorDataset(x, y)     // x [N, 4] float32, y [N] int64 (or [N, 1] float targets)
/// let loader = DataLoader(data, batchSize: 32, shuffle: true, generator: RandomGenerator(seed: 0))
/// for batch in loader { let (x, y) = (batch[0], batch[1]); ... }
/// ```
public struct TensorDataset: Sendable {
    /// The tensors, each with `count` rows.
    public let tensors: [Tensor]

    /// A data set of `tensors`, which must agree on their first dim.
    public init(_ tensors: [Tensor]) {
        precondition(!tensors.isEmpty, "TensorDataset: at least one tensor is needed")
        precondition(tensors.allSatisfy { $0.rank >= 1 && $0.shape[0] == tensors[0].shape[0] },
                     "TensorDataset: size mismatch between tensors: shapes \(tensors.map(\.shape))")
        self.tensors = tensors.map { $0.detached() }
    }

    /// A data set of the given tensors: `TensorDataset(x, y)`.
    public init(_ tensors: Tensor...) { self.init(tensors) }

    /// The number of samples.
    public var count: Int { tensors[0].shape[0] }

    /// Sample `i`: one row of each tensor (PyTorch's `dataset[i]`).
    public subscript(i: Int) -> [Tensor] { tensors.map { $0[i] } }

    /// The samples at `indices`, stacked into one batch per tensor (the default collate).
    public func batch(_ indices: [Int]) -> [Tensor] { tensors.map { $0.selectingRows(indices) } }
}

/// Mini-batches of a `TensorDataset` (PyTorch's `torch.utils.data.DataLoader`): `batchSize` samples
/// at a time, in order or shuffled anew for each pass by its seeded generator, the last short batch
/// kept unless `dropLast`.
///
/// A class, as PyTorch's loader holds its generator: iterating again (the next epoch) draws the
/// next permutation. Each element is one tensor per data set tensor, stacked along a new first dim.
public final class DataLoader: Sequence {
    /// The samples.
    public let dataset: TensorDataset
    /// Samples per batch.
    public let batchSize: Int
    /// Whether each pass visits the samples in a fresh random order.
    public let shuffle: Bool
    /// Whether a last batch smaller than `batchSize` is left out.
    public let dropLast: Bool
    /// The generator of the permutations (advanced by each shuffled pass).
    public private(set) var generator: RandomGenerator

    /// A loader over `dataset`; without a generator, a shuffled loader draws its seed from the
    /// default generator (`manualSeed(_:)`), as PyTorch's does.
    public init(_ dataset: TensorDataset, batchSize: Int = 1, shuffle: Bool = false, dropLast: Bool = false,
                generator: RandomGenerator? = nil) {
        precondition(batchSize > 0, "DataLoader: batch_size should be a positive integer value, but got batch_size=\(batchSize)")
        self.dataset = dataset
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.dropLast = dropLast
        self.generator = generator ?? RandomGenerator(seed: RandomGenerator.withDefault { $0.next() })
    }

    /// The number of batches in one pass (PyTorch's `len(loader)`).
    public var count: Int {
        let n = dataset.count
        return dropLast ? n / batchSize : (n == 0 ? 0 : 1 + (n - 1) / batchSize)
    }

    /// The sample order of the next pass; a shuffled loader's generator advances.
    public func nextOrder() -> [Int] { shuffle ? generator.permutation(dataset.count) : Array(0..<dataset.count) }

    /// One pass over the data: the batches in the order of `nextOrder()`.
    public func makeIterator() -> AnyIterator<[Tensor]> {
        let order = nextOrder()
        let n = count, size = batchSize, data = dataset
        var k = 0
        return AnyIterator {
            guard k < n else { return nil }
            defer { k += 1 }
            let start = k * size
            return data.batch(Array(order[start..<(start + Swift.min(size, order.count - start))]))
        }
    }

    /// One pass as (input, target) pairs, for a data set of two tensors: `for (x, y) in loader.pairs`.
    public var pairs: [(x: Tensor, y: Tensor)] {
        precondition(dataset.tensors.count == 2, "DataLoader.pairs: the data set has \(dataset.tensors.count) tensors, not 2")
        return map { ($0[0], $0[1]) }
    }
}
