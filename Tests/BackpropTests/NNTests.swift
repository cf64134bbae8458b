import Foundation
import Testing
@testable import Backprop

@Suite struct NNTests {
    @Test func sequentialNamesParametersAsPyTorch() {
        var g = RandomGenerator(seed: 1)
        let model = Sequential(Linear(4, 8, using: &g), ReLU(), Linear(8, 3, using: &g))
        #expect(model.namedParameters().map(\.name) == ["0.weight", "0.bias", "2.weight", "2.bias"])
        #expect(model.namedParameters().map(\.parameter.shape) == [[8, 4], [8], [3, 8], [3]])
        #expect(model.parameterCount == 8 * 4 + 8 + 3 * 8 + 3)
        let nested = Sequential(Sequential(Linear(2, 2, using: &g), Tanh()), Linear(2, 1, bias: false, using: &g))
        #expect(nested.namedParameters().map(\.name) == ["0.0.weight", "0.0.bias", "1.weight"])
    }

    @Test func linearDefaultInitStaysWithinPyTorchBounds() {
        var g = RandomGenerator(seed: 3)
        let l = Linear(25, 400, using: &g)
        let bound = 1 / 5.0
        let w = l.weight.value.scalars, b = l.bias!.value.scalars
        #expect(w.allSatisfy { abs($0) <= bound } && b.allSatisfy { abs($0) <= bound })
        // U(-a, a) has standard deviation a / sqrt(3).
        let std = (w.map { $0 * $0 }.reduce(0, +) / Double(w.count)).squareRoot()
        #expect(abs(std - bound / 3.0.squareRoot()) < 0.005, "weight std \(std)")
        var g2 = RandomGenerator(seed: 3)
        #expect(Linear(25, 400, using: &g2).weight.value.isIdentical(to: l.weight.value), "same seed, same weights")
    }

    @Test func initFunctionsHaveTheirStandardDeviations() {
        var g = RandomGenerator(seed: 9)
        func std(_ t: Tensor) -> Double { (t.scalars.map { $0 * $0 }.reduce(0, +) / Double(t.count)).squareRoot() }
        let shape = [300, 200]
        #expect(abs(std(Init.xavierUniform(shape, using: &g)) - (2.0 / 500).squareRoot()) < 0.002)
        #expect(abs(std(Init.xavierNormal(shape, gain: 2, using: &g)) - 2 * (2.0 / 500).squareRoot()) < 0.004)
        #expect(abs(std(Init.kaimingUniform(shape, nonlinearity: .relu, using: &g)) - (2.0 / 200).squareRoot()) < 0.003)
        #expect(abs(std(Init.kaimingNormal(shape, mode: .fanOut, nonlinearity: .relu, using: &g)) - (2.0 / 300).squareRoot()) < 0.003)
        #expect(Init.zeros([2, 2]).scalars == [0, 0, 0, 0] && Init.ones([3]).scalars == [1, 1, 1])
        #expect(Init.fans([4, 3, 5, 5]) == (75, 100))
        #expect(abs(Init.gain(for: .tanh) - 5.0 / 3) < 1e-15)
    }

    @Test func parametersShareIdentityWithOptimizerAndGradients() {
        var g = RandomGenerator(seed: 5)
        let lin = Linear(3, 2, using: &g)
        let opt = SGD(lin.parameters(), lr: 0.1)
        let before = lin.weight.value.scalars
        let x: Tensor = [[1, 2, 3]]
        lin(x).sum().backward()
        #expect(lin.weight.grad?.scalars == [1, 2, 3, 1, 2, 3])
        opt.step()
        let after = lin.weight.value.scalars
        for i in 0..<6 { #expect(abs(after[i] - (before[i] - 0.1 * [1.0, 2, 3, 1, 2, 3][i])) < 1e-6) }
        #expect(lin.weight.grad != nil, "the step keeps the leaf (and its grad)")
    }

    @Test func activationsAndGELU() {
        let x: Tensor = [[-2, -0.5, 0, 0.5, 3]]
        #expect(ReLU()(x).scalars == [0, 0, 0, 0.5, 3])
        #expect(abs(Sigmoid()(x).scalars[2] - 0.5) < 1e-7)
        #expect(abs(Tanh()(x).scalars[4] - Foundation.tanh(3.0)) < 1e-6)
        // PyTorch 2.x: nn.GELU()(x) and nn.GELU(approximate='tanh')(x) for these x (float32).
        let wants: [(GeluApproximation, [Double])] = [
            (.none, [-0.04550027847290039, -0.1542687714099884, 0, 0.3457312285900116, 2.9959497451782227]),
            (.tanh, [-0.04540228843688965, -0.1542859971523285, 0, 0.3457140028476715, 2.9963626861572266]),
        ]
        for (approximate, want) in wants {
            let got = GELU(approximate: approximate)(x).scalars
            for i in 0..<5 { #expect(abs(got[i] - want[i]) < 1e-6, "gelu \(approximate) (\(x.scalars[i])) = \(got[i]), want \(want[i])") }
            #expect(got == x.gelu(approximate: approximate).scalars, "the module applies the op")
        }
        #expect(GELU().approximate == .none, "exact erf form by default, as nn.GELU()")
        // Its gradient against a central difference in float64.
        for approximate in GeluApproximation.allCases {
            let xd = Tensor([-1.3, 0.2, 2.1] as [Double], dtype: .float64).requiringGrad()
            GELU(approximate: approximate)(xd).sum().backward()
            let h = 1e-6
            for (i, v) in xd.scalars.enumerated() {
                let f = { (t: Double) in GELU(approximate: approximate)(Tensor([t], dtype: .float64)).item }
                #expect(abs(xd.grad!.scalars[i] - (f(v + h) - f(v - h)) / (2 * h)) < 1e-8, "\(approximate) at \(v)")
            }
        }
    }

    @Test func dropoutTrainAndEvalModes() {
        let d = Dropout(p: 0.25, seed: 42)
        let model = Sequential(d)
        let x = Tensor.ones([1000])
        let y = model(x).scalars
        #expect(y.allSatisfy { $0 == 0 || abs($0 - 1 / 0.75) < 1e-6 })
        let dropped = y.filter { $0 == 0 }.count
        #expect(dropped > 200 && dropped < 300, "dropped \(dropped) of 1000 at p = 0.25")
        model.eval()
        #expect(!d.isTraining && model(x).scalars == x.scalars)
        model.train()
        #expect(d.isTraining)
        let again = Dropout(p: 0.25, seed: 42)(x).scalars
        #expect(again == y, "same seed, same mask")
    }

    @Test func loadStateDictChecksNamesAndShapes() throws {
        var g = RandomGenerator(seed: 1)
        let m = Sequential(Linear(2, 3, using: &g), ReLU(), Linear(3, 1, using: &g))
        var state = Dictionary(uniqueKeysWithValues: m.stateDict().map { ($0.name, $0.tensor) })
        state["0.weight"] = Tensor.ones([3, 2])
        try m.load(stateDict: state)
        #expect(m.namedParameters()[0].parameter.value.scalars == [1, 1, 1, 1, 1, 1])
        state["2.bias"] = Tensor.ones([2])
        #expect(throws: ModuleLoadError.self) { try m.load(stateDict: state) }
        state["2.bias"] = nil
        #expect(throws: ModuleLoadError(message: "missing 2.bias")) { try m.load(stateDict: state) }
    }
}
