import CBackpropKernels
import Foundation

/// The autograd side of `Tensor`: leaves, `.grad`, `backward`.
extension Tensor {
    /// Whether gradients flow to this tensor (it is a leaf that requires grad or an op result on one).
    public var requiresGrad: Bool { node != nil }

    /// A leaf that requires grad, holding the same values (PyTorch's `requires_grad_()`/`requires_grad=True`).
    ///
    /// With `false`, the same values with no autograd history.
    public func requiringGrad(_ flag: Bool = true) -> Tensor {
        precondition(!flag || dtype.isFloatingPoint,
                     "requiringGrad: only floating point tensors can require gradients (got \(dtype))")
        var t = detached()
        if flag {
            t.node = GradNode(leafShape: shape, dtype: dtype)
            if Explain.recordingValues { t.node?.value = t.detached() }
        }
        return t
    }

    /// Whether this tensor is a leaf of the graph: made by the user, or computed without grad.
    public var isLeaf: Bool { node?.isLeaf ?? true }

    /// PyTorch's name of the function that made this tensor, e.g. `AddBackward0`; nil for leaves.
    public var gradFn: String? {
        guard let n = node, !n.isLeaf else { return nil }
        return n.name
    }

    /// The autograd node of this tensor, for explanations (nil when it does not require grad).
    public var gradNode: GradNode? { node }

    /// The accumulated gradient: set on leaves by `backward()`, on other tensors only after `retainGrad()`.
    ///
    /// Copies of a tensor share it. Setting it to nil restarts accumulation (what `zeroGrad()` does).
    public var grad: Tensor? {
        get { node?.grad }
        nonmutating set {
            guard let node else { preconditionFailure("grad: tensor does not require grad") }
            if let v = newValue {
                precondition(v.shape == node.shape,
                             "grad: assigned gradient of shape \(v.shape) to a tensor of shape \(node.shape)")
            }
            node.grad = newValue?.detached()
        }
    }

    /// Forgets the accumulated gradient (PyTorch's `zero_grad(set_to_none=True)`).
    public func zeroGrad() { node?.grad = nil }

    /// Keeps `.grad` for this non-leaf tensor in the next backward passes (PyTorch's `retain_grad()`).
    public func retainGrad() {
        guard let node else { preconditionFailure("retainGrad: tensor does not require grad") }
        if !node.isLeaf { node.retainsGrad = true }
    }

    /// Gives this tensor a name that explanations and graphs show.
    public func named(_ label: String) -> Tensor {
        node?.label = label
        return self
    }

    /// Backpropagates from this tensor, adding gradients into the leaves' `.grad` (PyTorch's `backward`).
    ///
    /// A tensor with one element needs no `gradient`; any other needs one of its shape (the vector of
    /// the vector-Jacobian product). Without `retainGraph`, the tensors the graph saved are freed and
    /// a second backward through it stops. With `createGraph`, the gradients are themselves recorded
    /// (each leaf's `.grad` then has a graph of its own, and accumulation into an existing `.grad`
    /// stays differentiable), so they can be differentiated again; `retainGraph` then defaults to
    /// true, as in PyTorch. Misuse stops the program with PyTorch's message; use `tryBackward` to
    /// get it as an error instead.
    public func backward(gradient: Tensor? = nil, retainGraph: Bool? = nil, createGraph: Bool = false) {
        do { try tryBackward(gradient: gradient, retainGraph: retainGraph, createGraph: createGraph) } catch {
            fatalError("backward: \(error)")
        }
    }

    /// `backward`, throwing an `AutogradError` instead of stopping.
    public func tryBackward(gradient: Tensor? = nil, retainGraph: Bool? = nil, createGraph: Bool = false,
                            observe: ((BackwardStep) -> Void)? = nil) throws {
        guard let node else { throw AutogradError.noGradFn }
        let seed = try seedGradient(gradient, keepGraph: createGraph)
        _ = try Engine.run(root: node, seed: seed, retainGraph: retainGraph ?? createGraph, accumulate: true,
                           createGraph: createGraph, observe: observe)
    }

    static let scalarOne32 = Tensor.ones([], dtype: .float32)
    static let scalarOne64 = Tensor.ones([], dtype: .float64)

    func seedGradient(_ gradient: Tensor?, keepGraph: Bool = false) throws -> Tensor {
        if let gradient {
            precondition(gradient.shape == shape,
                         "backward: gradient of shape \(gradient.shape) for a tensor of shape \(shape)")
            // With createGraph, a seed that requires grad stays in the graph (PyTorch's grad_outputs).
            if keepGraph { return gradient.dtype == dtype ? gradient : withGrad { gradient.to(dtype) } }
            return gradient.dtype == dtype ? gradient.detached() : gradient.to(dtype)
        }
        guard count == 1 else { throw AutogradError.implicitNonScalar }
        if shape.isEmpty {
            // Shared constants: nothing writes into a shared storage (updates copy it first).
            switch dtype {
            case .float32: return Tensor.scalarOne32
            case .float64: return Tensor.scalarOne64
            case .int64, .bool: break
            }
        }
        return Tensor.ones(shape, dtype: dtype)
    }
}

