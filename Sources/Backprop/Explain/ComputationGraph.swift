/// The computation graph of a traced backward pass, ready to draw: ops, parameters and data, each
/// with its shape, value and gradient, and an edge from each input to the op that used it.
///
/// ```swift
/// let graph = ComputationGraph(trace)
/// print(graph.dot())                 // Graphviz DOT
/// let svg = graph.svg()              // a picture drawn in Swift, no Graphviz needed
/// ```
public struct ComputationGraph {
    /// What a vertex stands for.
    public enum Kind: String, Sendable {
        /// An op result (an inner node of the graph).
        case op
        /// A leaf that requires grad: a parameter, whose `.grad` the pass fills.
        case parameter
        /// A tensor that needs no gradient: data such as `x`.
        case constant
    }

    /// One vertex.
    public struct Node {
        /// Its id in the graph (`n<id>` in DOT).
        public let id: Int
        /// Op, parameter or data.
        public let kind: Kind
        /// The user's label or a constant's name; nil when it has none.
        public let label: String?
        /// The backward function's name for ops ("MmBackward0"); empty otherwise.
        public let op: String
        /// The tensor's shape.
        public let shape: [Int]
        /// Its forward value, when recorded.
        public let value: Tensor?
        /// The gradient that reached it in the traced pass (nil for constants, and nodes no gradient reached).
        public let grad: Tensor?
        /// The local rule, for ops.
        public let formula: String
        /// Whether this is the output the backward pass started from.
        public let isOutput: Bool
        /// The trace's id of the node (`BackwardTrace.Step.node`); nil for data.
        public var traceNode: Int? = nil

        /// The op in PyTorch's forward spelling: `MmBackward0` -> `mm`, `LogSoftmaxBackward0` -> `log_softmax`.
        public var opName: String {
            guard kind == .op else { return kind == .parameter ? "parameter" : "data" }
            var s = op
            if let r = s.range(of: "Backward") { s = String(s[..<r.lowerBound]) }
            var out = ""
            for (i, ch) in s.enumerated() {
                if ch.isUppercase && i > 0 { out += "_" }
                out += ch.lowercased()
            }
            return out
        }
    }

    /// An edge from an input to the op that used it (the forward direction).
    public struct Edge: Hashable {
        /// The input's node id.
        public let from: Int
        /// The op's node id.
        public let to: Int
        /// The argument position at the op.
        public let argument: Int
    }

    /// The vertices: the traced nodes in visit order (the output first), then data.
    public let nodes: [Node]
    /// One edge per argument of each op.
    public let edges: [Edge]

    /// The graph of the nodes a trace visited, with the data they used.
    public init(_ trace: BackwardTrace) {
        var nodes: [Node] = []
        var edges: [Edge] = []
        var nodeIndex: [Int: Int] = [:]       // trace node id -> graph id
        var constants: [(Tensor, Int)] = []
        let rootID = trace.steps.first?.node
        for s in trace.steps {
            nodeIndex[s.node] = nodes.count
            nodes.append(Node(id: nodes.count, kind: s.isLeaf ? .parameter : .op, label: s.label, op: s.isLeaf ? "" : s.op,
                              shape: s.shape, value: s.value, grad: s.incoming, formula: s.formula,
                              isOutput: s.node == rootID, traceNode: s.node))
        }
        // Inputs no gradient reached, and data.
        for s in trace.steps {
            for (i, input) in s.inputs.enumerated() {
                let from: Int
                if let n = input.node {
                    if let g = nodeIndex[n] { from = g } else {
                        from = nodes.count
                        nodeIndex[n] = from
                        nodes.append(Node(id: from, kind: .op, label: input.name, op: input.name, shape: input.shape,
                                          value: input.value, grad: nil, formula: "", isOutput: false, traceNode: n))
                    }
                } else if let v = input.value, let c = constants.first(where: { $0.0.storage === v.storage && $0.0.shape == v.shape }) {
                    from = c.1
                } else {
                    from = nodes.count
                    nodes.append(Node(id: from, kind: .constant, label: input.name == "constant" ? nil : input.name, op: "",
                                      shape: input.shape, value: input.value, grad: nil, formula: "", isOutput: false))
                    if let v = input.value { constants.append((v, from)) }
                }
                edges.append(Edge(from: from, to: nodeIndex[s.node]!, argument: i))
            }
        }
        self.nodes = nodes
        self.edges = edges
    }

