import Foundation
import Testing
@testable import Backprop

/// Gradients of gradients: `createGraph`, gradgradcheck, the functional helpers, PyTorch's own
/// examples, and no leak.
@Suite struct SecondOrderTests {
    static func fixture(_ name: String) -> [String: Any] {
        Fixtures.cases("second_order.json").first { $0["name"] as? String == name }!
    }
    static func tensor(_ any: Any?) -> Tensor { try! GoldenFormat.tensor(any, context: "second_order.json") }

    static func close(_ a: Tensor?, _ b: Tensor, rtol: Double, atol: Double) -> Bool {
        guard let a else { return false }
        return GoldenFormat.compare(a, b, rtol: rtol, atol: atol).ok
    }

    @Test("gradgrad.json: PyTorch's second-order values", arguments: Golden.caseNames("gradgrad.json"))
    func goldenSecondOrder(name: String) {
        let c = Golden.cases("gradgrad.json").first { $0["name"] as? String == name }!
        let r = Verifier.verifyCase(c, index: 0, path: "gradgrad.json")
        #expect(r.passed, "\(name): \(r.failure ?? "")")
    }

    @Test("every differentiable op passes gradgradcheck on random shapes", arguments: GradcheckSuite.cases.map(\.name))
    func everyOpGradgradcheck(name: String) {
        let c = GradcheckSuite.cases.first { $0.name == name }!
        let r = GradcheckSuite.run(c, seed: 7, trials: 3, order: 2)
        #expect(r.passed, "\(name): \(r.failure ?? "")")
    }

    static let wrongCube = BackwardRule("WrongCubeBackward", "dx = G * 3 * x^2 (x detached: no second derivative)")

    @Test("gradgradcheck finds a rule whose gradient is right but not differentiable")
    func findsWrongSecondOrder() {
        // y = x³ with a first-order rule that is right but computed from a constant copy of x.
        func cube(_ x: Tensor) -> Tensor {
            let out = withNoGrad { x * x * x }
            guard Tensor.recordsGrad(x) else { return out }
            return out.recorded(Self.wrongCube, x, save0: x.detached()) { node, g in
                let xv = node.saved0!
                return InputGrads(g * (xv * xv * 3.0))
            }
        }
        let x = Tensor([0.5, -1.5, 2], dtype: .float64)
        #expect(gradcheck({ cube($0[0]) }, inputs: [x]).passed)
        #expect(!gradgradcheck({ cube($0[0]) }, inputs: [x]).passed)
        #expect(gradgradcheck({ $0[0] * $0[0] * $0[0] }, inputs: [x]).passed)
    }

    @Test("PyTorch's Hessian-vector test: z = x*x + y*x + y*y, backward with createGraph, then backward of 2 x.grad + y.grad")
    func pytorchHessianVector() {
        let c = Self.fixture("hessian_vector")
        let x = Self.tensor(c["x"]).requiringGrad(), y = Self.tensor(c["y"]).requiringGrad()
        let z = x * x + y * x + y * y
        z.backward(gradient: Tensor.ones([2, 2], dtype: .float64), createGraph: true)
        #expect(Self.close(x.grad, Self.tensor(c["x_grad_first"]), rtol: 1e-12, atol: 1e-12))
        #expect(Self.close(y.grad, Self.tensor(c["y_grad_first"]), rtol: 1e-12, atol: 1e-12))
        #expect(x.grad?.requiresGrad == true, "with createGraph the leaf's .grad has a graph of its own")
        let gradSum = 2 * x.grad! + y.grad!
        gradSum.backward(gradient: Tensor.ones([2, 2], dtype: .float64))
        // Accumulated into the existing .grad: x.grad + 5, y.grad + 4.
        #expect(Self.close(x.grad, Self.tensor(c["x_grad"]), rtol: 1e-12, atol: 1e-12), "\(x.grad!)")
        #expect(Self.close(y.grad, Self.tensor(c["y_grad"]), rtol: 1e-12, atol: 1e-12), "\(y.grad!)")
    }

    /// D(x) = Linear(4, 1)(tanh(Linear(3, 4)(x))), with PyTorch's parameter names.
    static func critic(_ x: Tensor, _ p: [String: Tensor]) -> Tensor {
        x.linear(weight: p["0.weight"]!, bias: p["0.bias"]!).tanh().linear(weight: p["2.weight"]!, bias: p["2.bias"]!)
    }

