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
public final class Parameter: @unchecked Sendable, CustomStringConvertible {
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

    /// `Parameter containing:` and the tensor, as PyTorch prints a parameter.
    public var description: String { "Parameter containing:\n\(value.description)" }

    /// Replaces the values without changing the shape, keeping the autograd identity (PyTorch's `copy_`).
    public func assign(_ newValue: Tensor) {
        precondition(newValue.shape == value.shape,
                     "Parameter.assign: values of shape \(newValue.shape) for a parameter of shape \(value.shape)")
        value.update(to: newValue.detached())
    }
}

/// State that a module saves and loads with its parameters but that is never trained: BatchNorm's
/// running statistics (PyTorch's `register_buffer`).
///
/// Like `Parameter`, a small reference type, so that the module and whatever updates the state in
/// place share one value. Buffers are listed by `Module.namedBuffers()` and written by
/// `Module.stateDict()`; optimizers never see them.
public final class Buffer: @unchecked Sendable, CustomStringConvertible {
    /// The current values (never requiring grad).
    public var value: Tensor

    /// A buffer holding `value`, detached from any graph.
    public init(_ value: Tensor) { self.value = value.detached() }

    /// The shape of the values.
    public var shape: [Int] { value.shape }

    /// Replaces the values (same shape), converted to the buffer's dtype.
    public func assign(_ newValue: Tensor) {
        precondition(newValue.shape == value.shape,
                     "Buffer.assign: values of shape \(newValue.shape) for a buffer of shape \(value.shape)")
        value = newValue.detached().to(value.dtype)
    }

    /// The tensor, as PyTorch prints a buffer.
    public var description: String { value.description }
}

/// A layer or a network of layers: a differentiable function of a tensor with named parameters.
///
/// Modules are classes, so that a model, its sub-layers and an optimizer all see the same
/// `Parameter` objects. As in PyTorch, a module registers what it holds: its stored properties of
/// type `Parameter`, `Buffer` and `Module` (optional or not), arrays and dictionaries of them,
/// `ModuleList` and `ModuleDict`, are found without being listed, in declaration order, and named
/// after the property:
///
/// ```swift
/// final class Residual: Module {
///     let fc1: Linear, fc2: Linear
///     init(_ n: Int) { fc1 = Linear(n, n); fc2 = Linear(n, n) }
///     func forward(_ x: Tensor) -> Tensor { x + fc2(fc1(x).relu()) }
/// }
/// Residual(4).namedParameters().map(\.name)   // fc1.weight, fc1.bias, fc2.weight, fc2.bias
/// ```
///
/// A module whose PyTorch names are not its property names (BatchNorm's `running_mean`) lists them
/// itself by implementing `directParameters`, `directBuffers` or `children`.
public protocol Module: AnyObject, CustomStringConvertible {
    /// The module's output for input `x`.
    func forward(_ x: Tensor) -> Tensor
    /// The parameters this module owns directly (not those of its children), with their local names.
    var directParameters: [(name: String, parameter: Parameter)] { get }
    /// The buffers this module owns directly (saved and loaded, never trained), with their local names.
    var directBuffers: [(name: String, buffer: Buffer)] { get }
    /// The sub-modules, with the names that prefix their parameters (`"0"`, `"1"` in a `Sequential`).
    var children: [(name: String, module: any Module)] { get }
    /// Switches training behaviour (dropout, batch statistics) on or off for this module only; see `train()`/`eval()`.
    func setTraining(_ training: Bool)
    /// This module's own mode when its behaviour depends on it (true in training), nil otherwise.
    var ownTrainingMode: Bool? { get }
    /// The constructor arguments shown between the parentheses of `print(model)`, as PyTorch's
    /// `extra_repr` (`in_features=4, out_features=16, bias=True`).
    var extraRepr: String { get }
}

