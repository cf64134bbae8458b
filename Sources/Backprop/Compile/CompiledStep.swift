import CBackpropKernels
import Foundation

/// A training step recorded once and replayed: the kernels of forward, loss, backward and update
/// run again on new input values with no graph, no allocation and no reference counting.
///
/// The closure gets the inputs and returns the tensors to hand back (the loss, say). The first
/// call with a given input signature (shapes and dtypes) runs the closure eagerly, so that lazily
/// made state (optimizer moments, gradients) exists; the second runs it eagerly again while
/// recording every kernel it launches and every buffer it makes (a buffer whose value is dead is
/// handed out again: the plan of the step's memory); later calls with that signature replay the
/// kernels. A new signature is recorded in the same way and kept beside the others (as `jax.jit`
/// keeps one trace per shape). Results are those of the eager step, bit for bit.
///
/// ```swift
/// let model = Sequential(Linear(4, 16), ReLU(), Linear(16, 3))
/// let opt = SGD(model.parameters(), lr: 0.1)
/// let step = CompiledStep(model) { inputs in
///     opt.zeroGrad()
///     let loss = model(inputs[0]).crossEntropy(target: inputs[1])
///     loss.backward()
///     opt.step()
///     return [loss]
/// }
/// for _ in 0..<1000 { let loss = step(X, Y)[0] }
/// ```
///
/// What a replay cannot repeat: Swift code in the closure runs only while recording, so the step
/// must do the same work on every call. A closure that reads a tensor's values in Swift (`item`,
/// `scalars`, a value to branch on), or runs an op whose kernels are not recorded, makes the
/// recording unusable: the step says why once (`fallbackReason`, and a warning) and runs eagerly
/// from then on. Parameters and buffers are updated in place by every replay, and their `grad`s
/// are those of the last call; a tensor that shares storage with one of them sees the updates too.
/// State the step replaces with a new tensor must be a `Parameter` or `Buffer` given to the step
/// (a module's are); other replaced state is refused with a reason.
public final class CompiledStep: @unchecked Sendable {
    /// The step: inputs in, the tensors to return out.
    public typealias Body = ([Tensor]) -> [Tensor]

    private let body: Body
    private let parameters: [Parameter]
    /// The parameters, then the buffers: the state whose storages a tape reads and writes.
    private let holders: [StateHolder]
    /// Run every call eagerly (the `--eager` switch of the CLI and the examples).
    public var isEager: Bool
    /// How many signatures were recorded.
    public private(set) var recordings = 0
    /// How many calls replayed a recording.
    public private(set) var replays = 0
    /// Why a recording could not be replayed (nil while every recording replays).
    public private(set) var fallbackReason: String?
    /// The number of kernels each replay of the last recording runs (0 before any recording).
    public var kernelCount: Int { lastRecorded?.tape?.thunks.count ?? 0 }
    /// Copy-on-write copies in the last recording (state updated in place makes none).
    var copyCount: Int { lastRecorded?.tape?.copies ?? 0 }
    private var lastRecorded: Plan?
    /// Bytes of the buffers the recordings planned (with reuse of dead buffers).
    public var plannedBytes: Int { plans.values.reduce(0) { $0 + ($1.tape?.plannedBytes ?? 0) } }

    private var plans: [Signature: Plan] = [:]
    /// The plan whose replay ran last (nil after an eager call): its gradients are the parameters'.
    private var lastReplayed: Plan?

    /// A step over a model: its parameters and buffers are the state that replays update.
    public convenience init(_ model: any Module, eager: Bool = false, _ body: @escaping Body) {
        self.init(parameters: model.parameters(), buffers: model.namedBuffers().map(\.buffer), eager: eager, body)
    }

    /// A step whose state is `parameters` and `buffers` (what it updates in place or replaces).
    public init(parameters: [Parameter], buffers: [Buffer] = [], eager: Bool = false, _ body: @escaping Body) {
        var seen = Set<ObjectIdentifier>()
        self.parameters = parameters.filter { seen.insert(ObjectIdentifier($0)).inserted }
        holders = self.parameters.map { StateHolder.parameter($0) }
            + buffers.filter { seen.insert(ObjectIdentifier($0)).inserted }.map { StateHolder.buffer($0) }
        self.isEager = eager
        self.body = body
    }

    /// Runs the step on `inputs`: eagerly, recording, or replaying (see the type's description).
    public func callAsFunction(_ inputs: Tensor...) -> [Tensor] { callAsFunction(inputs) }

    /// Runs the step on `inputs`: eagerly, recording, or replaying (see the type's description).
    public func callAsFunction(_ inputs: [Tensor]) -> [Tensor] {
        if isEager || KernelTape.isRecording { return eager(inputs) }
        // The common case first: the signature of the last replay, compared without building a key.
        if let plan = lastReplayed, let tape = plan.tape, tape.matches(inputs) { return replay(tape, plan, inputs) }
        let key = Signature(inputs)
        guard let plan = plans[key] else {
            plans[key] = Plan()
            return eager(inputs)
        }
        if let tape = plan.tape { return replay(tape, plan, inputs) }
        if plan.refused { return eager(inputs) }
        return record(plan, inputs)
    }

