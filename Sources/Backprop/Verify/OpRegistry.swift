/// A value passed to or returned by a replayed op: a tensor, a list of tensors, a number or nothing.
public enum OpValue {
    case tensor(Tensor)
    case tensors([Tensor])
    case number(Double)
    case none

    var tensor: Tensor? { if case .tensor(let t) = self { return t }; return nil }
}

/// The keyword options of a replayed call, with typed accessors that throw on malformed values.
public struct OpKwargs {
    public let values: [String: Any]
    let context: String
    /// The names of the positional arguments (a case's `arg_names`), when the file gives them.
    var argNames: [String] = []

    /// The position of the argument named `name`: from `argNames` when known, else `position`.
    func argIndex(_ name: String, default position: Int) -> Int? {
        if argNames.isEmpty { return position }
        return argNames.firstIndex(of: name)
    }

    public func int(_ key: String) throws -> Int? {
        guard let v = values[key], !(v is NSNull) else { return nil }
        guard let n = v as? Int else { throw ReferenceFileError("\(context): kwarg \(key) must be an integer") }
        return n
    }
    public func double(_ key: String) throws -> Double? {
        guard let v = values[key], !(v is NSNull) else { return nil }
        guard let n = v as? NSNumber else { throw ReferenceFileError("\(context): kwarg \(key) must be a number") }
        return n.doubleValue
    }
    public func bool(_ key: String) throws -> Bool? {
        guard let v = values[key], !(v is NSNull) else { return nil }
        guard let b = v as? Bool else { throw ReferenceFileError("\(context): kwarg \(key) must be a boolean") }
        return b
    }
    public func string(_ key: String) throws -> String? {
        guard let v = values[key], !(v is NSNull) else { return nil }
        guard let s = v as? String else { throw ReferenceFileError("\(context): kwarg \(key) must be a string") }
        return s
    }
    /// An int or a list of ints (PyTorch's `dim=1` or `dim=[0, 2]`).
    public func ints(_ key: String) throws -> [Int]? {
        guard let v = values[key], !(v is NSNull) else { return nil }
        if let n = v as? Int { return [n] }
        guard let l = v as? [Int] else { throw ReferenceFileError("\(context): kwarg \(key) must be an int or a list of ints") }
        return l
    }
    public func reduction() throws -> Reduction {
        guard let s = try string("reduction") else { return .mean }
        guard let r = Reduction(rawValue: s) else { throw ReferenceFileError("\(context): unknown reduction \(s)") }
        return r
    }
}

import Foundation

/// The ops that reference files can name (PyTorch names), each mapped onto Backprop's API.
///
/// An op returns its output(s): one tensor, or `[values, indices]` for `max` with a dim.
public enum OpRegistry {
    public typealias Impl = (_ args: [OpValue], _ kwargs: OpKwargs) throws -> [Tensor]

    /// The PyTorch op names that can be replayed.
    public static var names: [String] { ops.keys.sorted() }

    /// Runs op `name` on `args`; throws for an unknown op or malformed arguments.
    public static func call(_ name: String, _ args: [OpValue], _ kwargs: OpKwargs) throws -> [Tensor] {
        guard let impl = ops[name] else { throw ReferenceFileError("\(kwargs.context): unknown op \(name)") }
        return try impl(args, kwargs)
    }

    static func tensorArg(_ args: [OpValue], _ i: Int, _ kw: OpKwargs) throws -> Tensor {
        guard i < args.count, let t = args[i].tensor else { throw ReferenceFileError("\(kw.context): argument \(i) must be a tensor") }
        return t
    }
    /// An int64 index tensor argument.
    static func indexArg(_ args: [OpValue], _ i: Int, _ kw: OpKwargs) throws -> Tensor {
        let t = try tensorArg(args, i, kw)
        guard t.dtype == .int64 else { throw ReferenceFileError("\(kw.context): argument \(i) must be an int64 index tensor, got \(t.dtype)") }
        return t
    }
    static func optionalTensorArg(_ args: [OpValue], _ i: Int) -> Tensor? { i < args.count ? args[i].tensor : nil }

    /// A tensor, or a Python scalar rounded to the other operand's dtype.
    static func operand(_ args: [OpValue], _ i: Int, like other: Tensor, _ kw: OpKwargs) throws -> Tensor {
        guard i < args.count else { throw ReferenceFileError("\(kw.context): missing argument \(i)") }
        switch args[i] {
        case .tensor(let t): return t
        case .number(let x): return other.scalarLike(x)
        default: throw ReferenceFileError("\(kw.context): argument \(i) must be a tensor or a number")
        }
    }

    static func unary(_ f: @escaping (Tensor) -> Tensor) -> Impl { { a, kw in [f(try tensorArg(a, 0, kw))] } }

