import Foundation
import Testing
@testable import Backprop

/// The round trips of issue 16 against PyTorch's own results: model files trained here, loaded
/// strictly by PyTorch, saved from PyTorch in half precision, and the predictions of each
/// (Fixtures/travel, made by scripts/make_travel_fixtures.py); the optimizer file in PyTorch's
/// state_dict layout; regression training against PyTorch's run of the same recipe
/// (Fixtures/diabetes_reference.json, scripts/make_regression_reference.py).
@Suite struct TravelTests {
    static var reference: [String: [String: Any]] { Fixtures.object("travel/pytorch.json")["files"] as! [String: [String: Any]] }

    static func temporary(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("backprop-travel-\(UUID().uuidString)-\(name)").path
    }

    static func numbers(_ any: Any?) -> [Double] { (any as? [Any] ?? []).map { ($0 as? NSNumber)?.doubleValue ?? .nan } }

    /// Backprop's predictions for a fixture file against PyTorch's for the same file and rows.
    static func comparePredictions(_ p: Predictions, _ want: [String: Any], card: ModelCard, file: String,
                                   sourceLocation: SourceLocation = #_sourceLocation) {
        if card.task == .classification {
            let classes = p.classes.map { card.classNames[$0] }
            #expect(classes == want["classes"] as? [String], "\(file): classes differ from PyTorch's", sourceLocation: sourceLocation)
            let probs = (want["probabilities"] as! [Any]).map(numbers)
            var worst = 0.0
            for (a, b) in zip(p.probabilities, probs) { for (x, y) in zip(a, b) { worst = max(worst, abs(x - y)) } }
            #expect(probs.count == p.count && worst < 1e-6, "\(file): probabilities differ from PyTorch's by up to \(worst)", sourceLocation: sourceLocation)
        } else {
            let values = numbers(want["values"])
            var worst = 0.0
            for (a, b) in zip(p.values, values) { worst = max(worst, abs(a - b) / max(1, abs(b))) }
            #expect(values.count == p.count && worst < 1e-5, "\(file): predictions differ from PyTorch's by up to \(worst) (relative)", sourceLocation: sourceLocation)
        }
    }

    @Test("model files trained here load strictly in PyTorch, and predict as PyTorch does; so do the half-precision files PyTorch saved",
          arguments: ["iris.safetensors", "diabetes.safetensors", "iris_f16.safetensors", "iris_bf16.safetensors", "diabetes_f16.safetensors"])
    func predictionsMatchPyTorch(_ file: String) throws {
        let want = try #require(Self.reference[file])
        let saved = try SavedModel.read(Fixtures.path("travel/" + file))
        // What PyTorch's strict load_state_dict took is exactly the file's tensors.
        #expect(saved.state.map(\.name).sorted() == (want["keys"] as! [String]).sorted())
        if let dtypes = want["dtypes"] as? [String] {
            let stored = Set(saved.storedTypes.values.map(\.rawValue)).sorted()
            #expect(stored == dtypes.map { $0 == "torch.float16" ? "F16" : $0 == "torch.bfloat16" ? "BF16" : $0 }, "\(file): \(stored)")
        }
        let predictor = try Predictor(saved)
        let rows = try PredictionRows.read(Repository.path(want["data"] as! String), card: predictor.card)
        #expect(rows.matchedByName && rows.labels != nil)
        Self.comparePredictions(predictor.predict(rows.features), want["predictions"] as! [String: Any], card: predictor.card, file: file)
    }