extension Module {
    /// The stored properties of type `Parameter` (or arrays and dictionaries of them), by property name.
    public var directParameters: [(name: String, parameter: Parameter)] { ModuleReflection.members(of: self).parameters }
    /// The stored properties of type `Buffer` (or arrays and dictionaries of them), by property name.
    public var directBuffers: [(name: String, buffer: Buffer)] { ModuleReflection.members(of: self).buffers }
    /// The stored properties that are modules (arrays and dictionaries of them as a `ModuleList` and a `ModuleDict`).
    public var children: [(name: String, module: any Module)] { ModuleReflection.members(of: self).children }
    /// Does nothing: only modules that behave differently in training (`Dropout`) implement it.
    public func setTraining(_ training: Bool) {}
    /// nil: the module behaves the same in training and evaluation.
    public var ownTrainingMode: Bool? { nil }
    /// Nothing: a module with no arguments prints as `ReLU()`.
    public var extraRepr: String { "" }

    /// `forward(x)`: `model(x)`.
    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }

    /// The module tree as PyTorch prints it: `Sequential(\n  (0): Linear(in_features=4, ...)\n  ...\n)`.
    public var description: String {
        let name = String(describing: type(of: self))
        let kids = children
        if kids.isEmpty { return "\(name)(\(extraRepr))" }
        var lines = ["\(name)(" + (extraRepr.isEmpty ? "" : "\n  " + extraRepr)]
        for (childName, child) in kids {
            let text = child.description.split(separator: "\n", omittingEmptySubsequences: false)
                .joined(separator: "\n  ")
            lines.append("  (\(childName)): \(text)")
        }
        lines.append(")")
        return lines.joined(separator: "\n")
    }

    /// This module and all its descendants with their dotted names (`""` for this one), depth first in
    /// registration order, each module once (PyTorch's `named_modules()`).
    public func namedModules() -> [(name: String, module: any Module)] {
        var out: [(name: String, module: any Module)] = []
        var seen = Set<ObjectIdentifier>()
        func visit(_ prefix: String, _ m: any Module) {
            guard seen.insert(ObjectIdentifier(m)).inserted else { return }
            out.append((prefix, m))
            for (n, child) in m.children { visit(prefix.isEmpty ? n : prefix + "." + n, child) }
        }
        visit("", self)
        return out
    }

    /// This module and all its descendants, in the order of `namedModules()`.
    public func modules() -> [any Module] { namedModules().map(\.module) }

    /// Every parameter of the module and its descendants, with dotted PyTorch names, in registration
    /// order; a parameter held by two modules (tied weights) is listed once, under its first name.
    public func namedParameters() -> [(name: String, parameter: Parameter)] {
        uniqueMembers { $0.directParameters.map { ($0.name, $0.parameter) } }.map { ($0.name, $0.member as! Parameter) }
    }

    /// Every buffer of the module and its descendants, with dotted names (`1.running_mean`), each once.
    public func namedBuffers() -> [(name: String, buffer: Buffer)] {
        uniqueMembers { $0.directBuffers.map { ($0.name, $0.buffer) } }.map { ($0.name, $0.member as! Buffer) }
    }

    /// The objects `members` lists for each module of `namedModules()`, under dotted names, each
    /// object once (at its first name), as PyTorch's `named_parameters()` removes duplicates.
    private func uniqueMembers(_ members: (any Module) -> [(String, AnyObject)]) -> [(name: String, member: AnyObject)] {
        var out: [(name: String, member: AnyObject)] = []
        var seen = Set<ObjectIdentifier>()
        for (prefix, m) in namedModules() {
            for (n, x) in members(m) where seen.insert(ObjectIdentifier(x)).inserted {
                out.append((prefix.isEmpty ? n : prefix + "." + n, x))
            }
        }
        return out
    }

    /// Every parameter, in the order of `namedParameters()` (what an optimizer takes).
    public func parameters() -> [Parameter] { namedParameters().map(\.parameter) }

    /// Every buffer, in the order of `namedBuffers()`.
    public func buffers() -> [Buffer] { namedBuffers().map(\.buffer) }

    /// The number of trainable scalars (a tied parameter counted once).
    public var parameterCount: Int { parameters().reduce(0) { $0 + $1.value.count } }

    /// Forgets the gradients of every parameter (PyTorch's `zero_grad()`, which sets them to None).
    public func zeroGrad() { for p in parameters() { p.zeroGrad() } }

    /// Training mode for this module and all its descendants (PyTorch's `train()`): dropout active,
    /// batch norm on batch statistics.
    public func train() { for m in modules() { m.setTraining(true) } }

    /// Evaluation mode for this module and all its descendants (PyTorch's `eval()`).
    public func eval() { for m in modules() { m.setTraining(false) } }

    /// Whether the model is in training mode: the mode of the first module whose behaviour depends on
    /// it, true (PyTorch's default) when none does.
    public var isTraining: Bool { modules().lazy.compactMap(\.ownTrainingMode).first ?? true }

    /// The parameters and buffers by name, detached, in PyTorch's order (each module's parameters,
    /// then its buffers, then its children's). A tied parameter appears once, under its first name,
    /// as safetensors' `save_model` stores it.
    public func stateDict() -> [(name: String, tensor: Tensor)] {
        uniqueMembers { m in m.directParameters.map { ($0.name, $0.parameter) } + m.directBuffers.map { ($0.name, $0.buffer) } }
            .map { ($0.name, (($0.member as? Parameter)?.value ?? ($0.member as! Buffer).value).detached()) }
    }

    /// Copies values into the parameters and buffers by name (PyTorch's `load_state_dict`), and
    /// returns the names the model has that `stateDict` lacks and those it gives that the model has not.
    ///
    /// A tied parameter is found under any of its names. With `strict` (the default) a missing or
    /// unexpected name throws; a value of another shape, or a parameter given integers, always throws.
    /// Values are converted to each parameter's or buffer's dtype. Nothing is changed when it throws.
    @discardableResult
    public func loadStateDict(_ stateDict: [String: Tensor], strict: Bool = true) throws
        -> (missingKeys: [String], unexpectedKeys: [String]) {
        // Every name of every parameter and buffer, a tied one under each of its names.
        var names: [(name: String, parameter: Parameter?, buffer: Buffer?)] = []
        for (prefix, m) in namedModules() {
            let dotted = { (n: String) in prefix.isEmpty ? n : prefix + "." + n }
            for (n, p) in m.directParameters { names.append((dotted(n), p, nil)) }
            for (n, b) in m.directBuffers { names.append((dotted(n), nil, b)) }
        }
        let known = Set(names.map(\.name))
        var problems: [String] = []
        var loaded = Set<ObjectIdentifier>()
        var assignments: [() -> Void] = []
        var missingCandidates: [(name: String, id: ObjectIdentifier)] = []
        for (name, p, b) in names {
            let id = p.map(ObjectIdentifier.init) ?? ObjectIdentifier(b!)
            let shape = p?.shape ?? b!.shape
            guard let t = stateDict[name] else {
                missingCandidates.append((name, id))
                continue
            }
            if t.shape != shape {
                problems.append("\(name) has shape \(t.shape) in the file but \(shape) in the model")
            } else if p != nil, !t.dtype.isFloatingPoint {
                problems.append("\(name) is \(t.dtype), not a floating point tensor")
            } else if loaded.insert(id).inserted {
                if let p { assignments.append { p.assign(t.to(p.value.dtype)) } } else {
                    assignments.append { b!.assign(t) }
                }
            }
        }
        // A tied parameter given under one of its names is not missing under the others.
        let missing = missingCandidates.filter { !loaded.contains($0.id) }.map(\.name)
        let unexpected = stateDict.keys.filter { !known.contains($0) }.sorted()
        if strict {
            if !missing.isEmpty { problems.insert("missing \(missing.joined(separator: ", "))", at: 0) }
            if !unexpected.isEmpty {
                problems.insert("unexpected \(unexpected.joined(separator: ", "))", at: missing.isEmpty ? 0 : 1)
            }
        }
        guard problems.isEmpty else { throw ModuleLoadError(message: problems.joined(separator: "; ")) }
        for assign in assignments { assign() }
        return (missing, unexpected)
    }

    /// `loadStateDict(stateDict, strict: true)`: every name present, no other.
    public func load(stateDict: [String: Tensor]) throws { try loadStateDict(stateDict, strict: true) }
}

