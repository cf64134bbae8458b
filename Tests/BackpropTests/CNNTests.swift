import Foundation
import Testing
@testable import Backprop

/// The CNN layers, IDX files and a small CNN on the 8x8 digits.
@Suite("CNN layers and data")
struct CNNTests {
    @Test("layers print as PyTorch prints them")
    func printing() {
        var g = RandomGenerator(seed: 0)
        #expect(Conv2d(1, 16, kernelSize: 3, padding: 1, using: &g).description == "Conv2d(1, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))")
        #expect(Conv2d(4, 8, kernelSize: [3, 1], stride: 2, groups: 2, bias: false, using: &g).description
            == "Conv2d(4, 8, kernel_size=(3, 1), stride=(2, 2), groups=2, bias=False)")
        #expect(Conv1d(2, 4, kernelSize: 3, using: &g).description == "Conv1d(2, 4, kernel_size=(3,), stride=(1,))")
        #expect(ConvTranspose2d(4, 2, kernelSize: 3, stride: 2, outputPadding: 1, using: &g).description
            == "ConvTranspose2d(4, 2, kernel_size=(3, 3), stride=(2, 2), output_padding=(1, 1))")
        #expect(BatchNorm2d(16).description == "BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)")
        #expect(MaxPool2d(2).description == "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)")
        #expect(Flatten().description == "Flatten(start_dim=1, end_dim=-1)")
        #expect(GroupNorm(2, 4).description == "GroupNorm(2, 4, eps=1e-05, affine=True)")
        #expect(LeakyReLU().description == "LeakyReLU(negative_slope=0.01)")
        #expect(Dropout2d().description == "Dropout2d(p=0.5, inplace=False)")
        let text = makeFashionCNN().description
        #expect(text.hasPrefix("Sequential(\n  (0): Conv2d(1, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n  (1): BatchNorm2d(16,"))
        #expect(text.contains("(11): Linear(in_features=128, out_features=10, bias=True)"))
    }

    @Test("BatchNorm2d: buffers updated in training only, eval uses them, train()/eval() reach it")
    func batchNormBuffers() throws {
        let bn = BatchNorm2d(3)
        let model = Sequential(bn, ReLU())
        var g = RandomGenerator(seed: 1)
        let x = Tensor.normal([4, 3, 2, 2], mean: 2, std: 3, using: &g)
        _ = model(x)
        #expect(bn.numBatchesTracked!.value.item == 1)
        let mean = x.mean(dims: [0, 2, 3]).scalars, variance = x.variance(dims: [0, 2, 3]).scalars
        for c in 0..<3 {
            #expect(abs(bn.runningMean!.value.scalars[c] - 0.1 * mean[c]) < 1e-5)
            #expect(abs(bn.runningVar!.value.scalars[c] - (0.9 + 0.1 * variance[c])) < 1e-4)
        }
        model.eval()
        #expect(!bn.isTraining)
        let before = bn.runningMean!.value.scalars
        let y = model(x)
        #expect(bn.runningMean!.value.scalars == before && bn.numBatchesTracked!.value.item == 1)
        let rm = bn.runningMean!.value.scalars, rv = bn.runningVar!.value.scalars
        let expected = x.scalars.enumerated().map { i, v in Swift.max(0, (v - rm[(i / 4) % 3]) / (rv[(i / 4) % 3] + 1e-5).squareRoot()) }
        #expect(zip(y.scalars, expected).allSatisfy { abs($0 - $1) < 1e-5 })
        // The buffers are state, not parameters.
        #expect(model.parameters().count == 2)
        #expect(model.stateDict().map(\.name) == ["0.weight", "0.bias", "0.running_mean", "0.running_var", "0.num_batches_tracked"])
    }

    @Test("IDX files: gzip or not; clear errors for a wrong magic number, a truncated file, mismatched counts")
    func idx() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("idx-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let images = Data([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2] + (0..<8).map { UInt8($0 * 30) })
        try images.write(to: URL(fileURLWithPath: "\(dir)/img"))
        let x = try IDX.images("\(dir)/img")
        #expect(x.shape == [2, 1, 2, 2] && abs(x.scalars[1] - 30.0 / 255) < 1e-7)
        // The fixture's gzip files (Python's gzip module wrote them).
        let fashion = try IDX.labels(Fixtures.path("fashion/train-labels-idx1-ubyte.gz"))
        #expect(fashion.shape == [512] && fashion.integers.allSatisfy { (0..<10).contains($0) })

        try Data([0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3]).write(to: URL(fileURLWithPath: "\(dir)/lab"))
        #expect(throws: DataError.self) { try ImageDataset(images: "\(dir)/img", labels: "\(dir)/lab") }
        do { _ = try ImageDataset(images: "\(dir)/img", labels: "\(dir)/lab") } catch {
            #expect("\(error)".contains("3 labels for the 2 images"))
        }
        try Data([8, 0, 8, 1, 0, 0, 0, 1, 1]).write(to: URL(fileURLWithPath: "\(dir)/bad"))
        do { _ = try IDX.labels("\(dir)/bad"); Issue.record("no error") } catch { #expect("\(error)".contains("wrong magic number")) }
        try images.prefix(20).write(to: URL(fileURLWithPath: "\(dir)/short"))
        do { _ = try IDX.images("\(dir)/short"); Issue.record("no error") } catch { #expect("\(error)".contains("truncated IDX file")) }
        let gz = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("fashion/train-labels-idx1-ubyte.gz")))
        try gz.prefix(gz.count / 2).write(to: URL(fileURLWithPath: "\(dir)/cut.gz"))
        do { _ = try IDX.labels("\(dir)/cut.gz"); Issue.record("no error") } catch { #expect("\(error)".contains("truncated gzip")) }
        do { _ = try IDX.labels("\(dir)/none"); Issue.record("no error") } catch { #expect("\(error)".contains("no such file")) }
    }

    @Test("a small CNN on the 8x8 digits beats the MLP on the same split")
    func digits() throws {
        let data = try CSVReader.read(Fixtures.path("digits.csv"))
        let n = data.count
        var g = RandomGenerator(seed: 0)
        let order = Tensor.randperm(n, using: &g).integers
        let trainRows = Array(order[..<1400]), testRows = Array(order[1400...])
        let pixels = data.features / 16
        func rows(_ r: [Int]) -> (Tensor, Tensor) {
            (pixels.indexSelect(dim: 0, index: Tensor(indices: r)), data.labels.indexSelect(dim: 0, index: Tensor(indices: r)))
        }
        let (xTrain, yTrain) = rows(trainRows), (xTest, yTest) = rows(testRows)

        func fit(_ model: any Module, image: Bool) -> Double {
            var shuffle = RandomGenerator(seed: 1)
            let opt = Adam(model.parameters(), lr: 3e-3)
            let shape = image ? [-1, 1, 8, 8] : [-1, 64]
            model.train()
            for _ in 0..<8 {
                let perm = Tensor.randperm(xTrain.shape[0], using: &shuffle).integers
                for s in stride(from: 0, to: perm.count, by: 32) {
                    let idx = Tensor(indices: Array(perm[s..<Swift.min(s + 32, perm.count)]))
                    let loss = model(xTrain.indexSelect(dim: 0, index: idx).reshape(shape)).crossEntropy(target: yTrain.indexSelect(dim: 0, index: idx))
                    opt.zeroGrad()
                    loss.backward()
                    opt.step()
                }
            }
            model.eval()
            let predicted = withNoGrad { model(xTest.reshape(shape)).argmax(dim: 1).integers }
            return Double(zip(predicted, yTest.integers).filter { $0 == $1 }.count) / Double(yTest.count)
        }
        var w = RandomGenerator(seed: 2)
        let cnn = Sequential(Conv2d(1, 8, kernelSize: 3, padding: 1, using: &w), BatchNorm2d(8), ReLU(), MaxPool2d(2),
                             Conv2d(8, 16, kernelSize: 3, padding: 1, using: &w), ReLU(), MaxPool2d(2),
                             Flatten(), Linear(16 * 2 * 2, 10, using: &w))
        let mlp = Sequential(Linear(64, 32, using: &w), ReLU(), Linear(32, 10, using: &w))
        let cnnAccuracy = fit(cnn, image: true), mlpAccuracy = fit(mlp, image: false)
        print("digits: CNN test accuracy \(cnnAccuracy), MLP \(mlpAccuracy) (397 test images, 8 epochs each)")
        #expect(cnnAccuracy > mlpAccuracy, "CNN \(cnnAccuracy) vs MLP \(mlpAccuracy)")
        #expect(cnnAccuracy > 0.95)
    }
}