    /// The lines that describe a node: title, op and shape, value, gradient.
    public func lines(_ n: Node, limit: Int = 8) -> [String] {
        var out: [String] = []
        switch n.kind {
        case .op: out.append((n.label.map { "\($0) = " } ?? "") + n.opName)
        case .parameter: out.append("\(n.label ?? "leaf")  (parameter)")
        case .constant: out.append("\(n.label ?? "constant")  (data, no grad)")
        }
        out.append("shape " + ExplainFormat.shape(n.shape) + (n.kind == .op ? "  " + n.op : ""))
        if let v = n.value { out.append("value " + ExplainFormat.values(v, limit: limit)) }
        if let g = n.grad { out.append("grad  " + ExplainFormat.values(g, limit: limit)) }
        return out
    }

    /// Graphviz DOT: inputs on the left, the output on the right; parameters green, data grey,
    /// ops blue, the output orange.
    public func dot(title: String = "backprop", limit: Int = 8) -> String {
        func quote(_ s: String) -> String {
            "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        var out = "digraph \(quote(title)) {\n"
        out += "  rankdir=LR;\n"
        // A generic family: Graphviz (through fontconfig) and browsers find one everywhere, and a
        // monospace face has the widths Graphviz assumes when it sizes the boxes.
        out += "  node [shape=box, style=\"rounded,filled\", fontname=\"monospace\", fontsize=13, margin=\"0.2,0.08\"];\n"
        out += "  edge [color=\"#555555\", fontname=\"sans-serif\", fontsize=12, fontcolor=\"#8a3b00\"];\n"
        for n in nodes {
            let label = lines(n, limit: limit).map { $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") }
                .joined(separator: "\\l") + "\\l"
            let (fill, shape) = ComputationGraph.style(n)
            let extra = n.kind == .parameter ? ", peripheries=2" : (n.isOutput ? ", penwidth=2" : "")
            out += "  n\(n.id) [label=\"\(label)\", fillcolor=\"\(fill)\", shape=\(shape)\(extra)];\n"
        }
        for e in edges {
            out += "  n\(e.from) -> n\(e.to)" + (multiInput(e.to) ? " [label=\"\(argName(e))\"]" : "") + ";\n"
        }
        let legend = edgeLegend()
        if !legend.isEmpty {
            let text = (["Edge labels: the argument of the op's rule each input is"] + legend)
                .map { $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") }
                .joined(separator: "\\l") + "\\l"
            // A caption under the picture (a graph label), so that it does not take a column of its own.
            out += "  graph [label=\"\(text)\", labelloc=b, labeljust=l, fontname=\"monospace\", fontsize=12, fontcolor=\"#333333\"];\n"
        }
        out += "}\n"
        return out
    }

    static func style(_ n: Node) -> (fill: String, shape: String) {
        if n.isOutput { return ("#fdd9b5", "box") }
        switch n.kind {
        case .op: return ("#dbe9f6", "box")
        case .parameter: return ("#d5efd5", "box")
        case .constant: return ("#eeeeee", "note")
        }
    }

    func multiInput(_ id: Int) -> Bool { edges.filter { $0.to == id }.count > 1 }

    /// The formula's name of an edge's argument (a/b, A/B).
    func argName(_ e: Edge) -> String {
        let op = nodes[e.to].op
        let count = edges.filter { $0.to == e.to }.count
        return String(ExplainFormat.role(op: op, formula: nodes[e.to].formula, index: e.argument, count: count).dropFirst())
    }
}
