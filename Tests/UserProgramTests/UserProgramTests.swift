import Foundation
import Testing
import Backprop   // as a user's package imports it: public API only, no @testable

// Three programs written as a PyTorch user writes them (scripts/make_user_programs.py has the
// PyTorch originals), started from PyTorch's initial weights and held to PyTorch's numbers.

/// PyTorch's figures for the three programs (Fixtures/user_programs.json).
nonisolated(unsafe) private let reference: [String: Any] = {
    let url = Bundle.module.url(forResource: "user_programs", withExtension: "json", subdirectory: "Fixtures")!
    return try! JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
}()

private func tensor(_ any: Any?) -> Tensor { try! GoldenFormat.tensor(any, context: "user_programs.json") }

private func stateDict(_ any: Any?) -> [String: Tensor] {
    (any as! [String: Any]).mapValues { tensor($0) }
}

private func expectClose(_ a: Tensor, _ b: Tensor, tolerance: Double, _ what: String) {
    #expect(a.shape == b.shape, "\(what): shape \(a.shape), PyTorch \(b.shape)")
    let worst = zip(a.scalars, b.scalars).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
    #expect(worst <= tolerance, "\(what): differs from PyTorch by \(worst)")
}

/// The residual network of program 3, as a PyTorch user writes an nn.Module subclass.
final class Residual: Module {
    let fc_in = Linear(4, 16)
    let block = Sequential(Linear(16, 16), ReLU(), Linear(16, 16))
    let head = Linear(16, 3)

    func forward(_ x: Tensor) -> Tensor {
        var h = fc_in(x).relu()
        h = h + block(h)
        return head(h.relu())
    }
}

@Suite struct UserProgramTests {
    @Test func xorWithBinaryCrossEntropy() throws {
        let r = reference["xor"] as! [String: Any]
        let x = Tensor([[0, 0], [0, 1], [1, 0], [1, 1]])
        let y = Tensor([[0], [1], [1], [0]])
        let model = Sequential(Linear(2, 8), Tanh(), Linear(8, 1))
        try model.loadStateDict(stateDict(r["init"]))
        let opt = SGD(model.parameters(), lr: 0.5, momentum: 0.9)
        var losses: [Double] = []
        for _ in 0..<300 {
            opt.zeroGrad()
            let loss = model(x).binaryCrossEntropyWithLogits(target: y)
            loss.backward()
            opt.step()
            losses.append(loss.item)
        }
        let expected = r["losses"] as! [Double]
        #expect(abs(losses[0] - expected[0]) < 1e-6)
        // Float32 over 300 momentum steps: PyTorch and Backprop round differently, a little.
        #expect(abs(losses.last! - expected.last!) < 1e-4, "final loss \(losses.last!), PyTorch \(expected.last!)")
        expectClose(model(x).sigmoid().detached(), tensor(r["probabilities"]), tolerance: 1e-4, "probabilities")
        #expect(((model(x) > 0).float() == y).all().bools == [true], "XOR learned")
    }

    @Test func linearRegressionWithMSE() throws {
        let r = reference["regression"] as! [String: Any]
        let x = tensor(r["x"]), y = tensor(r["y"])
        let model = Linear(1, 1)
        try model.loadStateDict(stateDict(r["init"]))
        let opt = SGD(model.parameters(), lr: 0.1)
        var losses: [Double] = []
        for _ in 0..<100 {
            opt.zeroGrad()
            let loss = model(x).mseLoss(target: y)
            loss.backward()
            opt.step()
            losses.append(loss.item)
        }
        let expected = r["losses"] as! [Double]
        for (k, (a, b)) in zip(losses, expected).enumerated() { #expect(abs(a - b) <= 1e-5 * max(1, abs(b)), "step \(k + 1)") }
        let final = stateDict(r["final"])
        expectClose(model.weight.value.detached(), final["weight"]!, tolerance: 1e-5, "weight")
        expectClose(model.bias!.value.detached(), final["bias"]!, tolerance: 1e-5, "bias")
        #expect(abs(model.weight.value.item - 3) < 0.1, "slope near 3")
    }

    @Test func residualModuleOnIrisSavedAndReloaded() throws {
        let r = reference["iris"] as! [String: Any]
        let csv = Bundle.module.url(forResource: "iris", withExtension: "csv", subdirectory: "Fixtures")!.path
        let iris = try CSVReader.read(csv)
        let x = Standardizer(fitting: iris.features).transform(iris.features), y = iris.labels
        let model = Residual()
        #expect(model.namedParameters().map(\.name) == [
            "fc_in.weight", "fc_in.bias", "block.0.weight", "block.0.bias", "block.2.weight", "block.2.bias",
            "head.weight", "head.bias",
        ])
        try model.loadStateDict(stateDict(r["init"]))
        let opt = Adam(model.parameters(), lr: 0.01)
        var losses: [Double] = []
        for _ in 0..<60 {
            opt.zeroGrad()
            let loss = model(x).crossEntropy(target: y)
            loss.backward()
            opt.step()
            losses.append(loss.item)
        }
        let expected = r["losses"] as! [Double]
        for (k, (a, b)) in zip(losses, expected).enumerated() { #expect(abs(a - b) <= 1e-4 * max(1, abs(b)), "step \(k + 1): \(a) vs \(b)") }
        let final = stateDict(r["final"])
        for (name, t) in model.stateDict() { expectClose(t, final[name]!, tolerance: 1e-4, name) }
        model.eval()
        let logits = withNoGrad { model(x) }
        let accuracy = (logits.argmax(dim: 1) == y).float().mean().item
        #expect(abs(accuracy - (r["accuracy"] as! Double)) < 1e-9, "accuracy \(accuracy)")

        // Saved and reloaded into a fresh instance: the same predictions.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("user-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("residual.safetensors").path
        try SafeTensors.write(model.stateDict(), to: path)
        let twin = Residual()
        try twin.loadStateDict(SafeTensors.read(path).dictionary)
        let again = withNoGrad { twin(x) }
        #expect(again.equal(logits))
        expectClose(again[0..<5], tensor(r["logits5"]), tolerance: 1e-4, "logits of the first five rows")
        print(model)
    }
}