    @Test("a WGAN-GP gradient penalty on an MLP critic: the penalty and the critic's gradients as PyTorch's",
          arguments: ["wgan_gp_float32", "wgan_gp_float64"])
    func wganGradientPenalty(name: String) throws {
        let c = Self.fixture(name)
        let raw = c["params"] as! [String: Any]
        var params: [String: Tensor] = [:]
        for (k, v) in raw { params[k] = Self.tensor(v).requiringGrad() }
        let xHat = Self.tensor(c["x_hat"]).requiringGrad()
        let (rtol, atol) = xHat.dtype == .float32 ? (1e-5, 1e-6) : (1e-10, 1e-12)
        let out = Self.critic(xHat, params)
        let g = try gradients(of: out.sum(), wrt: [xHat], createGraph: true)[0]!
        #expect(Self.close(g, Self.tensor(c["input_grad"]), rtol: rtol, atol: atol))
        let norms = (g * g).sum(dim: 1).sqrt()
        let penalty = ((norms - 1) * (norms - 1)).mean() * 10
        #expect(Self.close(penalty, Self.tensor(c["penalty"]), rtol: rtol, atol: atol), "\(penalty)")
        penalty.backward()
        let expected = c["param_grads"] as! [String: Any]
        for (k, p) in params {
            if expected[k] is NSNull {
                // PyTorch leaves it None: the penalty does not depend on the last bias.
                #expect(p.grad == nil || p.grad!.scalars.allSatisfy { $0 == 0 }, "\(k)")
            } else {
                #expect(Self.close(p.grad, Self.tensor(expected[k]), rtol: rtol * 10, atol: atol * 10), "\(k): \(p.grad.map { "\($0)" } ?? "nil")")
            }
        }
    }

    @Test("training with a gradient penalty frees every graph: no node outlives its step")
    func noLeak() throws {
        var gen = RandomGenerator(seed: 3)
        var params: [String: Tensor] = [
            "0.weight": Tensor.randn([4, 3], dtype: .float64, using: &gen).requiringGrad(),
            "0.bias": Tensor.zeros([4], dtype: .float64).requiringGrad(),
            "2.weight": Tensor.randn([1, 4], dtype: .float64, using: &gen).requiringGrad(),
            "2.bias": Tensor.zeros([1], dtype: .float64).requiringGrad(),
        ]
        let x = Tensor.randn([8, 3], dtype: .float64, using: &gen)
        /// One training step; returns weak references to every node its graphs made (found by
        /// walking them while they are alive), which must all be gone once the step is over.
        final class Weak { weak var node: GradNode?; init(_ n: GradNode) { node = n } }
        func nodes(of t: Tensor) -> [Weak] {
            var seen = Set<ObjectIdentifier>(), stack = [t.gradNode].compactMap { $0 }, out: [Weak] = []
            while let n = stack.popLast() {
                guard seen.insert(ObjectIdentifier(n)).inserted else { continue }
                out.append(Weak(n))
                stack.append(contentsOf: n.inputs.compactMap { $0 })
            }
            return out
        }
        func step() throws -> [Weak] {
            let xHat = x.requiringGrad()
            let out = Self.critic(xHat, params)
            let g = try gradients(of: out.sum(), wrt: [xHat], createGraph: true)[0]!
            let norms = (g * g).sum(dim: 1).sqrt()
            let loss = out.mean() + ((norms - 1) * (norms - 1)).mean() * 10
            let made = nodes(of: loss).filter { !($0.node?.isLeaf ?? true) }
            loss.backward()
            withNoGrad {
                for k in params.keys {
                    var p = params[k]!
                    p -= p.grad! * 0.01
                    p.zeroGrad()
                    params[k] = p
                }
            }
            return made
        }
        var alive = 0, made = 0
        for _ in 0..<200 {
            let refs = try step()
            made += refs.count
            alive += refs.filter { $0.node != nil }.count
        }
        #expect(made > 200 * 10)
        #expect(alive == 0, "\(alive) of \(made) graph nodes outlived their step")
        // backward(createGraph:) on a leaf: the .grad's graph is freed with the .grad (zeroGrad).
        let w = Tensor([1.0, 2], dtype: .float64).requiringGrad()
        var gradNodes: [Weak] = []
        for _ in 0..<50 {
            (w * w * w).sum().backward(createGraph: true)
            gradNodes += nodes(of: w.grad!).filter { !($0.node?.isLeaf ?? true) }
            w.grad!.sum().backward()
            w.zeroGrad()
        }
        #expect(!gradNodes.isEmpty && gradNodes.allSatisfy { $0.node == nil })
    }