    private func eager(_ inputs: [Tensor]) -> [Tensor] {
        lastReplayed = nil
        return body(inputs.map { $0.detached() })
    }

    // MARK: - Recording

    private func record(_ plan: Plan, _ inputs: [Tensor]) -> [Tensor] {
        KernelTape.lock.lock()
        defer { KernelTape.lock.unlock() }
        lastReplayed = nil
        // The step's own input buffers, which each replay fills with the new values.
        let ownInputs = inputs.map(\.untracedCopy)
        let recorder = KernelRecorder()
        // The state's storages at the start, held by the recorder only (whose reference does not
        // stop in-place updates: see `isUniqueIgnoringRecorder`).
        let startSlots = holders.map { recorder.note($0.value.storage) }
        KernelTape.recorder = recorder
        KernelTape.anyRecording = true
        bp_set_kernel_tape_active(1)
        let outputs = body(ownInputs)
        bp_set_kernel_tape_active(0)
        KernelTape.anyRecording = false
        KernelTape.recorder = nil
        recordings += 1
        lastRecorded = plan

        // Copies: the outputs' buffers are the tape's, which the next replay overwrites.
        let result = outputs.map(\.untracedCopy)
        var reason = recorder.untraced
        if reason == nil {
            reason = finish(recorder, plan, startSlots.map { recorder.storages[$0] }, ownInputs, outputs)
        }
        if let reason {
            plan.refused = true
            plan.tape = nil
            if fallbackReason == nil { fallbackReason = reason }
            Warnings.warnOnce("CompiledStep:\(reason)", "CompiledStep runs eagerly: \(reason)")
        }
        return result
    }

    /// Checks that the recording can be replayed and makes its tape; returns why not otherwise.
    private func finish(_ r: KernelRecorder, _ plan: Plan, _ starts: [TensorStorage],
                        _ inputs: [Tensor], _ outputs: [Tensor]) -> String? {
        // State the step replaced: copy the new values back into the storage the step reads
        // first, and let the holder hold that storage again.
        for (h, start) in zip(holders, starts) {
            let end = h.value.storage
            if end === start { continue }
            guard end.dtype == start.dtype, end.count == start.count else {
                return "the step changes the shape or dtype of \(h.name)"
            }
            r.note(end, read: true)
            r.note(start, write: true)
            KernelTape.launchAppending(r, (start.base, UnsafeRawPointer(end.base), end.byteCount)) { a in
                a.0.copyMemory(from: a.1, byteCount: a.2)
            }
            h.rebind(to: start)
        }
        for o in outputs { r.note(o.storage, read: true) }
        let held = Set(starts.map(ObjectIdentifier.init))
        let replaced = Set(r.copies.map(\.from))
        for i in r.storages.indices where !r.made[i] {
            // (No local reference to the storage: it would make a dead one look alive.)
            if held.contains(ObjectIdentifier(r.storages[i])) { continue }
            if r.readFirst[i] && r.isDead(i) {
                return "the step reads a tensor it did not make and then replaces it with a new one (state that is "
                    + "not a Parameter or Buffer of the step: update it in place, or pass it to CompiledStep)"
            }
            if replaced.contains(i) && !r.isDead(i) {
                return "the step writes a copy of a tensor it did not make (copy-on-write) while the original is "
                    + "still held (state that is not a Parameter or Buffer of the step)"
            }
        }
        plan.tape = Tape(r, inputs: inputs, outputs: outputs, starts: starts, held: held,
                         grads: parameters.map { $0.value.node?.grad })
        return nil
    }

    // MARK: - Replay

    private func replay(_ tape: Tape, _ plan: Plan, _ inputs: [Tensor]) -> [Tensor] {
        if !tape.stateIsAlive {
            // State the tape updates in place was replaced since (an optimizer's loaded state):
            // record again.
            plan.tape = nil
            return record(plan, inputs)
        }
        for (t, own) in zip(inputs, tape.inputs) { own.overwriteUntraced(from: t.storage) }
        if lastReplayed !== plan || !stateIsBound(tape) { rebindState(tape) }
        tape.run()
        lastReplayed = plan
        replays += 1
        return tape.outputs.map(\.untracedCopy)
    }

    /// Whether the parameters, their gradients and the buffers hold the storages the tape uses
    /// (not so after code outside the step replaced one: loaded weights, `zeroGrad()`).
    private func stateIsBound(_ tape: Tape) -> Bool {
        for (h, start) in zip(holders, tape.starts) where h.value.storage !== start { return false }
        for (p, g) in zip(parameters, tape.grads) where p.value.node?.grad?.storage !== g?.storage { return false }
        return true
    }

