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
        #expect(comp.losses == eager.losses)
        #expect(comp.params == eager.params)
        #expect(comp.grads == eager.grads)
    }
}
