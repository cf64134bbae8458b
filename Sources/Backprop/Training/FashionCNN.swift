/// FashionCNN of ../shared/MODELS.md, PyTorch's names and all: two blocks of Conv2d(3x3, padding 1),
/// BatchNorm2d, ReLU and MaxPool2d(2) (1 -> 16 -> 32 channels), then Flatten, Linear(1568, 128),
/// ReLU, Linear(128, 10), for [N, 1, 28, 28] images. State names `0.weight`, `1.running_mean`, ...
/// `11.bias`, as `nn.Sequential` numbers them. Drawn from `generator` in PyTorch's order.
public func makeFashionCNN(dtype: DType = .float32, using generator: inout RandomGenerator) -> Sequential {
    Sequential(
        Conv2d(1, 16, kernelSize: 3, padding: 1, dtype: dtype, using: &generator), BatchNorm2d(16, dtype: dtype), ReLU(), MaxPool2d(2),
        Conv2d(16, 32, kernelSize: 3, padding: 1, dtype: dtype, using: &generator), BatchNorm2d(32, dtype: dtype), ReLU(), MaxPool2d(2),
        Flatten(), Linear(32 * 7 * 7, 128, dtype: dtype, using: &generator), ReLU(), Linear(128, 10, dtype: dtype, using: &generator))
}

/// `makeFashionCNN(dtype:using:)` drawn from the default generator (seed it with `manualSeed(_:)`).
public func makeFashionCNN(dtype: DType = .float32) -> Sequential {
    RandomGenerator.withDefault { makeFashionCNN(dtype: dtype, using: &$0) }
}

extension ImageDataset {
    /// The mean cross-entropy loss and the accuracy of `model` (a classifier of [N, C, H, W] images)
    /// over these images, in eval mode without a graph, `batchSize` images at a time. The model is
    /// left in eval mode.
    public func evaluate(_ model: any Module, batchSize: Int = 1000) -> (loss: Double, accuracy: Double) {
        precondition(batchSize > 0, "evaluate: batchSize must be positive, got \(batchSize)")
        model.eval()
        var lossSum = 0.0, correct = 0
        withNoGrad {
            for start in stride(from: 0, to: count, by: batchSize) {
                let (x, y) = batch(start..<Swift.min(count, start + batchSize))
                let logits = model(x)
                lossSum += logits.crossEntropy(target: y, reduction: .sum).item
                correct += zip(logits.argmax(dim: 1).integers, y.integers).filter { $0 == $1 }.count
            }
        }
        return (lossSum / Double(Swift.max(count, 1)), Double(correct) / Double(Swift.max(count, 1)))
    }

    /// The order of the training rows for one epoch (MODELS.md): a fresh permutation from
    /// `generator` when shuffling, else the file order.
    public func order(shuffle: Bool, using generator: inout RandomGenerator) -> [Int] {
        shuffle ? Tensor.randperm(count, using: &generator).integers : Array(0..<count)
    }
}
