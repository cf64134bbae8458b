import CZlib
import Foundation

/// IDX files, the format of MNIST and Fashion-MNIST: a magic number (two zero bytes, a type byte,
/// the number of dims), each dim as a big-endian 32-bit integer, then the values row-major.
/// Files ending in `.gz` (or starting with gzip's magic bytes) are decompressed with zlib.
public enum IDX {
    /// The shape and the raw bytes (unsigned 8-bit values) of an IDX file of type 0x08.
    public static func read(_ path: String) throws -> (shape: [Int], bytes: [UInt8]) {
        let raw = try AtomicFile.read(path)
        let data = raw.starts(with: [0x1f, 0x8b]) ? try gunzip(raw, path: path) : raw
        return try parse(data, path: path)
    }

    /// Parses the bytes of an (uncompressed) IDX file.
    static func parse(_ data: Data, path: String) throws -> (shape: [Int], bytes: [UInt8]) {
        let bytes = [UInt8](data)
        guard bytes.count >= 4 else { throw DataError(file: path, "not an IDX file: \(bytes.count) bytes, shorter than the 4-byte magic number") }
        guard bytes[0] == 0, bytes[1] == 0 else {
            throw DataError(file: path, String(format: "not an IDX file: wrong magic number 0x%02x%02x%02x%02x (expected 0x0000 then the type and the number of dims)", bytes[0], bytes[1], bytes[2], bytes[3]))
        }
        guard bytes[2] == 0x08 else {
            throw DataError(file: path, String(format: "IDX type 0x%02x is not supported (only 0x08, unsigned bytes, as MNIST's)", bytes[2]))
        }
        let dims = Int(bytes[3])
        guard dims >= 1 else { throw DataError(file: path, "IDX file with 0 dims") }
        guard bytes.count >= 4 + 4 * dims else {
            throw DataError(file: path, "truncated IDX file: \(bytes.count) bytes, the header alone needs \(4 + 4 * dims)")
        }
        var shape: [Int] = []
        for d in 0..<dims {
            let o = 4 + 4 * d
            shape.append(Int(bytes[o]) << 24 | Int(bytes[o + 1]) << 16 | Int(bytes[o + 2]) << 8 | Int(bytes[o + 3]))
        }
        let count = shape.reduce(1, *), start = 4 + 4 * dims
        guard bytes.count - start >= count else {
            throw DataError(file: path, "truncated IDX file: shape \(shape) needs \(count) values, the file has \(bytes.count - start)")
        }
        guard bytes.count - start == count else {
            throw DataError(file: path, "IDX file has \(bytes.count - start - count) bytes after the \(count) values of shape \(shape)")
        }
        return (shape, Array(bytes[start...]))
    }

    /// The decompressed contents of gzip data.
    static func gunzip(_ data: Data, path: String) throws -> Data {
        var stream = z_stream()
        // 15 + 32: a zlib or gzip header, detected.
        guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DataError(file: path, "zlib could not start decompressing")
        }
        defer { inflateEnd(&stream) }
        var out = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var status: Int32 = Z_OK
        try data.withUnsafeBytes { (src: UnsafeRawBufferPointer) in
            stream.next_in = UnsafeMutablePointer(mutating: src.bindMemory(to: Bytef.self).baseAddress!)
            stream.avail_in = uInt(src.count)
            repeat {
                try chunk.withUnsafeMutableBufferPointer { buf in
                    stream.next_out = buf.baseAddress
                    stream.avail_out = uInt(buf.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    guard status == Z_OK || status == Z_STREAM_END else {
                        let reason = status == Z_BUF_ERROR || status == Z_DATA_ERROR ? "corrupt or truncated gzip data" : "zlib error \(status)"
                        throw DataError(file: path, reason)
                    }
                    out.append(buf.baseAddress!, count: buf.count - Int(stream.avail_out))
                }
                if status != Z_STREAM_END && stream.avail_in == 0 && stream.avail_out != 0 {
                    throw DataError(file: path, "truncated gzip file: the compressed data ends early")
                }
            } while status != Z_STREAM_END
        }
        return out
    }

