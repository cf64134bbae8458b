import Foundation

/// Reading and writing the safetensors format (Hugging Face's `safetensors`, as `safetensors.torch`
/// writes it): an 8-byte little-endian header length N, N bytes of JSON
/// `{"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, "__metadata__": {...}}`,
/// then the raw little-endian tensor bytes, offsets counted from the end of the header.
///
/// Element types (`StorageType`): F16, BF16 and F32 are read into float32 (or float64, with
/// `halfAs:` for the first two), F64 into float64, the integer types into int64 and BOOL into bool; the
/// 8-bit and smaller floats and C64 are refused by name. Writing stores float tensors as their own
/// dtype or, with `storing:`, as F16, BF16, F32 or F64 (rounded to nearest, ties to even, as
/// PyTorch's `.half()` and `.bfloat16()`), and int64 tensors as I64.
///
/// Reading checks everything that comes from the file and throws `DataError`: a short file, a
/// header that runs past the end or is not a JSON object, unknown or unsupported dtypes, shapes
/// that do not match the byte ranges, offsets past the end of the data, tensors whose byte ranges
/// overlap, and U64 values past the int64 range. Writing goes to a temporary file renamed into place.
public enum SafeTensors {
    /// The tensors of a file in the order of their data, and its `__metadata__` strings.
    public struct Contents: Sendable {
        /// (name, tensor) pairs, in the order their bytes appear in the file.
        public var tensors: [(name: String, tensor: Tensor)]
        /// The string-to-string `__metadata__` of the header (empty when absent).
        public var metadata: [String: String]
        /// The element type each tensor had in the file, by name (empty for contents made here).
        public var storedTypes: [String: StorageType]

        /// Contents to write: the tensors in order, and metadata strings.
        public init(tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:],
                    storedTypes: [String: StorageType] = [:]) {
            self.tensors = tensors; self.metadata = metadata; self.storedTypes = storedTypes
        }

        /// The tensor called `name`, if any.
        public subscript(name: String) -> Tensor? { tensors.first { $0.name == name }?.tensor }

        /// All tensors by name.
        public var dictionary: [String: Tensor] {
            Dictionary(tensors.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        }
    }

    /// The element types of the format that Backprop reads, by their names in the header.
    public enum StorageType: String, CaseIterable, Sendable {
        /// IEEE half precision (`torch.float16`), read into float32 (or float64).
        case float16 = "F16"
        /// bfloat16 (`torch.bfloat16`), read into float32 (or float64).
        case bfloat16 = "BF16"
        /// `torch.float32`.
        case float32 = "F32"
        /// `torch.float64`.
        case float64 = "F64"
        /// `torch.int8`, read into int64.
        case int8 = "I8"
        /// `torch.int16`, read into int64.
        case int16 = "I16"
        /// `torch.int32`, read into int64.
        case int32 = "I32"
        /// `torch.int64`.
        case int64 = "I64"
        /// `torch.uint8`, read into int64.
        case uint8 = "U8"
        /// `torch.uint16`, read into int64.
        case uint16 = "U16"
        /// `torch.uint32`, read into int64.
        case uint32 = "U32"
        /// `torch.uint64`, read into int64 (values past Int64.max are refused).
        case uint64 = "U64"
        /// `torch.bool` (one byte, 0 or 1), read into bool.
        case bool = "BOOL"

        /// Bytes per element in the file.
        public var byteSize: Int {
            switch self {
            case .int8, .uint8, .bool: return 1
            case .float16, .bfloat16, .int16, .uint16: return 2
            case .float32, .int32, .uint32: return 4
            case .float64, .int64, .uint64: return 8
            }
        }

        /// Whether the elements are floating-point numbers.
        public var isFloatingPoint: Bool { [.float16, .bfloat16, .float32, .float64].contains(self) }

        /// The type a tensor of `dtype` is stored as when nothing else is asked.
        public init(_ dtype: DType) {
            switch dtype {
            case .float32: self = .float32
            case .float64: self = .float64
            case .int64: self = .int64
            case .bool: self = .bool
            }
        }

        /// The dtype it is read into (`halfAs` for F16 and BF16).
        func readDType(halfAs: DType) -> DType {
            switch self {
            case .float16, .bfloat16: return halfAs
            case .float32: return .float32
            case .float64: return .float64
            case .bool: return .bool
            default: return .int64
            }
        }
    }

