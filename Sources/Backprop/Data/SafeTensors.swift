import Foundation

/// Reading and writing the safetensors format (Hugging Face's `safetensors`, as `safetensors.torch`
/// writes it): an 8-byte little-endian header length N, N bytes of JSON
/// `{"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, "__metadata__": {...}}`,
/// then the raw little-endian tensor bytes, offsets counted from the end of the header.
///
/// Supported dtypes: F32, F64, I64. Reading checks everything that comes from the file and throws
/// `DataError`: a short file, a header that runs past the end or is not a JSON object, unknown or
/// unsupported dtypes, shapes that do not match the byte ranges, offsets past the end of the data,
/// and tensors whose byte ranges overlap. Writing goes to a temporary file renamed into place.
public enum SafeTensors {
    /// The tensors of a file in the order of their data, and its `__metadata__` strings.
    public struct Contents: Sendable {
        /// (name, tensor) pairs, in the order their bytes appear in the file.
        public var tensors: [(name: String, tensor: Tensor)]
        /// The string-to-string `__metadata__` of the header (empty when absent).
        public var metadata: [String: String]

        /// Contents to write: the tensors in order, and metadata strings.
        public init(tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:]) {
            self.tensors = tensors; self.metadata = metadata
        }

        /// The tensor called `name`, if any.
        public subscript(name: String) -> Tensor? { tensors.first { $0.name == name }?.tensor }

        /// All tensors by name.
        public var dictionary: [String: Tensor] {
            Dictionary(tensors.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        }
    }

    static let codes: [DType: String] = [.float32: "F32", .float64: "F64", .int64: "I64"]
    static let known: Set<String> = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16",
                                     "I32", "U32", "F32", "F64", "I64", "U64"]

    /// Reads a safetensors file.
    public static func read(_ path: String) throws -> Contents {
        try decode(AtomicFile.read(path), file: path)
    }

    /// Parses the bytes of a safetensors file (`file` only names it in errors).
    public static func decode(_ data: Data, file: String = "") throws -> Contents {
        func fail(_ m: String) -> DataError { DataError(file: file, "safetensors: \(m)") }
        let bytes = [UInt8](data)
        guard bytes.count >= 8 else { throw fail("file of \(bytes.count) bytes is too short for the 8-byte header length") }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard n <= UInt64(bytes.count - 8) else {
            throw fail("header length \(n) runs past the end of the file (\(bytes.count) bytes); is it a safetensors file?")
        }
        let headerEnd = 8 + Int(n)
        let headerData = Data(bytes[8..<headerEnd])
        guard let object = try? JSONSerialization.jsonObject(with: headerData), let header = object as? [String: Any] else {
            throw fail("header is not a JSON object")
        }
        var metadata: [String: String] = [:]
        if let m = header["__metadata__"] {
            guard let dict = m as? [String: Any] else { throw fail("__metadata__ is not an object of strings") }
            for (k, v) in dict {
                guard let s = v as? String else { throw fail("__metadata__ value of '\(k)' is not a string") }
                metadata[k] = s
            }
        }
        let dataLength = bytes.count - headerEnd
        var entries: [(name: String, dtype: DType, shape: [Int], begin: Int, end: Int)] = []
        for (name, value) in header where name != "__metadata__" {
            guard let info = value as? [String: Any] else { throw fail("entry '\(name)' is not an object") }
            guard let code = info["dtype"] as? String else { throw fail("tensor '\(name)' has no dtype string") }
            guard let dtype = codes.first(where: { $0.value == code })?.key else {
                if known.contains(code) { throw fail("tensor '\(name)' has dtype \(code); supported: F32, F64, I64") }
                throw fail("tensor '\(name)' has unknown dtype '\(code)'")
            }
            guard let shapeAny = info["shape"] as? [Any], let shape = intArray(shapeAny), shape.allSatisfy({ $0 >= 0 }) else {
                throw fail("tensor '\(name)' has no valid shape (a list of non-negative integers)")
            }
            guard let offAny = info["data_offsets"] as? [Any], let off = intArray(offAny), off.count == 2,
                  off[0] >= 0, off[0] <= off[1] else {
                throw fail("tensor '\(name)' has no valid data_offsets (two integers begin <= end)")
            }
            guard off[1] <= dataLength else {
                throw fail("tensor '\(name)' has data_offsets [\(off[0]), \(off[1])] past the end of the data (\(dataLength) bytes)")
            }
            guard let (_, byteCount) = FileShape.sizes(shape, elementBytes: dtype.byteSize) else {
                throw fail("tensor '\(name)' has shape \(shape), too large: its size in bytes does not fit in a 64-bit integer")
            }
            guard byteCount == off[1] - off[0] else {
                throw fail("tensor '\(name)' of shape \(shape) and dtype \(code) needs \(byteCount) bytes but data_offsets [\(off[0]), \(off[1])] hold \(off[1] - off[0])")
            }
            entries.append((name, dtype, shape, off[0], off[1]))
        }
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        for k in entries.indices.dropFirst() where entries[k].begin < entries[k - 1].end {
            throw fail("tensors '\(entries[k - 1].name)' [\(entries[k - 1].begin), \(entries[k - 1].end)) and '\(entries[k].name)' [\(entries[k].begin), \(entries[k].end)) overlap")
        }
        var tensors: [(name: String, tensor: Tensor)] = []
        for e in entries {
            let t = Tensor(shape: e.shape, dtype: e.dtype, zeroed: false)
            let len = e.end - e.begin
            if len > 0 {
                bytes.withUnsafeBytes { raw in
                    t.storage.raw.copyMemory(from: raw.baseAddress! + headerEnd + e.begin, byteCount: len)
                }
            }
            tensors.append((e.name, t))
        }
        return Contents(tensors: tensors, metadata: metadata)
    }

    /// The bytes of a safetensors file holding `tensors` (in the given order) and `metadata`.
    public static func encode(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:]) -> Data {
        var seen = Set<String>()
        for (name, _) in tensors {
            precondition(name != "__metadata__", "safetensors: a tensor cannot be called __metadata__")
            precondition(seen.insert(name).inserted, "safetensors: two tensors are called '\(name)'")
        }
        var parts: [String] = []
        if !metadata.isEmpty {
            let items = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            parts.append("\"__metadata__\":{\(items.joined(separator: ","))}")
        }
        var offset = 0
        for (name, t) in tensors {
            let len = t.count * t.dtype.byteSize
            let shape = t.shape.map(String.init).joined(separator: ",")
            parts.append("\(jsonString(name)):{\"dtype\":\"\(codes[t.dtype]!)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + len)]}")
            offset += len
        }
        var header = Array("{\(parts.joined(separator: ","))}".utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        var out = Data(capacity: 8 + header.count + offset)
        var n = UInt64(header.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(contentsOf: header)
        for (_, t) in tensors where t.count > 0 {
            out.append(Data(bytes: t.storage.raw, count: t.count * t.dtype.byteSize))
        }
        return out
    }

    /// Writes `tensors` and `metadata` to `path` atomically (temporary file, then rename).
    public static func write(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:],
                             to path: String) throws {
        try AtomicFile.write(encode(tensors, metadata: metadata), to: path)
    }

    static func intArray(_ values: [Any]) -> [Int]? {
        var out: [Int] = []
        for v in values {
            if let n = v as? NSNumber {
                let d = n.doubleValue
                guard d == d.rounded(), abs(d) < 9.0e15 else { return nil }
                out.append(n.intValue)
            } else { return nil }
        }
        return out
    }

    static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}
