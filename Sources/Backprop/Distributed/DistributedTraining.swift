// What data parallelism adds to the training loop of `SupervisedTraining`: each rank's share of
// the batches, and the epoch's sums over all ranks.

extension Dataset {
    /// Rank `rank`'s share of the mini-batches of `size` rows (the global batch) that
    /// `batches(size:shuffle:using:)` gives one process: the epoch's order (drawn from `generator`
    /// in the same way) is split by `DistributedSampler.shard` (padded by its first rows to a
    /// multiple of `replicas`, every `replicas`-th row), then cut into batches of `size / replicas`.
    /// Batch k of all ranks together holds the rows of a single process's batch k (when `count` is
    /// a multiple of `replicas`; else the last batch repeats the epoch's first rows). `size` must be
    /// a multiple of `replicas`; 0 (the whole set) gives each rank one batch of its share.
    public func batches(size: Int, shuffle: Bool, using generator: inout RandomGenerator,
                        rank: Int, of replicas: Int) -> [(x: Tensor, y: Tensor)] {
        precondition(size >= 0 && size % replicas == 0,
                     "batches: the global batch size \(size) is not a multiple of the \(replicas) ranks")
        let order = shuffle ? generator.permutation(count) : Array(0..<count)
        let mine = DistributedSampler.shard(order, replicas: replicas, rank: rank)
        let local = size == 0 ? Swift.max(mine.count, 1) : size / replicas
        return stride(from: 0, to: mine.count, by: local).map { start in
            let idx = Array(mine[start..<Swift.min(start + local, mine.count)])
            return (features.selectingRows(idx), labels.selectingRows(idx))
        }
    }
}

extension ScoreSums {
    /// Sums this rank's counts and `lossSum` (loss times rows) with every other rank's.
    mutating func combine(_ lossSum: inout Double, over group: ProcessGroup) {
        var v = [lossSum, rows, correct, sse, sumY, sumY2]
        group.allReduce(&v, .sum)
        lossSum = v[0]; rows = v[1]; correct = v[2]; sse = v[3]; sumY = v[4]; sumY2 = v[5]
    }
}
