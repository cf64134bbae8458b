import Foundation

/// A backward pass ready to be stepped through: the trace, its graph, finite-difference checks of
/// its gradients, and for each step the rule as mathematics and with the numbers. The interactive
/// page (`StepThroughPage`) draws it; `notebook(_:)` and `trainingStep(_:)` make one for the
/// notebook's step and for one MLP training step.
///
/// ```swift
/// let step = NotebookStep(W: [[1, 2], [2, 1]], b: [[0, 0]], x: [[8, -2]], target: Tensor(indices: [0]), explain: true)
/// let pass = ExplainedPass.notebook(NotebookExplanation(step)!)
/// pass.views[4].numbers     // dB = A^T G with A = [[8, -2]] and G = [[-0.99995, 0.99995]]
/// ```
public struct ExplainedPass {
    /// A derivation note shown with a step: a heading and paragraphs of HTML with inline MathML.
    public struct Note {
        /// The heading.
        public let heading: String
        /// The paragraphs (HTML, MathML inside).
        public let paragraphs: [String]
    }

    /// One gradient part of a rule with the numbers, as MathML: `∂ℓ/∂B = Aᵀ G = [..]ᵀ [..] = [..]`.
    public struct NumberLine {
        /// The input it is for (an index into the step's inputs), nil for a definition such as `y = sigmoid(x)`.
        public let input: Int?
        /// The MathML (a `<math>` element).
        public let math: String
    }

    /// One step, ready to show.
    public struct StepView {
        /// The traced step.
        public let step: BackwardTrace.Step
        /// The name each input has in the rule (`dA`, `dB`; `dx` for one input).
        public let roles: [String]
        /// The local rule as MathML (empty for leaves).
        public let rule: String
        /// The rule's parts with the numbers substituted (only where every tensor is small).
        public let numbers: [NumberLine]
        /// The check of G, the gradient that reached this node, when the forward can be replayed.
        public let check: FiniteDifferenceCheck?
        /// The checks of what each input received, where that input has no other use (so what it
        /// received is its whole gradient).
        public let inputChecks: [FiniteDifferenceCheck?]
        /// The derivation notes for this step (the notebook's chain rule).
        public let notes: [Note]
    }

    /// "notebook" or "mlp": which case of the page this is.
    public let kind: String
    /// The page's title.
    public let title: String
    /// One or two sentences on what was run (HTML).
    public let lead: String
    /// The forward values: name, formula text, value.
    public let forwardRows: [(name: String, formula: String, value: Tensor)]
    /// The recorded backward pass.
    public let trace: BackwardTrace
    /// Its graph.
    public let graph: ComputationGraph
    /// The steps in the engine's order.
    public let views: [StepView]
    /// The exercise shown on the page, if any.
    public let exercise: GradientExercise?

    /// The most elements a tensor may have to be written out in full (in tables and in the
    /// rule with the numbers); larger ones are drawn as heat maps.
    public static let smallTensor = 16

    /// Builds the views of `trace`: rules, numbers and checks; `symbols` are extra values the
    /// rules refer to (`onehot`, `N`), `notes` the derivation per step index.
    public init(kind: String, title: String, lead: String, forwardRows: [(name: String, formula: String, value: Tensor)],
                trace: BackwardTrace, forward: ReplayableForward?, symbols: [String: Tensor] = [:],
                notes: [Int: [Note]] = [:], exercise: GradientExercise? = nil) {
        self.kind = kind
        self.title = title
        self.lead = lead
        self.forwardRows = forwardRows
        self.trace = trace
        self.graph = ComputationGraph(trace)
        self.exercise = exercise
        let checks = forward.map { FiniteDifferenceCheck.checks(trace, forward: $0) } ?? [:]
        // How many uses each node has (the contributions to its gradient).
        var uses: [Int: Int] = [:]
        for s in trace.steps { for i in s.inputs { if let n = i.node, i.sent != nil { uses[n, default: 0] += 1 } } }
        views = trace.steps.map { s in
            let roles = s.inputs.indices.map { ExplainFormat.role(op: s.op, formula: s.formula, index: $0, count: s.inputs.count) }
            let inputChecks = s.inputs.map { i -> FiniteDifferenceCheck? in
                guard let n = i.node, i.sent != nil, uses[n] == 1 else { return nil }
                return checks[n]
            }
            return StepView(step: s, roles: roles, rule: s.isLeaf ? "" : MathML.math(MathML.formulaLines(s.formula)),
                            numbers: s.isLeaf ? [] : ExplainedPass.numberLines(s, roles: roles, symbols: symbols),
                            check: checks[s.node], inputChecks: inputChecks, notes: notes[s.index] ?? [])
        }
    }