    @Test("the optimizer file is PyTorch's optimizer state: one more step from it ends where torch.optim ends",
          arguments: ["iris.safetensors", "diabetes.safetensors"])
    func optimizerStateIsPyTorchs(_ file: String) throws {
        let want = try #require(Self.reference[file]?["after_step"] as? [String: Any])
        let path = Fixtures.path("travel/" + file)
        let checkpoint = try Checkpoint.read(path)
        let card = try #require(checkpoint.model.card)
        let model = try checkpoint.model.makeModel()
        let opt = Adam(model.parameters(), lr: Double(checkpoint.training["lr"]!)!)
        try opt.load(stateDict: checkpoint.optimizerState)
        let data = Repository.path(Self.reference[file]!["data"] as! String)
        let rows = try PredictionRows.read(data, card: card)
        let x = card.inputScaler!.transform(rows.features)
        let y = card.targetScaler?.transform(rows.labels!) ?? rows.labels!
        let objective: Objective = card.task == .classification ? .classification : .regression(.mse)
        let run = SupervisedTraining(model: model, optimizer: opt, train: Dataset(features: x, labels: y, featureNames: card.featureNames,
                                                                                  classNames: card.classNames),
                                     test: nil, objective: objective, batchSize: 0)
        run.step(x: x, y: y)
        var worst = 0.0
        for (name, p) in model.namedParameters() {
            let torch = Self.numbers(want[name])
            #expect(torch.count == p.value.count, "\(name)")
            for (a, b) in zip(p.value.scalars, torch) { worst = max(worst, abs(a - b)) }
        }
        print("travel: \(file): one step from the optimizer file, largest difference from torch.optim \(worst)")
        #expect(worst < 1e-6, "\(file): after one step from the saved state, parameters differ from torch.optim's by up to \(worst)")
    }

    @Test("backprop predict --json gives PyTorch's predictions from a file PyTorch saved in half precision")
    func predictCommandOnAHalfPrecisionFile() throws {
        let file = "iris_f16.safetensors"
        let r = try CLI.run(["predict", "--model", Fixtures.path("travel/" + file), "--data", Repository.path("data/iris.csv"),
                             "--probabilities", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let o = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let want = Self.reference[file]!["predictions"] as! [String: Any]
        #expect(o["predictions"] as? [String] == want["classes"] as? [String])
        #expect(o["stored_dtype"] as? String == "F16" && o["standardized"] as? Bool == true)
        let e = o["evaluation"] as! [String: Any]
        let classes = want["classes"] as! [String]
        let truth = try CSVReader.read(Repository.path("data/iris.csv")).labels.integers.map(String.init)
        let agree = zip(classes, truth).filter { $0 == $1 }.count
        #expect((e["accuracy"] as! NSNumber).doubleValue == Double(agree) / 150, "accuracy of PyTorch's own predictions")
        // The text form: the same accuracy, and the predictions written atomically to a CSV file.
        let out = Self.temporary("preds.csv")
        defer { unlink(out) }
        let t = try CLI.run(["evaluate", "--model", Fixtures.path("travel/" + file), "--data", Repository.path("data/iris.csv"), "--output", out])
        #expect(t.status == 0 && t.stdout.contains(String(format: "accuracy %.2f%% (%d of 150 rows)", Double(agree) / 1.5, agree)), "\(t.stdout)")
        let csv = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")
        #expect(csv.count == 151 && csv[0] == "row,prediction,label" && csv[1].hasPrefix("1,\(classes[0]),"))
    }

    @Test("predict matches columns by name or by position, and refuses rows that do not fit the model")
    func predictColumns() throws {
        let model = Fixtures.path("travel/iris.safetensors")
        let lines = try String(contentsOfFile: Repository.path("data/iris.csv"), encoding: .utf8).split(whereSeparator: \.isNewline)
        // Columns reordered, and a label column named otherwise: matched by the header.
        let shuffled = Self.temporary("shuffled.csv"), positional = Self.temporary("positional.csv"), bad = Self.temporary("bad.csv")
        defer { unlink(shuffled); unlink(positional); unlink(bad) }
        let rows = lines.map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        func write(_ path: String, _ table: [[String]]) throws {
            try Data(table.map { $0.joined(separator: ",") }.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: path))
        }
        try write(shuffled, rows.map { [$0[3], $0[0], $0[2], $0[1]] })
        try write(positional, [["a", "b", "c", "d", "kind"]] + rows.dropFirst())
        let byName = try CLI.run(["predict", "--model", model, "--data", shuffled, "--json"])
        let byPosition = try CLI.run(["predict", "--model", model, "--data", positional, "--json"])
        let plain = try CLI.run(["predict", "--model", model, "--data", Repository.path("data/iris.csv"), "--json"])
        func predictions(_ r: CLI.Result) throws -> [String] {
            #expect(r.status == 0, "\(r.stderr)")
            return (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])?["predictions"] as? [String] ?? []
        }
        let want = try predictions(plain)
        let (named, positioned) = (try predictions(byName), try predictions(byPosition))
        #expect(named == want && positioned == want && want.count == 150)
        #expect(byPosition.stdout.contains("\"columns_matched_by\" : \"position\""), "\(byPosition.stdout)")
        // A class the model does not know names its line and column; so does a field that is not a number.
        try write(bad, [rows[0], rows[1], ["5.1", "3.5", "1.4", "0.2", "7"]])
        let unknown = try CLI.run(["predict", "--model", model, "--data", bad])
        #expect(unknown.status == 1 && unknown.stderr == "error: \(bad):3:5: label '7' is not one of the model's classes (0, 1, 2)\n", "\(unknown.stderr)")
        try write(bad, [["a", "b"], ["1", "2"]])
        let narrow = try CLI.run(["predict", "--model", model, "--data", bad])
        #expect(narrow.status == 1 && narrow.stderr.contains("2 columns, and the header does not name the model's 4 features"), "\(narrow.stderr)")
        let plainFile = try CLI.run(["predict", "--model", Fixtures.path("iris_init.safetensors"), "--data", Repository.path("data/iris.csv")])
        #expect(plainFile.status == 1 && plainFile.stderr.contains("the file has no model description"), "\(plainFile.stderr)")
    }

