import Synchronization

/// One vertex of the autograd graph: a tensor that requires grad.
///
/// A leaf node (made by `requiringGrad()`) holds the accumulated gradient in `grad`. An op node
/// holds the op's backward rule, the nodes of its inputs (never of its outputs, so that ARC frees
/// a graph as soon as its result is dropped) and the formula of the rule for explanations.
public final class GradNode: @unchecked Sendable {
    /// The op's backward rule as its description states it: PyTorch's name and the formula.
    public let rule: BackwardRule
    /// PyTorch's name for the backward function, e.g. `MmBackward0`; "AccumulateGrad" for leaves.
    public var name: String { rule.name }
    /// The local rule, written in terms of the op's inputs and the incoming gradient `G`.
    public var formula: String { rule.formula }
    /// Nodes of the inputs, in argument order; nil for inputs that need no gradient.
    /// (Emptied only while the node is being freed; see `deinit`.)
    public var inputs: [GradNode?] {
        if let moreInputs { return moreInputs }
        return Array([input0, input1, input2].prefix(inputCount))
    }
    /// The number of inputs. Up to three are stored in fields (no array to allocate for the common
    /// ops); ops of four or more inputs keep them all in `moreInputs`.
    private(set) var inputCount: Int
    private var input0: GradNode?
    private var input1: GradNode?
    private var input2: GradNode?
    private var moreInputs: [GradNode?]?

    /// The node of input `i` (`i < inputCount`).
    @inline(__always) func input(_ i: Int) -> GradNode? { inputRef(i)?.takeUnretainedValue() }

    /// The node of input `i` (`i < inputCount`) without taking a reference: valid while this node
    /// holds its inputs (for the backward engine's walk).
    @inline(__always) func inputRef(_ i: Int) -> Unmanaged<GradNode>? {
        if moreInputs == nil {
            switch i {
            case 0: return input0.map { Unmanaged.passUnretained($0) }
            case 1: return input1.map { Unmanaged.passUnretained($0) }
            default: return input2.map { Unmanaged.passUnretained($0) }
            }
        }
        return moreInputs![i].map { Unmanaged.passUnretained($0) }
    }

    /// Whether input `i` needs a gradient (has a node).
    @inline(__always) func needsGrad(_ i: Int) -> Bool { inputRef(i) != nil }

    /// Puts the input nodes that have inputs of their own on `stack` (a node without inputs dies at
    /// once when released), then forgets all inputs (only while the node is being freed).
    private func moveInputs(into stack: inout TeardownStack) {
        if let moreInputs {
            for case let x? in moreInputs where x.inputCount > 0 { stack.push(x) }
        } else {
            if let a = input0, a.inputCount > 0 { stack.push(a) }
            if let b = input1, b.inputCount > 0 { stack.push(b) }
            if let c = input2, c.inputCount > 0 { stack.push(c) }
        }
        dropInputs()
    }

    /// Forgets the inputs (only while the node is being freed).
    private func dropInputs() {
        input0 = nil; input1 = nil; input2 = nil; moreInputs = nil; inputCount = 0
    }
    /// The backward function, the one form every op's rule takes: the node and the incoming gradient
    /// in, one gradient per input out (nil where none is needed). Most rules keep what they need in
    /// the node's `saved` fields and capture nothing (no closure context to allocate per op).
    @exclusivity(unchecked) var backward: ((GradNode, Tensor) -> InputGrads)?
    /// Tensors and numbers saved for `backward`.
    @exclusivity(unchecked) var saved0: Tensor?
    @exclusivity(unchecked) var saved1: Tensor?
    var savedInt = 0
    var savedDouble = 0.0
    /// Whether the rule saved tensors that a backward without `retainGraph` frees.
    let savesTensors: Bool
    /// Set once a backward pass without `retainGraph` freed the saved tensors.
    @exclusivity(unchecked) var released = false
    /// The output's shape, to check and create incoming gradients.
    public let shape: [Int]
    /// The output's dtype.
    public let dtype: DType

