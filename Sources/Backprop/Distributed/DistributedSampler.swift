/// Which rows each rank trains on in an epoch (PyTorch's
/// `torch.utils.data.distributed.DistributedSampler`).
///
/// With `count` rows and `replicas` ranks each rank takes `ceil(count / replicas)` rows: the
/// (shuffled) order is padded to `numSamples * replicas` by repeating its first rows, and rank r
/// takes `order[r], order[r + replicas], ...` (`indices[r::R]`). With `dropLast` the tail is cut
/// instead, to `floor(count / replicas)` rows per rank. Every rank gets as many rows, so every rank
/// takes as many steps and no collective waits for a rank that has finished its epoch.
///
/// The shuffle is seeded by `seed + epoch` (call `setEpoch` before each epoch, as in PyTorch), the
/// same on every rank; it draws with this library's `RandomGenerator`, not `torch.randperm`, so the
/// permutations are not PyTorch's.
///
/// ```swift
/// var sampler = DistributedSampler(count: 10, replicas: 3, rank: 1, shuffle: false)
/// sampler.indices()     // [1, 4, 7, 0]: 4 rows per rank, the order padded with row 0
/// ```
public struct DistributedSampler: Sendable, Equatable {
    /// The number of rows of the data set.
    public let count: Int
    /// The number of ranks (PyTorch's `num_replicas`).
    public let replicas: Int
    /// This rank, 0 ..< replicas.
    public let rank: Int
    /// Whether each epoch draws a new permutation.
    public let shuffle: Bool
    /// The seed of the permutations (with the epoch).
    public let seed: UInt64
    /// Whether to cut the tail instead of padding.
    public let dropLast: Bool
    /// The epoch whose order `indices()` gives (`setEpoch`).
    public private(set) var epoch = 0

    /// A sampler of `count` rows for rank `rank` of `replicas` (PyTorch's defaults: shuffled, seed 0, padded).
    public init(count: Int, replicas: Int, rank: Int, shuffle: Bool = true, seed: UInt64 = 0, dropLast: Bool = false) {
        precondition(count >= 0, "DistributedSampler: count \(count) must be >= 0")
        precondition(replicas >= 1, "DistributedSampler: replicas \(replicas) must be >= 1")
        precondition((0..<replicas).contains(rank), "DistributedSampler: Invalid rank \(rank), rank should be in the interval [0, \(replicas - 1)]")
        self.count = count; self.replicas = replicas; self.rank = rank
        self.shuffle = shuffle; self.seed = seed; self.dropLast = dropLast
    }

    /// A sampler for this process's place in `group`.
    public init(count: Int, group: ProcessGroup, shuffle: Bool = true, seed: UInt64 = 0, dropLast: Bool = false) {
        self.init(count: count, replicas: group.size, rank: group.rank, shuffle: shuffle, seed: seed, dropLast: dropLast)
    }

    /// Rows per rank and epoch: `ceil(count / replicas)`, or with `dropLast` (when `count` is not a
    /// multiple) `ceil((count - replicas) / replicas)`, PyTorch's formulas.
    public var numSamples: Int { DistributedSampler.numSamples(count: count, replicas: replicas, dropLast: dropLast) }

    /// `numSamples * replicas`: the length of the padded or cut order.
    public var totalSize: Int { numSamples * replicas }

    /// Sets the epoch whose permutation `indices()` draws (PyTorch's `set_epoch`).
    public mutating func setEpoch(_ epoch: Int) { self.epoch = epoch }

    /// This rank's rows of the current epoch, in the order they are to be taken.
    public func indices() -> [Int] {
        var order = Array(0..<count)
        if shuffle {
            var g = RandomGenerator(seed: seed &+ UInt64(truncatingIfNeeded: epoch))
            order = g.permutation(count)
        }
        return DistributedSampler.shard(order, replicas: replicas, rank: rank, dropLast: dropLast)
    }

    /// PyTorch's `num_samples` for `count` rows over `replicas` ranks.
    public static func numSamples(count: Int, replicas: Int, dropLast: Bool) -> Int {
        if dropLast && count % replicas != 0 { return Swift.max(0, (count - replicas + replicas - 1) / replicas) }
        return (count + replicas - 1) / replicas
    }

    /// Rank `rank`'s share of a whole epoch's `order`: padded by repeating the order from its start
    /// (several times over when it is shorter than the padding) or cut with `dropLast`, then every
    /// `replicas`-th entry from position `rank`. Any order works: `SupervisedTraining` passes the
    /// permutation a single process would train on, so that N ranks train on its batches.
    public static func shard(_ order: [Int], replicas: Int, rank: Int, dropLast: Bool = false) -> [Int] {
        precondition(replicas >= 1 && (0..<replicas).contains(rank), "DistributedSampler.shard: rank \(rank) of \(replicas)")
        let total = numSamples(count: order.count, replicas: replicas, dropLast: dropLast) * replicas
        var padded = order
        if total > order.count, !order.isEmpty {
            while padded.count < total { padded.append(contentsOf: order.prefix(total - padded.count)) }
        } else {
            padded = Array(order.prefix(total))
        }
        return Array(stride(from: rank, to: padded.count, by: replicas).map { padded[$0] })
    }
}
