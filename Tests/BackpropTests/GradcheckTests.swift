import Testing
import Foundation
@testable import Backprop

/// gradcheck itself, then every differentiable op through it on random shapes (property tests).
@Suite struct GradcheckTests {
    @Test("gradcheck accepts correct gradients and reports every input")
    func acceptsCorrect() {
        let r = gradcheck({ $0[0] * $0[1].exp() }, inputs: [Tensor([1.5, -2, 0.5]), Tensor([[0.1], [0.2]])])
        #expect(r.passed, "\(r)")
        #expect(r.inputs.count == 2)
        #expect(r.inputs.allSatisfy { $0.checked })
        #expect(r.maxAbsError < 1e-6)
    }

    static let wrongRule = BackwardRule("WrongBackward", "dx = G * x (wrong)")

    @Test("gradcheck finds a wrong backward rule and says where")
    func findsWrong() {
        // y = x², with a backward rule that forgets the factor 2 at every element.
        func wrongSquare(_ x: Tensor) -> Tensor {
            let out = withNoGrad { x * x }
            guard Tensor.recordsGrad(x) else { return out }
            let xd = x.detached()
            return out.recorded(Self.wrongRule, x, saves: true) { _, g in InputGrads(g * xd) }
        }
        let r = gradcheck({ wrongSquare($0[0]) }, inputs: [Tensor([[1, 2], [3, 4]], dtype: .float64)])
        #expect(!r.passed)
        let input = r.inputs[0]
        #expect(!input.passed)
        #expect(input.worstIndex?.count == 2)
        if let a = input.analytic, let n = input.numeric { #expect(Swift.abs(n - 2 * a) < 1e-4) }
        #expect(input.maxRelError > 0.4)
    }

    @Test("integer inputs and inputs outside wrt are not checked")
    func skipsIntegers() {
        let x = Tensor([[1, 2, 3], [0.5, 0.1, 0.2]], dtype: .float64)
        let r = gradcheck({ $0[0].crossEntropy(target: $0[1], weight: $0[2]) },
                          inputs: [x, Tensor(indices: [0, 2]), Tensor([1, 2, 3], dtype: .float64)], wrt: [0])
        #expect(r.passed, "\(r)")
        #expect(r.inputs.map(\.checked) == [true, false, false])
    }

    @Test("a function whose output ignores an input gives it zero gradient, which gradcheck confirms")
    func unusedInput() {
        let r = gradcheck({ $0[0].sum() }, inputs: [Tensor([1, 2]), Tensor([3, 4])])
        #expect(r.passed, "\(r)")
    }

    @Test("every differentiable op passes gradcheck on random shapes", arguments: GradcheckSuite.cases.map(\.name))
    func everyOp(_ name: String) {
        let c = GradcheckSuite.cases.first { $0.name == name }!
        for seed: UInt64 in [1, 2, 3, 4] {
            let r = GradcheckSuite.run(c, seed: seed, trials: 5)
            #expect(r.passed, "\(name), seed \(seed): \(r.failure ?? "")")
            #expect(r.inputsChecked > 0)
        }
    }

    @Test("the suite covers every differentiable op of the reference file")
    func coversReference() {
        let covered = Set(GradcheckSuite.cases.map(\.op))
        let nonDifferentiable: Set<String> = ["argmax", "one_hot"]
        let reference = Set(Golden.cases("ops.json").map { $0["op"] as! String })
        #expect(reference.subtracting(nonDifferentiable).subtracting(covered).isEmpty,
                "missing: \(reference.subtracting(nonDifferentiable).subtracting(covered).sorted())")
    }

    @Test("the random shapes include 0-d tensors, size-1 dims and broadcasting")
    func shapesCoverEdgeCases() {
        var g = RandomGenerator(seed: 7)
        var zeroD = false, sizeOne = false, broadcast = false
        for _ in 0..<200 {
            let (a, b) = g.broadcastPair()
            if a.isEmpty || b.isEmpty { zeroD = true }
            if a.contains(1) || b.contains(1) { sizeOne = true }
            if a != b { broadcast = true }
        }
        #expect(zeroD && sizeOne && broadcast)
    }
}
