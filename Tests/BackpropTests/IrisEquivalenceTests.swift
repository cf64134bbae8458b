import Foundation
import Testing
@testable import Backprop

/// From PyTorch's initial parameters, 200 full-batch steps on raw iris end where PyTorch ends
/// (Fixtures/iris_*.safetensors, made by scripts/make_iris_reference.py).
@Suite struct IrisEquivalenceTests {
    func trainFromPyTorchInit(_ makeOptimizer: ([Parameter]) -> any Optimizer) throws -> (Sequential, Dataset) {
        let data = try CSVReader.read(Fixtures.path("iris.csv"))
        var g = RandomGenerator(seed: 0)
        let model = makeMLP(inputs: 4, hidden: [16], outputs: 3, activation: .relu, using: &g)
        try model.load(stateDict: SafeTensors.read(Fixtures.path("iris_init.safetensors")).dictionary)
        let run = SupervisedTraining(model: model, optimizer: makeOptimizer(model.parameters()), train: data, test: nil,
                                     batchSize: 0, shuffle: false)
        for _ in 0..<200 { run.runEpoch() }
        #expect(run.stepsDone == 200)
        return (model, data)
    }

    func compare(_ model: Sequential, _ file: String) throws {
        let want = try SafeTensors.read(Fixtures.path(file))
        var worst = 0.0
        for (name, p) in model.namedParameters() {
            let w = want[name]!
            #expect(w.shape == p.shape)
            for (a, b) in zip(p.value.scalars, w.scalars) { worst = max(worst, abs(a - b)) }
        }
        #expect(worst < 1e-4, "\(file): largest parameter difference from PyTorch \(worst)")
    }

    @Test func sgdWithMomentumMatchesPyTorch() throws {
        let (model, data) = try trainFromPyTorchInit { SGD($0, lr: 0.05, momentum: 0.9) }
        try compare(model, "iris_sgd_final.safetensors")
        let e = SupervisedTraining.evaluate(model, on: data)
        let want = Double(try SafeTensors.read(Fixtures.path("iris_sgd_final.safetensors")).metadata["final_loss"]!)!
        #expect(abs(e.loss - want) < 1e-4, "loss \(e.loss), PyTorch \(want)")
    }

    @Test func adamMatchesPyTorch() throws {
        let (model, data) = try trainFromPyTorchInit { Adam($0, lr: 0.01) }
        try compare(model, "iris_adam_final.safetensors")
        let e = SupervisedTraining.evaluate(model, on: data)
        let want = Double(try SafeTensors.read(Fixtures.path("iris_adam_final.safetensors")).metadata["final_loss"]!)!
        #expect(abs(e.loss - want) < 1e-4, "loss \(e.loss), PyTorch \(want)")
    }

    @Test func miniBatchTrainingLowersTheLossAndResumesExactly() throws {
        let data = try CSVReader.read(Fixtures.path("iris.csv"))
        let (train, test) = data.split(testFraction: 0.2, seed: 1)
        func fresh() -> (Sequential, Adam) {
            var g = RandomGenerator(seed: 3)
            let m = makeMLP(inputs: 4, hidden: [8], outputs: 3, using: &g)
            return (m, Adam(m.parameters(), lr: 0.01))
        }
        let (m1, o1) = fresh()
        let straight = SupervisedTraining(model: m1, optimizer: o1, train: train, test: test, batchSize: 16, seed: 5)
        let first = straight.runEpoch()
        for _ in 0..<3 { straight.runEpoch() }
        #expect(straight.history.last!.trainLoss < first.trainLoss, "loss went from \(first.trainLoss) to \(straight.history.last!.trainLoss)")
        // Two epochs, save model and optimizer state, restore into new objects, two more epochs.
        let (m2, o2) = fresh()
        let part = SupervisedTraining(model: m2, optimizer: o2, train: train, test: test, batchSize: 16, seed: 5)
        part.runEpoch(); part.runEpoch()
        let params = m2.stateDict(), state = o2.stateDict()
        let (m3, o3) = fresh()
        try m3.load(stateDict: Dictionary(uniqueKeysWithValues: params.map { ($0.name, $0.tensor) }))
        try o3.load(stateDict: Dictionary(uniqueKeysWithValues: state.map { ($0.name, $0.tensor) }))
        let resumed = SupervisedTraining(model: m3, optimizer: o3, train: train, test: test, batchSize: 16, seed: 5,
                                         epochsDone: 2, stepsDone: part.stepsDone)
        resumed.runEpoch(); resumed.runEpoch()
        for (a, b) in zip(m1.parameters(), m3.parameters()) {
            #expect(a.value.isIdentical(to: b.value), "resumed training differs from uninterrupted training")
        }
    }
}
