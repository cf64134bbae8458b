import Testing
@testable import Backprop

/// The README's Swift tour, line by line, so that the README stays true.
@Suite struct ReadmeTourTests {
    @Test func notebookInTenLines() {
        var W = Tensor([[1.0, 2], [2, 1]]).requiringGrad()
        var b = Tensor([[0.0, 0]]).requiringGrad()
        let x: Tensor = [[8, -2]]
        let target = Tensor(indices: [0])

        let c = x.mm(W) + b                                  // tensor([[ 4., 14.]], grad_fn=<AddBackward0>)
        let softmax = c.softmax(dim: 1)
        let loss = c.crossEntropy(target: target)            // tensor(10.0000, grad_fn=<NllLossBackward0>)

        let onehot = target.oneHot(numClasses: 2).to(.float32)
        let gradC = softmax - onehot                         // by hand: softmax - onehot
        let gradW = x.t().mm(gradC)                          //          x^T grad_c
        let gradB = gradC

        loss.backward(retainGraph: true)                     // by autograd
        #expect(W.grad!.scalars == gradW.scalars)
        #expect(b.grad!.scalars == gradB.scalars)

        withNoGrad {                                         // SGD at lr 0.01
            W -= 0.01 * W.grad!
            b -= 0.01 * b.grad!
        }
        #expect(c.description == "tensor([[ 4., 14.]], grad_fn=<AddBackward0>)")
        #expect(loss.description == "tensor(10.0000, grad_fn=<NllLossBackward0>)")
        #expect(W.description == "tensor([[1.0800, 1.9200],\n        [1.9800, 1.0200]], requires_grad=True)")
        #expect(b.description == "tensor([[ 0.0100, -0.0100]], requires_grad=True)")
    }
}