/// The gradients of `output` with respect to `inputs`, without touching any `.grad`
/// (PyTorch's `torch.autograd.grad`). An input that `output` does not depend on gets nil.
///
/// - Parameters:
///   - output: the tensor to differentiate.
///   - inputs: the tensors (each requiring grad) to differentiate it with respect to.
///   - gradOutputs: the vector of the vector-Jacobian product (PyTorch's `grad_outputs`); needed
///     unless `output` has one element. With `createGraph` it may itself require grad.
///   - createGraph: record the gradients, so that they can be differentiated again.
///   - retainGraph: keep the graph's saved tensors for another backward (default: `createGraph`).
public func gradients(of output: Tensor, wrt inputs: [Tensor], gradOutputs: Tensor? = nil,
                      createGraph: Bool = false, retainGraph: Bool? = nil) throws -> [Tensor?] {
    guard let root = output.node else { throw AutogradError.noGradFn }
    let nodes = inputs.map { x -> GradNode in
        guard let n = x.node else { preconditionFailure("gradients(of:wrt:): an input does not require grad") }
        return n
    }
    let seed = try output.seedGradient(gradOutputs, keepGraph: createGraph)
    let got = try Engine.run(root: root, seed: seed, retainGraph: retainGraph ?? createGraph, accumulate: false,
                             createGraph: createGraph, capture: nodes)
    return nodes.map { got[ObjectIdentifier($0)] }
}

/// `gradients(of:wrt:gradOutputs:...)` under its first name (`gradient:` for `gradOutputs:`).
public func gradients(of output: Tensor, wrt inputs: [Tensor], gradient: Tensor?,
                      retainGraph: Bool = false) throws -> [Tensor?] {
    try gradients(of: output, wrt: inputs, gradOutputs: gradient, createGraph: false, retainGraph: retainGraph)
}

extension Tensor {
    /// Whether an op on these inputs must record a graph node.
    @inline(__always) static func recordsGrad(_ a: Tensor) -> Bool {
        a.node != nil && GradMode.isEnabled
    }
    @inline(__always) static func recordsGrad(_ a: Tensor, _ b: Tensor) -> Bool {
        (a.node != nil || b.node != nil) && GradMode.isEnabled
    }
    static func recordsGrad(_ inputs: [Tensor]) -> Bool {
        GradMode.isEnabled && inputs.contains { $0.node != nil }
    }

    /// Attaches an op node to this freshly computed result: the one way every op records its
    /// backward rule.
    ///
    /// - Parameters:
    ///   - rule: the op's rule from its description (PyTorch's backward name and the formula).
    ///   - a, b, c: the op's tensor inputs, in order (up to three; `recorded(_:inputs:...)` takes more).
    ///   - save0, save1, int, double: what the backward function needs, kept in the node, so that a
    ///     function that captures nothing costs no closure context.
    ///   - saves: whether the backward function captured tensors (then a second backward needs
    ///     `retainGraph`); tensors in `save0`/`save1` count without it.
    ///   - backward: the node and the incoming gradient in, one gradient per input out.
    @inline(__always)
    func recorded(_ rule: BackwardRule, _ a: Tensor, _ b: Tensor? = nil, _ c: Tensor? = nil,
                  save0: Tensor? = nil, save1: Tensor? = nil, int: Int = 0, double: Double = 0, saves: Bool = false,
                  backward: @escaping (GradNode, Tensor) -> InputGrads) -> Tensor {
        var out = self
        let node = GradNode(rule: rule, inputCount: c != nil ? 3 : (b != nil ? 2 : 1),
                            a.node, b?.node, c?.node, savesTensors: saves || save0 != nil || save1 != nil,
                            shape: shape, dtype: dtype, backward: backward)
        node.saved0 = save0; node.saved1 = save1; node.savedInt = int; node.savedDouble = double
        out.node = node
        if Explain.recordingValues {
            var inputs = [a]
            if let b { inputs.append(b) }
            if let c { inputs.append(c) }
            out.keepValuesForExplanation(inputs)
        }
        return out
    }

    /// `recorded` for ops of any number of tensor inputs (`cat`, `stack`).
    func recorded(_ rule: BackwardRule, inputs: [Tensor], saves: Bool = false,
                  backward: @escaping (GradNode, Tensor) -> InputGrads) -> Tensor {
        var out = self
        out.node = GradNode(rule: rule, inputs: inputs.map { $0.node }, savesTensors: saves,
                            shape: shape, dtype: dtype, backward: backward)
        if Explain.recordingValues { out.keepValuesForExplanation(inputs) }
        return out
    }

    /// While explanations are recorded: the node keeps its value and its inputs' values.
    func keepValuesForExplanation(_ inputs: [Tensor]) {
        node?.value = detached()
        node?.inputValues = inputs.map { $0.detached() }
        // A leaf's value as this op saw it (the leaf may have been made before recording began).
        for x in inputs where x.node?.isLeaf == true { x.node?.value = x.detached() }
    }
}

