import Foundation

extension Tensor {
    /// The rows (first-dim slices) at `indices`, in that order, as a new tensor (no autograd: for data).
    public func selectingRows(_ indices: [Int]) -> Tensor {
        precondition(rank >= 1, "selectingRows: expected at least 1 dimension, got shape \(shape)")
        let rows = shape[0]
        let width = shape.dropFirst().reduce(1, *)
        let out = Tensor(shape: [indices.count] + shape.dropFirst(), dtype: dtype, zeroed: false)
        let bytes = width * dtype.byteSize
        let src = storage.raw
        let dst = out.storage.raw
        for (k, i) in indices.enumerated() {
            precondition(i >= 0 && i < rows, "selectingRows: row \(i) out of range for \(rows) rows")
            (dst + k * bytes).copyMemory(from: src + i * bytes, byteCount: bytes)
        }
        return out
    }
}

extension Dataset {
    /// The rows at `indices`, in that order.
    public func subset(_ indices: [Int]) -> Dataset {
        Dataset(features: features.selectingRows(indices), labels: labels.selectingRows(indices),
                featureNames: featureNames, classNames: classNames, labelName: labelName)
    }

    /// A seeded random split: `testFraction` of the rows (rounded) go to `test`, the rest to `train`.
    ///
    /// The same seed gives the same split. With `testFraction` 0 the test part is empty.
    public func split(testFraction: Double, seed: UInt64) -> (train: Dataset, test: Dataset) {
        precondition(testFraction >= 0 && testFraction < 1, "split: testFraction must be in [0, 1), got \(testFraction)")
        var g = RandomGenerator(seed: seed)
        let order = g.permutation(count)
        let nTest = Int((Double(count) * testFraction).rounded())
        return (subset(Array(order[nTest...])), subset(Array(order[..<nTest])))
    }

    /// Shuffled (or ordered) mini-batches of `size` rows; the last batch may be smaller.
    /// `size` 0 or more than the row count gives one full batch. A `DataLoader` of the features and
    /// labels, its permutation drawn from `generator`.
    public func batches(size: Int, shuffle: Bool, using generator: inout RandomGenerator) -> [(x: Tensor, y: Tensor)] {
        let b = size <= 0 ? max(count, 1) : size
        if b >= count && !shuffle { return [(features, labels)] }
        let loader = DataLoader(TensorDataset(features, labels), batchSize: b, shuffle: shuffle, generator: generator)
        defer { generator = loader.generator }
        return loader.pairs
    }
}

/// Per-column standardization (x - mean) / std, fitted on training data only (scikit-learn's
/// `StandardScaler`: population std; a constant column gets std 1 so it maps to 0).
public struct Standardizer: Sendable {
    /// [features] column means.
    public let mean: Tensor
    /// [features] column standard deviations (1 where a column is constant).
    public let std: Tensor

    /// A standardizer with known statistics: `mean` and `std`, both of shape [features].
    public init(mean: Tensor, std: Tensor) {
        precondition(mean.shape == std.shape && mean.rank == 1, "Standardizer: mean \(mean.shape) and std \(std.shape) must be equal 1-d shapes")
        self.mean = mean; self.std = std
    }

    /// Fits to the columns of `x` [rows, features].
    public init(fitting x: Tensor) {
        precondition(x.rank == 2 && x.shape[0] > 0, "Standardizer: expected a non-empty [rows, features] matrix, got \(x.shape)")
        let (n, f) = (x.shape[0], x.shape[1])
        let v = x.scalars
        var mean = [Double](repeating: 0, count: f), sd = [Double](repeating: 0, count: f)
        for i in 0..<n { for j in 0..<f { mean[j] += v[i * f + j] } }
        for j in 0..<f { mean[j] /= Double(n) }
        for i in 0..<n { for j in 0..<f { let d = v[i * f + j] - mean[j]; sd[j] += d * d } }
        for j in 0..<f {
            let s = (sd[j] / Double(n)).squareRoot()
            sd[j] = s > 1e-12 * max(1, abs(mean[j])) ? s : 1
        }
        self.mean = Tensor(mean, shape: [f], dtype: x.dtype)
        self.std = Tensor(sd, shape: [f], dtype: x.dtype)
    }

    /// (x - mean) / std, column by column.
    public func transform(_ x: Tensor) -> Tensor {
        withNoGrad { (x - mean.to(x.dtype)) / std.to(x.dtype) }
    }

    /// x * std + mean, column by column: what `transform` undoes (a regression's predictions in the
    /// target's own units).
    public func inverse(_ x: Tensor) -> Tensor {
        withNoGrad { x * std.to(x.dtype) + mean.to(x.dtype) }
    }

    /// The data set with standardized features (and, with `target`, a regression's targets
    /// standardized by it: a standardizer of one column).
    public func transform(_ d: Dataset, target: Standardizer? = nil) -> Dataset {
        Dataset(features: transform(d.features), labels: target.map { $0.transform(d.labels) } ?? d.labels,
                featureNames: d.featureNames, classNames: d.classNames, labelName: d.labelName)
    }
}
