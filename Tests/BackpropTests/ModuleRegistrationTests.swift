import Foundation
import Testing
@testable import Backprop

/// A module written as in PyTorch: layers are stored properties, nothing listed by hand.
private final class Residual: Module {
    let fc1: Linear
    let fc2: Linear
    let scale: Parameter
    let count = Buffer(Tensor(scalar: 0))
    let note = "not registered"
    init(_ n: Int, using g: inout RandomGenerator) {
        fc1 = Linear(n, n, using: &g)
        fc2 = Linear(n, n, bias: false, using: &g)
        scale = Parameter(Tensor.ones([n]))
    }
    func forward(_ x: Tensor) -> Tensor { x + fc2(fc1(x).relu()) * scale.value }
}

private final class Encoder: Module {
    let encoder: [any Module]
    let heads: [String: any Module]
    let blocks = ModuleList()
    var optional: Linear?
    let drop = Dropout(p: 0.1)
    init(using g: inout RandomGenerator) {
        encoder = [Linear(3, 4, using: &g), ReLU(), Linear(4, 4, using: &g)]
        heads = ["b": Linear(4, 1, using: &g), "a": Linear(4, 2, using: &g)]
        blocks.append(Residual(4, using: &g))
    }
    func forward(_ x: Tensor) -> Tensor { x }
}

/// Weight tying: `head` uses the embedding's parameter.
private final class Tied: Module {
    let embed: Linear
    let head: Linear
    init(using g: inout RandomGenerator) {
        embed = Linear(3, 5, bias: false, using: &g)
        head = Linear(3, 2, using: &g)
    }
    var directParameters: [(name: String, parameter: Parameter)] { [] }
    func forward(_ x: Tensor) -> Tensor { x }
}

private final class SharesAParameter: Module {
    let a: Linear
    let b: Linear
    let shared: Parameter
    init(using g: inout RandomGenerator) {
        a = Linear(2, 2, using: &g)
        b = Linear(2, 2, using: &g)
        shared = a.weight
    }
    func forward(_ x: Tensor) -> Tensor { b(a(x)) }
}

@Suite struct ModuleRegistrationTests {
    @Test func storedPropertiesAreRegisteredInDeclarationOrder() {
        var g = RandomGenerator(seed: 0)
        let m = Residual(4, using: &g)
        // A module's own parameters come before its children's, as in PyTorch's named_parameters().
        #expect(m.namedParameters().map(\.name) == ["scale", "fc1.weight", "fc1.bias", "fc2.weight"])
        #expect(m.namedBuffers().map(\.name) == ["count"])
        #expect(m.stateDict().map(\.name) == ["scale", "count", "fc1.weight", "fc1.bias", "fc2.weight"])
        #expect(m.parameterCount == 16 + 4 + 16 + 4)
    }

