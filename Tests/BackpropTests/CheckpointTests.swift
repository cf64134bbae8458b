import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import Backprop

@Suite struct CheckpointTests {
    @Test func checkpointKeepsModelOptimizerAndStandardizer() throws {
        var g = RandomGenerator(seed: 2)
        let model = makeMLP(inputs: 3, hidden: [4], outputs: 2, using: &g)
        let opt = Adam(model.parameters(), lr: 0.1)
        let x = Tensor.randn([5, 3], using: &g)
        model(x).crossEntropy(target: Tensor(indices: [0, 1, 1, 0, 1])).backward()
        opt.step()
        let st = Standardizer(fitting: x)
        let path = FileManager.default.temporaryDirectory.path + "/backprop-ckpt-\(getpid()).safetensors"
        defer { unlink(path) }
        try Checkpoint(model: model.stateDict(), optimizer: opt.stateDict(), standardizer: st,
                       metadata: ["format": "backprop-mlp", "epoch": "1"]).write(to: path)
        let back = try Checkpoint.read(path)
        #expect(back.model.map(\.name) == ["0.weight", "0.bias", "2.weight", "2.bias"])
        #expect(Set(back.optimizer.map(\.name)).isSuperset(of: ["state.0.step", "state.0.exp_avg", "state.3.exp_avg_sq"]))
        #expect(back.standardizer!.mean.isIdentical(to: st.mean) && back.standardizer!.std.isIdentical(to: st.std))
        #expect(back.metadata["epoch"] == "1")
        // The raw file is a plain safetensors file with PyTorch's parameter names.
        let raw = try SafeTensors.read(path)
        #expect(raw["0.weight"]!.isIdentical(to: model.namedParameters()[0].parameter.value.detached()))
        // A plain parameter file (as PyTorch's save_file writes) reads as a checkpoint without state.
        let plain = try Checkpoint.read(Fixtures.path("iris_init.safetensors"))
        #expect(plain.optimizer.isEmpty && plain.standardizer == nil && plain.model.count == 4)
    }

    @Test func plotIsWellFormedSVG() throws {
        let history = (1...5).map {
            EpochRecord(epoch: $0, trainLoss: 1 / Double($0), trainAccuracy: 0.5 + 0.1 * Double($0) / 2, testLoss: 1.2 / Double($0),
                        testAccuracy: 0.45 + 0.1 * Double($0) / 2, steps: 3, lr: 0.01, seconds: 0.1)
        }
        let svg = TrainingPlot.svg(history: history, title: "a <b> & c")
        #expect(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        #expect(svg.contains("a &lt;b&gt; &amp; c"))
        #expect(svg.components(separatedBy: "<polyline").count - 1 == 4, "train and test lines in both panels")
        let parser = XMLParser(data: Data(svg.utf8))
        #expect(parser.parse(), "the SVG parses as XML: \(parser.parserError.map { "\($0)" } ?? "")")
        let single = TrainingPlot.svg(history: [history[0]], title: "one epoch")
        #expect(XMLParser(data: Data(single.utf8)).parse() && single.contains("<circle"))
    }
}

/// The README's Swift API example, run as written (with a temporary file), as a quick smoke test.
@Suite struct ReadmeExampleTests {
    @Test func trainingLoopFromTheReadme() throws {
        var g = RandomGenerator(seed: 0)
        let model = Sequential(Linear(4, 16, using: &g), ReLU(), Linear(16, 3, using: &g))
        #expect(model.namedParameters().map(\.name) == ["0.weight", "0.bias", "2.weight", "2.bias"])

        let data = try CSVReader.read(Fixtures.path("iris.csv"))
        var (train, test) = data.split(testFraction: 0.2, seed: 1)
        let scaler = Standardizer(fitting: train.features)
        (train, test) = (scaler.transform(train), scaler.transform(test))

        let before = ClassifierTraining.evaluate(model, on: test)
        let opt = Adam(model.parameters(), lr: 0.01)
        let schedule = LRScheduler(opt, schedule: CosineAnnealingLR(tMax: 50))
        for _ in 0..<50 {
            for (x, y) in train.batches(size: 16, shuffle: true, using: &g) {
                opt.zeroGrad()
                let loss = model(x).crossEntropy(target: y)
                loss.backward()
                opt.step()
            }
            schedule.step()
        }
        let result = ClassifierTraining.evaluate(model, on: test)
        #expect(result.loss < before.loss / 2, "test loss \(before.loss) -> \(result.loss)")
        #expect(result.accuracy > 0.85, "test accuracy \(result.accuracy)")
        let path = FileManager.default.temporaryDirectory.path + "/backprop-readme-\(getpid()).safetensors"
        defer { unlink(path) }
        try SafeTensors.write(model.stateDict(), to: path)
        try model.load(stateDict: SafeTensors.read(path).dictionary)
        #expect(ClassifierTraining.evaluate(model, on: test).loss == result.loss)
    }
}
