import Foundation
import Testing
@testable import Backprop

/// PyTorch's values for the cases beyond the shared golden set (Sources/backprop/Reference/more_ops.json, made by
/// `scripts/make_reference.py --extra`): ops added since, and inputs PyTorch accepts that Backprop
/// once rejected (legacy empty tensors in cat, an empty gather index of another rank, tensor
/// bounds in clamp, div's rounding_mode, softmax's dtype).
@Suite struct PyTorchAcceptsTests {
    @Test("more_ops.json: PyTorch's values, forward and backward", arguments: Golden.caseNames("more_ops.json"))
    func reference(name: String) throws {
        let c = Golden.cases("more_ops.json").first { $0["name"] as? String == name }!
        let r = Verifier.verifyCase(c, index: 0, path: "more_ops.json")
        #expect(r.passed, "\(name): \(r.failure ?? "")")
    }

    @Test("cat skips a legacy empty tensor and gives it an empty gradient")
    func catLegacyEmpty() {
        let a = Tensor([[1, 2], [3, 4]]).requiringGrad(), e = Tensor.zeros([0]).requiringGrad()
        let y = Tensor.cat([e, a, e], dim: 1)
        #expect(y.shape == [2, 2])
        y.sum().backward()
        #expect(a.grad?.scalars == [1, 1, 1, 1])
        #expect(e.grad?.shape == [0])
        #expect(Tensor.cat([e, e]).shape == [0])
    }

    @Test("gather with an empty index of another rank is empty")
    func gatherEmpty() {
        let x = Tensor([[1, 2], [3, 4]]).requiringGrad()
        let y = x.gather(dim: 1, index: Tensor(indices: [Int](), shape: [0]))
        #expect(y.shape == [0])
        y.sum().backward()
        #expect(x.grad?.scalars == [0, 0, 0, 0])
    }

    @Test("div rounds toward zero or down, as Python's //, with zero gradients")
    func divRounding() {
        let a = Tensor([-7, 7, -7, 7, 0.5, -0.5], dtype: .float64), b = Tensor([2, 2, -2, -2, 1, 1], dtype: .float64)
        #expect(a.div(b, roundingMode: .trunc).scalars == [-3, 3, 3, -3, 0, -0.0])
        #expect(a.div(b, roundingMode: .floor).scalars == [-4, 3, 3, -4, 0, -1])
        #expect(a.div(b, roundingMode: nil).scalars == (a / b).scalars)
        let x = a.requiringGrad()
        x.div(b, roundingMode: .floor).sum().backward()
        #expect(x.grad?.scalars == [0, 0, 0, 0, 0, 0])
    }

    @Test("clamp with tensor bounds: values and every input's gradient")
    func clampTensors() {
        let x = Tensor([-2, 0.5, 3], dtype: .float64).requiringGrad()
        let lo = Tensor([-1, 1, 0], dtype: .float64).requiringGrad(), hi = Tensor([1, 2, 2], dtype: .float64).requiringGrad()
        let y = x.clamp(min: lo, max: hi)
        #expect(y.scalars == [-1, 1, 2])
        y.backward(gradient: Tensor([10, 20, 30], dtype: .float64))
        #expect(x.grad?.scalars == [0, 0, 0])
        #expect(lo.grad?.scalars == [10, 20, 0])
        #expect(hi.grad?.scalars == [0, 0, 30])
    }

    @Test("softmax and log_softmax with a dtype convert first")
    func softmaxDtype() {
        let x = Tensor([[1, 2, 3]]).requiringGrad()
        let y = x.softmax(dim: 1, dtype: .float64)
        #expect(y.dtype == .float64)
        #expect(Swift.abs(y.scalars.reduce(0, +) - 1) < 1e-15)
        y.backward(gradient: Tensor([[1, 0, 0]], dtype: .float64))
        #expect(x.grad?.dtype == .float32)
        #expect(x.logSoftmax(dim: 1, dtype: .float64).dtype == .float64)
    }
}
