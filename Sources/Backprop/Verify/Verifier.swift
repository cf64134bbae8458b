import Foundation

/// The result of replaying one reference case.
public struct CaseResult: Sendable {
    /// The case's name in its file.
    public let name: String
    /// The PyTorch op it replays, `program` for a multi-op case.
    public let op: String
    /// Whether every value and gradient matched.
    public let passed: Bool
    /// What differed, naming the field (`output`, `grads[1]`, a step name); nil when passed.
    public let failure: String?
}

/// The tolerances of a reference file, per dtype: |got - expected| <= atol + rtol * |expected|.
public struct Tolerances: Sendable {
    /// (rtol, atol) for float32 values.
    public var float32: (rtol: Double, atol: Double)
    /// (rtol, atol) for float64 values.
    public var float64: (rtol: Double, atol: Double)

    /// The golden files' suggested tolerances (float32 rtol 1e-5, atol 1e-6; float64 rtol 1e-10, atol 1e-12).
    public static let standard = Tolerances(float32: GoldenFormat.tolerances(.float32), float64: GoldenFormat.tolerances(.float64))

    /// The tolerances for values of `dtype` (integers compare exactly in any case).
    public func callAsFunction(_ dtype: DType) -> (rtol: Double, atol: Double) { dtype == .float32 ? float32 : float64 }

    /// The standard ones, overridden by a file header's `"tolerance": {"float32": {"rtol": r, "atol": a}, ...}`.
    static func from(header: [String: Any], context: String) throws -> Tolerances {
        var t = Tolerances.standard
        guard let raw = header["tolerance"] else { return t }
        guard let obj = raw as? [String: Any] else { throw ReferenceFileError("\(context): \"tolerance\" must be an object") }
        for (key, value) in obj {
            guard let d = value as? [String: Any], let rtol = (d["rtol"] as? NSNumber)?.doubleValue,
                  let atol = (d["atol"] as? NSNumber)?.doubleValue, rtol >= 0, atol >= 0 else {
                throw ReferenceFileError("\(context): tolerance.\(key) needs non-negative numbers rtol and atol")
            }
            switch key {
            case "float32": t.float32 = (rtol, atol)
            case "float64": t.float64 = (rtol, atol)
            default: throw ReferenceFileError("\(context): tolerance for unknown dtype \(key) (float32 or float64)")
            }
        }
        return t
    }
}

/// Replays reference files in the golden formats through Backprop and compares every number.
public enum Verifier {
    /// Replays a file: single-op cases (as in ops.json/ties.json) or programs (as in expressions.json).
    ///
    /// Throws only when the file itself is malformed (not JSON, no `cases` list, a bad `tolerance`
    /// header). Each case gets its verdict whatever happens to it: a mismatch, an unknown op, a
    /// malformed field, an argument the op rejects, or an op that stops (a programmer error such
    /// as a shape mismatch, caught on the case's own thread) is that case's failure, with the
    /// message, and the run goes on.
    public static func verifyFile(_ path: String) throws -> [CaseResult] {
        let obj = try GoldenFormat.loadObject(path)
        guard let cases = obj["cases"] as? [Any] else { throw ReferenceFileError("\(path): missing \"cases\" list") }
        let tolerances = try Tolerances.from(header: obj, context: path)
        var results: [CaseResult] = []
        for (i, raw) in cases.enumerated() {
            guard let c = raw as? [String: Any] else {
                results.append(CaseResult(name: "case \(i)", op: "unknown", passed: false, failure: "case \(i) is not an object"))
                continue
            }
            results.append(verifyCase(c, index: i, path: path, tolerances: tolerances))
        }
        return results
    }