    @Test("--init applies the model file's standardization (and says when a file has none)")
    func initKeepsStandardization() throws {
        let model = Fixtures.path("travel/iris.safetensors")
        let predicted = try CLI.run(["evaluate", "--model", model, "--data", Repository.path("data/iris.csv"), "--json"])
        let e = (try JSONSerialization.jsonObject(with: Data(predicted.stdout.utf8)) as! [String: Any])["evaluation"] as! [String: Any]
        // A step too small to change a prediction: the training accuracy is the model's own.
        let r = try CLI.run(["train", "--data", Repository.path("data/iris.csv"), "--init", model, "--test-split", "0", "--steps", "1",
                             "--lr", "1e-12", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let o = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let train = o["train"] as! [String: Any]
        #expect((train["accuracy"] as! NSNumber).doubleValue == (e["accuracy"] as! NSNumber).doubleValue, "\(train) vs \(e)")
        #expect(o["standardized"] as? Bool == true)
        let text = try CLI.run(["train", "--data", Repository.path("data/iris.csv"), "--init", model, "--steps", "1", "--lr", "1e-12"])
        #expect(text.stdout.contains("init: standardized with the statistics in \(model)"), "\(text.stdout)")
        let raw = try CLI.run(["train", "--data", Repository.path("data/iris.csv"), "--init", Fixtures.path("iris_init.safetensors"),
                               "--hidden", "16", "--steps", "1"])
        #expect(raw.stdout.contains("has no standardization: features used as they are"), "\(raw.stdout)")
        let mismatch = try CLI.run(["train", "--data", Repository.path("data/iris.csv"), "--init", model, "--activation", "tanh"])
        #expect(mismatch.status == 1 && mismatch.stderr.contains("--activation tanh differs from the model file's relu"), "\(mismatch.stderr)")
    }

    @Test("train --save then --resume: two runs of 2 epochs end with exactly the parameters of one run of 4")
    func resumeIsExact() throws {
        let (a, b) = (Self.temporary("a.safetensors"), Self.temporary("b.safetensors"))
        defer { for p in [a, b] { unlink(p); unlink(Checkpoint.optimizerPath(for: p)) } }
        let common = ["train", "--data", Repository.path("data/diabetes.csv"), "--task", "regression", "--standardize", "--hidden", "8",
                      "--loss", "huber", "--huber-delta", "0.5", "--optimizer", "sgd", "--momentum", "0.9", "--lr", "0.01"]
        #expect(try CLI.run(common + ["--epochs", "4", "--save", a]).status == 0)
        #expect(try CLI.run(common + ["--epochs", "2", "--save", b]).status == 0)
        let resumed = try CLI.run(["train", "--data", Repository.path("data/diabetes.csv"), "--resume", b, "--epochs", "2", "--save", b])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("Huber (delta 0.5) loss; sgd lr 0.01 momentum 0.9"), "\(resumed.stdout)")
        let (ma, mb) = (try SavedModel.read(a), try SavedModel.read(b))
        for ((name, x), (_, y)) in zip(ma.state, mb.state) { #expect(x.isIdentical(to: y), "\(name) differs after resuming") }
        let (oa, ob) = (try SafeTensors.read(Checkpoint.optimizerPath(for: a)), try SafeTensors.read(Checkpoint.optimizerPath(for: b)))
        #expect(oa.tensors.map(\.name) == ob.tensors.map(\.name))
        for ((name, x), (_, y)) in zip(oa.tensors, ob.tensors) { #expect(x.isIdentical(to: y), "\(name) differs after resuming") }
        #expect(ma.metadata["epoch"] == "4" && mb.metadata["epoch"] == "4" && ob.metadata["loss"] == "huber")
        // A given --loss must agree with the checkpoint's.
        let other = try CLI.run(["train", "--data", Repository.path("data/diabetes.csv"), "--resume", b, "--loss", "mse"])
        #expect(other.status == 1 && other.stderr.contains("--loss mse differs from the checkpoint's huber"), "\(other.stderr)")
    }

    @Test("--save-dtype f16 and bf16 store the parameters in half precision, rounded as PyTorch rounds them",
          arguments: [("f16", SafeTensors.StorageType.float16), ("bf16", .bfloat16)])
    func saveInHalfPrecision(_ flag: String, _ type: SafeTensors.StorageType) throws {
        let (full, half) = (Self.temporary("full.safetensors"), Self.temporary("half.safetensors"))
        defer { for p in [full, half] { unlink(p); unlink(Checkpoint.optimizerPath(for: p)) } }
        let args = ["train", "--data", Repository.path("data/iris.csv"), "--hidden", "8", "--epochs", "2", "--standardize"]
        #expect(try CLI.run(args + ["--save", full]).status == 0)
        let r = try CLI.run(args + ["--save", half, "--save-dtype", flag])
        #expect(r.status == 0 && r.stdout.contains("saved model to \(half) (\(type.rawValue))"), "\(r.stdout)")
        let (f, h) = (try SavedModel.read(full), try SavedModel.read(half))
        #expect(Set(h.storedTypes.values) == [type] && h.card?.inputScaler != nil)
        for ((name, x), (_, y)) in zip(f.state, h.state) {
            let rounded = x.scalars.map { v in
                Double(type == .float16 ? HalfPrecision.float(float16Bits: HalfPrecision.float16Bits(Float(v)))
                                        : HalfPrecision.float(bfloat16Bits: HalfPrecision.bfloat16Bits(Float(v))))
            }
            #expect(y.scalars == rounded, "\(name)")
        }
        // The optimizer state keeps float32, so that a resumed run continues from exact moments.
        #expect(Set(try SafeTensors.read(Checkpoint.optimizerPath(for: half)).storedTypes.values) == [.float32])
        let bad = try CLI.run(args + ["--save-dtype", "f8"])
        #expect(bad.status == 1 && bad.stderr.contains("--save-dtype"), "\(bad.stderr)")
    }

    @Test("train --task regression: the final test MSE is PyTorch's for the same recipe and initial weights",
          arguments: ["mse", "l1", "huber"])
    func regressionMatchesPyTorch(_ loss: String) throws {
        let ref = Fixtures.object("diabetes_reference.json")
        let recipe = ref["recipe"] as! [String: Any]
        let r = try CLI.run(["train", "--data", Repository.path(recipe["data"] as! String), "--task", "regression", "--standardize",
                             "--hidden", "\(recipe["hidden"]!)", "--init", Fixtures.path("diabetes_init.safetensors"),
                             "--lr", "\(recipe["lr"]!)", "--batch-size", "\(recipe["batch_size"]!)", "--epochs", "\(recipe["epochs"]!)",
                             "--seed", "\(recipe["seed"]!)", "--loss", loss, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let o = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let want = ((ref["losses"] as! [String: Any])[loss] as! [String: Any])
        for part in ["train", "test"] {
            let mine = o[part] as! [String: Any], torch = want[part] as! [String: Any]
            for key in ["mse", "mae", "r2"] {
                let (a, b) = ((mine[key] as! NSNumber).doubleValue, (torch[key] as! NSNumber).doubleValue)
                // The issue asks for the test MSE within 1%; it is within 1e-7 (relative) when measured.
                #expect(abs(a - b) <= 1e-3 * abs(b), "\(loss) \(part) \(key): Backprop \(a), PyTorch \(b)")
            }
        }
        #expect(o["target"] as? String == "progression" && (o["test"] as! [String: Any])["rows"] as? Int == ref["test_rows"] as? Int)
    }

    @Test("a regression's plot shows the loss and R², and its predictions are in the target's units")
    func regressionPlotAndPredictions() throws {
        let (model, plot) = (Self.temporary("reg.safetensors"), Self.temporary("reg.svg"))
        defer { unlink(model); unlink(Checkpoint.optimizerPath(for: model)); unlink(plot) }
        let r = try CLI.run(["train", "--data", Repository.path("data/diabetes.csv"), "--task", "regression", "--standardize",
                             "--hidden", "8", "--epochs", "5", "--save", model, "--plot", plot])
        #expect(r.status == 0 && r.stdout.contains("features and target standardized") && r.stdout.contains("R^2"), "\(r.stdout)")
        let svg = try String(contentsOfFile: plot, encoding: .utf8)
        #expect(svg.contains("MSE loss") && svg.contains("R²") && !svg.contains("Accuracy"))
        let p = try CLI.run(["predict", "--model", model, "--data", Repository.path("data/diabetes.csv"), "--json"])
        let o = try JSONSerialization.jsonObject(with: Data(p.stdout.utf8)) as! [String: Any]
        let values = Self.numbers(o["predictions"])
        let mean = values.reduce(0, +) / Double(values.count)
        #expect(values.count == 442 && mean > 100 && mean < 200, "predictions in the target's units (25-346), mean \(mean)")
        let e = o["evaluation"] as! [String: Any]
        #expect((e["rmse"] as! NSNumber).doubleValue > 10, "RMSE in the target's units: \(e)")
        let bad = try CLI.run(["train", "--data", Repository.path("data/iris.csv"), "--loss", "l1"])
        #expect(bad.status == 1 && bad.stderr.contains("--loss l1 applies to --task regression"), "\(bad.stderr)")
        // A regression data set trained as a classifier (its whole-number targets as classes) gets a hint.
        let classes = try CLI.run(["train", "--data", Repository.path("data/diabetes.csv"), "--steps", "1", "--hidden", "4"])
        #expect(classes.stdout.contains("note: 214 classes for 442 rows: if progression is a number to predict, train with --task regression"),
                "\(classes.stdout)")
    }

    /// Needs a Python with torch and safetensors (see `PythonForTests`); skipped otherwise.
    @Test("files written here load strictly in PyTorch, which predicts what backprop predict does and steps as Backprop's optimizer state says",
          .enabled(if: PythonForTests.interpreter != nil, PythonForTests.skipMessage))
    func liveRoundTripThroughPyTorch() throws {
        let model = Self.temporary("live.safetensors")
        defer { unlink(model); unlink(Checkpoint.optimizerPath(for: model)) }
        let data = Repository.path("data/wine.csv")
        let t = try CLI.run(["train", "--data", data, "--hidden", "12", "--standardize", "--epochs", "5", "--optimizer", "adamw",
                             "--save", model])
        #expect(t.status == 0, "\(t.stderr)")
        let o = try runPython(PythonForTests.interpreter!, [Repository.path("scripts/check_travel_in_pytorch.py"), model, data, "--optimizer-step"])
        #expect(o["strict_load"] as? Bool == true && o["keys"] as? [String] == ["0.weight", "0.bias", "2.weight", "2.bias"])
        let saved = try SavedModel.read(model)
        let predictor = try Predictor(saved)
        let rows = try PredictionRows.read(data, card: predictor.card)
        Self.comparePredictions(predictor.predict(rows.features), o["predictions"] as! [String: Any], card: predictor.card, file: "wine")
        // One more AdamW step from the optimizer file, here and in torch.optim.
        let checkpoint = try Checkpoint.read(model)
        let m = try checkpoint.model.makeModel()
        let opt = AdamW(m.parameters(), lr: Double(checkpoint.training["lr"]!)!, weightDecay: Double(checkpoint.training["weight_decay"]!)!)
        try opt.load(stateDict: checkpoint.optimizerState)
        let x = predictor.card.inputScaler!.transform(rows.features)
        opt.zeroGrad()
        m(x).crossEntropy(target: rows.labels!).backward()
        opt.step()
        let after = o["after_step"] as! [String: Any]
        var worst = 0.0
        for (name, p) in m.namedParameters() { for (a, b) in zip(p.value.scalars, Self.numbers(after[name])) { worst = max(worst, abs(a - b)) } }
        print("travel: wine (live): one AdamW step from the optimizer file, largest difference from torch.optim \(worst)")
        #expect(worst < 1e-6, "after one AdamW step, parameters differ from torch.optim's by up to \(worst)")
    }
}
