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
