import Foundation

/// The walkthrough as text and as JSON: every step of the notebook labelled with its formula.
public enum WalkthroughReport {
    static func block(_ label: String, _ t: Tensor, note: String? = nil) -> String {
        let body = t.description.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n")
        return label + (note.map { "    (\($0))" } ?? "") + "\n" + body + "\n"
    }

    /// The full text of one step; `explanation` (the backward pass explained) follows the forward pass.
    public static func text(_ s: NotebookStep, title: Bool = true, explanation: String? = nil) -> String {
        let n = s.batchSize
        var out = ""
        if title {
            out += "Backpropagation Again: one SGD step of a softmax classifier (\(s.W.dtype.rawValue))\n"
            out += "c = x.mm(W) + b, loss = cross_entropy(c, target), then W -= lr * dloss/dW\n\n"
        }
        out += "== Parameters and data ==\n"
        out += block("W", s.W)
        out += block("b", s.b)
        out += block("x (features)", s.x)
        out += block("target (class index)", s.target)
        out += block("onehot = one_hot(target)", s.oneHot)
        out += "\n== Forward pass ==\n"
        out += block("c = x.mm(W) + b", s.c)
        out += block("softmax = exp(c) / sum(exp(c), dim=1)", s.softmax)
        out += block("log_softmax = c - max(c) - log(sum(exp(c - max(c)), dim=1))", s.logSoftmax)
        out += block("nll_loss(log_softmax, target) = -mean(log_softmax[i, target_i])", s.nllLoss)
        out += block("cross_entropy(c, target) = nll_loss(log_softmax(c), target)", s.crossEntropy)
        if let explanation { out += explanation }
        out += "\n== Gradients by hand (tensor ops, no autograd) ==\n"
        if n == 1 {
            out += block("grad_c = softmax - onehot", s.gradCManual)
            out += block("grad_W = x^T grad_c", s.gradWManual)
            out += block("grad_b = grad_c", s.gradBManual)
        } else {
            out += "The mean over N = \(n) rows divides each row's gradient by N:\n"
            out += block("grad_c = (softmax - onehot) / N", s.gradCManual)
            out += block("grad_W = x^T grad_c", s.gradWManual)
            out += block("grad_b = sum(grad_c, dim=0)   (b was broadcast over the rows)", s.gradBManual)
        }
        out += "\n== Gradients by autograd (loss.backward(retainGraph: true)) ==\n"
        out += block("c.grad (kept with retainGrad())", s.gradCAutograd)
        out += block("W.grad", s.gradWAutograd)
        out += block("b.grad", s.gradBAutograd)
        out += "\n== Check ==\n"
        out += "largest |by hand - autograd| = \(formatNumber(s.maxAbsDiff))\n"
        out += s.gradientsAgree ? "verdict: the hand-derived gradients and autograd agree\n"
                                : "verdict: MISMATCH between the hand-derived gradients and autograd\n"
        out += "\n== SGD update (lr = \(formatNumber(s.lr))) ==\n"
        out += block("W_new = W - lr * W.grad", s.WNew)
        out += block("b_new = b - lr * b.grad", s.bNew)
        return out
    }

    /// One line per step of a run, and the final parameters.
    public static func runText(_ run: NotebookRun, batch: Bool) -> String {
        guard let first = run.steps.first else { return "no steps\n" }
        var out = "Backpropagation Again: \(run.steps.count) SGD steps (\(first.W.dtype.rawValue), lr = \(formatNumber(first.lr)), "
        out += batch ? "all \(first.batchSize) rows per step)\n" : "one row per step, cycling)\n"
        out += "loss is the step's forward pass, before its update\n\n"
        for (k, s) in run.steps.enumerated() {
            out += "step \(k + 1): loss \(String(format: "%.6f", s.crossEntropy.item))  |by hand - autograd| \(formatNumber(s.maxAbsDiff))\n"
        }
        let last = run.steps[run.steps.count - 1]
        out += "\n" + block("W after step \(run.steps.count)", last.WNew) + block("b after step \(run.steps.count)", last.bNew)
        out += run.steps.allSatisfy(\.gradientsAgree) ? "verdict: hand-derived gradients and autograd agree at every step\n"
                                                      : "verdict: MISMATCH at some step\n"
        return out
    }

    static func formatNumber(_ v: Double) -> String {
        if v == 0 { return "0" }
        if abs(v) < 1e-3 || abs(v) >= 1e6 { return String(format: "%.3e", v) }
        return String(format: "%g", v)
    }

    /// The JSON object of a step, with the keys of seed.json's values.
    public static func jsonObject(_ s: NotebookStep) -> [String: Any] {
        [
            "W": s.W.nestedArray, "b": s.b.nestedArray, "x": s.x.nestedArray,
            "target": s.target.integers, "one_hot": s.oneHot.nestedArray, "lr": s.lr,
            "c": s.c.nestedArray, "softmax": s.softmax.nestedArray, "log_softmax": s.logSoftmax.nestedArray,
            "nll_loss": s.nllLoss.item, "cross_entropy": s.crossEntropy.item,
            "grad_c": s.gradCManual.nestedArray,
            "grad_W_manual": s.gradWManual.nestedArray, "grad_b_manual": s.gradBManual.nestedArray,
            "grad_c_autograd": s.gradCAutograd.nestedArray,
            "grad_W_autograd": s.gradWAutograd.nestedArray, "grad_b_autograd": s.gradBAutograd.nestedArray,
            "max_abs_diff": s.maxAbsDiff, "gradients_agree": s.gradientsAgree,
            "W_new": s.WNew.nestedArray, "b_new": s.bNew.nestedArray,
        ]
    }

    /// The JSON array of a backward trace: one object per step, in the order visited.
    public static func jsonObject(_ trace: BackwardTrace) -> [[String: Any]] {
        trace.steps.map { s in
            var o: [String: Any] = [
                "index": s.index, "node": s.node, "op": s.op, "is_leaf": s.isLeaf, "shape": s.shape,
                "formula": s.formula, "incoming": s.incoming.nestedArray,
                "contributions": s.contributions.map { ["from_step": $0.fromStep, "gradient": $0.gradient.nestedArray] as [String: Any] },
                "inputs": s.inputs.map { i -> [String: Any] in
                    var d: [String: Any] = ["name": i.name, "shape": i.shape]
                    if let n = i.node { d["node"] = n }
                    if let g = i.sent { d["sent"] = g.nestedArray }
                    return d
                },
            ]
            if let l = s.label { o["label"] = l }
            if let v = s.value { o["value"] = v.nestedArray }
            return o
        }
    }

    /// JSON text, keys sorted so that output is stable.
    public static func json(_ object: Any) -> String {
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
        return String(decoding: data, as: UTF8.self)
    }
}
