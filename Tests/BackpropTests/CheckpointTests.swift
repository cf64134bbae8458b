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
        let data = Dataset(features: x, labels: Tensor(indices: [0, 1, 1, 0, 1]), featureNames: ["a", "b, with a comma", "c \"q\""],
                           classNames: ["no", "yes"], labelName: "answer")
        let card = ModelCard(data: data, hidden: [4], activation: .relu, inputScaler: st)
        let path = FileManager.default.temporaryDirectory.path + "/backprop-ckpt-\(getpid()).safetensors"
        let optimizerPath = Checkpoint.optimizerPath(for: path)
        defer { unlink(path); unlink(optimizerPath) }
        #expect(optimizerPath.hasSuffix("/backprop-ckpt-\(getpid()).optimizer.safetensors"))
        try Checkpoint(model: SavedModel(model: model, card: card), optimizer: opt.stateDict(),
                       training: ["optimizer": "adam", "epoch": "1", "step": "1", "param_groups": opt.pytorchParamGroupsJSON()]).write(to: path)
        // The model file holds exactly the module's parameters, as PyTorch's state_dict names them.
        let raw = try SafeTensors.read(path)
        #expect(raw.tensors.map(\.name) == ["0.weight", "0.bias", "2.weight", "2.bias"])
        #expect(raw["0.weight"]!.isIdentical(to: model.namedParameters()[0].parameter.value.detached()))
        #expect(raw.metadata["pytorch_module"] == "torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))")
        #expect(raw.metadata["epoch"] == "1" && raw.metadata["step"] == "1")
        // The card reads back: architecture, names (commas and quotes kept), the standardization to the last bit.
        let back = try Checkpoint.read(path)
        let c = try #require(back.model.card)
        #expect(c.task == .classification && c.inputs == 3 && c.hidden == [4] && c.outputs == 2 && c.activation == .relu)
        #expect(c.featureNames == data.featureNames && c.classNames == ["no", "yes"] && c.labelName == "answer")
        #expect(c.inputScaler!.mean.isIdentical(to: st.mean) && c.inputScaler!.std.isIdentical(to: st.std))
        #expect(c.targetScaler == nil)
        #expect(Set(back.optimizer.map(\.name)).isSuperset(of: ["state.0.step", "state.0.exp_avg", "state.3.exp_avg_sq"]))
        #expect(back.training["optimizer"] == "adam" && back.training["format"] == "backprop-optimizer")
        // The file alone rebuilds the model: the same outputs.
        let rebuilt = try back.model.makeModel()
        #expect(rebuilt(x).isIdentical(to: model(x)))
        // A plain parameter file (as PyTorch's save_file writes) reads as a model without a card, and cannot rebuild itself.
        let plain = try SavedModel.read(Fixtures.path("iris_init.safetensors"))
        #expect(plain.card == nil && plain.state.count == 4)
        #expect(throws: ModuleLoadError.self) { try plain.makeModel() }
        // A model file whose optimizer file belongs to another step is refused; so is one without it.
        var other = back
        other.training["step"] = "7"
        try SafeTensors.write(other.optimizer, metadata: other.training, to: optimizerPath)
        #expect(throws: DataError(file: optimizerPath, "holds the optimizer state of step 7, but \(path) was saved at step 1")) {
            try Checkpoint.read(path)
        }
        unlink(optimizerPath)
        #expect(throws: DataError(file: path, "no optimizer state beside it (\(optimizerPath) is missing)")) { try Checkpoint.read(path) }
    }

    @Test func modelCardRejectsBadMetadata() throws {
        var g = RandomGenerator(seed: 0)
        let x = Tensor.randn([4, 2], using: &g)
        let data = Dataset(features: x, labels: Tensor(x.scalars.enumerated().filter { $0.offset % 2 == 0 }.map(\.element), shape: [4]),
                           featureNames: ["u", "v"], classNames: [], labelName: "t")
        let card = ModelCard(data: data, hidden: [], activation: .tanh, inputScaler: Standardizer(fitting: x),
                             targetScaler: Standardizer(fitting: data.labels.reshape([4, 1])))
        let meta = card.metadata
        let back = try #require(try ModelCard.from(metadata: meta, file: "m"))
        #expect(back.task == .regression && back.outputs == 1 && back.hidden.isEmpty && back.targetScaler!.mean.isIdentical(to: card.targetScaler!.mean))
        #expect(try ModelCard.from(metadata: ["source": "pytorch"], file: "m") == nil, "no format: parameters only")
        let cases: [(String, String, String)] = [
            ("input_std", "[1, 0]", "metadata 'input_std' must be a JSON array of 2 positive finite numbers, got '[1, 0]'"),
            ("input_mean", "[nan, 1]", "metadata 'input_mean' must be a JSON array of 2 finite numbers, got '[nan, 1]'"),
            ("input_mean", "[1]", "metadata 'input_mean' must be a JSON array of 2 finite numbers, got '[1]'"),
            ("hidden", "4,0", "metadata 'hidden' must be layer sizes like 64,32, or none, got '4,0'"),
            ("task", "ranking", "metadata 'task' must be classification or regression, got 'ranking'"),
            ("feature_names", "[\"u\"]", "metadata 'feature_names' must be a JSON array of 2 strings, got '[\"u\"]'"),
            ("outputs", "2", "metadata 'outputs' must be 1 for a regression, got '2'"),
            ("format", "keras", "metadata 'format' must be 'backprop-mlp', got 'keras'"),
        ]
        for (key, value, message) in cases {
            var m = meta
            m[key] = value
            #expect(throws: DataError(file: "m", message), "\(key)") { try ModelCard.from(metadata: m, file: "m") }
        }
        var m = meta
        m["target_std"] = nil
        #expect(throws: DataError(file: "m", "metadata 'target_std' must be a JSON array of 1 positive finite numbers, got nothing")) {
            try ModelCard.from(metadata: m, file: "m")
        }
    }

    @Test func plotIsWellFormedSVG() throws {
        let history = (1...5).map {
            EpochRecord(epoch: $0, trainLoss: 1 / Double($0), trainScore: 0.5 + 0.1 * Double($0) / 2, testLoss: 1.2 / Double($0),
                        testScore: 0.45 + 0.1 * Double($0) / 2, steps: 3, lr: 0.01, seconds: 0.1)
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

        let before = SupervisedTraining.evaluate(model, on: test)
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
        let result = SupervisedTraining.evaluate(model, on: test)
        #expect(result.loss < before.loss / 2, "test loss \(before.loss) -> \(result.loss)")
        #expect(result.accuracy > 0.85, "test accuracy \(result.accuracy)")
        let path = FileManager.default.temporaryDirectory.path + "/backprop-readme-\(getpid()).safetensors"
        defer { unlink(path) }
        try SafeTensors.write(model.stateDict(), to: path)
        try model.load(stateDict: SafeTensors.read(path).dictionary)
        #expect(SupervisedTraining.evaluate(model, on: test).loss == result.loss)
    }
}
