import CBackpropKernels
import Foundation

/// The hook through which kernels are recorded for a compiled step (see `CompiledStep`).
///
/// Every kernel call site hands its raw pointers and sizes to `launch(_:_:)` with a closure that
/// captures nothing else: outside a recording it simply runs the closure (no allocation: the
/// closure is a plain function and the arguments a tuple); while the current thread records, it
/// also keeps the closure with its arguments on the tape, so that replaying the tape repeats the
/// same kernels on the same buffers. Pointers for `launch` come from `Tensor.kernelRead`,
/// `kernelWrite` and `kernelUpdate`, which tell the recording which storages a step reads and
/// writes; any other access to tensor memory during a recording (reading a value in Swift, a
/// kernel that does not go through `launch`) makes the recording unusable, and says where.
enum KernelTape {
    /// The recording in progress (one at a time in the process, on the thread whose C
    /// thread-local flag is set; `CompiledStep` holds `lock` while it records).
    nonisolated(unsafe) static var recorder: KernelRecorder?
    static let lock = NSLock()
    /// `BACKPROP_TAPE_DEBUG=1`: print every untraced access, not only the first.
    static let debugUntraced = ProcessInfo.processInfo.environment["BACKPROP_TAPE_DEBUG"] != nil

    /// Whether any thread records (a plain load, tested before the thread-local flag, which costs
    /// a call into the TLS resolver from position-independent code).
    nonisolated(unsafe) static var anyRecording = false

    /// Whether this thread is recording kernels.
    @inline(__always) static var isRecording: Bool { _slowPath(anyRecording) && bp_kernel_tape_active() != 0 }

    /// Runs `body(args)`; while recording, also keeps it for replay.
    @inline(__always)
    static func launch<A>(_ args: A, _ body: @escaping (A) -> Void) {
        if _slowPath(isRecording) { recorder!.thunks.append(KernelThunk { body(args) }) }
        body(args)
    }

    /// Notes memory access that the tape cannot repeat (the first reason is kept).
    @inline(never)
    static func untraced(_ what: @autoclosure () -> String) {
        guard isRecording, let r = recorder else { return }
        if r.untraced == nil { r.untraced = what() }
        if debugUntraced { FileHandle.standardError.write(Data("untraced: \(what())\n".utf8)) }
    }
}

/// One recorded kernel call with its arguments.
final class KernelThunk {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

/// What a recording collects: the kernels in order, the storages they touch, the storages it
/// made (reused once dead: the buffer plan), and what it could not trace.
final class KernelRecorder {
    var thunks: [KernelThunk] = []
    /// Every storage a kernel touched or the recording made, once each (the tape keeps them alive).
    private(set) var storages: [TensorStorage] = []
    private var slot: [ObjectIdentifier: Int] = [:]
    /// Per storage: made during the recording, read by a kernel before any kernel wrote it, written.
    private(set) var made: [Bool] = []
    private(set) var readFirst: [Bool] = []
    private(set) var written: [Bool] = []
    /// Copies made by copy-on-write: (slot of the shared storage, slot of its copy).
    private(set) var copies: [(from: Int, to: Int)] = []
    /// Storages made by the recording, by element type and count, to hand out again once dead.
    private var pool: [PoolKey: [Int]] = [:]
    /// The first access that a replay could not repeat.
    var untraced: String?
    /// Bytes of all storages made by the recording (with reuse: the plan's size).
    private(set) var plannedBytes = 0

    struct PoolKey: Hashable { let dtype: DType; let count: Int }

    @discardableResult
    func note(_ s: TensorStorage, read: Bool = false, write: Bool = false) -> Int {
        let i: Int
        if let j = slot[ObjectIdentifier(s)] { i = j } else {
            i = storages.count
            slot[ObjectIdentifier(s)] = i
            storages.append(s); made.append(false); readFirst.append(false); written.append(false)
        }
        if read && !written[i] { readFirst[i] = true }
        if write { written[i] = true }
        return i
    }

    func slot(of s: TensorStorage) -> Int? { slot[ObjectIdentifier(s)] }