/// Modules in a list, registered as children "0", "1", ... (PyTorch's `nn.ModuleList`).
///
/// A container: index it or iterate over it in the owner's `forward`; it has no `forward` of its own.
public final class ModuleList: Module, RandomAccessCollection {
    /// The modules, in order.
    private var contents: [any Module]

    /// A list of `modules`.
    public init(_ modules: [any Module] = []) { contents = modules }

    /// Adds `module` at the end (PyTorch's `append`).
    public func append(_ module: any Module) { contents.append(module) }

    /// The position of the first module.
    public var startIndex: Int { 0 }
    /// One past the position of the last module.
    public var endIndex: Int { contents.count }
    /// The module at `position`.
    public subscript(position: Int) -> any Module { contents[position] }

    /// The modules, named by position.
    public var children: [(name: String, module: any Module)] {
        contents.enumerated().map { (String($0.offset), $0.element) }
    }

    /// Stops: a ModuleList is a container, not a layer (PyTorch's has no `forward` either).
    public func forward(_ x: Tensor) -> Tensor {
        preconditionFailure("ModuleList: a container has no forward; call its modules (input of shape \(x.shape))")
    }
}

/// Modules by name, in insertion order (PyTorch's `nn.ModuleDict`); children are named by key.
public final class ModuleDict: Module {
    /// The names, in insertion order.
    public private(set) var keys: [String] = []
    private var values: [String: any Module] = [:]