    /// Whether a tensor is written out in full.
    public static func isSmall(_ t: Tensor) -> Bool { t.count <= smallTensor && t.rank <= 2 }

    /// The values the rule of step `s` names: G, its inputs by role, its output y, what it sent
    /// (`dx`, for rules such as `dy = -dx`), and the intermediate values of a few rules.
    static func values(_ s: BackwardTrace.Step, roles: [String], symbols: [String: Tensor]) -> [String: Tensor] {
        var v: [String: Tensor] = symbols
        v["G"] = s.incoming
        for (i, input) in s.inputs.enumerated() {
            let name = String(roles[i].dropFirst())
            if let value = input.value { v[name] = value }
            if let sent = input.sent { v[roles[i]] = sent }
        }
        if v["y"] == nil, let out = s.value { v["y"] = out }
        let G = s.incoming
        withNoGrad {
            let last = [max(0, G.rank - 1)]
            switch s.op {
            case "LogSoftmaxBackward0":
                if let y = s.value {
                    v["softmax(x)"] = y.exp()
                    v["sum(G, dim)"] = G.sum(dims: last, keepDim: true)
                }
            case "SoftmaxBackward0":
                if let y = s.value { v["sum(G * y, dim)"] = (G * y).sum(dims: last, keepDim: true) }
            case "ReluBackward0":
                if let x = v["x"] { v["x > 0"] = Tensor(x.scalars.map { $0 > 0 ? 1 : 0 }, shape: x.shape, dtype: x.dtype) }
            case "AddBackward0", "SubBackward0":
                // alpha is not recorded; it is 1 (as for `a + b`) when b received G summed to its shape.
                if s.inputs.count == 2, let sent = s.inputs[1].sent {
                    let reduced = reduce(G, to: sent.shape)
                    let sign = s.op == "AddBackward0" ? 1.0 : -1.0
                    if reduced.count == sent.count,
                       zip(reduced.scalars, sent.scalars).allSatisfy({ Swift.abs(sign * $0 - $1) <= 1e-6 * Swift.max(1, Swift.abs($1)) }) {
                        v["alpha"] = Tensor(scalar: 1, dtype: G.dtype)
                    }
                }
            case "AddmmBackward0" where s.inputs.count == 3, "MmBackward0" where s.inputs.count == 3:
                if G.rank == 2 { v["sum(G, dim 0)"] = G.sum(dims: [0]) }
            default: break
            }
        }
        return v
    }

    /// `g` summed over the dims that broadcasting added or stretched to reach its shape from `shape`.
    static func reduce(_ g: Tensor, to shape: [Int]) -> Tensor {
        guard g.shape != shape else { return g }
        return withNoGrad {
            var t = g
            while t.rank > shape.count { t = t.sum(dims: [0]) }
            let dims = shape.indices.filter { shape[$0] == 1 && t.shape[$0] != 1 }
            if !dims.isEmpty { t = t.sum(dims: dims, keepDim: true) }
            return t
        }
    }