    /// Whether `s` would be uniquely referenced without the recording's own reference to it.
    func isUniqueIgnoringRecorder(_ s: inout TensorStorage) -> Bool {
        guard let i = slot[ObjectIdentifier(s)] else { return false }
        // (`s` keeps the object alive while the recording's reference is set aside.)
        let mine = Unmanaged.passUnretained(storages[i])
        storages[i] = KernelRecorder.placeholder
        let unique = isKnownUniquelyReferenced(&s)
        storages[i] = mine.takeUnretainedValue()
        return unique
    }
    nonisolated(unsafe) private static let placeholder = TensorStorage.makeUntraced(dtype: .float32, count: 0, zeroed: false)

    /// Whether nothing but the recording holds the storage in `slot`.
    func isDead(_ i: Int) -> Bool { isKnownUniquelyReferenced(&storages[i]) }

    /// A storage for `count` elements: one the recording made whose value nobody holds any more,
    /// or a new one. Zero-filling is itself a recorded kernel.
    func allocate(dtype: DType, count: Int, zeroed: Bool) -> TensorStorage {
        let key = PoolKey(dtype: dtype, count: count)
        let bytes = TensorStorage.bytes(dtype: dtype, count: count)
        var s: TensorStorage?
        if let candidates = pool[key] {
            for i in candidates where isDead(i) { s = storages[i]; break }
        }
        if s == nil {
            let fresh = TensorStorage.makeUntraced(dtype: dtype, count: count, zeroed: false)
            let i = note(fresh)
            made[i] = true
            pool[key, default: []].append(i)
            plannedBytes += bytes
            s = fresh
        }
        if zeroed {
            note(s!, write: true)
            KernelTape.launch((s!.base, bytes)) { a in a.0.initializeMemory(as: UInt8.self, repeating: 0, count: a.1) }
        }
        return s!
    }

    func noteCopy(from a: TensorStorage, to b: TensorStorage) {
        copies.append((note(a, read: true), note(b, write: true)))
    }
}

extension Tensor {
    /// The elements for a kernel that reads them (see `KernelTape.launch`).
    @inline(__always) func kernelRead<T>(_: T.Type) -> UnsafePointer<T> {
        if _slowPath(KernelTape.isRecording) { KernelTape.recorder!.note(storage, read: true) }
        return UnsafePointer(storage.base.assumingMemoryBound(to: T.self))
    }

    /// The elements of a tensor the calling code has just made, for a kernel that writes them.
    @inline(__always) func kernelWrite<T>(_: T.Type) -> UnsafeMutablePointer<T> { storage.kernelWrite(T.self) }

    /// The elements for a kernel that reads and writes them in place (copied first if shared).
    @inline(__always) mutating func kernelUpdate<T>(_: T.Type) -> UnsafeMutablePointer<T> {
        ensureUniqueStorage()
        if _slowPath(KernelTape.isRecording) { KernelTape.recorder!.note(storage, read: true, write: true) }
        return storage.base.assumingMemoryBound(to: T.self)
    }

    /// Values just written from Swift (a tensor made from an array or a number): while
    /// recording, a kernel that writes the same bytes again, so that a replay finds them too.
    @inline(__always) func recordedAsConstant() {
        if _slowPath(KernelTape.isRecording) { recordConstant() }
    }

    @inline(never) private func recordConstant() {
        let bytes = TensorStorage.bytes(dtype: dtype, count: count)
        let saved = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 16)
        saved.copyMemory(from: storage.base, byteCount: bytes)
        let keep = ConstantBytes(saved)
        KernelTape.recorder!.note(storage, write: true)
        KernelTape.launch((storage.base, keep, bytes)) { a in a.0.copyMemory(from: a.1.bytes, byteCount: a.2) }
    }
}

/// Bytes a recorded constant writes back on each replay.
final class ConstantBytes {
    let bytes: UnsafeMutableRawPointer
    init(_ bytes: UnsafeMutableRawPointer) { self.bytes = bytes }
    deinit { bytes.deallocate() }
}
