/// A flat, 64-byte-aligned buffer of elements of one `DType`.
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
        raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        if zeroed { raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes) }
    }

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