    /// The `pairs` in order; a repeated key keeps its first position and its last module.
    public init(_ pairs: [(String, any Module)] = []) {
        for (k, m) in pairs { self[k] = m }
    }

    /// The module named `key`; assigning adds it at the end (or replaces it in place), nil removes it.
    public subscript(key: String) -> (any Module)? {
        get { values[key] }
        set {
            if let newValue {
                if values.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if values.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    /// The number of modules.
    public var count: Int { keys.count }

    /// The modules, named by key, in insertion order.
    public var children: [(name: String, module: any Module)] { keys.map { ($0, values[$0]!) } }

    /// Stops: a ModuleDict is a container, not a layer.
    public func forward(_ x: Tensor) -> Tensor {
        preconditionFailure("ModuleDict: a container has no forward; call its modules (input of shape \(x.shape))")
    }
}

/// What a module holds, found by reflecting over its stored properties.
enum ModuleReflection {
    struct Members {
        var parameters: [(name: String, parameter: Parameter)] = []
        var buffers: [(name: String, buffer: Buffer)] = []
        var children: [(name: String, module: any Module)] = []
    }

    static func members(of module: any Module) -> Members {
        var members = Members()
        var mirror: Mirror? = Mirror(reflecting: module)
        var levels: [Mirror] = []
        while let m = mirror {
            levels.append(m)
            mirror = m.superclassMirror
        }
        // Superclass properties first, as Python registers the base class's attributes in its __init__.
        for level in levels.reversed() {
            for child in level.children {
                guard var label = child.label else { continue }
                if label.hasPrefix("$__lazy_storage_$_") { label.removeFirst("$__lazy_storage_$_".count) }
                add(child.value, named: label, to: &members)
            }
        }
        return members
    }

    private static func add(_ value: Any, named name: String, to members: inout Members) {
        switch value {
        case let p as Parameter: members.parameters.append((name, p))
        case let b as Buffer: members.buffers.append((name, b))
        case let m as any Module: members.children.append((name, m))
        case let ps as [Parameter]:
            for (i, p) in ps.enumerated() { members.parameters.append(("\(name).\(i)", p)) }
        case let bs as [Buffer]:
            for (i, b) in bs.enumerated() { members.buffers.append(("\(name).\(i)", b)) }
        case let ms as [any Module]: if !ms.isEmpty { members.children.append((name, ModuleList(ms))) }
        case let ps as [String: Parameter]:
            for k in ps.keys.sorted() { members.parameters.append(("\(name).\(k)", ps[k]!)) }
        case let bs as [String: Buffer]:
            for k in bs.keys.sorted() { members.buffers.append(("\(name).\(k)", bs[k]!)) }
        case let ms as [String: any Module]:
            if !ms.isEmpty { members.children.append((name, ModuleDict(ms.keys.sorted().map { ($0, ms[$0]!) }))) }
        default: break
        }
    }
}

/// Parameters that do not fit a model: names and shapes that differ.
public struct ModuleLoadError: Error, CustomStringConvertible, Equatable {
    /// What differs (missing and unexpected names, other shapes, non-floating-point values), joined by "; ".
    public let message: String
    /// The message in one line: `parameters do not match the model: ...`.
    public var description: String { "parameters do not match the model: \(message)" }
}
