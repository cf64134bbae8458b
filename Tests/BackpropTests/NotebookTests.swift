import Testing
import Foundation
@testable import Backprop

/// The notebook exercise against seed.json: every value of both data points, and 100 alternating steps.
@Suite struct NotebookTests {
    nonisolated(unsafe) static let cases = Golden.cases("seed.json")

    static func tensor(_ values: [String: Any], _ key: String) -> Tensor {
        try! GoldenFormat.tensor(values[key], context: key)
    }

    func expectClose(_ got: Tensor, _ exp: Tensor, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let r = GoldenFormat.compare(got, exp, rtol: 1e-5, atol: 1e-6)
        #expect(r.ok, "\(what): \(r.message ?? "")", sourceLocation: sourceLocation)
    }

    @Test("one step of each data point matches PyTorch", arguments: ["seed_step_x_8_-2_target_0", "seed_step_x_-10_20_target_1"])
    func singleStep(_ name: String) {
        let v = Self.cases.first { $0["name"] as? String == name }!["values"] as! [String: Any]
        let t = { Self.tensor(v, $0) }
        let s = NotebookStep(W: t("W"), b: t("b"), x: t("x"), target: t("target"), lr: v["lr"] as! Double)
        expectClose(s.oneHot, t("one_hot"), "one_hot")
        expectClose(s.c, t("c"), "c")
        expectClose(s.softmax, t("softmax"), "softmax")
        expectClose(s.logSoftmax, t("log_softmax"), "log_softmax")
        expectClose(s.nllLoss, t("nll_loss"), "nll_loss")
        expectClose(s.crossEntropy, t("cross_entropy"), "cross_entropy")
        expectClose(s.gradCManual, t("grad_c_manual"), "grad_c_manual")
        expectClose(s.gradWManual, t("grad_W_manual"), "grad_W_manual")
        expectClose(s.gradBManual, t("grad_b_manual"), "grad_b_manual")
        expectClose(s.gradCAutograd, t("grad_c_autograd"), "grad_c_autograd")
        expectClose(s.gradWAutograd, t("grad_W_autograd"), "grad_W_autograd")
        expectClose(s.gradBAutograd, t("grad_b_autograd"), "grad_b_autograd")
        expectClose(s.WNew, t("W_new"), "W_new")
        expectClose(s.bNew, t("b_new"), "b_new")
        #expect(s.gradientsAgree)
        // The loss after the update.
        let after = s.x.mm(s.WNew).add(s.bNew).crossEntropy(target: s.target)
        expectClose(after, t("cross_entropy_after_update"), "cross_entropy_after_update")
    }

    @Test("100 alternating SGD steps match PyTorch's checkpoints and losses")
    func alternating100() {
        let c = Self.cases.first { $0["name"] as? String == "seed_train_alternating_100" }!
        let W0: Tensor = [[1, 2], [2, 1]], b0: Tensor = [[0, 0]]
        let x: Tensor = [[8, -2], [-10, 20]]
        let run = NotebookRun(W: W0, b: b0, x: x, target: Tensor(indices: [0, 1]), lr: 0.01, steps: 100, batch: false)
        #expect(run.steps.count == 100)
        if let losses = c["losses"] as? [Double] {
            #expect(losses.count == 100)
            for (k, l) in losses.enumerated() {
                let got = run.steps[k].crossEntropy.item
                #expect(abs(got - l) <= 1e-6 + 1e-5 * abs(l), "loss of step \(k + 1): got \(got), expected \(l)")
            }
        } else { Issue.record("seed.json has no losses list: keys \(Array(c.keys))") }
        let checkpoints = c["checkpoints"]
        var found = 0
        func check(_ step: Int, _ cp: [String: Any]) {
            found += 1
            let s = run.steps[step - 1]
            if let W = cp["W"] { expectClose(s.WNew, try! GoldenFormat.tensor(W, context: "W"), "W after step \(step)") }
            if let b = cp["b"] { expectClose(s.bNew, try! GoldenFormat.tensor(b, context: "b"), "b after step \(step)") }
            if let l = cp["loss"] {
                let e = (l as? Double) ?? (try! GoldenFormat.tensor(l, context: "loss")).item
                #expect(abs(s.crossEntropy.item - e) <= 1e-6 + 1e-5 * abs(e), "loss at step \(step)")
            }
        }
        if let list = checkpoints as? [[String: Any]] {
            for cp in list { check(cp["step"] as! Int, cp) }
        } else if let dict = checkpoints as? [String: Any] {
            for (k, cp) in dict { check(Int(k)!, cp as! [String: Any]) }
        }
        #expect(found == 4, "checkpoints at steps 1, 2, 10 and 100")
    }

    @Test("with a batch, grad_c is (softmax - onehot) / N and grad_b sums over rows")
    func batchStep() {
        let s = NotebookStep(W: [[1, 2], [2, 1]], b: [[0, 0]], x: [[8, -2], [-10, 20]], target: Tensor(indices: [0, 1]))
        #expect(s.gradientsAgree, "max diff \(s.maxAbsDiff)")
        let p = s.softmax.scalars, oh = s.oneHot.scalars
        for i in 0..<4 { #expect(abs(s.gradCManual.scalars[i] - (p[i] - oh[i]) / 2) < 1e-7) }
        #expect(s.gradBManual.shape == [1, 2])
    }

    @Test("any number of features and classes; float64")
    func generalShapes() {
        var g = RandomGenerator(seed: 7)
        let W = Tensor.randn([5, 4], dtype: .float64, using: &g)
        let b = Tensor.randn([1, 4], dtype: .float64, using: &g)
        let x = Tensor.randn([3, 5], dtype: .float64, using: &g)
        let s = NotebookStep(W: W, b: b, x: x, target: Tensor(indices: [3, 0, 2]), lr: 0.1)
        #expect(s.maxAbsDiff < 1e-14)
        #expect(s.gradientsAgree)
        #expect(s.WNew.dtype == .float64)
    }

    @Test("log-softmax and cross-entropy stay finite for logits like [1000, -1000]")
    func stableLogSoftmax() {
        let c: Tensor = [[1000, -1000]]
        let lp = c.logSoftmax(dim: 1)
        #expect(lp.scalars == [0, -2000])
        let loss = c.crossEntropy(target: Tensor(indices: [1]))
        #expect(loss.item == 2000)
        #expect(c.softmax(dim: 1).scalars == [1, 0])
    }
}
