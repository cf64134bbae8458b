import Testing
import Foundation
@testable import Backprop

/// The cases of autograd.json, each written as the Swift twin of its PyTorch program.
@Suite struct AutogradSemanticsTests {
    nonisolated(unsafe) static let cases: [String: [String: Any]] = Dictionary(uniqueKeysWithValues:
        Golden.cases("autograd.json").map { ($0["name"] as! String, $0["expected"] as! [String: Any]) })

    func expected(_ name: String, _ key: String) -> Tensor {
        try! GoldenFormat.tensor(Self.cases[name]![key], context: "\(name).\(key)")
    }
    func flag(_ name: String, _ key: String) -> Bool { Self.cases[name]![key] as! Bool }

    func expectEqual(_ got: Tensor?, _ name: String, _ key: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let e = expected(name, key)
        guard let got else { Issue.record("\(name).\(key): got nil, expected \(e)", sourceLocation: sourceLocation); return }
        let r = GoldenFormat.compare(got, e, rtol: 1e-6, atol: 1e-7)
        #expect(r.ok, "\(name).\(key): \(r.message ?? "")", sourceLocation: sourceLocation)
    }

    @Test func everyCaseIsCovered() {
        let covered: Set<String> = [
            "accumulate_two_backward_calls", "accumulate_same_graph_retain", "zero_grad_by_none",
            "second_backward_without_retain_raises", "second_backward_without_retain_no_saved_tensors",
            "nonscalar_backward_with_gradient", "nonscalar_backward_without_gradient_raises", "leaf_used_twice",
            "detach_stops_gradient", "no_grad_block", "intermediate_grad_none_unless_retain_grad",
            "unused_leaf_grad_none", "requires_grad_propagation", "autograd_grad_does_not_accumulate",
            "broadcast_grad_reduced_to_input_shape", "scalar_backward_implicit_one",
        ]
        #expect(Set(Self.cases.keys) == covered)
    }

    @Test func accumulateTwoBackwardCalls() {
        let n = "accumulate_two_backward_calls"
        let x = Tensor([1.0, 2, 3]).requiringGrad()
        (x * x).sum().backward()
        expectEqual(x.grad, n, "grad_after_first")
        (3.0 * x).sum().backward()
        expectEqual(x.grad, n, "grad_after_second")
    }

    @Test func accumulateSameGraphRetain() {
        let n = "accumulate_same_graph_retain"
        let x = Tensor([1.0, -2]).requiringGrad()
        let y = (x * x).sum()
        y.backward(retainGraph: true)
        expectEqual(x.grad, n, "grad_after_first")
        y.backward()
        expectEqual(x.grad, n, "grad_after_second")
    }

    @Test func zeroGradByNone() {
        let x = Tensor([1.0, 2]).requiringGrad()
        (x * x).sum().backward()
        x.grad = nil
        (5.0 * x).sum().backward()
        expectEqual(x.grad, "zero_grad_by_none", "grad")
        x.zeroGrad()
        #expect(x.grad == nil)
    }

    @Test func secondBackwardWithoutRetainRaises() {
        let n = "second_backward_without_retain_raises"
        let x = Tensor([1.0, 2]).requiringGrad()
        let y = x.exp().sum()
        y.backward()
        expectEqual(x.grad, n, "grad_after_first")
        #expect(flag(n, "raised"))
        #expect(throws: AutogradError.self) { try y.tryBackward() }
        do { try y.tryBackward() } catch let e as AutogradError {
            #expect(e.message == Self.cases[n]!["message"] as! String)
            #expect(e.message.contains("retain_graph=True"))
        } catch { Issue.record("unexpected error \(error)") }
        expectEqual(x.grad, n, "grad_after_failed")
    }

    @Test func secondBackwardWithoutSavedTensorsSucceeds() {
        let n = "second_backward_without_retain_no_saved_tensors"
        let x = Tensor([1.0, 2]).requiringGrad()
        let y = (x + 1.0).sum()
        y.backward()
        var raised = false
        do { try y.tryBackward() } catch { raised = true }
        #expect(raised == flag(n, "raised"))
        expectEqual(x.grad, n, "grad")
    }

    @Test func nonscalarBackwardWithGradient() {
        let x = Tensor([1.0, 2, 3]).requiringGrad()
        let y = x * x
        y.backward(gradient: Tensor([0.1, 1.0, 10.0]))
        expectEqual(x.grad, "nonscalar_backward_with_gradient", "grad")
    }

    @Test func nonscalarBackwardWithoutGradientRaises() {
        let n = "nonscalar_backward_without_gradient_raises"
        let x = Tensor([1.0, 2]).requiringGrad()
        let y = x * 2.0
        #expect(flag(n, "raised"))
        do { try y.tryBackward(); Issue.record("no error") } catch let e as AutogradError {
            #expect(e.message == Self.cases[n]!["message"] as! String)
        } catch { Issue.record("unexpected error \(error)") }
    }

    @Test func leafUsedTwice() {
        let n = "leaf_used_twice"
        let x = Tensor(scalar: 3).requiringGrad()
        let y = x * x + x
        y.backward()
        expectEqual(y.detached(), n, "value")
        expectEqual(x.grad, n, "grad")
    }

    @Test func detachStopsGradient() {
        let n = "detach_stops_gradient"
        let x = Tensor([1.0, 2, 3]).requiringGrad()
        (x * x.detached()).sum().backward()
        expectEqual(x.grad, n, "grad")
        #expect(x.detached().requiresGrad == flag(n, "detached_requires_grad"))
    }

