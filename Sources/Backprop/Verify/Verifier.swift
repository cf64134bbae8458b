import Foundation

/// The result of replaying one reference case.
public struct CaseResult: Sendable {
    public let name: String
    public let op: String
    public let passed: Bool
    /// What differed, naming the field (`output`, `grads[1]`, a step name); nil when passed.
    public let failure: String?
}

/// Replays reference files in the golden formats through Backprop and compares every number.
public enum Verifier {
    /// Replays a file: single-op cases (as in ops.json/ties.json) or programs (as in expressions.json).
    /// Throws when the file itself is malformed; a case that fails, or names an unknown op, is a failed result.
    public static func verifyFile(_ path: String) throws -> [CaseResult] {
        let obj = try GoldenFormat.loadObject(path)
        guard let cases = obj["cases"] as? [[String: Any]] else { throw ReferenceFileError("\(path): missing \"cases\" list") }
        var results: [CaseResult] = []
        for (i, c) in cases.enumerated() {
            let name = c["name"] as? String ?? "case \(i)"
            if c["steps"] != nil {
                results.append(try verifyProgram(c, context: "\(path): \(name)"))
            } else if c["op"] != nil {
                results.append(try verifyOp(c, context: "\(path): \(name)"))
            } else {
                throw ReferenceFileError("\(path): \(name): neither \"op\" nor \"steps\"")
            }
        }
        return results
    }

    static func value(_ any: Any?, context: String) throws -> OpValue {
        switch any {
        case nil, is NSNull: return .none
        case let d as [String: Any]: return .tensor(try GoldenFormat.tensor(d, context: context))
        case let l as [Any]: return .tensors(try l.enumerated().map { try GoldenFormat.tensor($0.element, context: "\(context)[\($0.offset)]") })
        case let n as NSNumber: return .number(n.doubleValue)
        default: throw ReferenceFileError("\(context): unsupported value")
        }
    }

    /// Replays one single-op case: forward output, then the vector-Jacobian product with the cotangent.
    public static func verifyOp(_ c: [String: Any], context: String) throws -> CaseResult {
        let name = c["name"] as? String ?? context
        guard let op = c["op"] as? String else { throw ReferenceFileError("\(context): missing \"op\"") }
        guard let rawArgs = c["args"] as? [Any] else { throw ReferenceFileError("\(context): missing \"args\"") }
        let rawGrads = c["grads"] as? [Any] ?? []
        let kwargs = OpKwargs(values: c["kwargs"] as? [String: Any] ?? [:], context: context,
                              argNames: c["arg_names"] as? [String] ?? [])
        guard OpRegistry.ops[op] != nil else { return CaseResult(name: name, op: op, passed: false, failure: "unknown op \(op)") }

        // Inputs: a float tensor whose reference has a gradient becomes a leaf that requires grad.
        var args: [OpValue] = []
        for (i, raw) in rawArgs.enumerated() {
            let v = try value(raw, context: "\(context): args[\(i)]")
            let wantsGrad = i < rawGrads.count && !(rawGrads[i] is NSNull)
            switch v {
            case .tensor(let t) where wantsGrad && t.dtype.isFloatingPoint: args.append(.tensor(t.requiringGrad()))
            case .tensors(let ts) where wantsGrad: args.append(.tensors(ts.map { $0.requiringGrad() }))
            default: args.append(v)
            }
        }
        let dtype = DType(rawValue: c["dtype"] as? String ?? "float32") ?? .float32
        let (rtol, atol) = GoldenFormat.tolerances(dtype == .int64 ? .float64 : dtype)

        let outputs = try OpRegistry.call(op, args, kwargs)
        // Forward.
        let expectedOut: [Tensor]
        switch try value(c["output"], context: "\(context): output") {
        case .tensor(let t): expectedOut = [t]
        case .tensors(let ts): expectedOut = ts
        default: throw ReferenceFileError("\(context): missing \"output\"")
        }
        guard outputs.count == expectedOut.count else {
            return CaseResult(name: name, op: op, passed: false, failure: "output: \(outputs.count) results, expected \(expectedOut.count)")
        }
        for (k, (got, exp)) in zip(outputs, expectedOut).enumerated() {
            let r = GoldenFormat.compare(got, exp, rtol: rtol, atol: atol)
            if !r.ok { return CaseResult(name: name, op: op, passed: false, failure: "output\(outputs.count > 1 ? "[\(k)]" : ""): \(r.message!)") }
            if exp.dtype == .int64 && got.dtype != .int64 {
                return CaseResult(name: name, op: op, passed: false, failure: "output: dtype \(got.dtype), expected int64")
            }
        }
        // Backward.
        // For ops with several outputs (max with a dim) only the first is differentiable.
        var rawCot = c["cotangent"]
        if let list = rawCot as? [Any] { rawCot = list.first }
        let cotangent = try value(rawCot, context: "\(context): cotangent").tensor
        guard let cot = cotangent, outputs[0].requiresGrad else {
            let anyGrad = rawGrads.contains { !($0 is NSNull) }
            if cotangent != nil && anyGrad { return CaseResult(name: name, op: op, passed: false, failure: "output does not require grad") }
            return CaseResult(name: name, op: op, passed: true, failure: nil)
        }
        do { try outputs[0].tryBackward(gradient: cot) } catch {
            return CaseResult(name: name, op: op, passed: false, failure: "backward: \(error)")
        }
        for (i, raw) in rawGrads.enumerated() where !(raw is NSNull) {
            let expected = try value(raw, context: "\(context): grads[\(i)]")
            switch (args[i], expected) {
            case (.tensor(let x), .tensor(let e)):
                if let f = gradMismatch(x, e, rtol: rtol, atol: atol, field: "grads[\(i)]") {
                    return CaseResult(name: name, op: op, passed: false, failure: f)
                }
            case (.tensors(let xs), .tensors(let es)):
                for (j, (x, e)) in zip(xs, es).enumerated() {
                    if let f = gradMismatch(x, e, rtol: rtol, atol: atol, field: "grads[\(i)][\(j)]") {
                        return CaseResult(name: name, op: op, passed: false, failure: f)
                    }
                }
            default: break
            }
        }
        return CaseResult(name: name, op: op, passed: true, failure: nil)
    }

