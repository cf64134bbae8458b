import Testing
import Foundation
@testable import Backprop

/// The compiled step (Compile/CompiledStep.swift): replays equal the eager steps bit for bit, on
/// the benchmark steps W1, W7 and W8; new signatures record again; what cannot be replayed is
/// refused with a reason and runs eagerly.
@Suite(.serialized) struct CompiledStepTests {
    /// The bits of every value of the tensors, for exact comparison.
    static func bits(_ ts: [Tensor]) -> [[UInt64]] {
        ts.map { t in t.scalars.map { $0.bitPattern } }
    }

    /// State after `steps` calls of an MLP step, eager or compiled: parameters, grads, losses.
    static func mlpRun(compiled: Bool, sizes: [Int], optimizer: String, batches: [(Tensor, Tensor)],
                       steps: Int) -> (params: [[UInt64]], grads: [[UInt64]], losses: [UInt64], step: CompiledStep) {
        var gen = RandomGenerator(seed: 7)
        var layers: [any Module] = []
        for (k, (fin, fout)) in zip(sizes, sizes.dropFirst()).enumerated() {
            if k > 0 { layers.append(ReLU()) }
            layers.append(Linear(fin, fout, using: &gen))
        }
        let model = Sequential(layers)
        let opt: any Optimizer = optimizer == "adam" ? Adam(model.parameters(), lr: 1e-2)
            : optimizer == "momentum" ? SGD(model.parameters(), lr: 0.05, momentum: 0.9) : SGD(model.parameters(), lr: 0.1)
        let step = CompiledStep(model, eager: !compiled) { inputs in
            opt.zeroGrad()
            let loss = model.forward(inputs[0]).crossEntropy(target: inputs[1])
            loss.backward()
            opt.step()
            return [loss]
        }
        var losses: [UInt64] = []
        for s in 0..<steps {
            let (x, y) = batches[s % batches.count]
            losses.append(step(x, y)[0].item.bitPattern)
        }
        return (bits(model.parameters().map(\.value)), bits(model.parameters().compactMap(\.grad)), losses, step)
    }

    static func batches(_ sizes: [Int], rows: [Int], classes: Int, seed: UInt64) -> [(Tensor, Tensor)] {
        var g = RandomGenerator(seed: seed)
        return rows.map { n in (Tensor.randn([n, sizes[0]], using: &g), Tensor.randint(0, classes, [n], using: &g)) }
    }

    @Test func w7SGDReplaysBitForBit() {
        let data = Self.batches([4, 16, 3], rows: [150], classes: 3, seed: 1)
        let eager = Self.mlpRun(compiled: false, sizes: [4, 16, 3], optimizer: "sgd", batches: data, steps: 30)
        let comp = Self.mlpRun(compiled: true, sizes: [4, 16, 3], optimizer: "sgd", batches: data, steps: 30)
        #expect(comp.step.fallbackReason == nil, "\(comp.step.fallbackReason ?? "")")
        #expect(comp.step.recordings == 1)
        #expect(comp.step.replays == 28)
        // The update writes the parameters in place: no copy-on-write copies on the tape.
        #expect(comp.step.copyCount == 0)
        #expect(comp.step.kernelCount > 10)
        #expect(comp.losses == eager.losses)
        #expect(comp.params == eager.params)
        #expect(comp.grads == eager.grads)
    }

    @Test func w8AdamTwoSignaturesReplayBitForBit() {
        // W8's shape: batches of 32 and a last one of 5 rows, so two recordings.
        let data = Self.batches([64, 128, 10], rows: [32, 32, 32, 5], classes: 10, seed: 2)
        let eager = Self.mlpRun(compiled: false, sizes: [64, 128, 10], optimizer: "adam", batches: data, steps: 40)
        let comp = Self.mlpRun(compiled: true, sizes: [64, 128, 10], optimizer: "adam", batches: data, steps: 40)
        #expect(comp.step.fallbackReason == nil, "\(comp.step.fallbackReason ?? "")")
        #expect(comp.step.recordings == 2)
        #expect(comp.step.replays == 36)
        #expect(comp.losses == eager.losses)
        #expect(comp.params == eager.params)
        #expect(comp.grads == eager.grads)
    }

    @Test func momentumSGDReplaysBitForBit() {
        let data = Self.batches([5, 7, 4], rows: [9, 9, 3], classes: 4, seed: 3)
        let eager = Self.mlpRun(compiled: false, sizes: [5, 7, 4], optimizer: "momentum", batches: data, steps: 25)
        let comp = Self.mlpRun(compiled: true, sizes: [5, 7, 4], optimizer: "momentum", batches: data, steps: 25)
        #expect(comp.step.fallbackReason == nil, "\(comp.step.fallbackReason ?? "")")
        #expect(comp.losses == eager.losses)
        #expect(comp.params == eager.params)
        #expect(comp.grads == eager.grads)
    }