    @Test func noGradBlock() {
        let n = "no_grad_block"
        let x = Tensor([1.0, 2]).requiringGrad()
        let y = withNoGrad { x * 2.0 }
        #expect(y.requiresGrad == flag(n, "y_requires_grad"))
        #expect((y.gradFn != nil) == flag(n, "y_has_grad_fn"))
        #expect(y.isLeaf == flag(n, "y_is_leaf"))
        #expect(x.requiresGrad == flag(n, "x_requires_grad"))
        expectEqual(y, n, "value")
        #expect(GradMode.isEnabled)
    }

    @Test func intermediateGradNoneUnlessRetainGrad() {
        let n = "intermediate_grad_none_unless_retain_grad"
        let x = Tensor([1.0, 2]).requiringGrad()
        let a = x * 2.0
        let b = x * 3.0
        b.retainGrad()
        (a * b).sum().backward()
        #expect((a.grad == nil) == flag(n, "a_grad_is_none"))
        expectEqual(b.grad, n, "b_grad")
        expectEqual(x.grad, n, "x_grad")
        #expect(a.isLeaf == flag(n, "a_is_leaf"))
    }

    @Test func unusedLeafGradNone() {
        let n = "unused_leaf_grad_none"
        let x = Tensor([1.0, 2]).requiringGrad()
        let z = Tensor([5.0]).requiringGrad()
        (x * x).sum().backward()
        #expect((z.grad == nil) == flag(n, "z_grad_is_none"))
        expectEqual(x.grad, n, "x_grad")
    }

    @Test func requiresGradPropagation() {
        let n = "requires_grad_propagation"
        let a = Tensor([1.0, 2])
        let b = Tensor([3.0, 4]).requiringGrad()
        let c = a + b
        let d = a * 2.0
        #expect(c.requiresGrad == flag(n, "c_requires_grad"))
        #expect(d.requiresGrad == flag(n, "d_requires_grad"))
        #expect(a.isLeaf == flag(n, "a_is_leaf"))
        #expect(b.isLeaf == flag(n, "b_is_leaf"))
        #expect(c.isLeaf == flag(n, "c_is_leaf"))
        #expect(d.isLeaf == flag(n, "d_is_leaf"))
    }

    @Test func autogradGradDoesNotAccumulate() throws {
        let n = "autograd_grad_does_not_accumulate"
        let x = Tensor([1.0, 2]).requiringGrad()
        let y = (x * x * x).sum()
        let g = try gradients(of: y, wrt: [x])
        expectEqual(g[0], n, "grad_returned")
        #expect((x.grad == nil) == flag(n, "x_grad_is_none"))
    }

    @Test func broadcastGradReducedToInputShape() {
        let n = "broadcast_grad_reduced_to_input_shape"
        let x = Tensor([1.0, 2, 3]).requiringGrad()
        let w = Tensor([[1.0], [10.0]]).requiringGrad()
        (x * w).sum().backward()
        expectEqual(x.grad, n, "x_grad")
        expectEqual(w.grad, n, "w_grad")
    }

    @Test func scalarBackwardImplicitOne() {
        let n = "scalar_backward_implicit_one"
        let x = Tensor([2.0]).requiringGrad()
        let y = x * 4.0
        y.backward()
        expectEqual(x.grad, n, "grad")
        #expect(y.shape == (Self.cases[n]!["y_shape"] as! [Int]))
    }

    // Beyond the file: PyTorch behaviour the issue names.

    @Test("an SGD update under no-grad keeps the leaf and leaves a retained graph intact")
    func sgdUpdateDoesNotCorruptGraph() {
        var W = Tensor([[1.0, 2], [2, 1]]).requiringGrad()
        let x: Tensor = [[8, -2]]
        let loss = x.mm(W).exp().sum()
        loss.backward(retainGraph: true)
        let first = W.grad!
        let Wref = W   // another value holding the same leaf
        withNoGrad { W -= 0.01 * W.grad! }
        #expect(W.requiresGrad && W.isLeaf)
        #expect(Wref.grad != nil, "the copy shares the leaf's .grad")
        #expect(abs(W.element(0, 0) - (1 - 0.01 * first.element(0, 0))) < 1e-5)
        #expect(Wref.element(0, 0) == 1, "a copy made before the update keeps its values (value semantics)")
        // The graph saved the old W and x: a second backward gives the same gradient again.
        W.zeroGrad()
        loss.backward()
        #expect(W.grad!.scalars == first.scalars)
    }

    final class WeakNode { weak var node: GradNode?; init(_ n: GradNode?) { node = n } }

    @Test("the graph is freed as soon as its result is dropped")
    func graphFreedWhenResultDropped() {
        var refs: [WeakNode] = []
        do {
            let x = Tensor([1.0, 2, 3]).requiringGrad()
            var y = x
            for _ in 0..<50 {
                y = (y * 1.01).exp().log()
                refs.append(WeakNode(y.gradNode))
            }
            let loss = y.sum()
            refs.append(WeakNode(loss.gradNode))
            loss.backward()
            #expect(refs.allSatisfy { $0.node != nil }, "alive while the result is held")
        }
        #expect(refs.allSatisfy { $0.node == nil }, "every node freed once the result is dropped")
    }

    @Test func retainGradOnIntermediateAccumulates() {
        let x = Tensor([1.0, 2]).requiringGrad()
        let c = x * 3.0
        c.retainGrad()
        let y = (c * c).sum()
        y.backward(retainGraph: true)
        #expect(c.grad!.scalars == [6, 12])
        y.backward()
        #expect(c.grad!.scalars == [12, 24])
    }
}