    /// Element types of the format that Backprop does not read: the 8-bit and smaller floats
    /// (PyTorch's float8 types, OCP's F8_E8M0, F6 and F4) and complex numbers.
    static let refused: Set<String> = ["F8_E5M2", "F8_E4M3", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "F8_E8M0",
                                       "F6_E2M3", "F6_E3M2", "F4", "C64"]
    static let supportedList = StorageType.allCases.map(\.rawValue).joined(separator: ", ")

    /// Reads a safetensors file; F16 and BF16 tensors become `halfAs` (float32 or float64).
    public static func read(_ path: String, halfAs: DType = .float32) throws -> Contents {
        try decode(AtomicFile.read(path), file: path, halfAs: halfAs)
    }

    /// Parses the bytes of a safetensors file (`file` only names it in errors); F16 and BF16
    /// tensors become `halfAs` (float32 or float64).
    public static func decode(_ data: Data, file: String = "", halfAs: DType = .float32) throws -> Contents {
        precondition(halfAs.isFloatingPoint, "SafeTensors.decode: halfAs must be a floating-point dtype, got \(halfAs)")
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
        var entries: [(name: String, type: StorageType, shape: [Int], begin: Int, end: Int)] = []
        for (name, value) in header where name != "__metadata__" {
            guard let info = value as? [String: Any] else { throw fail("entry '\(name)' is not an object") }
            guard let code = info["dtype"] as? String else { throw fail("tensor '\(name)' has no dtype string") }
            guard let type = StorageType(rawValue: code) else {
                if refused.contains(code) { throw fail("tensor '\(name)' has dtype \(code), which Backprop does not read; supported: \(supportedList)") }
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
            guard let (_, byteCount) = FileShape.sizes(shape, elementBytes: type.byteSize) else {
                throw fail("tensor '\(name)' has shape \(shape), too large: its size in bytes does not fit in a 64-bit integer")
            }
            guard byteCount == off[1] - off[0] else {
                throw fail("tensor '\(name)' of shape \(shape) and dtype \(code) needs \(byteCount) bytes but data_offsets [\(off[0]), \(off[1])] hold \(off[1] - off[0])")
            }
            entries.append((name, type, shape, off[0], off[1]))
        }
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        for k in entries.indices.dropFirst() where entries[k].begin < entries[k - 1].end {
            throw fail("tensors '\(entries[k - 1].name)' [\(entries[k - 1].begin), \(entries[k - 1].end)) and '\(entries[k].name)' [\(entries[k].begin), \(entries[k].end)) overlap")
        }
        var tensors: [(name: String, tensor: Tensor)] = []
        var types: [String: StorageType] = [:]
        for e in entries {
            let t = Tensor(shape: e.shape, dtype: e.type.readDType(halfAs: halfAs), zeroed: false)
            let ok = bytes.withUnsafeBytes { raw in
                convert(UnsafeRawBufferPointer(rebasing: raw[(headerEnd + e.begin)..<(headerEnd + e.end)]), from: e.type, into: t)
            }
            guard ok else {
                throw fail("tensor '\(e.name)' (U64) holds a value past 9223372036854775807, the largest int64")
            }
            tensors.append((e.name, t))
            types[e.name] = e.type
        }
        return Contents(tensors: tensors, metadata: metadata, storedTypes: types)
    }

    /// Fills `t` with the little-endian elements of `src` stored as `type`; false when a U64
    /// value does not fit in an int64.
    static func convert(_ src: UnsafeRawBufferPointer, from type: StorageType, into t: Tensor) -> Bool {
        let n = t.count
        guard n > 0 else { return true }
        let dst = t.storage.raw
        if type == StorageType(t.dtype) {
            dst.copyMemory(from: src.baseAddress!, byteCount: n * type.byteSize)
            return true
        }
        func load<T: FixedWidthInteger>(_: T.Type, _ i: Int) -> T {
            T(littleEndian: src.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self))
        }
        func fill<T>(_: T.Type, _ value: (Int) -> T) {
            let p = dst.assumingMemoryBound(to: T.self)
            for i in 0..<n { p[i] = value(i) }
        }
        func floats(_ value: @escaping (Int) -> Float) {
            if t.dtype == .float64 { fill(Double.self) { Double(value($0)) } } else { fill(Float.self, value) }
        }
        switch type {
        case .float16: floats { HalfPrecision.float(float16Bits: load(UInt16.self, $0)) }
        case .bfloat16: floats { HalfPrecision.float(bfloat16Bits: load(UInt16.self, $0)) }
        case .float32: floats { Float(bitPattern: load(UInt32.self, $0)) }
        case .float64: fill(Double.self) { Double(bitPattern: load(UInt64.self, $0)) }
        case .int8: fill(Int64.self) { Int64(load(Int8.self, $0)) }
        case .int16: fill(Int64.self) { Int64(load(Int16.self, $0)) }
        case .int32: fill(Int64.self) { Int64(load(Int32.self, $0)) }
        case .int64: fill(Int64.self) { load(Int64.self, $0) }
        case .uint8: fill(Int64.self) { Int64(load(UInt8.self, $0)) }
        case .uint16: fill(Int64.self) { Int64(load(UInt16.self, $0)) }
        case .uint32: fill(Int64.self) { Int64(load(UInt32.self, $0)) }
        case .bool: fill(UInt8.self) { load(UInt8.self, $0) != 0 ? 1 : 0 }
        case .uint64:
            for i in 0..<n where load(UInt64.self, i) > UInt64(Int64.max) { return false }
            fill(Int64.self) { Int64(load(UInt64.self, $0)) }
        }
        return true
    }