    /// Before replaying a tape after an eager call or another tape: the state goes back into the
    /// storages the tape reads, and the parameters' gradients become the tape's.
    private func rebindState(_ tape: Tape) {
        for (h, start) in zip(holders, tape.starts) where h.value.storage !== start {
            let cur = h.value.storage
            precondition(cur.count == start.count && cur.dtype == start.dtype,
                         "CompiledStep: \(h.name) changed shape or dtype since the step was recorded")
            start.overwriteUntraced(from: cur)
            h.rebind(to: start)
        }
        for (p, g) in zip(parameters, tape.grads) { p.value.node?.grad = g }
    }
}

extension KernelTape {
    /// Runs a kernel and appends it to a recording that has stopped (for what the step adds itself).
    static func launchAppending<A>(_ r: KernelRecorder, _ args: A, _ body: @escaping (A) -> Void) {
        r.thunks.append(KernelThunk { body(args) })
        body(args)
    }
}

/// The shapes and dtypes of a step's inputs: one recording each.
private struct Signature: Hashable {
    let shapes: [[Int]]
    let dtypes: [DType]
    init(_ inputs: [Tensor]) { shapes = inputs.map(\.shape); dtypes = inputs.map(\.dtype) }
}

/// What the step knows about one signature: seen once, recorded (a tape), or refused.
private final class Plan {
    var tape: Tape?
    var refused = false
}

/// A parameter or a buffer: state whose storage a recording may have to restore.
private enum StateHolder {
    case parameter(Parameter)
    case buffer(Buffer)

    var value: Tensor {
        switch self {
        case .parameter(let p): return p.value
        case .buffer(let b): return b.value
        }
    }

    var name: String {
        switch self {
        case .parameter(let p): return "a parameter of shape \(p.shape)"
        case .buffer(let b): return "a buffer of shape \(b.shape)"
        }
    }

    /// Holds `storage` (same count and dtype) instead of the current one, keeping the autograd leaf.
    func rebind(to storage: TensorStorage) {
        switch self {
        case .parameter(let p): p.value = Tensor(shape: p.value.shape, storage: storage, node: p.value.node)
        case .buffer(let b): b.value = Tensor(shape: b.value.shape, storage: storage)
        }
    }
}

/// A finished recording: the kernels in order and every buffer they use, kept alive.
private final class Tape {
    let thunks: [KernelThunk]
    private let order: ContiguousArray<Unmanaged<KernelThunk>>
    /// The buffers the recording made and the storages it only reads, kept alive.
    let storages: [TensorStorage]
    /// Storages that the step did not make and updates in place (an optimizer's moments): held
    /// weakly, so that their owners keep updating them in place between replays (a strong
    /// reference here would make each such update a copy-on-write copy).
    let updated: [WeakStorage]
    let inputs: [TensorStorage]
    let inputShapes: [[Int]]
    let copies: Int
    let outputs: [Tensor]
    let starts: [TensorStorage]
    let grads: [Tensor?]
    let plannedBytes: Int

    init(_ r: KernelRecorder, inputs: [Tensor], outputs: [Tensor], starts: [TensorStorage],
         held: Set<ObjectIdentifier>, grads: [Tensor?]) {
        thunks = r.thunks
        order = ContiguousArray(r.thunks.map { Unmanaged.passUnretained($0) })
        var strong: [TensorStorage] = [], weak: [WeakStorage] = []
        let own = Set(inputs.map { ObjectIdentifier($0.storage) })
        for (i, s) in r.storages.enumerated() {
            let id = ObjectIdentifier(s)
            if !r.made[i] && r.written[i] && !held.contains(id) && !own.contains(id) {
                weak.append(WeakStorage(s))
            } else {
                strong.append(s)
            }
        }
        storages = strong
        updated = weak
        inputShapes = inputs.map(\.shape)
        copies = r.copies.count
        self.inputs = inputs.map(\.storage)
        self.outputs = outputs.map { $0.detached() }
        self.starts = starts
        self.grads = grads
        plannedBytes = r.plannedBytes
    }

    /// Whether `inputs` have the shapes and dtypes of the recorded ones.
    func matches(_ inputs: [Tensor]) -> Bool {
        guard inputs.count == inputShapes.count else { return false }
        for i in inputs.indices where inputs[i].dtype != self.inputs[i].dtype || inputs[i].shape != inputShapes[i] { return false }
        return true
    }

    /// Whether every storage the tape updates in place still exists.
    var stateIsAlive: Bool {
        for w in updated where w.storage == nil { return false }
        return true
    }

    /// Runs every kernel in order (the thunks are kept alive by `thunks`: no retain per call).
    func run() {
        order.withUnsafeBufferPointer { ks in
            for k in ks { k._withUnsafeGuaranteedRef { $0.run() } }
        }
    }
}

/// A storage a tape updates but does not keep alive.
private final class WeakStorage {
    weak var storage: TensorStorage?
    init(_ s: TensorStorage) { storage = s }
}

extension Tensor {
    /// A tensor holding a copy of the values (no autograd), copied outside any recording.
    fileprivate var untracedCopy: Tensor { Tensor(shape: shape, storage: storage.copyUntraced()) }
}
