/// One backward pass, node by node: what the engine did at each node of the graph, with the numbers.
///
/// Record it in place of `loss.backward()`; the leaves' `.grad` are accumulated exactly as `backward`
/// does, and the trace holds, for each node in the order the engine visited it, the op, its shape,
/// its forward value (when the forward pass ran inside `Explain.recordingValues`), the local rule
/// (the formula stored with the op's backward rule), the gradient that reached it, where that
/// gradient came from, and what it sent to each input.
///
/// ```swift
/// let (x, W) = (Tensor([[8, -2]]), Tensor([[1, 2], [2, 1]]).requiringGrad().named("W"))
/// let loss = Explain.recordingValues { x.mm(W).crossEntropy(target: Tensor(indices: [0])) }
/// let trace = try BackwardTrace.record(loss, names: [("x", x)])
/// print(trace.text())
/// ```
public struct BackwardTrace {
    /// One input of a traced node: another node of the graph, or a tensor that needs no gradient.
    public struct Input {
        /// The `Step.node` id of the input's node; nil for a tensor that needs no gradient (data).
        public let node: Int?
        /// Its label, its op's name, or the name given to `record` for a constant; "constant" otherwise.
        public let name: String
        /// Its shape (the shape of the gradient sent to it).
        public let shape: [Int]
        /// Its forward value, when recorded.
        public let value: Tensor?
        /// The gradient this node's rule sent to it (nil where none was needed).
        public let sent: Tensor?
    }

    /// What reached a node from one of its uses.
    public struct Contribution {
        /// The `Step.index` of the node that sent it; 0 for the seed of the backward pass.
        public let fromStep: Int
        /// The gradient sent.
        public let gradient: Tensor
    }

    /// What the engine did at one node.
    public struct Step {
        /// The position of this visit, from 1.
        public let index: Int
        /// An id of the node, stable within the trace (0 is the output the pass started from).
        public let node: Int
        /// PyTorch's name of the backward function (`MmBackward0`), "AccumulateGrad" for a leaf.
        public let op: String
        /// The user's name of the tensor (`tensor.named("W")`), if any.
        public let label: String?
        /// Whether the node is a leaf (its gradient is accumulated into `.grad`).
        public let isLeaf: Bool
        /// The node's shape.
        public let shape: [Int]
        /// The forward value of the node, when recorded.
        public let value: Tensor?
        /// The local rule in terms of the op's inputs and the incoming gradient `G` ("" for leaves).
        public let formula: String
        /// G: the total gradient that reached this node.
        public let incoming: Tensor
        /// The parts of `incoming`, one per use of the node on a path to the output; they sum to it.
        public let contributions: [Contribution]
        /// The op's inputs in argument order, with what the rule sent to each (empty for leaves).
        public let inputs: [Input]

        /// The label if there is one, otherwise the op's name.
        public var title: String { label ?? op }
    }

    /// The steps, in the order the backward pass visited the nodes.
    public let steps: [Step]

    /// The first step whose node carries `label`.
    public func step(labelled label: String) -> Step? { steps.first { $0.label == label } }

    /// The step of node `id`.
    public func step(node id: Int) -> Step? { steps.first { $0.node == id } }

    /// Runs `output.backward(gradient:retainGraph:)` and records what it did.
    ///
    /// - Parameters:
    ///   - output: the tensor to backpropagate from (the loss).
    ///   - gradient: the gradient of `output`, of its shape; nil when `output` has one element.
    ///   - retainGraph: keep the tensors the graph saved, so that backward can run through it again.
    ///   - names: names for tensors that need no gradient (data such as `x`), matched by
    ///     storage, so that traces and graphs can say "x" rather than "constant".
    /// - Throws: the `AutogradError` of `tryBackward` (a second backward through a freed graph, a
    ///   missing gradient for an output of more than one element).
    public static func record(_ output: Tensor, gradient: Tensor? = nil, retainGraph: Bool = false,
                              names: [(String, Tensor)] = []) throws -> BackwardTrace {
        var ids: [ObjectIdentifier: Int] = [:]
        func id(_ n: GradNode) -> Int {
            if let i = ids[ObjectIdentifier(n)] { return i }
            let i = ids.count
            ids[ObjectIdentifier(n)] = i
            return i
        }
        if let root = output.gradNode { _ = id(root) }
        var contributions: [Int: [Contribution]] = [:]
        var steps: [Step] = []
        var first = true
        try output.tryBackward(gradient: gradient, retainGraph: retainGraph) { s in
            let n = s.node
            let me = id(n)
            let index = steps.count + 1
            if first { contributions[me, default: []].append(Contribution(fromStep: 0, gradient: s.incoming)); first = false }
            var inputs: [Input] = []
            for (i, inputNode) in n.inputs.enumerated() {
                let sent = i < s.sent.count ? s.sent[i] : nil
                let value = n.inputValues.flatMap { i < $0.count ? $0[i] : nil }
                if let inputNode {
                    let j = id(inputNode)
                    if let sent { contributions[j, default: []].append(Contribution(fromStep: index, gradient: sent)) }
                    inputs.append(Input(node: j, name: inputNode.label ?? inputNode.name, shape: inputNode.shape,
                                        value: value ?? inputNode.value, sent: sent))
                } else {
                    let name = value.flatMap { v in names.first { $0.1.storage === v.storage }?.0 } ?? "constant"
                    inputs.append(Input(node: nil, name: name, shape: value?.shape ?? [], value: value, sent: nil))
                }
            }
            steps.append(Step(index: index, node: me, op: n.name, label: n.label, isLeaf: n.isLeaf, shape: n.shape,
                              value: n.value, formula: n.formula, incoming: s.incoming,
                              contributions: contributions[me] ?? [], inputs: inputs))
        }
        return BackwardTrace(steps: steps)
    }