    /// The bytes of a safetensors file holding `tensors` (in the given order) and `metadata`.
    ///
    /// Float tensors are stored as `floatsAs` when given (F16, BF16, F32 or F64; rounded to
    /// nearest, ties to even, a float64 tensor through float32 as PyTorch converts it), else as
    /// their own dtype; int64 tensors as I64.
    public static func encode(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:],
                              floatsAs: StorageType? = nil) -> Data {
        precondition(floatsAs?.isFloatingPoint ?? true, "safetensors: floatsAs must be F16, BF16, F32 or F64, got \(floatsAs!.rawValue)")
        var seen = Set<String>()
        for (name, _) in tensors {
            precondition(name != "__metadata__", "safetensors: a tensor cannot be called __metadata__")
            precondition(seen.insert(name).inserted, "safetensors: two tensors are called '\(name)'")
        }
        func storage(_ t: Tensor) -> StorageType { t.dtype.isFloatingPoint ? floatsAs ?? StorageType(t.dtype) : StorageType(t.dtype) }
        var parts: [String] = []
        if !metadata.isEmpty {
            let items = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            parts.append("\"__metadata__\":{\(items.joined(separator: ","))}")
        }
        var offset = 0
        for (name, t) in tensors {
            let len = t.count * storage(t).byteSize
            let shape = t.shape.map(String.init).joined(separator: ",")
            parts.append("\(jsonString(name)):{\"dtype\":\"\(storage(t).rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + len)]}")
            offset += len
        }
        var header = Array("{\(parts.joined(separator: ","))}".utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        var out = Data(capacity: 8 + header.count + offset)
        var n = UInt64(header.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(contentsOf: header)
        for (_, t) in tensors where t.count > 0 {
            let type = storage(t)
            if type == StorageType(t.dtype) {
                out.append(Data(bytes: t.storage.raw, count: t.count * t.dtype.byteSize))
                continue
            }
            let values = t.dtype == .float64
                ? t.storage.raw.withMemoryRebound(to: Double.self, capacity: t.count) { p in (0..<t.count).map { Float(p[$0]) } }
                : Array(UnsafeBufferPointer(start: t.storage.raw.assumingMemoryBound(to: Float.self), count: t.count))
            switch type {
            case .float16: appendLittleEndian(values.map(HalfPrecision.float16Bits), to: &out)
            case .bfloat16: appendLittleEndian(values.map(HalfPrecision.bfloat16Bits), to: &out)
            case .float32: appendLittleEndian(values.map(\.bitPattern), to: &out)
            default: appendLittleEndian(t.scalars.map(\.bitPattern), to: &out)   // float32 stored as F64
            }
        }
        return out
    }

    static func appendLittleEndian<T: FixedWidthInteger>(_ values: [T], to out: inout Data) {
        values.map(\.littleEndian).withUnsafeBytes { out.append(contentsOf: $0) }
    }

    /// Writes `tensors` and `metadata` to `path` atomically (temporary file, then rename); float
    /// tensors are stored as `floatsAs` when given (see `encode`).
    public static func write(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:],
                             floatsAs: StorageType? = nil, to path: String) throws {
        try AtomicFile.write(encode(tensors, metadata: metadata, floatsAs: floatsAs), to: path)
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
