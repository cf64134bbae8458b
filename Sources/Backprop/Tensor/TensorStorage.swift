import Foundation

/// The fields of a `TensorStorage`, kept in the object's header.
public struct TensorStorageHeader {
    let dtype: DType
    let count: Int
    /// The elements: the object's own tail for small buffers, a separate allocation for large ones.
    let raw: UnsafeMutableRawPointer
    /// Whether `raw` is a separate allocation that `deinit` frees (an `Int`, not a `Bool`, so that
    /// the header is 32 bytes and the tail starts 48 bytes into the object: 16-byte aligned).
    let ownsSeparateBuffer: Int
}

/// A flat buffer of elements of one `DType` (64-byte aligned from 4 KiB on).
///
/// Shared between tensor values and copied on write (see `Tensor.ensureUniqueStorage`).
/// Kernels reach the memory through `pointer(_:)`; nothing here knows about shapes or autograd.
///
/// Buffers under 4 KiB live in the object itself (tail-allocated, 16-byte aligned), so a small
/// tensor's storage costs one allocation, not two; larger ones are allocated separately with the
/// alignment the kernels want (see `allocate`).
///
/// The tail elements are declared as `UInt64` (8-byte alignment): with a 16-byte aligned element
/// type the runtime allocates the object with `posix_memalign`, which costs more than the malloc
/// it saves. The 16-byte alignment comes from malloc's and the 32-byte header's (checked in `make`).
public final class TensorStorage: ManagedBuffer<TensorStorageHeader, UInt64> {
    /// Largest byte count stored in the object's tail.
    static let inlineLimit = 4096

    /// A storage of `count` elements of `dtype`, zero-filled unless `zeroed` is false.
    @inline(__always)
    static func make(dtype: DType, count: Int, zeroed: Bool = true) -> TensorStorage {
        if _slowPath(KernelTape.isRecording) { return makeRecorded(dtype: dtype, count: count, zeroed: zeroed) }
        return makeUntraced(dtype: dtype, count: count, zeroed: zeroed)
    }

    @inline(never)
    static func makeRecorded(dtype: DType, count: Int, zeroed: Bool) -> TensorStorage {
        KernelTape.recorder!.allocate(dtype: dtype, count: count, zeroed: zeroed)
    }

    /// The elements as `T`, for a kernel that writes them (see `Tensor.kernelWrite`).
    @inline(__always) func kernelWrite<T>(_: T.Type) -> UnsafeMutablePointer<T> {
        if _slowPath(KernelTape.isRecording) { KernelTape.recorder!.note(self, write: true) }
        return address(T.self)
    }

    /// The bytes a storage of `count` elements of `dtype` occupies (at least one word).
    static func bytes(dtype: DType, count: Int) -> Int { max(count * dtype.byteSize, 8) }

    /// `make` without the recording of a compiled step (which plans its own buffers).
    static func makeUntraced(dtype: DType, count: Int, zeroed: Bool) -> TensorStorage {
        let bytes = TensorStorage.bytes(dtype: dtype, count: count)
        if bytes < inlineLimit {
            let words = (bytes + 7) >> 3
            let s = unsafeDowncast(TensorStorage.create(minimumCapacity: words) { buffer in
                let raw = buffer.withUnsafeMutablePointerToElements { UnsafeMutableRawPointer($0) }
                return TensorStorageHeader(dtype: dtype, count: count, raw: raw, ownsSeparateBuffer: 0)
            }, to: TensorStorage.self)
            assert(Int(bitPattern: s.base) & 15 == 0, "TensorStorage: tail buffer not 16-byte aligned")
            if zeroed { s.base.initializeMemory(as: UInt8.self, repeating: 0, count: bytes) }
            return s
        }
        let raw = TensorStorage.allocate(bytes)
        if zeroed { raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes) }
        return unsafeDowncast(TensorStorage.create(minimumCapacity: 0) { _ in
            TensorStorageHeader(dtype: dtype, count: count, raw: raw, ownsSeparateBuffer: 1)
        }, to: TensorStorage.self)
    }

    // The header is read through its pointer: `header` itself is a class `var`, and each access
    // to it would pay a dynamic exclusivity check.
    /// The element type.
    public var dtype: DType { withUnsafeMutablePointerToHeader { $0.pointee.dtype } }
    /// The number of elements.
    public var count: Int { withUnsafeMutablePointerToHeader { $0.pointee.count } }
    /// The first byte of the elements, for code outside kernels (reading values in Swift, filling
    /// a new tensor from an array); a compiled step's recording notes such access as untraced.
    var raw: UnsafeMutableRawPointer {
        if _slowPath(KernelTape.isRecording) { KernelTape.untraced("tensor memory read or written outside a recorded kernel") }
        return base
    }
    /// The first byte of the elements, for kernels (see `Tensor.kernelRead`) and for code that
    /// records what it does itself.
    var base: UnsafeMutableRawPointer { withUnsafeMutablePointerToHeader { $0.pointee.raw } }

    /// Large buffers: from 4 KiB on 64-byte aligned; from 32 MiB on 2 MiB aligned and marked for
    /// transparent huge pages, so that first touching a large fresh output faults in 2 MiB pages
    /// instead of 4 KiB ones.
    static func allocate(_ bytes: Int) -> UnsafeMutableRawPointer {
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

    static let hugeThreshold = 32 << 20

    deinit {
        withUnsafeMutablePointerToHeader { if $0.pointee.ownsSeparateBuffer != 0 { $0.pointee.raw.deallocate() } }
    }

    /// The elements as `T` without the recording's check (see `base`).
    @inline(__always)
    func address<T>(_: T.Type) -> UnsafeMutablePointer<T> { base.assumingMemoryBound(to: T.self) }

    @inline(__always)
    func pointer<T>(_: T.Type) -> UnsafeMutablePointer<T> {
        raw.assumingMemoryBound(to: T.self)
    }

    /// The bytes of the elements.
    var byteCount: Int { count * dtype.byteSize }

    /// A new storage holding the same elements (a recorded kernel while a compiled step records).
    func copy() -> TensorStorage {
        let s = TensorStorage.make(dtype: dtype, count: count, zeroed: false)
        if _slowPath(KernelTape.isRecording) { KernelTape.recorder!.noteCopy(from: self, to: s) }
        KernelTape.launch((s.base, UnsafeRawPointer(base), byteCount)) { a in
            a.0.copyMemory(from: a.1, byteCount: a.2)
        }
        return s
    }

    /// A new storage holding the same elements, copied outside any recording (a compiled step's
    /// own input buffers and the outputs it hands back).
    func copyUntraced() -> TensorStorage {
        let s = TensorStorage.makeUntraced(dtype: dtype, count: count, zeroed: false)
        s.overwriteUntraced(from: self)
        return s
    }

    /// Copies the elements of `other` (same dtype and count) in, outside any recording.
    func overwriteUntraced(from other: TensorStorage) {
        base.copyMemory(from: other.base, byteCount: other.byteCount)
    }
}