    static func binary(_ f: @escaping (Tensor, Tensor) -> Tensor) -> Impl {
        { a, kw in
            let x: Tensor
            if case .number(let v) = a.first, let y = optionalTensorArg(a, 1) { x = y.scalarLike(v) } else { x = try tensorArg(a, 0, kw) }
            return [f(x, try operand(a, 1, like: x, kw))]
        }
    }

    nonisolated(unsafe) static var ops: [String: Impl] = [
        "add": { a, kw in
            let x = try tensorArg(a, 0, kw)
            return [x.add(try operand(a, 1, like: x, kw), alpha: try kw.double("alpha") ?? 1)]
        },
        "sub": { a, kw in
            let x = try tensorArg(a, 0, kw)
            return [x.sub(try operand(a, 1, like: x, kw), alpha: try kw.double("alpha") ?? 1)]
        },
        "mul": binary { $0 * $1 },
        "div": binary { $0 / $1 },
        "neg": unary { -$0 },
        "exp": unary { $0.exp() },
        "log": unary { $0.log() },
        "relu": unary { $0.relu() },
        "sigmoid": unary { $0.sigmoid() },
        "tanh": unary { $0.tanh() },
        "mm": binary { $0.mm($1) },
        "matmul": binary { $0.matmul($1) },
        "linear": { a, kw in
            [try tensorArg(a, 0, kw).linear(weight: try tensorArg(a, 1, kw), bias: optionalTensorArg(a, 2))]
        },
        "t": unary { $0.t() },
        "transpose": { a, kw in
            guard let d0 = try kw.int("dim0"), let d1 = try kw.int("dim1") else { throw ReferenceFileError("\(kw.context): transpose needs dim0 and dim1") }
            return [try tensorArg(a, 0, kw).transpose(d0, d1)]
        },
        "permute": { a, kw in
            guard let dims = try kw.ints("dims") else { throw ReferenceFileError("\(kw.context): permute needs dims") }
            return [try tensorArg(a, 0, kw).permute(dims)]
        },
        "reshape": { a, kw in
            guard let s = try kw.ints("shape") else { throw ReferenceFileError("\(kw.context): reshape needs shape") }
            return [try tensorArg(a, 0, kw).reshape(s)]
        },
        "squeeze": { a, kw in
            let x = try tensorArg(a, 0, kw)
            guard let dims = try kw.ints("dim") else { return [x.squeeze()] }
            return [kw.values["dim"] is Int ? x.squeeze(dims[0]) : x.squeeze(dims: dims)]
        },
        "unsqueeze": { a, kw in
            guard let d = try kw.int("dim") else { throw ReferenceFileError("\(kw.context): unsqueeze needs dim") }
            return [try tensorArg(a, 0, kw).unsqueeze(d)]
        },
        "expand": { a, kw in
            guard let s = try kw.ints("size") else { throw ReferenceFileError("\(kw.context): expand needs size") }
            return [try tensorArg(a, 0, kw).expand(s)]
        },
        "sum": { a, kw in
            [try tensorArg(a, 0, kw).sum(dims: try kw.ints("dim") ?? [], keepDim: try kw.bool("keepdim") ?? false)]
        },
        "mean": { a, kw in
            [try tensorArg(a, 0, kw).mean(dims: try kw.ints("dim") ?? [], keepDim: try kw.bool("keepdim") ?? false)]
        },
        "amax": { a, kw in
            [try tensorArg(a, 0, kw).amax(dims: try kw.ints("dim") ?? [], keepDim: try kw.bool("keepdim") ?? false)]
        },
        "max": { a, kw in
            let x = try tensorArg(a, 0, kw)
            guard let d = try kw.int("dim") else { return [x.max()] }
            let r = x.max(dim: d, keepDim: try kw.bool("keepdim") ?? false)
            return [r.values, r.indices]
        },
        "argmax": { a, kw in
            [try tensorArg(a, 0, kw).argmax(dim: try kw.int("dim"), keepDim: try kw.bool("keepdim") ?? false)]
        },
        "logsumexp": { a, kw in
            [try tensorArg(a, 0, kw).logsumexp(dims: try kw.ints("dim") ?? [], keepDim: try kw.bool("keepdim") ?? false)]
        },
        "softmax": { a, kw in
            guard let d = try kw.int("dim") else { throw ReferenceFileError("\(kw.context): softmax needs dim") }
            return [try tensorArg(a, 0, kw).softmax(dim: d)]
        },
        "log_softmax": { a, kw in
            guard let d = try kw.int("dim") else { throw ReferenceFileError("\(kw.context): log_softmax needs dim") }
            return [try tensorArg(a, 0, kw).logSoftmax(dim: d)]
        },
        "nll_loss": { a, kw in
            [try tensorArg(a, 0, kw).nllLoss(target: try tensorArg(a, 1, kw), weight: optionalTensorArg(a, 2),
                                             ignoreIndex: try kw.int("ignore_index") ?? -100, reduction: try kw.reduction())]
        },
        "cross_entropy": { a, kw in
            [try tensorArg(a, 0, kw).crossEntropy(target: try tensorArg(a, 1, kw), weight: optionalTensorArg(a, 2),
                                                  ignoreIndex: try kw.int("ignore_index") ?? -100, reduction: try kw.reduction(),
                                                  labelSmoothing: try kw.double("label_smoothing") ?? 0)]
        },
        "pow": { a, kw in
            let x: Tensor
            if case .number(let v) = a.first, let y = optionalTensorArg(a, 1) { x = y.scalarLike(v) } else { x = try tensorArg(a, 0, kw) }
            guard a.count > 1 else { throw ReferenceFileError("\(kw.context): pow needs an exponent") }
            switch a[1] {
            case .number(let e): return [x.pow(e)]
            case .tensor(let e): return [x.pow(e)]
            default: throw ReferenceFileError("\(kw.context): pow's exponent must be a tensor or a number")
            }
        },
        "sqrt": unary { $0.sqrt() },
        "abs": unary { $0.abs() },
        "gelu": { a, kw in
            let name = try kw.string("approximate") ?? "none"
            guard let approx = GeluApproximation(rawValue: name) else {
                throw ReferenceFileError("\(kw.context): gelu's approximate must be \"none\" or \"tanh\", got \(name)")
            }
            return [try tensorArg(a, 0, kw).gelu(approximate: approx)]
        },
        "clamp": { a, kw in
            let lo = try kw.double("min"), hi = try kw.double("max")
            guard lo != nil || hi != nil else { throw ReferenceFileError("\(kw.context): clamp needs min or max") }
            return [try tensorArg(a, 0, kw).clamp(min: lo, max: hi)]
        },
        "maximum": binary { $0.maximum($1) },
        "minimum": binary { $0.minimum($1) },
        "cat": { a, kw in
            guard case .tensors(let ts)? = a.first, !ts.isEmpty else { throw ReferenceFileError("\(kw.context): cat needs a list of tensors") }
            return [Tensor.cat(ts, dim: try kw.int("dim") ?? 0)]
        },
        "stack": { a, kw in
            guard case .tensors(let ts)? = a.first, !ts.isEmpty else { throw ReferenceFileError("\(kw.context): stack needs a list of tensors") }
            return [Tensor.stack(ts, dim: try kw.int("dim") ?? 0)]
        },
        "index_select": { a, kw in
            guard let d = try kw.int("dim") else { throw ReferenceFileError("\(kw.context): index_select needs dim") }
            return [try tensorArg(a, 0, kw).indexSelect(dim: d, index: try indexArg(a, 1, kw))]
        },
        "gather": { a, kw in
            guard let d = try kw.int("dim") else { throw ReferenceFileError("\(kw.context): gather needs dim") }
            return [try tensorArg(a, 0, kw).gather(dim: d, index: try indexArg(a, 1, kw))]
        },
        "narrow": { a, kw in
            guard let d = try kw.int("dim"), let s = try kw.int("start"), let n = try kw.int("length") else {
                throw ReferenceFileError("\(kw.context): narrow needs dim, start and length")
            }
            return [try tensorArg(a, 0, kw).narrow(dim: d, start: s, length: n)]
        },
        "var": { a, kw in
            [try tensorArg(a, 0, kw).variance(dims: try kw.ints("dim") ?? [], correction: try kw.double("correction") ?? 1,
                                              keepDim: try kw.bool("keepdim") ?? false)]
        },
        "mse_loss": { a, kw in
            [try tensorArg(a, 0, kw).mseLoss(target: try tensorArg(a, 1, kw), reduction: try kw.reduction())]
        },
        "l1_loss": { a, kw in
            [try tensorArg(a, 0, kw).l1Loss(target: try tensorArg(a, 1, kw), reduction: try kw.reduction())]
        },
        "binary_cross_entropy": { a, kw in
            [try tensorArg(a, 0, kw).binaryCrossEntropy(target: try tensorArg(a, 1, kw), weight: kw.argIndex("weight", default: 2).flatMap { optionalTensorArg(a, $0) },
                                                        reduction: try kw.reduction())]
        },
        "binary_cross_entropy_with_logits": { a, kw in
            [try tensorArg(a, 0, kw).binaryCrossEntropyWithLogits(target: try tensorArg(a, 1, kw), weight: kw.argIndex("weight", default: 2).flatMap { optionalTensorArg(a, $0) },
                                                                  posWeight: kw.argIndex("pos_weight", default: 3).flatMap { optionalTensorArg(a, $0) },
                                                                  reduction: try kw.reduction())]
        },
        "one_hot": { a, kw in
            [try tensorArg(a, 0, kw).oneHot(numClasses: try kw.int("num_classes").flatMap { $0 < 0 ? nil : $0 })]
        },
    ]
}