    /// One case's verdict, never throwing and never stopping (see `verifyFile`).
    public static func verifyCase(_ c: [String: Any], index i: Int, path: String,
                                  tolerances: Tolerances = .standard) -> CaseResult {
        let name = c["name"] as? String ?? "case \(i)"
        let op = c["steps"] != nil ? "program" : (c["op"] as? String ?? "unknown")
        let outcome = ProgrammerErrors.catching { () throws -> CaseResult in
            if c["steps"] != nil { return try verifyProgram(c, context: "\(path): \(name)", tolerances: tolerances) }
            if c["op"] != nil { return try verifyOp(c, context: "\(path): \(name)", tolerances: tolerances) }
            throw ReferenceFileError("neither \"op\" nor \"steps\"")
        }
        switch outcome {
        case .success(let r): return r
        case .failure(let e as StoppedCall): return CaseResult(name: name, op: op, passed: false, failure: "stopped: \(e.message)")
        case .failure(let e): return CaseResult(name: name, op: op, passed: false, failure: "\(e)")
        }
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
    public static func verifyOp(_ c: [String: Any], context: String, tolerances: Tolerances = .standard) throws -> CaseResult {
        let name = c["name"] as? String ?? context
        guard let op = c["op"] as? String else { throw ReferenceFileError("\(context): missing \"op\"") }
        guard let rawArgs = c["args"] as? [Any] else { throw ReferenceFileError("\(context): missing \"args\"") }
        let rawGrads = c["grads"] as? [Any] ?? []
        let kwargs = OpKwargs(values: c["kwargs"] as? [String: Any] ?? [:], context: context,
                              argNames: c["arg_names"] as? [String] ?? [])
        guard OpRegistry.contains(op) else { return CaseResult(name: name, op: op, passed: false, failure: "unknown op \(op)") }

        // Inputs: a float tensor whose reference has a gradient becomes a leaf that requires grad.
        var args: [OpValue] = []
        for (i, raw) in rawArgs.enumerated() {
            let v = try value(raw, context: "\(context): args[\(i)]")
            let rawGrad: Any? = i < rawGrads.count ? rawGrads[i] : nil
            let wantsGrad = rawGrad != nil && !(rawGrad is NSNull)
            switch v {
            case .tensor(let t) where wantsGrad && t.dtype.isFloatingPoint: args.append(.tensor(t.requiringGrad()))
            case .tensors(let ts) where wantsGrad:
                // A list's gradient may be null per element.
                let each = rawGrad as? [Any]
                args.append(.tensors(ts.enumerated().map { j, t in
                    let wanted = each.map { j < $0.count && !($0[j] is NSNull) } ?? true
                    return wanted && t.dtype.isFloatingPoint ? t.requiringGrad() : t
                }))
            default: args.append(v)
            }
        }
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
            let (rtol, atol) = tolerances(exp.dtype)
            let r = GoldenFormat.compare(got, exp, rtol: rtol, atol: atol)
            if !r.ok { return CaseResult(name: name, op: op, passed: false, failure: "output\(outputs.count > 1 ? "[\(k)]" : ""): \(r.message!)") }
            if exp.dtype == .int64 && got.dtype != .int64 {
                return CaseResult(name: name, op: op, passed: false, failure: "output: dtype \(got.dtype), expected int64")
            }
        }
        // In-place updates (batch_norm's running statistics): the values the call left in its arguments.
        if let updated = c["updated"] as? [String: Any] {
            for (argName, raw) in updated.sorted(by: { $0.key < $1.key }) {
                let exp = try GoldenFormat.tensor(raw, context: "\(context): updated.\(argName)")
                guard let got = kwargs.updated[argName] else {
                    return CaseResult(name: name, op: op, passed: false, failure: "updated.\(argName): the call did not update it")
                }
                let (rtol, atol) = tolerances(exp.dtype)
                let r = GoldenFormat.compare(got, exp, rtol: rtol, atol: atol)
                if !r.ok { return CaseResult(name: name, op: op, passed: false, failure: "updated.\(argName): \(r.message!)") }
            }
        }
        // Backward: the vector-Jacobian product with each output's cotangent (null for integer
        // outputs such as max's indices); several differentiable outputs (split, chunk) add up.
        let rawCots: [Any?] = (c["cotangent"] as? [Any]).map { $0.map { Optional($0) } } ?? [c["cotangent"]]
        var pairs: [(Tensor, Tensor)] = []
        for (k, raw) in rawCots.enumerated() where k < outputs.count {
            if let cot = try value(raw, context: "\(context): cotangent[\(k)]").tensor { pairs.append((outputs[k], cot)) }
        }
        guard !pairs.isEmpty, pairs.contains(where: { $0.0.requiresGrad }) else {
            let anyGrad = rawGrads.contains { !($0 is NSNull) }
            if !pairs.isEmpty && anyGrad { return CaseResult(name: name, op: op, passed: false, failure: "output does not require grad") }
            return CaseResult(name: name, op: op, passed: true, failure: nil)
        }
        let secondOrder = c["cotangent2"] != nil && c["grads2"] != nil
        do {
            if pairs.count == 1 {
                try pairs[0].0.tryBackward(gradient: pairs[0].1, createGraph: secondOrder)
            } else {
                try innerProduct(pairs.filter { $0.0.requiresGrad }.map { ($0.0, $0.1) })!.tryBackward(createGraph: secondOrder)
            }
        } catch {
            return CaseResult(name: name, op: op, passed: false, failure: "backward: \(error)")
        }
        for (i, raw) in rawGrads.enumerated() where !(raw is NSNull) && i < args.count {
            if case .tensors(let xs) = args[i], let list = raw as? [Any] {
                for (j, (x, rawE)) in zip(xs, list).enumerated() where !(rawE is NSNull) {
                    let e = try GoldenFormat.tensor(rawE, context: "\(context): grads[\(i)][\(j)]")
                    let (rtol, atol) = tolerances(e.dtype)
                    if let f = gradMismatch(x, e, rtol: rtol, atol: atol, field: "grads[\(i)][\(j)]") {
                        return CaseResult(name: name, op: op, passed: false, failure: f)
                    }
                }
                continue
            }
            let expected = try value(raw, context: "\(context): grads[\(i)]")
            switch (args[i], expected) {
            case (.tensor(let x), .tensor(let e)):
                let (rtol, atol) = tolerances(e.dtype)
                if let f = gradMismatch(x, e, rtol: rtol, atol: atol, field: "grads[\(i)]") {
                    return CaseResult(name: name, op: op, passed: false, failure: f)
                }
            case (.tensors(let xs), .tensors(let es)):
                for (j, (x, e)) in zip(xs, es).enumerated() {
                    let (rtol, atol) = tolerances(e.dtype)
                    if let f = gradMismatch(x, e, rtol: rtol, atol: atol, field: "grads[\(i)][\(j)]") {
                        return CaseResult(name: name, op: op, passed: false, failure: f)
                    }
                }
            default: break
            }
        }
        if secondOrder {
            if let f = try secondOrderMismatch(c, args: args, context: context, tolerances: tolerances) {
                return CaseResult(name: name, op: op, passed: false, failure: f)
            }
        }
        return CaseResult(name: name, op: op, passed: true, failure: nil)
    }