    /// For leaves: the accumulated gradient. For op nodes: the gradient kept by `retainGrad()`.
    @exclusivity(unchecked) public internal(set) var grad: Tensor?
    /// Whether `grad` is kept for this non-leaf node.
    var retainsGrad = false
    /// Work fields of the backward engine. (Only the engine touches them, one access at a time:
    /// the dynamic exclusivity check that a class `var` pays on every access is switched off.)
    @exclusivity(unchecked) var pending: Tensor?
    @exclusivity(unchecked) var dependencies = 0
    /// The number of the backward pass that last discovered this node (replaces a visited set).
    @exclusivity(unchecked) var visitMark: UInt64 = 0

    /// The fields only explanations use, allocated when one is first set.
    private final class Extras {
        var label: String?
        var value: Tensor?
        var inputValues: [Tensor]?
    }
    private var extras: Extras?
    private var ensuredExtras: Extras {
        if let extras { return extras }
        let e = Extras()
        extras = e
        return e
    }

    /// A user-readable label (variable name) for explanations and graphs.
    public var label: String? {
        get { extras?.label }
        set { if newValue != nil || extras != nil { ensuredExtras.label = newValue } }
    }
    /// The forward value, kept only while explanations are being recorded (for a leaf: its value
    /// when an op last used it, or when it was made).
    var value: Tensor? {
        get { extras?.value }
        set { if newValue != nil || extras != nil { ensuredExtras.value = newValue } }
    }
    /// The forward values of the op's inputs, in argument order, including inputs that need no
    /// gradient (data); kept only while explanations are being recorded.
    var inputValues: [Tensor]? {
        get { extras?.inputValues }
        set { if newValue != nil || extras != nil { ensuredExtras.inputValues = newValue } }
    }

    /// Whether this node is a leaf made by the user (PyTorch's `is_leaf` with `requires_grad`).
    public let isLeaf: Bool

    init(leafShape shape: [Int], dtype: DType) {
        rule = BackwardRule.accumulateGrad; inputCount = 0; backward = nil; savesTensors = false; isLeaf = true
        self.shape = shape; self.dtype = dtype
        GradNode.live.add(1, ordering: .relaxed)
    }

    /// An op node of one to three inputs (nil where an input needs no gradient).
    init(rule: BackwardRule, inputCount: Int, _ a: GradNode?, _ b: GradNode?, _ c: GradNode?,
         savesTensors: Bool, shape: [Int], dtype: DType, backward: @escaping (GradNode, Tensor) -> InputGrads) {
        self.rule = rule
        self.inputCount = inputCount
        input0 = a; input1 = b; input2 = c
        self.savesTensors = savesTensors; self.backward = backward; isLeaf = false
        self.shape = shape; self.dtype = dtype
        GradNode.live.add(1, ordering: .relaxed)
    }

    /// An op node of any number of inputs (`cat`, `stack`).
    init(rule: BackwardRule, inputs: [GradNode?], savesTensors: Bool, shape: [Int], dtype: DType,
         backward: @escaping (GradNode, Tensor) -> InputGrads) {
        self.rule = rule
        inputCount = inputs.count
        if inputs.count <= 3 {
            input0 = inputs.first ?? nil
            input1 = inputs.count >= 2 ? inputs[1] : nil
            input2 = inputs.count >= 3 ? inputs[2] : nil
        } else {
            moreInputs = inputs
        }
        self.savesTensors = savesTensors; self.backward = backward; isLeaf = false
        self.shape = shape; self.dtype = dtype
        GradNode.live.add(1, ordering: .relaxed)
    }

    /// Frees what the rule saved (a backward pass without `retainGraph`).
    func releaseSaved() {
        backward = nil; saved0 = nil; saved1 = nil; released = true
    }

