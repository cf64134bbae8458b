/// The notebook's backward pass explained: the trace of `loss.backward()` step by step, and the
/// chain-rule derivation of grad_c = softmax - onehot, grad_W = x^T grad_c and grad_b = grad_c,
/// each line with the numbers of this step and the number the trace recorded beside it.
public struct NotebookExplanation {
    /// One part of the derivation: a heading and its lines.
    public struct Part {
        /// The rule's title, with the trace step it explains.
        public let heading: String
        /// The derivation, one line each, with the numbers.
        public let lines: [String]
    }

    /// The step explained.
    public let step: NotebookStep
    /// Its recorded backward pass.
    public let trace: BackwardTrace
    /// The derivation, in the order the backward pass applies the rules.
    public let derivation: [Part]
    /// Rows of the final check: name, the trace's value, autograd's `.grad`, largest difference.
    public let checks: [(name: String, trace: Tensor, autograd: Tensor, maxAbsDiff: Double)]

    /// Explains a step made with `NotebookStep(..., explain: true)`; nil when it has no trace.
    public init?(_ step: NotebookStep) {
        guard let trace = step.trace else { return nil }
        self.step = step
        self.trace = trace
        let v = { (t: Tensor) in ExplainFormat.values(t) }
        let n = step.batchSize
        func stepNo(_ s: BackwardTrace.Step?) -> String { s.map { "step \($0.index), \($0.op)" } ?? "not visited" }
        let nll = trace.steps.first { $0.op == "NllLossBackward0" }
        let lsm = trace.steps.first { $0.op == "LogSoftmaxBackward0" }
        let add = trace.steps.first { $0.label == "c" }
        let mm = trace.steps.first { $0.op == "MmBackward0" }
        let wLeaf = trace.step(labelled: "W"), bLeaf = trace.step(labelled: "b")
        var parts: [Part] = []

        let dLogSoftmaxHand = withNoGrad { -step.oneHot / Double(n) }
        parts.append(Part(heading: "1. The negative log-likelihood (\(stepNo(nll)))", lines: [
            "loss = -(1/N) sum_i log_softmax[i, t_i]   with N = \(n), t = \(v(step.target))",
            "Only the entry of the target class counts, so  d loss / d log_softmax = -onehot / N",
            "  = -\(v(step.oneHot)) / \(n) = \(v(dLogSoftmaxHand))",
            "  the trace: G = \(nll.map { v($0.incoming) } ?? "-") at the loss, rule \"\(nll?.formula ?? "")\"",
            "  sent to log_softmax: \(nll?.inputs.first?.sent.map(v) ?? "-")",
        ]))

        let rowSums = withNoGrad { dLogSoftmaxHand.sum(dims: [1], keepDim: true) }
        parts.append(Part(heading: "2. The log-softmax (\(stepNo(lsm)))", lines: [
            "log_softmax_j = c_j - log(sum_k exp(c_k)), so  d log_softmax_j / d c_k = delta_jk - softmax_k",
            "The chain rule sums over j:  grad_c_k = sum_j G_j (delta_jk - softmax_k) = G_k - softmax_k * sum_j G_j",
            "With G = -onehot / N, each row of G sums to -1/N:  sum_j G_j = \(v(rowSums))",
            "  grad_c = -onehot / N + softmax / N = (softmax - onehot) / N" + (n == 1 ? " = softmax - onehot" : ""),
            "  softmax = \(v(step.softmax))",
            "  grad_c  = " + (n == 1 ? "\(v(step.softmax)) - \(v(step.oneHot))" : "(\(v(step.softmax)) - \(v(step.oneHot))) / \(n)")
                + " = \(v(step.gradCManual))",
            "  the trace: rule \"\(lsm?.formula ?? "")\" sent \(lsm?.inputs.first?.sent.map(v) ?? "-") to c",
        ]))

        let broadcastB = step.b.shape[0] == 1 && n > 1
        parts.append(Part(heading: "3. The broadcast add c = x.mm(W) + b (\(stepNo(add)))", lines: [
            "Rule of add: \"\(add?.formula ?? "")\": both inputs get G = grad_c = \(add.map { v($0.incoming) } ?? "-")",
            "  x.mm(W) has the shape of c, so it gets grad_c as it is: \(add?.inputs.first?.sent.map(v) ?? "-")",
            broadcastB
                ? "  b [1, \(step.b.shape[1])] was broadcast over the \(n) rows, so grad_b = sum of grad_c over the rows = \(v(step.gradBManual))"
                : "  b has the shape of c (one row, nothing broadcast), so grad_b = grad_c = \(v(step.gradBManual))",
            "  the trace sent to b: \(add.flatMap { $0.inputs.count > 1 ? $0.inputs[1].sent : nil }.map(v) ?? "-")",
        ]))

        var mmLines = [
            "Rule of mm for A.mm(B): \"\(mm?.formula ?? "")\"; here A = x (data: no gradient needed) and B = W",
            "  grad_W = x^T grad_c, that is grad_W[f, k] = sum_i x[i, f] * grad_c[i, k]:",
        ]
        let xs = step.x.scalars, gs = step.gradCManual.scalars, gw = step.gradWManual.scalars
        let (features, classes) = (step.W.shape[0], step.W.shape[1])
        let shown = min(features * classes, 8)
        for e in 0..<shown {
            let (f, k) = (e / classes, e % classes)
            let terms = (0..<n).map { i in "\(ExplainFormat.number(xs[i * features + f])) * \(ExplainFormat.number(gs[i * classes + k]))" }
            mmLines.append("    grad_W[\(f), \(k)] = " + terms.joined(separator: " + ") + " = \(ExplainFormat.number(gw[e]))")
        }
        if shown < features * classes { mmLines.append("    ... (\(features * classes - shown) more entries)") }
        mmLines.append("  grad_W = \(v(step.gradWManual))")
        mmLines.append("  the trace sent to W: \(mm.flatMap { $0.inputs.count > 1 ? $0.inputs[1].sent : nil }.map(v) ?? "-")")
        parts.append(Part(heading: "4. The matrix product x.mm(W) (\(stepNo(mm)))", lines: mmLines))

        parts.append(Part(heading: "5. The leaves", lines: [
            "At a leaf the engine adds G into .grad (\(stepNo(wLeaf)); \(stepNo(bLeaf))):",
            "  W.grad = \(wLeaf.map { v($0.incoming) } ?? "-")",
            "  b.grad = \(bLeaf.map { v($0.incoming) } ?? "-")",
        ]))
        derivation = parts

        func diff(_ a: Tensor, _ b: Tensor) -> Double {
            zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0
        }
        var rows: [(String, Tensor, Tensor, Double)] = []
        if let add { rows.append(("grad_c (G at c)", add.incoming, step.gradCAutograd, diff(add.incoming, step.gradCAutograd))) }
        if let wLeaf { rows.append(("grad_W (G at W)", wLeaf.incoming, step.gradWAutograd, diff(wLeaf.incoming, step.gradWAutograd))) }
        if let bLeaf { rows.append(("grad_b (G at b)", bLeaf.incoming, step.gradBAutograd, diff(bLeaf.incoming, step.gradBAutograd))) }
        checks = rows.map { (name: $0.0, trace: $0.1, autograd: $0.2, maxAbsDiff: $0.3) }
    }

    /// The explanation as text, printed after the forward pass by `backprop walkthrough --explain`.
    public func text() -> String {
        var out = "\n== Backward pass, step by step (what loss.backward() does) ==\n"
        out += "The engine starts at the loss with G = d loss / d loss = 1 and visits a node once every\n"
        out += "gradient for it has arrived. At an op it applies the op's local rule to G and sends the\n"
        out += "results to the op's inputs; at a leaf it adds G into .grad.\n\n"
        out += trace.text()
        out += "\n== The chain rule, with the numbers ==\n"
        out += "cross_entropy(c, target) = nll_loss(log_softmax(c), target): the backward pass applies the rule of\n"
        out += "nll_loss, then the rule of log_softmax, then those of add and mm.\n"
        for p in derivation {
            out += "\n" + p.heading + "\n" + p.lines.map { "   " + $0 }.joined(separator: "\n") + "\n"
        }
        out += "\nThe trace's numbers against autograd's .grad:\n"
        for c in checks {
            out += "   \(c.name): trace \(ExplainFormat.values(c.trace)), .grad \(ExplainFormat.values(c.autograd)), largest difference \(ExplainFormat.number(c.maxAbsDiff))\n"
        }
        return out
    }
}
