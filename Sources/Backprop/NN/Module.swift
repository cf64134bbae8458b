/// A trainable tensor with one identity shared by the module that uses it and the optimizer that
/// updates it.
///
/// `Tensor` is a value type, so a module and an optimizer holding copies of a weight would drift
/// apart as soon as one of them assigned a new value. A `Parameter` is the single home of the
/// weight: a small reference type holding a leaf tensor that requires grad. Modules read
/// `parameter.value` in `forward`; `backward()` accumulates into `parameter.grad` (the leaf's
/// `GradNode`); optimizers write the new values into the same leaf in place, keeping its node.
///
/// ```swift
/// let w = Parameter(Tensor.zeros([3, 2]))
/// let loss = (x.mm(w.value.t())).sum()
/// loss.backward()
/// w.grad          // d loss / d w
/// ```
public final class Parameter: @unchecked Sendable {
    /// The current values: a leaf tensor that requires grad.
    public var value: Tensor

    /// A parameter holding `value` (detached from any graph and made a leaf that requires grad).
    public init(_ value: Tensor) {
        self.value = value.requiringGrad()
    }

    /// The gradient accumulated by the last `backward()` calls, or nil.
    public var grad: Tensor? { value.grad }

    /// Forgets the accumulated gradient (PyTorch's `zero_grad(set_to_none=True)`).
    public func zeroGrad() { value.zeroGrad() }

    /// The shape of the values.
    public var shape: [Int] { value.shape }

    /// Replaces the values without changing the shape, keeping the autograd identity (PyTorch's `copy_`).
    public func assign(_ newValue: Tensor) {
        precondition(newValue.shape == value.shape,
                     "Parameter.assign: values of shape \(newValue.shape) for a parameter of shape \(value.shape)")
        value.update(to: newValue.detached())
    }
}

/// A layer or a network of layers: a differentiable function of a tensor with named parameters.
///
/// Modules are classes, so that a model, its sub-layers and an optimizer all see the same
/// `Parameter` objects. Parameters are listed with PyTorch's names: a `Sequential` of
/// `Linear, ReLU, Linear` has `0.weight`, `0.bias`, `2.weight`, `2.bias`, as `state_dict()` does.
public protocol Module: AnyObject {
    /// The module's output for input `x`.
    func forward(_ x: Tensor) -> Tensor
    /// The parameters this module owns directly (not those of its children), with their local names.
    var directParameters: [(name: String, parameter: Parameter)] { get }
    /// The sub-modules, with the names that prefix their parameters (`"0"`, `"1"` in a `Sequential`).
    var children: [(name: String, module: any Module)] { get }
    /// Switches training behaviour (dropout) on or off for this module only; see `train()`/`eval()`.
    func setTraining(_ training: Bool)
}

extension Module {
    /// None: a module without parameters of its own (an activation) needs no list.
    public var directParameters: [(name: String, parameter: Parameter)] { [] }
    /// None: a module without sub-modules needs no list.
    public var children: [(name: String, module: any Module)] { [] }
    /// Does nothing: only modules that behave differently in training (`Dropout`) implement it.
    public func setTraining(_ training: Bool) {}

    /// `forward(x)`: `model(x)`.
    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }

    /// Every parameter of the module and its descendants, with dotted PyTorch names, in registration order.
    public func namedParameters() -> [(name: String, parameter: Parameter)] {
        var out: [(name: String, parameter: Parameter)] = []
        var stack: [(prefix: String, module: any Module)] = [("", self)]
        // Depth-first, in order: pop from the front of a small work list.
        while !stack.isEmpty {
            let (prefix, m) = stack.removeFirst()
            for (n, p) in m.directParameters { out.append((prefix + n, p)) }
            let kids = m.children.map { (prefix: prefix + $0.name + ".", module: $0.module) }
            stack.insert(contentsOf: kids, at: 0)
        }
        return out
    }

    /// Every parameter, in the order of `namedParameters()` (what an optimizer takes).
    public func parameters() -> [Parameter] { namedParameters().map(\.parameter) }

    /// The number of trainable scalars.
    public var parameterCount: Int { parameters().reduce(0) { $0 + $1.value.count } }

    /// This module and all its descendants.
    public func modules() -> [any Module] {
        var out: [any Module] = []
        var stack: [any Module] = [self]
        while let m = stack.popLast() {
            out.append(m)
            stack.append(contentsOf: m.children.map(\.module).reversed())
        }
        return out
    }

    /// Training mode for this module and all its descendants (PyTorch's `train()`): dropout active.
    public func train() { for m in modules() { m.setTraining(true) } }

    /// Evaluation mode for this module and all its descendants (PyTorch's `eval()`): dropout off.
    public func eval() { for m in modules() { m.setTraining(false) } }

    /// The parameter values by name (PyTorch's `state_dict()`), detached.
    public func stateDict() -> [(name: String, tensor: Tensor)] {
        namedParameters().map { ($0.name, $0.parameter.value.detached()) }
    }

    /// Copies values into the parameters by name (PyTorch's `load_state_dict(strict=True)`).
    ///
    /// Throws `ModuleLoadError` when a parameter is missing, has another shape, or an extra
    /// name is given; values are converted to each parameter's dtype. Nothing is changed on error.
    public func load(stateDict: [String: Tensor]) throws {
        let named = namedParameters()
        let known = Set(named.map(\.name))
        var problems: [String] = []
        let missing = named.map(\.name).filter { stateDict[$0] == nil }
        if !missing.isEmpty { problems.append("missing \(missing.joined(separator: ", "))") }
        let extra = stateDict.keys.filter { !known.contains($0) }.sorted()
        if !extra.isEmpty { problems.append("unexpected \(extra.joined(separator: ", "))") }
        for (name, p) in named {
            if let t = stateDict[name], t.shape != p.shape {
                problems.append("\(name) has shape \(t.shape) in the file but \(p.shape) in the model")
            }
            if let t = stateDict[name], !t.dtype.isFloatingPoint {
                problems.append("\(name) is \(t.dtype), not a floating point tensor")
            }
        }
        guard problems.isEmpty else { throw ModuleLoadError(message: problems.joined(separator: "; ")) }
        for (name, p) in named { p.assign(stateDict[name]!.to(p.value.dtype)) }
    }
}

/// Parameters that do not fit a model: names and shapes that differ.
public struct ModuleLoadError: Error, CustomStringConvertible, Equatable {
    /// What differs (missing and unexpected names, other shapes, non-floating-point values), joined by "; ".
    public let message: String
    /// The message in one line: `parameters do not match the model: ...`.
    public var description: String { "parameters do not match the model: \(message)" }
}
