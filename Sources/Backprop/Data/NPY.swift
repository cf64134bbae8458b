import Foundation

/// Reading and writing NumPy's `.npy` format (versions 1.0, 2.0, 3.0): the magic `\x93NUMPY`, a
/// version, a header length, a Python dict literal
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` padded to 64 bytes, then the data.
///
/// Reads little-endian `<f4`, `<f8`, `<i8` (and `<i4`, widened to int64), in C or Fortran order;
/// writes version 1.0 in C order. Problems from the file throw `DataError`.
public enum NPY {
    /// Reads a .npy file.
    public static func read(_ path: String) throws -> Tensor {
        try decode(AtomicFile.read(path), file: path)
    }

    /// Parses the bytes of a .npy file (`file` only names it in errors).
    public static func decode(_ data: Data, file: String = "") throws -> Tensor {
        func fail(_ m: String) -> DataError { DataError(file: file, "npy: \(m)") }
        let b = [UInt8](data)
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
        guard b.count >= 10, Array(b[0..<6]) == magic else { throw fail("not a .npy file (missing the \\x93NUMPY magic)") }
        let major = b[6]
        let headerLength: Int, start: Int
        switch major {
        case 1: headerLength = Int(b[8]) | Int(b[9]) << 8; start = 10
        case 2, 3:
            guard b.count >= 12 else { throw fail("file too short for a version \(major) header") }
            headerLength = Int(b[8]) | Int(b[9]) << 8 | Int(b[10]) << 16 | Int(b[11]) << 24; start = 12
        default: throw fail("unsupported format version \(major).\(b[7])")
        }
        guard start + headerLength <= b.count else { throw fail("header length \(headerLength) runs past the end of the file") }
        guard let header = String(bytes: b[start..<(start + headerLength)], encoding: .utf8) else {
            throw fail("header is not text")
        }
        guard let descr = quotedValue(header, key: "descr") else { throw fail("header has no 'descr': \(header)") }
        guard let fortran = rawValue(header, key: "fortran_order").map({ $0.hasPrefix("True") }) else {
            throw fail("header has no 'fortran_order': \(header)")
        }
        guard let shapeText = tupleValue(header, key: "shape") else { throw fail("header has no 'shape' tuple: \(header)") }
        var shape: [Int] = []
        for part in shapeText.split(separator: ",") {
            let s = part.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "L", with: "")
            if s.isEmpty { continue }
            guard let d = Int(s), d >= 0 else { throw fail("bad dimension '\(s)' in shape (\(shapeText))") }
            shape.append(d)
        }
        let elementBytes: Int, dtype: DType
        switch descr {
        case "<f4", "=f4": (elementBytes, dtype) = (4, .float32)
        case "<f8", "=f8": (elementBytes, dtype) = (8, .float64)
        case "<i8", "=i8": (elementBytes, dtype) = (8, .int64)
        case "<i4", "=i4": (elementBytes, dtype) = (4, .int64)
        default: throw fail("unsupported dtype '\(descr)' (supported: <f4, <f8, <i8, <i4)")
        }
        guard let (count, byteCount) = FileShape.sizes(shape, elementBytes: elementBytes) else {
            throw fail("shape (\(shapeText)) is too large: its size in bytes does not fit in a 64-bit integer")
        }
        let dataStart = start + headerLength
        guard b.count - dataStart >= byteCount else {
            throw fail("shape \(shape) needs \(byteCount) bytes of \(descr) data, the file has \(b.count - dataStart)")
        }
        let storedShape = fortran ? Array(shape.reversed()) : shape
        var t = Tensor(shape: storedShape, dtype: dtype, zeroed: false)
        b.withUnsafeBytes { raw in
            let src = raw.baseAddress! + dataStart
            if elementBytes == dtype.byteSize {
                t.storage.raw.copyMemory(from: src, byteCount: byteCount)
            } else {
                let dst = t.storage.pointer(Int64.self)
                for i in 0..<count { dst[i] = Int64(src.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
            }
        }
        if fortran && shape.count > 1 {
            t = t.permute(Array((0..<shape.count).reversed())).detached()
        }
        return t
    }

    /// The bytes of a version 1.0 .npy file holding `tensor` in C order.
    public static func encode(_ tensor: Tensor) -> Data {
        let descr: String
        switch tensor.dtype {
        case .float32: descr = "<f4"
        case .float64: descr = "<f8"
        case .int64: descr = "<i8"
        case .bool: descr = "|b1"
        }
        let shape = tensor.shape.count == 1 ? "(\(tensor.shape[0]),)" : "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var out = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
        let n = UInt16(header.utf8.count)
        out.append(contentsOf: [UInt8(n & 0xFF), UInt8(n >> 8)])
        out.append(contentsOf: Array(header.utf8))
        if tensor.count > 0 { out.append(Data(bytes: tensor.storage.raw, count: tensor.count * tensor.dtype.byteSize)) }
        return out
    }

    /// Writes `tensor` to `path` atomically (temporary file, then rename).
    public static func write(_ tensor: Tensor, to path: String) throws {
        try AtomicFile.write(encode(tensor), to: path)
    }

    static func keyRange(_ header: String, _ key: String) -> String.Index? {
        for q in ["'", "\""] {
            if let r = header.range(of: "\(q)\(key)\(q)") {
                guard let colon = header[r.upperBound...].firstIndex(of: ":") else { return nil }
                return header.index(after: colon)
            }
        }
        return nil
    }

    static func quotedValue(_ header: String, key: String) -> String? {
        guard let i = keyRange(header, key) else { return nil }
        let rest = header[i...].drop { $0 == " " }
        guard let q = rest.first, q == "'" || q == "\"" else { return nil }
        let body = rest.dropFirst()
        guard let end = body.firstIndex(of: q) else { return nil }
        return String(body[..<end])
    }

    static func rawValue(_ header: String, key: String) -> String? {
        guard let i = keyRange(header, key) else { return nil }
        return String(header[i...].drop { $0 == " " })
    }

    static func tupleValue(_ header: String, key: String) -> String? {
        guard let i = keyRange(header, key) else { return nil }
        let rest = header[i...].drop { $0 == " " }
        guard rest.first == "(", let end = rest.firstIndex(of: ")") else { return nil }
        return String(rest[rest.index(after: rest.startIndex)..<end])
    }
}
