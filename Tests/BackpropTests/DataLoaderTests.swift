import Foundation
import Testing
@testable import Backprop

@Suite struct DataLoaderTests {
    let x = Tensor((0..<20).map(Double.init), shape: [10, 2])
    let y = Tensor((0..<10).map { Double($0) / 2 }, shape: [10, 1])   // float targets, as a regression has

    @Test func batchesInOrderWithTheShortLastOneOrDropped() {
        let loader = DataLoader(TensorDataset(x, y), batchSize: 4)
        let batches = Array(loader)
        #expect(loader.count == 3 && batches.map { $0[0].shape } == [[4, 2], [4, 2], [2, 2]])
        #expect(batches[2][1].scalars == [4, 4.5] && batches[0][0].scalars.prefix(2) == [0, 1])
        let dropping = DataLoader(TensorDataset(x, y), batchSize: 4, dropLast: true)
        #expect(dropping.count == 2 && Array(dropping).count == 2)
    }

    @Test func shuffledPassesAreSeededAndDifferFromEpochToEpoch() {
        let data = TensorDataset(x, Tensor(indices: Array(0..<10)))
        let a = DataLoader(data, batchSize: 3, shuffle: true, generator: RandomGenerator(seed: 7))
        let b = DataLoader(data, batchSize: 3, shuffle: true, generator: RandomGenerator(seed: 7))
        let epoch1 = a.flatMap { $0[1].integers }, epoch2 = a.flatMap { $0[1].integers }
        #expect(epoch1.sorted() == Array(0..<10) && epoch1 != epoch2, "each pass is a new permutation")
        #expect(b.flatMap { $0[1].integers } == epoch1, "the same seed gives the same order")
        // Rows stay together: row i of x is [2i, 2i + 1] and its label is i.
        for batch in b { #expect(batch[0].scalars == batch[1].integers.flatMap { [Double(2 * $0), Double(2 * $0 + 1)] }) }
    }

    @Test func anyTensorsImagesAndSequences() {
        let images = Tensor.zeros([6, 1, 4, 4]), tokens = Tensor(indices: Array(0..<18), shape: [6, 3])
        let loader = DataLoader(TensorDataset(images, tokens), batchSize: 4)
        #expect(Array(loader).map { $0[0].shape } == [[4, 1, 4, 4], [2, 1, 4, 4]])
        #expect(TensorDataset(images, tokens)[5][1].integers == [15, 16, 17])
        #expect(loader.pairs.count == 2)
    }

    @Test func csvKeepsGivenClassesAndRejectsOthers() throws {
        let text = "a,b,label\n1,2,7\n3,4,3\n5,6,7\n"
        let d = try CSVReader.parse(text, classes: (0..<10).map(String.init))
        #expect(d.labels.integers == [7, 3, 7] && d.classCount == 10)
        let plain = try CSVReader.parse(text)
        #expect(plain.labels.integers == [1, 0, 1] && plain.classNames == ["3", "7"])
        #expect(throws: DataError.self) { try CSVReader.parse(text, classes: ["3", "4"]) }
    }

    @Test func evaluateCoversUnknownPredictionsAndKeepsTheMode() {
        var g = RandomGenerator(seed: 0)
        let model = Sequential(Linear(2, 5, using: &g))
        // Two classes in the data, five outputs: predictions may name classes 2...4.
        let data = Dataset(features: Tensor.randn([8, 2], using: &g) * 3, labels: Tensor(indices: [0, 1, 0, 1, 0, 1, 0, 1]),
                           featureNames: ["a", "b"], classNames: ["x", "y"])
        model.eval()
        let e = SupervisedTraining.evaluate(model, on: data)
        #expect(e.confusion.count == 5 && e.confusion.joined().reduce(0, +) == 8)
        #expect(!model.isTraining || model.modules().allSatisfy { $0.ownTrainingMode == nil }, "eval mode kept")
        let dropout = Sequential(Linear(2, 2, using: &g), Dropout(p: 0.5))
        dropout.eval()
        _ = SupervisedTraining.evaluate(dropout, on: Dataset(features: Tensor.zeros([2, 2]), labels: Tensor(indices: [0, 1]),
                                                             featureNames: ["a", "b"], classNames: ["x", "y"]))
        #expect(!dropout.isTraining, "evaluate leaves a model in eval mode as it found it")
        dropout.train()
        _ = SupervisedTraining.evaluate(dropout, on: Dataset(features: Tensor.zeros([2, 2]), labels: Tensor(indices: [0, 1]),
                                                             featureNames: ["a", "b"], classNames: ["x", "y"]))
        #expect(dropout.isTraining)
    }

    @Test func lossesWarnOnceWhenShapesDiffer() {
        let box = Box()
        Warnings.redirect { m in box.append(m) }
        defer { Warnings.redirect(to: nil) }
        let p = Tensor.zeros([4, 1]), t = Tensor.ones([4])
        #expect(p.mseLoss(target: t).item == 1)
        _ = p.mseLoss(target: t)
        // Other tests running meanwhile may warn about other losses: look at mse_loss's only.
        let mse = box.messages.filter { $0.hasPrefix("mse_loss") }
        #expect(mse.count == 1)
        #expect(mse[0].contains("Using a target size (torch.Size([4])) that is different to the input size (torch.Size([4, 1]))"))
    }
}

private final class Box: @unchecked Sendable {
    let lock = NSLock()
    private var stored: [String] = []
    func append(_ m: String) { lock.withLock { stored.append(m) } }
    var messages: [String] { lock.withLock { stored } }
}