    /// The trace as text: one block per step with the rule, G, and the gradients sent.
    public func text(limit: Int = 12) -> String {
        var out = ""
        for s in steps {
            let head = s.isLeaf ? "leaf \(s.label ?? "(unnamed)")" : "\(s.op)" + (s.label.map { "  (\($0))" } ?? "")
            out += "step \(s.index): \(head)  shape \(ExplainFormat.shape(s.shape))\n"
            if let v = s.value { out += "    value      \(ExplainFormat.values(v, limit: limit))\n" }
            if s.contributions.count > 1 {
                for c in s.contributions {
                    out += "    from step \(c.fromStep)  \(ExplainFormat.values(c.gradient, limit: limit))\n"
                }
                out += "    G (the sum) \(ExplainFormat.values(s.incoming, limit: limit))\n"
            } else {
                out += "    G          \(ExplainFormat.values(s.incoming, limit: limit))\n"
            }
            if s.isLeaf {
                out += "    \(s.label ?? "leaf").grad += G\n"
                continue
            }
            out += "    rule       \(s.formula)\n"
            for (i, input) in s.inputs.enumerated() {
                let role = ExplainFormat.role(op: s.op, formula: s.formula, index: i, count: s.inputs.count)
                let sent = input.sent.map { ExplainFormat.values($0, limit: limit) }
                    ?? (input.node == nil ? "(no gradient: \(input.name) does not require grad)" : "(none)")
                out += "    \(role) = \(input.name) \(ExplainFormat.shape(input.shape)) gets \(sent)\n"
            }
        }
        return out
    }
}

/// Number and shape formatting shared by traces, graphs and pages.
public enum ExplainFormat {
    /// `[2, 3]`; `[]` for a scalar.
    public static func shape(_ s: [Int]) -> String { "[" + s.map(String.init).joined(separator: ", ") + "]" }

    /// A number with 5 significant digits, as a learner reads it: `-0.99995`, `4.5398e-05`, `10`.
    public static func number(_ v: Double) -> String {
        if v.isNaN { return "nan" }
        if v.isInfinite { return v > 0 ? "inf" : "-inf" }
        if v == 0 { return "0" }
        return String(format: "%.5g", v)
    }

    /// The values, nested like the tensor when it has at most `limit` elements, otherwise the first
    /// few and the count: `[0.1, -0.2, 0.3, … ] (64 values)`.
    public static func values(_ t: Tensor, limit: Int = 12) -> String {
        let v = t.scalars
        if t.rank == 0 { return number(v.first ?? 0) }
        if v.count > limit {
            let head = v.prefix(max(1, min(limit, 6) - 1)).map(number).joined(separator: ", ")
            return "[\(head), … ] (\(v.count) values)"
        }
        return t.nested(element: { number(v[$0]) }, group: { "[" + $0.joined(separator: ", ") + "]" })
    }

    /// A summary short enough for a box of the graph: the values when there are at most four, else
    /// their range and count, `-0.553 … 0.571 (24)`.
    public static func summary(_ t: Tensor) -> String {
        let v = t.scalars
        func g4(_ x: Double) -> String { x == 0 ? "0" : (x.isFinite ? String(format: "%.4g", x) : number(x)) }
        if v.count <= 4 {
            if t.rank == 0 { return g4(v.first ?? 0) }
            return t.nested(element: { g4(v[$0]) }, group: { "[" + $0.joined(separator: ", ") + "]" })
        }
        let finite = v.filter(\.isFinite)
        guard let lo = finite.min(), let hi = finite.max() else { return "\(v.count) values" }
        func short(_ x: Double) -> String { x == 0 ? "0" : String(format: "%.3g", x) }
        return "\(short(lo)) … \(short(hi)) (\(v.count))"
    }

    /// The name the formula gives to input `index` of an op: the gradients it defines, in order
    /// (`dx = G W, dW = G^T x, db = ...` names dx, dW, db); otherwise a and b for elementwise ops,
    /// A and B for matrix products, x for one-input ops.
    public static func role(op: String, formula: String = "", index: Int, count: Int) -> String {
        let named = gradientNames(formula)
        if named.count == count { return named[index] }
        if count == 1 { return "dx" }
        let upper = op.hasPrefix("Mm") || op.hasPrefix("Bmm")
        let letters = upper ? ["A", "B", "C", "D"] : ["a", "b", "c", "d"]
        return "d" + (index < letters.count ? letters[index] : "x\(index)")
    }

    /// The left-hand sides `dX = ...` of a formula, in order.
    static func gradientNames(_ formula: String) -> [String] {
        formula.components(separatedBy: ", ").compactMap { part -> String? in
            let lhs = part.split(separator: "=", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            let name = lhs.prefix { $0 != "[" }
            guard part.contains("="), name.count >= 2, name.first == "d",
                  name.dropFirst().allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { return nil }
            return String(name)
        }
    }
}