    /// The rule's parts with the numbers, for those parts whose tensors are all small.
    static func numberLines(_ s: BackwardTrace.Step, roles: [String], symbols: [String: Tensor]) -> [NumberLine] {
        let values = values(s, roles: roles, symbols: symbols)
        var out: [NumberLine] = []
        var parts = MathML.parts(s.formula)
        // nll_loss's rule is written for class weights; without them it is -onehot * G / N, shown
        // when the numbers say so.
        if s.op == "NllLossBackward0", let onehot = values["onehot"], let n = values["N"], let sent = s.inputs.first?.sent,
           onehot.shape == sent.shape {
            let expected = withNoGrad { -onehot * s.incoming / n }
            if zip(expected.scalars, sent.scalars).allSatisfy({ Swift.abs($0 - $1) <= 1e-6 * Swift.max(1, Swift.abs($1)) }) {
                parts = ["dx = -onehot * G / N"]
            }
        }
        for part in parts {
            guard let eq = part.range(of: " = ") ?? part.range(of: " += ") else { continue }
            let lhs = String(part[..<eq.lowerBound]).trimmingCharacters(in: .whitespaces)
            guard lhs.range(of: "^[A-Za-z_][A-Za-z0-9_]*$", options: .regularExpression) != nil else { continue }
            let rhs = String(part[eq.upperBound...])
            let name = String(lhs.prefix { $0 != "[" })
            let input = roles.firstIndex(of: name)
            if let input, s.inputs[input].sent == nil { continue }       // data: no gradient computed
            // Every name and call the right side uses, that has a value, must be small.
            let used = values.filter { key, _ in rhs.contains(key) && (key.count > 1 || rhs.tokenized.contains(key)) }
            guard used.values.allSatisfy(isSmall) else { continue }
            var bindings: [String: String] = [:]
            for (k, t) in used { if let m = MathML.tensor(t) { bindings[k] = m } }
            guard !bindings.isEmpty else { continue }
            let left = MathML.identifier(lhs, isGradient: lhs.count >= 2 && lhs.first == "d")
            var steps = [MathML.formula(rhs), MathML.formula(rhs, bindings: bindings)]
            if let input, let sent = s.inputs[input].sent, lhs == name {
                guard isSmall(sent), let r = MathML.tensor(sent) else { continue }
                // `da = G`: the value substituted is the result already.
                if rhs.trimmingCharacters(in: .whitespaces).range(of: "^[A-Za-z_]+$", options: .regularExpression) != nil { steps.removeLast() }
                steps.append(r)
            } else if input == nil, let value = values[lhs], isSmall(value), let r = MathML.tensor(value) {
                steps = [MathML.formula(rhs), r]
            }
            out.append(NumberLine(input: input, math: MathML.math(MathML.aligned(left, steps))))
        }
        return out
    }
}

extension String {
    /// The identifiers in formula text.
    var tokenized: Set<String> {
        Set(MathML.tokenize(self).compactMap { if case .ident(let s) = $0 { return s }; return nil })
    }
}

// MARK: - The notebook and the MLP

extension ExplainedPass {
    /// The notebook's step, with the chain-rule derivation beside the steps it explains and the
    /// notebook's exercise.
    public static func notebook(_ e: NotebookExplanation) -> ExplainedPass {
        let s = e.step
        let n = s.batchSize
        let t = s.target
        let forward = ReplayableForward(input: s.x, parameters: ["W": s.W.detached(), "b": s.b.detached()], stages: [
            .init("MmBackward0") { p, x in x.mm(p["W"]!) },
            .init("AddBackward0") { p, h in h + p["b"]! },
            .init("LogSoftmaxBackward0") { _, c in c.logSoftmax(dim: 1) },
            .init("NllLossBackward0") { _, l in l.nllLoss(target: t) },
        ])
        let rows: [(String, String, Tensor)] = [
            ("W", "parameter", s.W), ("b", "parameter", s.b), ("x", "data", s.x), ("target", "class index", s.target),
            ("c", "x.mm(W) + b", s.c), ("softmax", "exp(c) / sum(exp(c), dim=1)", s.softmax),
            ("log_softmax", "c - log(sum(exp(c), dim=1))", s.logSoftmax),
            ("loss", "nll_loss(log_softmax, target)", s.crossEntropy),
        ]
        let lead = "The notebook’s SGD step (\(s.W.dtype.rawValue)): <code>c = x.mm(W) + b</code>, "
            + "<code>loss = cross_entropy(c, target)</code> = <code>nll_loss(log_softmax(c), target)</code>, then <code>W -= lr * W.grad</code>."
        return ExplainedPass(kind: "notebook", title: "Backpropagation Again: step through the backward pass", lead: lead,
                             forwardRows: rows, trace: e.trace, forward: forward,
                             symbols: ["onehot": s.oneHot, "N": Tensor(scalar: Double(n), dtype: s.x.dtype)],
                             notes: notebookNotes(e), exercise: GradientExercise(notebook: s))
    }

