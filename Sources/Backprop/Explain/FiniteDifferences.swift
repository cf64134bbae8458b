import Foundation

/// A forward pass written as a chain of stages that can be run again from any of them, in
/// Float64 and without autograd: what a finite-difference check of a traced backward pass needs.
///
/// Stage k maps the output of stage k - 1 (the data `input` for the first) and the parameters to
/// its output; the last stage gives the loss. The stages mirror the traced graph's path from the
/// data to the loss (`x.mm(W)`, `+ b`, `log_softmax`, `nll_loss` for the notebook), so that the
/// loss can be recomputed with one entry of a node's value, or of a parameter, nudged.
public struct ReplayableForward {
    /// One stage: the op's backward name as the trace records it, and the computation.
    public struct Stage {
        /// The trace's name of the op (`MmBackward0`), to match the stage to its node.
        public let op: String
        /// The stage's output from the parameters (by name) and the previous stage's output.
        public let apply: ([String: Tensor], Tensor) -> Tensor

        /// A stage named `op` computing `apply`.
        public init(_ op: String, _ apply: @escaping ([String: Tensor], Tensor) -> Tensor) {
            self.op = op
            self.apply = apply
        }
    }

    /// The data the first stage reads.
    public let input: Tensor
    /// The parameters' values the traced forward pass used, by name (the leaves' labels).
    public let parameters: [String: Tensor]
    /// The stages, from the data to the loss.
    public let stages: [Stage]

    /// A forward pass of `stages` on `input` with `parameters`.
    public init(input: Tensor, parameters: [String: Tensor], stages: [Stage]) {
        self.input = input
        self.parameters = parameters
        self.stages = stages
    }

    /// The loss in Float64, with `parameters` replaced where `overrides` says, starting from
    /// `value` as the output of stage `from` (nil: from the data).
    public func loss(overrides: [String: Tensor] = [:], from stage: Int? = nil, value: Tensor? = nil) -> Double {
        withNoGrad {
            var p: [String: Tensor] = [:]
            for (k, v) in parameters { p[k] = (overrides[k] ?? v).to(.float64) }
            var h = (value ?? input).to(.float64)
            let start = stage.map { $0 + 1 } ?? 0
            for s in stages[start...] { h = s.apply(p, h) }
            return h.scalars.first ?? .nan
        }
    }

    /// The output of every stage, in the original dtype (to match the stages to a trace).
    public func values() -> [Tensor] {
        withNoGrad {
            var h = input
            return stages.map { s in h = s.apply(parameters, h); return h }
        }
    }
}

/// A finite-difference check of a few entries of one gradient: central differences of the loss
/// in Float64 against the traced gradient.
public struct FiniteDifferenceCheck {
    /// One checked entry.
    public struct Entry {
        /// Its position in the tensor (row-major).
        public let index: [Int]
        /// The gradient the backward pass computed.
        public let autograd: Double
        /// (loss(v + eps) - loss(v - eps)) / (2 eps).
        public let numeric: Double
        /// Whether the two agree within the tolerances of `FiniteDifferenceCheck`.
        public var agrees: Bool {
            Swift.abs(autograd - numeric) <= FiniteDifferenceCheck.atol + FiniteDifferenceCheck.rtol * Swift.abs(numeric)
        }
    }

    /// The step of eps (in Float64).
    public static let eps = 1e-6
    /// Agreement: |autograd - numeric| <= atol + rtol * |numeric| (gradcheck's float32-friendly bounds).
    public static let atol = 1e-4, rtol = 1e-3

    /// The checked entries.
    public let entries: [Entry]
    /// Whether every entry agrees.
    public var passed: Bool { entries.allSatisfy(\.agrees) }

    /// The entries a check looks at: the largest in magnitude, then the first and the last.
    public static func chosenEntries(_ g: Tensor, count: Int = 3) -> [Int] {
        let v = g.scalars
        guard !v.isEmpty else { return [] }
        var out: [Int] = []
        if let big = v.indices.max(by: { Swift.abs(v[$0]) < Swift.abs(v[$1]) }) { out.append(big) }
        for i in [0, v.count - 1, v.count / 2] where !out.contains(i) && out.count < count { out.append(i) }
        return out
    }

    /// Checks gradient `g` of a tensor of value `value` against central differences of `loss`,
    /// a function of that tensor's value.
    public static func check(_ g: Tensor, value: Tensor, loss: (Tensor) -> Double) -> FiniteDifferenceCheck {
        let base = value.to(.float64).scalars
        let autograd = g.scalars
        let entries = chosenEntries(g).map { i -> Entry in
            var plus = base, minus = base
            plus[i] += eps; minus[i] -= eps
            let shape = value.shape
            let fd = (loss(Tensor(plus, shape: shape, dtype: .float64)) - loss(Tensor(minus, shape: shape, dtype: .float64))) / (2 * eps)
            return Entry(index: Tensor.multiIndex(i, shape: shape), autograd: autograd[i], numeric: fd)
        }
        return FiniteDifferenceCheck(entries: entries)
    }

    /// Checks of every traced gradient that `forward` can recompute: each node on the chain from
    /// the data to the loss (matched to the stages by op name, in order) and each parameter leaf
    /// (by label), keyed by the trace's node id.
    public static func checks(_ trace: BackwardTrace, forward: ReplayableForward) -> [Int: FiniteDifferenceCheck] {
        var out: [Int: FiniteDifferenceCheck] = [:]
        // The chain: from the loss along each op's first input.
        var chain: [BackwardTrace.Step] = []
        var node: Int? = trace.steps.first?.node
        while let n = node, let s = trace.step(node: n), !s.isLeaf {
            chain.append(s)
            node = s.inputs.first?.node
        }
        chain.reverse()
        if chain.count == forward.stages.count && zip(chain, forward.stages).allSatisfy({ $0.op == $1.op }) {
            for (k, s) in chain.enumerated() {
                guard let value = s.value else { continue }
                out[s.node] = check(s.incoming, value: value) { forward.loss(from: k, value: $0) }
            }
        }
        for s in trace.steps where s.isLeaf {
            guard let name = s.label, forward.parameters[name] != nil, let value = s.value else { continue }
            out[s.node] = check(s.incoming, value: value) { forward.loss(overrides: [name: $0]) }
        }
        return out
    }
}
