import Foundation

/// A flat buffer of elements of one `DType` (64-byte aligned from 4 KiB on).
///
/// Shared between tensor values and copied on write (see `Tensor.ensureUniqueStorage`).
/// Kernels reach the memory through `pointer(_:)`; nothing here knows about shapes or autograd.
public final class TensorStorage: @unchecked Sendable {
    public let dtype: DType
    public let count: Int
    let raw: UnsafeMutableRawPointer

    init(dtype: DType, count: Int, zeroed: Bool = true) {
        self.dtype = dtype
        self.count = count
        let bytes = max(count * dtype.byteSize, 8)
        raw = TensorStorage.allocate(bytes)
        if zeroed { raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes) }
    }

    /// Small buffers come from plain malloc (16-byte aligned: an aligned allocation costs several
    /// times more, and tiny tensors are made on every op); from 4 KiB on 64-byte aligned; from
    /// 4 MiB on 2 MiB aligned and marked for transparent huge pages, so that first touching a large
    /// fresh output faults in 2 MiB pages instead of 4 KiB ones.
    @inline(__always)
    static func allocate(_ bytes: Int) -> UnsafeMutableRawPointer {
        if bytes < 4096 {
            // malloc's own alignment (16 bytes); freed by `deallocate` (free) like the others.
            if let p = malloc(bytes) { return p }
            return UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 16)
        }
        if bytes < hugeThreshold { return UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64) }
        #if os(Linux)
        var p: UnsafeMutableRawPointer?
        if posix_memalign(&p, 1 << 21, bytes) == 0, let p {
            _ = madvise(p, bytes, MADV_HUGEPAGE)
            return p
        }
        #endif
        return UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
    }

    static let hugeThreshold = 4 << 20

    deinit {
        raw.deallocate()
    }

    @inline(__always)
    func pointer<T>(_: T.Type) -> UnsafeMutablePointer<T> {
        raw.assumingMemoryBound(to: T.self)
    }

    func copy() -> TensorStorage {
        let s = TensorStorage(dtype: dtype, count: count, zeroed: false)
        s.raw.copyMemory(from: raw, byteCount: count * dtype.byteSize)
        return s
    }
}