    /// The chain rule of the notebook in MathML, keyed by the trace step it explains.
    static func notebookNotes(_ e: NotebookExplanation) -> [Int: [Note]] {
        let s = e.step, trace = e.trace
        let n = s.batchSize
        let M = MathML.self
        func inline(_ formula: String, _ b: [String: String] = [:]) -> String { M.math(M.formula(formula, bindings: b), display: false) }
        func block(_ formula: String, _ b: [String: String] = [:]) -> String { M.math(M.formula(formula, bindings: b)) }
        func tensor(_ t: Tensor) -> String { M.tensor(t) ?? M.text(ExplainFormat.values(t)) }
        let gc = M.grad(M.mi("c")), gW = M.grad(M.mi("W")), gb = M.grad(M.mi("b"))
        let gLsm = M.grad(M.name("log_softmax"))
        var notes: [Int: [Note]] = [:]
        let nll = trace.steps.first { $0.op == "NllLossBackward0" }
        let lsm = trace.steps.first { $0.op == "LogSoftmaxBackward0" }
        let add = trace.steps.first { $0.label == "c" }
        let mm = trace.steps.first { $0.op == "MmBackward0" }

        let dLsm = withNoGrad { -s.oneHot / Double(n) }
        if let nll {
            notes[nll.index] = [Note(heading: "Why: the negative log-likelihood", paragraphs: [
                "The loss is the mean, over the N = \(n) row\(n == 1 ? "" : "s"), of minus the log-probability of the target class:"
                    + block("loss = -(1/N) sum_i log_softmax[i, t_i]"),
                "Only the entry of the target class counts, so the gradient is minus the one-hot rows over N:"
                    + block("@g = -onehot / N = @v", ["@g": gLsm, "@v": tensor(dLsm)]),
            ])]
        }
        if let lsm {
            let gcValue = s.gradCManual
            notes[lsm.index] = [Note(heading: "Why: the log-softmax", paragraphs: [
                "Each output of the log-softmax depends on every input of its row:" + block("log_softmax_j = c_j - log(sum_k exp(c_k))")
                    + block("@d = delta_jk - softmax_k", ["@d": M.frac(M.row(M.mo("\u{2202}"), M.sub(M.name("log_softmax"), M.mi("j"))),
                                                                       M.row(M.mo("\u{2202}"), M.sub(M.mi("c"), M.mi("k"))))]),
                "The chain rule sums over j:"
                    + block("@gck = sum_j G_j (delta_jk - softmax_k) = G_k - softmax_k sum_j G_j",
                            ["@gck": M.frac(M.row(M.mo("\u{2202}"), M.mi("\u{2113}")), M.row(M.mo("\u{2202}"), M.sub(M.mi("c"), M.mi("k"))))]),
                "With G = −onehot / N, each row of G sums to −1/N, so"
                    + block("@gc = (softmax - onehot) / N = (@p - @o) / @n = @v",
                            ["@gc": gc, "@p": tensor(s.softmax), "@o": tensor(s.oneHot), "@n": M.mn("\(n)"), "@v": tensor(gcValue)]),
            ])]
        }
        if let add {
            let broadcast = n > 1
            notes[add.index] = [Note(heading: "Why: the broadcast add c = x.mm(W) + b", paragraphs: [
                "The rule of add passes G on unchanged: both inputs receive " + inline("@gc", ["@gc": gc]) + ".",
                broadcast
                    ? "b [1, \(s.b.shape[1])] was broadcast over the \(n) rows, so its gradient sums " + inline("@gc", ["@gc": gc])
                        + " over the rows:" + block("@gb = sum_i @gc[i] = @v", ["@gb": gb, "@gc": gc, "@v": tensor(s.gradBManual)])
                    : "b has the shape of c (one row, nothing broadcast), so" + block("@gb = @gc = @v", ["@gb": gb, "@gc": gc, "@v": tensor(s.gradBManual)]),
            ])]
        }
        if let mm {
            let xs = s.x.scalars, gs = s.gradCManual.scalars, gw = s.gradWManual.scalars
            let (features, classes) = (s.W.shape[0], s.W.shape[1])
            var entries: [String] = []
            for e in 0..<min(features * classes, 4) {
                let (f, k) = (e / classes, e % classes)
                var terms: [String] = []
                for i in 0..<n { terms.append(M.number(xs[i * features + f]) + M.mo("\u{00B7}") + M.number(gs[i * classes + k])) }
                entries.append(M.math(M.row(M.sub(gW, M.row(M.mn("\(f)"), M.mo(","), M.mn("\(k)"))), M.mo("="),
                                            M.row(terms.joined(separator: M.mo("+"))), M.mo("="), M.number(gw[e]))))
            }
            notes[mm.index] = [Note(heading: "Why: the matrix product x.mm(W)", paragraphs: [
                "For A.mm(B) the rule gives B the gradient Aᵀ G. Here A = x (data: its gradient is not needed) and B = W:"
                    + block("@gW = x^T @gc, @gWfk = sum_i x[i, f] @gc[i, k]", ["@gW": gW, "@gc": gc,
                                                                               "@gWfk": M.sub(gW, M.row(M.mi("f"), M.mo(","), M.mi("k")))]),
                "Entry by entry" + (features * classes > 4 ? " (the first four)" : "") + ":" + entries.joined(),
            ])]
        }
        for label in ["W", "b"] {
            guard let leaf = trace.step(labelled: label) else { continue }
            notes[leaf.index] = [Note(heading: "Why: a leaf", paragraphs: [
                "\(label) is a parameter: the engine adds G into \(label).grad (it started empty, so \(label).grad = G)."
                    + block("@g = @v", ["@g": M.name("\(label).grad"), "@v": tensor(leaf.incoming)]),
            ])]
        }
        return notes
    }

