import Testing
import Foundation
@testable import Backprop

/// The ops beyond the notebook, as a user writes them: values worked out by hand.
@Suite struct OpSetTests {
    @Test("pow, sqrt, abs with their gradients")
    func powers() {
        let x = Tensor([-2, 0, 3], dtype: .float64).requiringGrad()
        let y = x.pow(2) + x.abs()
        y.sum().backward()
        #expect(y.scalars == [6, 0, 12])
        #expect(x.grad?.scalars == [-5, 0, 7])   // 2x + sign(x), abs'(0) = 0
        let r = Tensor([4, 9]).requiringGrad()
        let s = r.sqrt()
        s.sum().backward()
        #expect(s.scalars == [2, 3])
        #expect(r.grad?.floats == [0.25, Float(1.0 / 6.0)])
    }

    @Test("clamp: bounds rounded to the dtype, min > max gives max, gradient only strictly inside")
    func clamp() {
        let x = Tensor([-1, -0.5, 0, 0.5, 1], dtype: .float64).requiringGrad()
        let y = x.clamp(min: -0.5, max: 0.5)
        y.sum().backward()
        #expect(y.scalars == [-0.5, -0.5, 0, 0.5, 0.5])
        #expect(x.grad?.scalars == [0, 0, 1, 0, 0])
        #expect(Tensor([1, 5, 9]).clamp(min: 6, max: 2).scalars == [2, 2, 2])
        #expect(Tensor([1, 5, 9]).clamp(max: 4).scalars == [1, 4, 4])
    }

    @Test("maximum and minimum split the gradient at ties")
    func maximum() {
        let a = Tensor([1, 2, 3], dtype: .float64).requiringGrad()
        let b = Tensor([1, 0, 4], dtype: .float64).requiringGrad()
        let y = a.maximum(b) + a.minimum(b) * 10
        y.sum().backward()
        #expect(a.grad?.scalars == [5.5, 1, 10])
        #expect(b.grad?.scalars == [5.5, 10, 1])
    }

    @Test("cat, stack and narrow route each slice of the gradient back")
    func catStack() {
        let a = Tensor([[1, 2]]).requiringGrad(), b = Tensor([[3, 4], [5, 6]]).requiringGrad()
        let c = Tensor.cat([a, b], dim: 0)
        #expect(c.shape == [3, 2])
        #expect(c.scalars == [1, 2, 3, 4, 5, 6])
        (c * Tensor([[1, 1], [2, 2], [3, 3]])).sum().backward()
        #expect(a.grad?.scalars == [1, 1])
        #expect(b.grad?.scalars == [2, 2, 3, 3])
        let s = Tensor.stack([Tensor([1, 2]), Tensor([3, 4])], dim: 1)
        #expect(s.shape == [2, 2] && s.scalars == [1, 3, 2, 4])
        #expect(Tensor.stack([Tensor(scalar: 1), Tensor(scalar: 2)]).shape == [2])
        let mixed = Tensor.cat([Tensor([1]), Tensor([2], dtype: .float64)])
        #expect(mixed.dtype == .float64)
        let x = Tensor([[1, 2, 3], [4, 5, 6]]).requiringGrad()
        let n = x.narrow(dim: 1, start: 1, length: 2)
        #expect(n.scalars == [2, 3, 5, 6])
        n.sum().backward()
        #expect(x.grad?.scalars == [0, 1, 1, 0, 1, 1])
    }

    @Test("indexSelect and gather accumulate gradients at repeated indices")
    func indexing() {
        let x = Tensor([[1, 2], [3, 4], [5, 6]]).requiringGrad()
        let rows = x.indexSelect(dim: 0, index: Tensor(indices: [2, 0, 2]))
        #expect(rows.scalars == [5, 6, 1, 2, 5, 6])
        rows.sum().backward()
        #expect(x.grad?.scalars == [1, 1, 0, 0, 2, 2])
        let y = Tensor([[1, 2, 3], [4, 5, 6]]).requiringGrad()
        let g = y.gather(dim: 1, index: Tensor(indices: [0, 0, 2, 1], shape: [2, 2]))
        #expect(g.scalars == [1, 1, 6, 5])
        g.sum().backward()
        #expect(y.grad?.scalars == [2, 0, 0, 0, 1, 1])
    }

    @Test("variance: unbiased by default, correction 0 divides by n")
    func variance() {
        let x = Tensor([[1, 2, 3, 4]], dtype: .float64).requiringGrad()
        #expect(x.variance().item == 5.0 / 3.0)
        #expect(x.variance(dim: 1, correction: 0).scalars == [1.25])
        #expect(x.variance(dims: [1], keepDim: true).shape == [1, 1])
        x.variance().backward()
        #expect(x.grad?.scalars == [-1, -1.0 / 3.0, 1.0 / 3.0, 1])   // 2 (x - 2.5) / 3
    }

    @Test("regression losses and their reductions")
    func regressionLosses() {
        let x = Tensor([1, 2, 3], dtype: .float64).requiringGrad()
        let t = Tensor([1, 0, 5], dtype: .float64)
        #expect(x.mseLoss(target: t).item == 8.0 / 3.0)
        #expect(x.mseLoss(target: t, reduction: .none).scalars == [0, 4, 4])
        #expect(x.l1Loss(target: t, reduction: .sum).item == 4)
        x.l1Loss(target: t, reduction: .sum).backward()
        #expect(x.grad?.scalars == [0, 1, -1])            // 0 where equal
        let p = Tensor([0.5, 1e-50], dtype: .float64)
        let bce = p.binaryCrossEntropy(target: Tensor([1, 1], dtype: .float64), reduction: .none)
        #expect(bce.scalars[0] == -Foundation.log(0.5))
        #expect(bce.scalars[1] == 100)                    // log clamped at -100
        let logits = Tensor([100, -100], dtype: .float32)
        let l = logits.binaryCrossEntropyWithLogits(target: Tensor([0, 1]), reduction: .none)
        #expect(l.scalars == [100, 100])                  // stable: no inf
        let pw = Tensor([-1], dtype: .float64).binaryCrossEntropyWithLogits(
            target: Tensor([1], dtype: .float64), posWeight: Tensor([3], dtype: .float64))
        #expect(Swift.abs(pw.item - 3 * Foundation.log(1 + Foundation.exp(1))) < 1e-12)
    }

    @Test("gelu: exact and tanh forms")
    func gelu() {
        let x = Tensor([0, 1], dtype: .float64)
        #expect(Swift.abs(x.gelu().scalars[1] - 0.5 * (1 + Foundation.erf(1 / 2.0.squareRoot()))) < 1e-15)
        #expect(Swift.abs(x.gelu(approximate: .tanh).scalars[1] - 0.8411919906082768) < 1e-15)
        #expect(x.gelu().scalars[0] == 0)
    }
}