    static func gradMismatch(_ x: Tensor, _ expected: Tensor, rtol: Double, atol: Double, field: String) -> String? {
        let got = x.grad ?? Tensor.zeros(like: x)
        let r = GoldenFormat.compare(got, expected, rtol: rtol, atol: atol)
        return r.ok ? nil : "\(field): \(r.message!)"
    }

    /// Replays a program (expressions.json): every step's value and every leaf's gradient.
    public static func verifyProgram(_ c: [String: Any], context: String) throws -> CaseResult {
        let name = c["name"] as? String ?? context
        guard let leaves = c["leaves"] as? [String: Any], let steps = c["steps"] as? [[String: Any]] else {
            throw ReferenceFileError("\(context): a program needs \"leaves\" and \"steps\"")
        }
        let dtype = DType(rawValue: c["dtype"] as? String ?? "float32") ?? .float32
        let (rtol, atol) = GoldenFormat.tolerances(dtype)
        var env: [String: Tensor] = [:]
        for (k, v) in leaves {
            guard let d = v as? [String: Any] else { throw ReferenceFileError("\(context): leaf \(k) malformed") }
            let t = try GoldenFormat.tensor(d["value"], context: "\(context): leaves.\(k)")
            env[k] = (d["requires_grad"] as? Bool ?? false) ? t.requiringGrad() : t
        }
        let expectedValues = c["values"] as? [String: Any] ?? [:]
        var last: Tensor?
        for (si, step) in steps.enumerated() {
            guard let out = step["out"] as? String, let op = step["op"] as? String, let rawArgs = step["args"] as? [Any] else {
                throw ReferenceFileError("\(context): steps[\(si)] needs out, op and args")
            }
            var args: [OpValue] = []
            for a in rawArgs {
                if let s = a as? String {
                    guard let t = env[s] else { throw ReferenceFileError("\(context): steps[\(si)] names unknown value \(s)") }
                    args.append(.tensor(t))
                } else if let n = a as? NSNumber {
                    args.append(.number(n.doubleValue))
                } else { throw ReferenceFileError("\(context): steps[\(si)] has a bad argument") }
            }
            let kw = OpKwargs(values: step["kwargs"] as? [String: Any] ?? [:], context: "\(context): steps[\(si)]")
            guard OpRegistry.ops[op] != nil else { return CaseResult(name: name, op: op, passed: false, failure: "unknown op \(op)") }
            // Whole-tensor reductions in programs; a leading number is a constant of the case's dtype.
            if case .number(let v) = args.first, args.count > 1, case .tensor(let t) = args[1] { args[0] = .tensor(t.scalarLike(v)) }
            let result = try OpRegistry.call(op, args, kw)[0]
            env[out] = result
            last = result
            if let ev = expectedValues[out] {
                let e = try GoldenFormat.tensor(ev, context: "\(context): values.\(out)")
                let r = GoldenFormat.compare(result, e, rtol: rtol, atol: atol)
                if !r.ok { return CaseResult(name: name, op: "program", passed: false, failure: "step \(out) (\(op)): \(r.message!)") }
            }
        }
        let outName = c["output"] as? String ?? "y"
        guard let y = env[outName] ?? last else { throw ReferenceFileError("\(context): no output") }
        if let grads = c["grads"] as? [String: Any], !grads.isEmpty {
            do { try y.tryBackward() } catch { return CaseResult(name: name, op: "program", passed: false, failure: "backward: \(error)") }
            for (leaf, g) in grads {
                let e = try GoldenFormat.tensor(g, context: "\(context): grads.\(leaf)")
                guard let x = env[leaf] else { throw ReferenceFileError("\(context): grads names unknown leaf \(leaf)") }
                if let f = gradMismatch(x, e, rtol: rtol, atol: atol, field: "grad of \(leaf)") {
                    return CaseResult(name: name, op: "program", passed: false, failure: f)
                }
            }
        }
        return CaseResult(name: name, op: "program", passed: true, failure: nil)
    }
}
