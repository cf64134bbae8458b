import Foundation

/// A value passed to or returned by a replayed op: a tensor, a list of tensors, a number or nothing.
public enum OpValue {
    /// A tensor argument.
    case tensor(Tensor)
    /// A list of tensors (`tensors` of cat and stack).
    case tensors([Tensor])
    /// A Python number.
    case number(Double)
    /// An absent or null argument.
    case none

    var tensor: Tensor? { if case .tensor(let t) = self { return t }; return nil }
}

/// Why a replayed call could not be made: a malformed argument, or one the op rejects.
public struct OpArgumentError: Error, CustomStringConvertible {
    /// What is wrong, naming the case and the argument.
    public let message: String
    /// An error with `message`.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}

/// The values a replayed call leaves in its tensor arguments (batch_norm's running statistics),
/// by PyTorch's argument name, for comparison with a reference case's `updated`.
public final class OpUpdates {
    /// The updated values by argument name.
    public var values: [String: Tensor] = [:]
    /// The value left in argument `name`, or nil.
    public subscript(name: String) -> Tensor? {
        get { values[name] }
        set { values[name] = newValue }
    }
}

/// The keyword options of a replayed call, with typed accessors that throw on malformed values.
public struct OpKwargs {
    /// What the call updated in place (filled by the replay).
    public let updated = OpUpdates()
    /// The options by PyTorch keyword name, as parsed from JSON.
    public let values: [String: Any]
    let context: String
    /// The names of the positional arguments (a case's `arg_names`), when the file gives them.
    var argNames: [String] = []

    /// Options `values` of the call that `context` names; `argNames` as in the reference file.
    public init(values: [String: Any], context: String, argNames: [String] = []) {
        self.values = values; self.context = context; self.argNames = argNames
    }

    /// The position of the argument named `name`: from `argNames` when known, else `position`.
    func argIndex(_ name: String, default position: Int) -> Int? {
        if argNames.isEmpty { return position }
        return argNames.firstIndex(of: name)
    }

    func error(_ message: String) -> OpArgumentError { OpArgumentError("\(context): \(message)") }

    /// Whether `key` is given (and not null).
    public func has(_ key: String) -> Bool { values[key].map { !($0 is NSNull) } ?? false }

    /// An integer option, nil when absent or null.
    public func int(_ key: String) throws -> Int? {
        guard let v = values[key], !(v is NSNull) else { return nil }
        guard let n = v as? Int else { throw error("kwarg \(key) must be an integer") }
        return n
    }
    /// A number option.
    public func double(_ key: String) throws -> Double? {
        guard let v = values[key], !(v is NSNull) else { return nil }
        guard let n = v as? NSNumber else { throw error("kwarg \(key) must be a number") }
        return n.doubleValue
    }
    /// A boolean option.
    public func bool(_ key: String) throws -> Bool? {
        guard let v = values[key], !(v is NSNull) else { return nil }
        guard let b = v as? Bool else { throw error("kwarg \(key) must be a boolean") }
        return b
    }
    /// A string option.
    public func string(_ key: String) throws -> String? {
        guard let v = values[key], !(v is NSNull) else { return nil }
        guard let s = v as? String else { throw error("kwarg \(key) must be a string") }
        return s
    }
    /// An int or a list of ints (PyTorch's `dim=1` or `dim=[0, 2]`).
    public func ints(_ key: String) throws -> [Int]? {
        guard let v = values[key], !(v is NSNull) else { return nil }
        if let n = v as? Int { return [n] }
        guard let l = v as? [Int] else { throw error("kwarg \(key) must be an int or a list of ints") }
        return l
    }
    /// PyTorch's `reduction=` (default `"mean"`).
    public func reduction() throws -> Reduction {
        guard let s = try string("reduction") else { return .mean }
        guard let r = Reduction(rawValue: s) else { throw error("unknown reduction \(s)") }
        return r
    }
    /// A `dtype=` option given by name (`"float64"`), or nil.
    public func dtype(_ key: String = "dtype") throws -> DType? {
        guard let s = try string(key) else { return nil }
        guard let d = DType(rawValue: s.hasPrefix("torch.") ? String(s.dropFirst(6)) : s) else { throw error("unknown dtype \(s)") }
        return d
    }
    /// A required option: its value, or an error that says the op needs it.
    func required<T>(_ value: T?, _ op: String, _ key: String) throws -> T {
        guard let value else { throw error("\(op) needs \(key)") }
        return value
    }
}

/// One replayed call: its positional arguments (PyTorch's order) and keyword options.
public struct OpCall {
    /// The positional arguments.
    public let args: [OpValue]
    /// The keyword options.
    public let kwargs: OpKwargs

    /// The call of `args` and `kwargs`.
    public init(args: [OpValue], kwargs: OpKwargs) { self.args = args; self.kwargs = kwargs }

    func error(_ message: String) -> OpArgumentError { kwargs.error(message) }

    /// Argument `i`, which must be a tensor.
    func tensor(_ i: Int) throws -> Tensor {
        guard i < args.count, let t = args[i].tensor else { throw error("argument \(i) must be a tensor") }
        return t
    }
    /// Argument `i`, which must be an int64 index tensor.
    func index(_ i: Int) throws -> Tensor {
        let t = try tensor(i)
        guard t.dtype == .int64 else { throw error("argument \(i) must be an int64 index tensor, got \(t.dtype)") }
        return t
    }
    /// Argument `i` when it is a tensor, else nil.
    func optionalTensor(_ i: Int) -> Tensor? { i < args.count ? args[i].tensor : nil }
    /// The argument named `name` (by `arg_names`, else at `position`) when it is a tensor.
    func optionalTensor(named name: String, default position: Int) -> Tensor? {
        kwargs.argIndex(name, default: position).flatMap { optionalTensor($0) }
    }
    /// The argument named `name` (by `arg_names`, else at `position`), or `.none`.
    func value(named name: String, default position: Int) -> OpValue {
        guard let i = kwargs.argIndex(name, default: position), i < args.count else { return .none }
        return args[i]
    }
    /// Argument 0 as a tensor; a Python number there becomes a tensor like argument 1 (`1 - x`).
    func firstOperand() throws -> Tensor {
        if case .number(let v) = args.first, let y = optionalTensor(1) { return y.scalarLike(v) }
        return try tensor(0)
    }
    /// Argument `i`: a tensor, or a Python scalar rounded to the other operand's dtype.
    func operand(_ i: Int, like other: Tensor) throws -> Tensor {
        guard i < args.count else { throw error("missing argument \(i)") }
        switch args[i] {
        case .tensor(let t): return t
        case .number(let x): return other.scalarLike(x)
        default: throw error("argument \(i) must be a tensor or a number")
        }
    }
    /// A list of tensors at argument 0 (`cat`, `stack`).
    func tensorList(_ op: String) throws -> [Tensor] {
        guard case .tensors(let ts)? = args.first, !ts.isEmpty else { throw error("\(op) needs a list of tensors") }
        return ts
    }
}

extension OpDescription {
    /// The replay of an op of one tensor.
    static func unary(_ f: @escaping (Tensor) -> Tensor) -> Replay { { c in [f(try c.tensor(0))] } }

    /// The replay of an elementwise op of two operands, tensors or Python numbers.
    static func binary(_ f: @escaping (Tensor, Tensor) -> Tensor) -> Replay {
        { c in
            let x = try c.firstOperand()
            return [f(x, try c.operand(1, like: x))]
        }
    }
}
