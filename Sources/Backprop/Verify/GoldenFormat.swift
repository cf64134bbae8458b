import Foundation

/// A problem in a reference file: which case and which field.
public struct ReferenceFileError: Error, CustomStringConvertible {
    /// What is wrong, naming the file, case and field.
    public let message: String
    /// An error with `message`.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}

/// Reading the golden JSON formats (../golden/README.md): tensors as `{shape, dtype, data}`.
public enum GoldenFormat {
    /// Parses a tensor object; `context` names the case and field for errors.
    public static func tensor(_ any: Any?, context: String) throws -> Tensor {
        guard let obj = any as? [String: Any] else { throw ReferenceFileError("\(context): expected a tensor object") }
        guard let shape = obj["shape"] as? [Int] else { throw ReferenceFileError("\(context): missing or bad \"shape\"") }
        guard let dtypeName = obj["dtype"] as? String, let dtype = DType(rawValue: dtypeName) else {
            throw ReferenceFileError("\(context): missing or unknown \"dtype\"")
        }
        guard let raw = obj["data"] as? [Any] else { throw ReferenceFileError("\(context): missing \"data\"") }
        var data: [Double] = []
        data.reserveCapacity(raw.count)
        for v in raw {
            guard let n = v as? NSNumber else { throw ReferenceFileError("\(context): non-numeric value in \"data\"") }
            data.append(n.doubleValue)
        }
        guard shape.allSatisfy({ $0 >= 0 }), data.count == shape.reduce(1, *) else {
            throw ReferenceFileError("\(context): \(data.count) values do not fill shape \(shape)")
        }
        return Tensor(data, shape: shape, dtype: dtype)
    }

    /// The tensor encoding of `t`, for writing reference-style JSON.
    public static func encode(_ t: Tensor) -> [String: Any] {
        ["shape": t.shape, "dtype": t.dtype.rawValue,
         "data": t.dtype == .int64 || t.dtype == .bool ? t.integers.map { $0 as Any } : t.scalars.map { $0 as Any }]
    }

    /// Loads a JSON file and returns its object.
    public static func loadObject(_ path: String) throws -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReferenceFileError("\(path): cannot read the file")
        }
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: data) } catch {
            throw ReferenceFileError("\(path): not valid JSON (\(error.localizedDescription))")
        }
        guard let obj = json as? [String: Any] else { throw ReferenceFileError("\(path): expected a JSON object at the top") }
        return obj
    }

    /// Whether `got` matches `expected` within |got - exp| <= atol + rtol |exp|; returns the worst element.
    public static func compare(_ got: Tensor, _ expected: Tensor, rtol: Double, atol: Double)
        -> (ok: Bool, maxAbs: Double, worst: Int?, message: String?) {
        if got.shape != expected.shape {
            return (false, .infinity, nil, "shape \(got.shape), expected \(expected.shape)")
        }
        let g = got.scalars, e = expected.scalars
        var ok = true, maxAbs = 0.0, worst: Int? = nil, worstExcess = 0.0
        for i in g.indices {
            let d = abs(g[i] - e[i])
            let tol = atol + rtol * abs(e[i])
            if d > maxAbs { maxAbs = d }
            if !(d <= tol) || g[i].isNaN != e[i].isNaN {
                ok = false
                if worst == nil || d - tol > worstExcess { worst = i; worstExcess = d - tol }
            }
        }
        if ok { return (true, maxAbs, nil, nil) }
        let i = worst ?? 0
        return (false, maxAbs, i, "element \(i): got \(g[i]), expected \(e[i]) (max abs diff \(maxAbs))")
    }

    /// The suggested tolerances of the golden files for a dtype.
    public static func tolerances(_ dtype: DType) -> (rtol: Double, atol: Double) {
        dtype == .float64 ? (1e-10, 1e-12) : (1e-5, 1e-6)
    }
}
