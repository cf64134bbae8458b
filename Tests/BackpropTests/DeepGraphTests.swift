import Testing
@testable import Backprop

/// Graphs far deeper than a recursive walk or a recursive free could take.
@Suite struct DeepGraphTests {
    @Test("a chain of 100,000 ops backpropagates, and no node outlives the result")
    func deepChain() {
        let depth = 100_000
        let x = Tensor([1.0, 2.0], dtype: .float64).requiringGrad()
        var weakNodes: [WeakNode] = []
        weakNodes.reserveCapacity(depth)
        do {
            var y = x
            for _ in 0..<depth {
                y = y * 1.0 + 0.0      // two ops per step: 200,000 nodes
                weakNodes.append(WeakNode(y.gradNode))
            }
            #expect(y.scalars == [1, 2])
            y.sum().backward()
        }
        #expect(x.grad?.scalars == [1, 1])
        // Every op node of the chain is gone once `y` is out of scope (freed without deep recursion).
        let alive = weakNodes.filter { $0.node != nil }.count
        #expect(alive == 0, "\(alive) graph nodes still alive")
    }

    @Test("dropping a graph that was never backpropagated frees it too")
    func dropWithoutBackward() {
        var weakRoot = WeakNode(nil)
        do {
            let x = Tensor([0.5], dtype: .float64).requiringGrad()
            var y = x
            for _ in 0..<100_000 { y = y.tanh() }
            weakRoot = WeakNode(y.gradNode)
            #expect(weakRoot.node != nil)
        }
        #expect(weakRoot.node == nil)
    }

    @Test("a wide graph: one leaf used 10,000 times accumulates every use")
    func wideGraph() {
        let x = Tensor([2.0], dtype: .float64).requiringGrad()
        let terms = (0..<10_000).map { _ in x * 3.0 }
        var total = terms[0]
        for t in terms.dropFirst() { total = total + t }
        total.sum().backward()
        #expect(x.grad?.scalars == [30_000])
    }
}

final class WeakNode {
    weak var node: GradNode?
    init(_ node: GradNode?) { self.node = node }
}