    /// Images as float32 `pixel / 255` of shape [N, 1, H, W] (the first `limit` when given), from an
    /// IDX file of shape [N, H, W].
    public static func images(_ path: String, limit: Int? = nil) throws -> Tensor {
        let (shape, bytes) = try read(path)
        guard shape.count == 3 else { throw DataError(file: path, "expected images of shape [N, H, W], the file holds shape \(shape)") }
        let n = Swift.min(shape[0], limit ?? shape[0]), size = shape[1] * shape[2]
        let out = Tensor(shape: [n, 1, shape[1], shape[2]], dtype: .float32, zeroed: false)
        out.withFreshPointer(Float.self) { p in
            for i in 0..<(n * size) { p[i] = Float(bytes[i]) / 255 }
        }
        return out
    }

    /// Labels as int64 of shape [N] (the first `limit` when given), from an IDX file of shape [N].
    public static func labels(_ path: String, limit: Int? = nil) throws -> Tensor {
        let (shape, bytes) = try read(path)
        guard shape.count == 1 else { throw DataError(file: path, "expected labels of shape [N], the file holds shape \(shape)") }
        let n = Swift.min(shape[0], limit ?? shape[0])
        return Tensor(indices: bytes.prefix(n).map { Int($0) })
    }
}

/// Images [N, C, H, W] and their labels [N], as MNIST and Fashion-MNIST give them.
public struct ImageDataset {
    /// float32 images, [N, C, H, W].
    public let images: Tensor
    /// int64 class labels, [N].
    public let labels: Tensor
    /// The number of images.
    public var count: Int { labels.count }

    /// A data set of `images` [N, C, H, W] and `labels` [N]; stops unless the counts agree.
    public init(images: Tensor, labels: Tensor) {
        precondition(images.rank == 4 && labels.rank == 1 && images.shape[0] == labels.count,
                     "ImageDataset: images of shape \(images.shape) and labels of shape \(labels.shape) do not match")
        self.images = images; self.labels = labels
    }

    /// The images and labels of two IDX files (the first `limit` of each when given); throws when
    /// either file is bad or they hold different numbers of items.
    public init(images imagesPath: String, labels labelsPath: String, limit: Int? = nil) throws {
        let x = try IDX.images(imagesPath, limit: limit), y = try IDX.labels(labelsPath, limit: limit)
        guard x.shape[0] == y.count else {
            throw DataError(file: labelsPath, "\(y.count) labels for the \(x.shape[0]) images of \(imagesPath)")
        }
        self.init(images: x, labels: y)
    }

    /// MNIST's file names in `directory`: `train-images-idx3-ubyte` and `train-labels-idx1-ubyte`
    /// (or `t10k-...` for the test set), each with or without `.gz`.
    public init(mnistDirectory directory: String, train: Bool, limit: Int? = nil) throws {
        let prefix = train ? "train" : "t10k"
        func find(_ name: String) throws -> String {
            for candidate in [name, name + ".gz"] {
                let path = (directory as NSString).appendingPathComponent(candidate)
                if FileManager.default.fileExists(atPath: path) { return path }
            }
            throw DataError(file: (directory as NSString).appendingPathComponent(name), "no such file (nor \(name).gz)")
        }
        try self.init(images: try find("\(prefix)-images-idx3-ubyte"), labels: try find("\(prefix)-labels-idx1-ubyte"), limit: limit)
    }

    /// Items `range` (in file order): images [k, C, H, W] and labels [k].
    public func batch(_ range: Range<Int>) -> (images: Tensor, labels: Tensor) {
        batch(Array(range))
    }

    /// The items at `indices`: images [k, C, H, W] and labels [k].
    public func batch(_ indices: [Int]) -> (images: Tensor, labels: Tensor) {
        precondition(images.dtype == .float32 && labels.dtype == .int64, "ImageDataset.batch: expects float32 images and int64 labels")
        let per = images.count / Swift.max(1, count)
        let x = Tensor(shape: [indices.count] + Array(images.shape.dropFirst()), dtype: images.dtype, zeroed: false)
        x.withFreshPointer(Float.self) { o in images.withPointer(Float.self) { src in
            for (k, i) in indices.enumerated() { (o + k * per).update(from: src + i * per, count: per) }
        } }
        let y = labels.withPointer(Int64.self) { l in Tensor(indices: indices.map { Int(l[$0]) }) }
        return (x, y)
    }
}