    @Test("the README's example: the second derivative of tanh")
    func readmeExample() throws {
        let x = Tensor([[0.5, -1, 2]], dtype: .float64).requiringGrad()
        let y = x.tanh().sum()
        let g = try gradients(of: y, wrt: [x], createGraph: true)[0]!
        let h = try gradients(of: g.sum(), wrt: [x])[0]!
        let t = [0.5, -1, 2].map { Foundation.tanh($0) }
        for (k, v) in h.scalars.enumerated() {
            #expect(Swift.abs(v - (-2 * t[k] * (1 - t[k] * t[k]))) < 1e-14)
        }
        #expect(g.requiresGrad && !h.requiresGrad)
    }

    @Test("createGraph off: gradients have no graph and first-order work records nothing")
    func createGraphOff() {
        let x = Tensor([1.0, 2], dtype: .float64).requiringGrad()
        (x * x).sum().backward()
        #expect(x.grad?.requiresGrad == false)
        #expect(x.grad?.scalars == [2, 4])
    }

    @Test("the functional helpers: vjp, jvp, jacobian, hessian, hvp")
    func functional() throws {
        // f(x, y) = sum(x² y) for x, y of shape [2].
        let f: ([Tensor]) -> Tensor = { ($0[0] * $0[0] * $0[1]).sum() }
        let x = Tensor([1.0, 2], dtype: .float64), y = Tensor([3.0, -1], dtype: .float64)
        let (out, v) = try vjp(f, inputs: [x, y])
        #expect(out.scalars == [-1.0])
        #expect(v[0].scalars == [6, -4] && v[1].scalars == [1, 4])
        // J v for g(x) = x² elementwise: 2 x v.
        let (_, j) = try jvp({ $0[0] * $0[0] }, inputs: [x], v: [Tensor([1.0, 1], dtype: .float64)])
        #expect(j.scalars == [2, 4])
        let jac = try jacobian({ $0[0] * $0[1] }, inputs: [x, y])
        #expect(jac[0].shape == [2, 2] && jac[0].scalars == [3, 0, 0, -1])
        #expect(jac[1].scalars == [1, 0, 0, 2])
        // The Hessian of sum(x² y): d²/dx² = diag(2y), d²/dxdy = diag(2x), d²/dy² = 0.
        let h = try hessian(f, inputs: [x, y])
        #expect(h[0][0].scalars == [6, 0, 0, -2])
        #expect(h[0][1].scalars == [2, 0, 0, 4])
        #expect(h[1][0].scalars == [2, 0, 0, 4])
        #expect(h[1][1].scalars == [0, 0, 0, 0])
        let (_, hv) = try hvp(f, inputs: [x, y], v: [Tensor([1.0, 0], dtype: .float64), Tensor([0.0, 1], dtype: .float64)])
        // H v = [diag(2y) vx + diag(2x) vy, diag(2x) vx] = [[6, 4], [2, 0]].
        #expect(hv[0].scalars == [6, 4] && hv[1].scalars == [2, 0])
    }

    @Test("the trace explains a second-order graph: the backward of the backward, node by node")
    func traceOfTheBackward() throws {
        let x = Tensor([[0.5, -1, 2]], dtype: .float64).requiringGrad()
        let g = try gradients(of: x.tanh().sum(), wrt: [x], createGraph: true)[0]!
        let trace = try BackwardTrace.record(g.sum())
        let ops = trace.steps.map(\.op)
        // dx = G * (1 - y²), y = tanh(x): its backward runs through the product, the square and tanh itself.
        #expect(ops.contains("MulBackward0") && ops.contains("TanhBackward0"), "\(ops)")
        #expect(trace.steps.allSatisfy { !$0.formula.isEmpty || $0.op == "AccumulateGrad" })
    }
}