    /// Frees the chain of inputs that only this node kept alive without recursion: ARC would
    /// otherwise release a 100,000-op chain one nested `deinit` per node and overflow the stack.
    /// Each input this node held the last reference to is emptied of its own inputs before it dies,
    /// so every `deinit` below this one returns at once.
    deinit {
        GradNode.live.subtract(1, ordering: .relaxed)
        guard inputCount > 0 else { return }
        // Common case: no input is freed with this node (each is still held elsewhere).
        if moreInputs == nil {
            let sole0 = isKnownUniquelyReferenced(&input0) && input0!.inputCount > 0
            let sole1 = isKnownUniquelyReferenced(&input1) && input1!.inputCount > 0
            let sole2 = isKnownUniquelyReferenced(&input2) && input2!.inputCount > 0
            if !sole0 && !sole1 && !sole2 { return }
        }
        var pending = TeardownStack()
        moveInputs(into: &pending)
        while var n = pending.pop() {
            if isKnownUniquelyReferenced(&n) { n.moveInputs(into: &pending) }
            // `n` is released here; when it was the last reference its deinit finds no inputs.
        }
    }

    /// The number of graph nodes alive in the process (for leak tests).
    public static var liveCount: Int { live.load(ordering: .relaxed) }
    static let live = Atomic<Int>(0)
}

/// The nodes still to free while a graph is torn down: the top in a field, the rest in an array that
/// is only allocated when the graph branches (a chain of ops needs none).
struct TeardownStack {
    private var top: GradNode?
    private var rest: [GradNode] = []

    @inline(__always) mutating func push(_ n: GradNode) {
        if let t = top { rest.append(t) }
        top = n
    }

    @inline(__always) mutating func pop() -> GradNode? {
        if top != nil {
            var t: GradNode? = nil
            swap(&t, &top)
            return t
        }
        return rest.popLast()
    }
}

/// The gradients a rule sends to its inputs: up to three in fields (no array per node), more
/// (`cat` of many tensors) in an array.
struct InputGrads {
    private var g0: Tensor?
    private var g1: Tensor?
    private var g2: Tensor?
    private var more: [Tensor?]?

    @inline(__always) init(_ g0: consuming Tensor?, _ g1: consuming Tensor? = nil, _ g2: consuming Tensor? = nil) {
        self.g0 = g0; self.g1 = g1; self.g2 = g2
    }

    /// One gradient per input, in input order (any number of inputs).
    init(_ all: [Tensor?]) {
        if all.count <= 3 {
            g0 = all.first ?? nil
            g1 = all.count >= 2 ? all[1] : nil
            g2 = all.count >= 3 ? all[2] : nil
        } else {
            more = all
        }
    }

    /// Moves gradient `i` out (a copy left here would keep its storage shared).
    @inline(__always) mutating func take(_ i: Int) -> Tensor? {
        var out: Tensor? = nil
        if more != nil {
            if i < more!.count { swap(&out, &more![i]) }
            return out
        }
        switch i {
        case 0: swap(&out, &g0)
        case 1: swap(&out, &g1)
        case 2: swap(&out, &g2)
        default: break
        }
        return out
    }

    /// The first `count` gradients as an array (for traces and explanations).
    func array(_ count: Int) -> [Tensor?] {
        if let more { return Array(more.prefix(count)) + [Tensor?](repeating: nil, count: Swift.max(0, count - more.count)) }
        return Array([g0, g1, g2].prefix(count)) + [Tensor?](repeating: nil, count: Swift.max(0, count - 3))
    }
}

extension GradNode {
    /// Whether the backward pass running this rule records the gradients it computes (PyTorch's
    /// `create_graph=True`): the rule must then compute them with recorded ops, from the values
    /// below, instead of raw kernels.
    @inline(__always) static var recordsGradients: Bool { GradMode.isEnabled }

    /// `value`, the saved value of input `i`, as a tensor of the graph when the gradients are
    /// recorded (so that they depend on the input); else `value` as it is.
    @inline(__always) func input(_ i: Int, value: Tensor) -> Tensor {
        guard GradNode.recordsGradients else { return value }
        var t = value
        t.node = input(i)
        return t
    }

    /// `value`, the saved output of this node, as the output tensor itself when the gradients are
    /// recorded (a gradient that depends on the output depends on the inputs through this node).
    @inline(__always) func output(value: Tensor) -> Tensor {
        guard GradNode.recordsGradients else { return value }
        precondition(value.shape == shape, "backward: saved output of shape \(value.shape) for a node of shape \(shape)")
        var t = value
        t.node = self
        return t
    }
}