    /// The second-order check of a case with `cotangent2` and `grads2` (gradgrad.json): with the
    /// first-order gradients recorded (`createGraph`) in the args' `.grad`, S = sum_i sum(grads[i] *
    /// cotangent2[i]) is differentiated again and its gradient compared with `grads2`.
    static func secondOrderMismatch(_ c: [String: Any], args: [OpValue], context: String,
                                    tolerances: Tolerances) throws -> String? {
        let rawCot2 = c["cotangent2"] as? [Any] ?? [], rawGrads2 = c["grads2"] as? [Any] ?? []
        // The leaves, in argument order (list arguments element by element).
        var leaves: [(field: String, tensor: Tensor, cot2: Any?, grad2: Any?)] = []
        for (i, a) in args.enumerated() {
            let cot2: Any? = i < rawCot2.count ? rawCot2[i] : nil, grad2: Any? = i < rawGrads2.count ? rawGrads2[i] : nil
            switch a {
            case .tensor(let t) where t.requiresGrad: leaves.append(("grads2[\(i)]", t, cot2, grad2))
            case .tensors(let ts):
                for (j, t) in ts.enumerated() where t.requiresGrad {
                    leaves.append(("grads2[\(i)][\(j)]", t, (cot2 as? [Any]).map { j < $0.count ? $0[j] : NSNull() },
                                   (grad2 as? [Any]).map { j < $0.count ? $0[j] : NSNull() }))
                }
            default: break
            }
        }
        var terms: [(Tensor?, Tensor)] = []
        for l in leaves {
            guard let raw = l.cot2, !(raw is NSNull), let g = l.tensor.grad else { continue }
            terms.append((g, try GoldenFormat.tensor(raw, context: "\(context): cotangent2")))
        }
        let s = innerProduct(terms)
        var got: [Tensor?] = leaves.map { _ in nil }
        if let s, s.requiresGrad {
            got = try gradients(of: s, wrt: leaves.map(\.tensor))
        }
        for (k, l) in leaves.enumerated() {
            guard let raw = l.grad2, !(raw is NSNull) else { continue }
            let e = try GoldenFormat.tensor(raw, context: "\(context): \(l.field)")
            let (rtol, atol) = tolerances(e.dtype)
            let r = GoldenFormat.compare(got[k] ?? Tensor.zeros(like: l.tensor), e, rtol: rtol, atol: atol)
            if !r.ok { return "\(l.field): \(r.message!)" }
        }
        return nil
    }

    static func gradMismatch(_ x: Tensor, _ expected: Tensor, rtol: Double, atol: Double, field: String) -> String? {
        let got = x.requiresGrad ? (x.grad ?? Tensor.zeros(like: x)) : Tensor.zeros(like: x)
        let r = GoldenFormat.compare(got, expected, rtol: rtol, atol: atol)
        return r.ok ? nil : "\(field): \(r.message!)"
    }

    /// Replays a program (expressions.json): every step's value and every leaf's gradient.
    public static func verifyProgram(_ c: [String: Any], context: String, tolerances: Tolerances = .standard) throws -> CaseResult {
        let name = c["name"] as? String ?? context
        guard let leaves = c["leaves"] as? [String: Any], let steps = c["steps"] as? [[String: Any]] else {
            throw ReferenceFileError("\(context): a program needs \"leaves\" and \"steps\"")
        }
        let dtype = DType(rawValue: c["dtype"] as? String ?? "float32") ?? .float32
        let (rtol, atol) = tolerances(dtype)
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
            guard OpRegistry.contains(op) else { return CaseResult(name: name, op: op, passed: false, failure: "unknown op \(op)") }
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
