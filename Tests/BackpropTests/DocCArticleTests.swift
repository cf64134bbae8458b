import Testing
@testable import Backprop

/// The code of the DocC articles (Sources/Backprop/Backprop.docc), run as written, with the values
/// their comments state, so that the articles stay true.
@Suite struct DocCArticleTests {
    /// "The notebook in Swift": the forward pass, the hand gradients, the check and the SGD step.
    @Test func theNotebookInSwift() {
        var W = Tensor([[1.0, 2], [2, 1]]).requiringGrad()   // [features, classes]
        var b = Tensor([[0.0, 0]]).requiringGrad()           // [1, classes]
        let x: Tensor = [[8, -2]]                            // one row of two features
        let target = Tensor(indices: [0])                    // its class

        let c = x.mm(W) + b
        let softmax = c.softmax(dim: 1)
        let loss = c.crossEntropy(target: target)
        #expect(c.description == "tensor([[ 4., 14.]], grad_fn=<AddBackward0>)")
        #expect(softmax.description == "tensor([[4.5398e-05, 9.9995e-01]], grad_fn=<SoftmaxBackward0>)")
        #expect(loss.description == "tensor(10.0000, grad_fn=<NllLossBackward0>)")

        let logSoftmax = c.logSoftmax(dim: 1)
        let nll = logSoftmax.nllLoss(target: target)
        #expect(nll.description == "tensor(10.0000, grad_fn=<NllLossBackward0>)")

        let onehot = target.oneHot(numClasses: 2).to(.float32)
        let gradC = softmax - onehot
        let gradW = x.t().mm(gradC)
        let gradB = gradC
        #expect(onehot.description == "tensor([[1., 0.]])")
        #expect(zip(gradC.scalars, [-0.99995, 0.99995]).allSatisfy { abs($0 - $1) < 1e-5 })
        #expect(zip(gradW.scalars, [-7.9996, 7.9996, 1.9999, -1.9999]).allSatisfy { abs($0 - $1) < 1e-4 })

        loss.backward(retainGraph: true)
        #expect(W.grad!.scalars == gradW.scalars)
        #expect(b.grad!.scalars == gradB.scalars)

        withNoGrad {
            W -= 0.01 * W.grad!
            b -= 0.01 * b.grad!
        }
        #expect(W.description == "tensor([[1.0800, 1.9200],\n        [1.9800, 1.0200]], requires_grad=True)")
        #expect(b.description == "tensor([[ 0.0100, -0.0100]], requires_grad=True)")

        let step = NotebookStep(W: [[1, 2], [2, 1]], b: [[0, 0]], x: [[8, -2]], target: Tensor(indices: [0]))
        #expect(step.gradWManual.scalars == step.gradWAutograd.scalars)
        #expect(step.gradientsAgree)
        #expect(step.WNew.description == "tensor([[1.0800, 1.9200],\n        [1.9800, 1.0200]])")
        #expect(!WalkthroughReport.text(step).isEmpty)

        let run = NotebookRun(W: [[1, 2], [2, 1]], b: [[0, 0]], x: [[8, -2], [-10, 20]],
                              target: Tensor(indices: [0, 1]), lr: 0.01, steps: 100, batch: false)
        #expect(run.steps.count == 100)
        #expect(run.steps.last!.WNew.shape == [2, 2])
    }

    /// "Coming from PyTorch": literals are float32, class indices int64.
    @Test func comingFromPyTorch() {
        let x: Tensor = [[8, -2]]
        #expect(x.dtype == .float32)
        #expect(Tensor(indices: [0, 2]).dtype == .int64)
        #expect(Tensor([[1.0, 2]], dtype: .float64).dtype == .float64)
        var g = RandomGenerator(seed: 0)
        #expect(Tensor.rand([2, 3], using: &g).shape == [2, 3])
        #expect(Tensor.randint(0, 10, [5], using: &g).shape == [5])
        let (values, indices) = Tensor([[1.0, 3, 2]]).max(dim: 1)
        #expect(values.scalars == [3] && indices.integers == [1])
    }

    /// "How backward works": the graph's edges, the order of the walk, accumulation, retainGraph.
    @Test func howBackwardWorks() throws {
        let W = Tensor([[1.0, 2], [2, 1]]).requiringGrad()
        let x: Tensor = [[8, -2]]
        let c = x.mm(W)
        #expect(c.gradFn == "MmBackward0")
        #expect(c.gradNode!.inputs.count == 2)
        #expect(c.gradNode!.inputs[0] == nil)
        #expect(c.gradNode!.inputs[1]!.isLeaf)

        let b = Tensor([[0.0, 0]]).requiringGrad()
        let loss = (x.mm(W) + b).crossEntropy(target: Tensor(indices: [0]))
        var names: [String] = []
        try loss.tryBackward { step in names.append(step.node.name) }
        #expect(names == ["NllLossBackward0", "LogSoftmaxBackward0", "AddBackward0", "AccumulateGrad",
                          "MmBackward0", "AccumulateGrad"])

        let w = Tensor([2.0]).requiringGrad()
        (w * w).sum().backward()
        #expect(w.grad!.scalars == [4])
        (w * w).sum().backward()
        #expect(w.grad!.scalars == [8])
        w.zeroGrad()
        #expect(w.grad == nil)

        let V = Tensor([[1.0, 2], [2, 1]]).requiringGrad()
        let loss2 = x.mm(V).crossEntropy(target: Tensor(indices: [0]))
        loss2.backward(retainGraph: true)
        let once = V.grad!.scalars
        loss2.backward()
        #expect(V.grad!.scalars == once.map { $0 * 2 })
        #expect(throws: AutogradError.self) { try loss2.tryBackward() }
    }
}