    @Test func arraysDictionariesListsAndOptionalsAreRegistered() {
        var g = RandomGenerator(seed: 0)
        let m = Encoder(using: &g)
        #expect(m.namedParameters().map(\.name) == [
            "encoder.0.weight", "encoder.0.bias", "encoder.2.weight", "encoder.2.bias",
            "heads.a.weight", "heads.a.bias", "heads.b.weight", "heads.b.bias",
            "blocks.0.scale", "blocks.0.fc1.weight", "blocks.0.fc1.bias", "blocks.0.fc2.weight",
        ])
        #expect(m.namedBuffers().map(\.name) == ["blocks.0.count"])
        m.optional = Linear(1, 1, using: &g)
        #expect(m.namedParameters().map(\.name).suffix(2) == ["optional.weight", "optional.bias"])
        #expect(m.namedModules().map(\.name).contains("drop"))
    }

    @Test func anExplicitListOverridesReflection() {
        var g = RandomGenerator(seed: 0)
        let m = Tied(using: &g)
        #expect(m.children.map(\.name) == ["embed", "head"])
        #expect(m.namedParameters().map(\.name) == ["embed.weight", "head.weight", "head.bias"])
    }

    @Test func aSharedParameterIsListedStoredAndUpdatedOnce() throws {
        var g = RandomGenerator(seed: 2)
        let m = SharesAParameter(using: &g)
        // PyTorch names it "shared" too: the module's own attribute comes before its children's.
        #expect(m.namedParameters().map(\.name) == ["shared", "a.bias", "b.weight", "b.bias"])
        #expect(m.stateDict().count == 4)
        let opt = SGD(m.parameters() + [m.shared], lr: 0.1)
        #expect(opt.parameters.count == 4)
        // Loading a file that names the tied tensor once, under either name, is complete.
        var state = Dictionary(uniqueKeysWithValues: m.stateDict().map { ($0.name, $0.tensor) })
        state["a.weight"] = state.removeValue(forKey: "shared")
        let report = try m.loadStateDict(state)
        #expect(report.missingKeys.isEmpty && report.unexpectedKeys.isEmpty)
    }

    @Test func loadStateDictReportsMissingAndUnexpectedKeysAsPyTorch() throws {
        var g = RandomGenerator(seed: 0)
        let m = Residual(2, using: &g)
        var state = Dictionary(uniqueKeysWithValues: m.stateDict().map { ($0.name, $0.tensor) })
        state.removeValue(forKey: "fc1.bias")
        state["extra.weight"] = Tensor.zeros([1])
        state["count"] = Tensor(indices: [7], shape: [])
        let before = m.fc1.weight.value.scalars
        #expect(throws: ModuleLoadError(message: "missing fc1.bias; unexpected extra.weight")) {
            try m.loadStateDict(state)
        }
        #expect(m.fc1.weight.value.scalars == before, "nothing changed on error")
        state["fc1.weight"] = Tensor.ones([2, 2])
        let report = try m.loadStateDict(state, strict: false)
        #expect(report.missingKeys == ["fc1.bias"] && report.unexpectedKeys == ["extra.weight"])
        #expect(m.fc1.weight.value.scalars == [1, 1, 1, 1])
        #expect(m.count.value.dtype == .float32 && m.count.value.scalars == [7], "converted to the buffer's dtype")
        state["fc2.weight"] = Tensor.ones([3])
        #expect(throws: ModuleLoadError.self) { try m.loadStateDict(state, strict: false) }
    }

    @Test func printingShowsPyTorchsModuleTree() {
        var g = RandomGenerator(seed: 0)
        let model = Sequential(Linear(4, 16, using: &g), ReLU(), Dropout(p: 0.5), Linear(16, 3, bias: false, using: &g))
        #expect("\(model)" == """
            Sequential(
              (0): Linear(in_features=4, out_features=16, bias=True)
              (1): ReLU()
              (2): Dropout(p=0.5, inplace=False)
              (3): Linear(in_features=16, out_features=3, bias=False)
            )
            """)
        let nested = Sequential(Sequential(GELU()), Tanh())
        #expect("\(nested)" == """
            Sequential(
              (0): Sequential(
                (0): GELU(approximate='none')
              )
              (1): Tanh()
            )
            """)
        let p = Parameter(Tensor([1.0, 2.0], shape: [2]))
        #expect("\(p)" == "Parameter containing:\ntensor([1., 2.], requires_grad=True)")
    }

    @Test func zeroGradTrainEvalAndModeReachEverySubmodule() {
        var g = RandomGenerator(seed: 0)
        let m = Encoder(using: &g)
        let x = Tensor.ones([1, 3])
        let y = (m.encoder[2].forward(m.encoder[0].forward(x))).sum()
        y.backward()
        #expect(m.parameters().contains { $0.grad != nil })
        m.zeroGrad()
        #expect(m.parameters().allSatisfy { $0.grad == nil })
        #expect(m.isTraining)
        m.eval()
        #expect(!m.isTraining && !m.drop.isTraining)
        m.train()
        #expect(m.drop.isTraining)
    }

    @Test func manualSeedMakesDefaultDrawsRepeatable() {
        // Other tests draw from the default generator meanwhile: hold it for the two runs.
        let (a, b, r1, r2, conv1, conv2) = RandomGenerator.exclusively {
            manualSeed(42)
            let a = Sequential(Linear(3, 4), ReLU(), Linear(4, 2))
            let r1 = Tensor.randn(2, 3)
            let conv1 = (Conv1d(2, 3, kernelSize: 3), ConvTranspose2d(2, 2, kernelSize: 2), Conv2d(1, 2, kernelSize: 3))
            manualSeed(42)
            let b = Sequential(Linear(3, 4), ReLU(), Linear(4, 2))
            let r2 = Tensor.randn(2, 3)
            let conv2 = (Conv1d(2, 3, kernelSize: 3), ConvTranspose2d(2, 2, kernelSize: 2), Conv2d(1, 2, kernelSize: 3))
            return (a, b, r1, r2, conv1, conv2)
        }
        for (p, q) in zip(a.parameters(), b.parameters()) { #expect(p.value.isIdentical(to: q.value)) }
        #expect(r1.isIdentical(to: r2))
        #expect(conv1.0.weight.value.isIdentical(to: conv2.0.weight.value) && conv1.1.weight.value.isIdentical(to: conv2.1.weight.value))
        #expect(conv1.2.weight.value.isIdentical(to: conv2.2.weight.value))
        #expect(!conv1.0.weight.value.isIdentical(to: Conv1d(2, 3, kernelSize: 3).weight.value), "the default generator advances")
        var g = RandomGenerator(seed: 42)
        #expect(Linear(3, 4, using: &g).weight.value.isIdentical(to: a.parameters()[0].value),
                "the default generator after manualSeed(42) draws as RandomGenerator(seed: 42)")
        #expect(Tensor.randperm(5).scalars.sorted() == [0, 1, 2, 3, 4])
    }
}