    /// W1, the notebook's step, on parameters W and b (every op of WORKLOADS.md's W1).
    static func w1Run(compiled: Bool, steps: Int) -> (w: [[UInt64]], losses: [UInt64], step: CompiledStep) {
        var gen = RandomGenerator(seed: 0)
        let W = Parameter(Tensor.randn([2, 2], using: &gen)), b = Parameter(Tensor.zeros([1, 2]))
        let onehot: Tensor = [[0, 1]]
        let step = CompiledStep(parameters: [W, b], eager: !compiled) { inputs in
            let (x, y) = (inputs[0], inputs[1])
            if W.grad != nil { W.zeroGrad(); b.zeroGrad() }
            let c = x.mm(W.value) + b.value
            let p = c.softmax(dim: 1)
            let lp = c.logSoftmax(dim: 1)
            let nll = lp.nllLoss(target: y)
            let loss = c.crossEntropy(target: y)
            let gradC = p - onehot
            let gradW = x.t().mm(gradC)
            loss.backward(retainGraph: true)
            withNoGrad {
                W.value -= 0.01 * W.grad!
                b.value -= 0.01 * b.grad!
            }
            return [loss, nll, gradW]
        }
        var losses: [UInt64] = []
        let xs: [Tensor] = [[[1, 2]], [[0.5, -1]], [[3, 1]]]
        for s in 0..<steps {
            let out = step(xs[s % 3], Tensor(indices: [s % 2]))
            losses += out.flatMap { $0.scalars.map(\.bitPattern) }
        }
        return (bits([W.value, b.value, W.grad!, b.grad!]), losses, step)
    }

    @Test func w1ReplaysBitForBit() {
        let eager = Self.w1Run(compiled: false, steps: 12)
        let comp = Self.w1Run(compiled: true, steps: 12)
        #expect(comp.step.fallbackReason == nil, "\(comp.step.fallbackReason ?? "")")
        #expect(comp.step.replays == 10)
        #expect(comp.losses == eager.losses)
        #expect(comp.w == eager.w)
    }

    @Test func returnedTensorsAreNotOverwrittenByLaterReplays() {
        let p = Parameter(Tensor([1, 2, 3]))
        let opt = SGD([p], lr: 0.5)
        let step = CompiledStep(parameters: [p]) { inputs in
            opt.zeroGrad()
            let loss = (p.value * inputs[0]).sum()
            loss.backward()
            opt.step()
            return [loss, p.value * 1]
        }
        let x = Tensor([1, 1, 1])
        let outs = (0..<5).map { _ in step(x) }
        #expect(step.replays == 3)
        #expect(outs.map { $0[0].item } == [6, 4.5, 3, 1.5, 0])
        #expect(outs[4][1].scalars == [-1.5, -0.5, 0.5])
        #expect(p.value.scalars == [-1.5, -0.5, 0.5])
    }

    @Test func readingAValueInTheStepIsRefusedAndRunsEagerly() {
        let p = Parameter(Tensor([1, 2]))
        var seen: [Double] = []
        let step = CompiledStep(parameters: [p]) { inputs in
            p.zeroGrad()
            let loss = (p.value * inputs[0]).sum()
            seen.append(loss.item)          // a value read in Swift: not replayable
            loss.backward()
            withNoGrad { p.value -= 0.1 * p.grad! }
            return [loss]
        }
        for _ in 0..<4 { _ = step(Tensor([1, 1])) }
        #expect(step.replays == 0)
        #expect(step.fallbackReason?.contains("outside a recorded kernel") == true)
        #expect(seen.count == 4)
        #expect(abs(p.value.scalars[0] - 0.6) < 1e-6)
    }

    @Test func replacedStateThatIsNotGivenIsRefused() {
        // `state` is replaced by a new tensor each step but is not a Parameter or Buffer of the step.
        var state = Tensor([1, 2])
        let step = CompiledStep(parameters: []) { inputs in
            state = state + inputs[0]
            return [state]
        }
        for _ in 0..<4 { _ = step(Tensor([1, 1])) }
        #expect(step.replays == 0)
        #expect(step.fallbackReason?.contains("replaces it") == true)
        #expect(state.scalars == [5, 6])
    }

    @Test func eagerSwitchNeverRecords() {
        let p = Parameter(Tensor([1, 2]))
        let step = CompiledStep(parameters: [p], eager: true) { inputs in [p.value * inputs[0]] }
        for _ in 0..<3 { _ = step(Tensor([2, 2])) }
        #expect(step.recordings == 0 && step.replays == 0)
    }

    /// The README's and the DocC's example, as written there.
    @Test func readmeExample() {
        manualSeed(3)
        let X = Tensor.randn(150, 4), Y = Tensor.randint(0, 3, [150])
        let model = Sequential(Linear(4, 16), ReLU(), Linear(16, 3))
        let opt = SGD(model.parameters(), lr: 0.1)
        let step = CompiledStep(model) { inputs in
            opt.zeroGrad()
            let loss = model(inputs[0]).crossEntropy(target: inputs[1])
            loss.backward()
            opt.step()
            return [loss]
        }
        var losses: [Double] = []
        for _ in 0..<100 { let loss = step(X, Y)[0]; losses.append(loss.item) }
        #expect(step.fallbackReason == nil)
        #expect(step.replays == 98)
        #expect(losses.last! < losses.first!)
    }
}