    /// One training step of an MLP (`makeMLP`'s layers: Linear and activations), as `backprop
    /// train` takes it; `description` says which model and data.
    public static func trainingStep(_ step: ExplainedTrainingStep, model: Sequential, description: String) -> ExplainedPass {
        var stages: [ReplayableForward.Stage] = []
        for (i, layer) in model.layers.enumerated() {
            if let linear = layer as? Linear {
                let (w, b) = ("\(i).weight", "\(i).bias")
                let hasBias = linear.bias != nil
                stages.append(.init(hasBias ? "AddmmBackward0" : "MmBackward0") { p, h in h.linear(weight: p[w]!, bias: hasBias ? p[b] : nil) })
            } else if layer is Dropout {
                continue
            } else {
                let op: String
                switch layer {
                case is ReLU: op = "ReluBackward0"
                case is Tanh: op = "TanhBackward0"
                case is Sigmoid: op = "SigmoidBackward0"
                default: op = "GeluBackward0"
                }
                stages.append(.init(op) { _, h in layer.forward(h) })
            }
        }
        let t = step.target
        stages.append(.init("LogSoftmaxBackward0") { _, z in z.logSoftmax(dim: 1) })
        stages.append(.init("NllLossBackward0") { _, l in l.nllLoss(target: t) })
        let params = Dictionary(uniqueKeysWithValues: step.parametersBefore.map { ($0.name, $0.tensor) })
        let forward = ReplayableForward(input: step.x, parameters: params, stages: stages)
        var rows: [(String, String, Tensor)] = [("x", "data (the batch)", step.x), ("target", "class index", step.target)]
        for (name, tensor) in step.parametersBefore { rows.append((name, "parameter", tensor)) }
        rows.append(("logits", "model(x)", step.logits))
        rows.append(("loss", "cross_entropy(logits, target)", step.loss))
        let classes = step.logits.shape.last ?? 1
        return ExplainedPass(kind: "mlp", title: "One MLP training step: step through the backward pass", lead: description,
                             forwardRows: rows, trace: step.trace, forward: forward,
                             symbols: ["onehot": step.target.oneHot(numClasses: classes).to(step.x.dtype),
                                       "N": Tensor(scalar: Double(step.x.shape[0]), dtype: step.x.dtype)])
    }
}
