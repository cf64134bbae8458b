import Foundation
import CBackpropKernels
import Synchronization

/// An error of the autograd engine, with PyTorch's wording.
public struct AutogradError: Error, CustomStringConvertible, Equatable {
    /// PyTorch's message for the misuse.
    public let message: String
    /// The message.
    public var description: String { message }

    static let secondBackward = AutogradError(message:
        "Trying to backward through the graph a second time (or directly access saved tensors after they have already been freed). Saved intermediate values of the graph are freed when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time or if you need to access saved tensors after calling backward.")
    static let implicitNonScalar = AutogradError(message: "grad can be implicitly created only for scalar outputs")
    static let noGradFn = AutogradError(message: "element 0 of tensors does not require grad and does not have a grad_fn")
}

/// What the engine did at one node: for traces and explanations.
public struct BackwardStep {
    /// The node that was visited.
    public let node: GradNode
    /// The total gradient that reached it (summed over all its uses).
    public let incoming: Tensor
    /// The gradient it sent to each of its inputs (nil where an input needs none); empty for leaves.
    public let sent: [Tensor?]
}

/// The backward pass: a topological walk of the graph without recursion.
enum Engine {
    /// Numbers the backward passes, so that discovery marks nodes instead of filling a set.
    static let pass = Atomic<UInt64>(0)

    /// `sum += g`, or `sum = g` when there is none yet (moved in, not copied); in place when `sum`'s
    /// storage is not shared (copy-on-write keeps any copy the user holds unchanged).
    @inline(__always)
    static func add(_ g: consuming Tensor, into sum: inout Tensor?) {
        if sum == nil { sum = consume g } else { sum! += g }
    }

    /// `sum = sum + g` as a recorded op (createGraph: the sum stays differentiable), or `sum = g`.
    static func addRecorded(_ g: Tensor, into sum: inout Tensor?) {
        if let s = sum { sum = s + g } else { sum = g }
    }

    /// A rule's gradient for `input` (nil when it sent none) goes into the input's pending sum, and
    /// the edge is released.
    @inline(__always)
    static func send(_ g: consuming Tensor?, to input: Unmanaged<GradNode>, into scratch: Scratch) {
        if let g = consume g {
            unowned(unsafe) let n = input.takeUnretainedValue()
            Engine.add(g, into: &n.pending)
        }
        Engine.release(input, into: scratch)
    }

    /// One edge into `input` has delivered: the input is ready when it was the last.
    @inline(__always)
    static func release(_ input: Unmanaged<GradNode>?, into scratch: Scratch) {
        guard let input else { return }
        unowned(unsafe) let n = input.takeUnretainedValue()
        n.dependencies -= 1
        if n.dependencies == 0 { scratch.work.append(input) }
    }

    /// Runs one backward pass from `root` seeded with `seed`.
    ///
    /// - Parameters:
    ///   - accumulate: add the gradients into the leaves' `.grad` (false for `gradients(of:wrt:)`).
    ///   - capture: nodes whose total incoming gradient is returned.
    ///   - observe: called for each node in the order visited.
    ///
    /// The walk holds the nodes without reference counting (`Unmanaged`): every node is kept alive by
    /// `root`, which the caller holds, through the input edges that nothing here removes. The work
    /// arrays are kept per thread between passes, so a small backward allocates none.
    ///   - createGraph: run the rules with grad mode on, so that the gradients they compute are
    ///     recorded (differentiable: gradients of gradients); sums are then taken out of place.
    static func run(root: GradNode, seed: Tensor, retainGraph: Bool, accumulate: Bool, createGraph: Bool = false,
                    capture: [GradNode] = [], observe: ((BackwardStep) -> Void)? = nil) throws -> [ObjectIdentifier: Tensor] {
        let scratch = Scratch.take()
        defer { Scratch.giveBack(scratch) }
        // 1. Discover the graph and count how many edges reach each node (explicit stack, no recursion).
        let mark = pass.add(1, ordering: .relaxed).newValue
        root.visitMark = mark
        root.dependencies = 0
        scratch.work.append(Unmanaged.passUnretained(root))
        while let u = scratch.work.popLast() {
            scratch.order.append(u)
            unowned(unsafe) let n = u.takeUnretainedValue()
            if n.released { throw AutogradError.secondBackward }
            for i in 0..<n.inputCount {
                guard let u = n.inputRef(i) else { continue }
                unowned(unsafe) let input = u.takeUnretainedValue()
                if input.visitMark != mark {
                    input.visitMark = mark
                    input.dependencies = 0
                    scratch.work.append(u)
                }
                input.dependencies += 1
            }
        }
        // (Set(of an empty array) still allocates storage: keep the empty singleton when nothing is captured.)
        let captureIDs: Set<ObjectIdentifier> = capture.isEmpty ? [] : Set(capture.map(ObjectIdentifier.init))
        var captured: [ObjectIdentifier: Tensor] = [:]

        // 2. Kahn's algorithm: a node runs once every path into it has delivered its gradient.
        defer {
            for u in scratch.order {
                unowned(unsafe) let n = u.takeUnretainedValue()
                n.pending = nil; n.dependencies = 0
            }
        }
        let gradWasEnabled = GradMode.isEnabled
        GradMode.set(enabled: createGraph)
        defer { GradMode.set(enabled: gradWasEnabled) }
        root.pending = seed
        scratch.work.append(Unmanaged.passUnretained(root))
        while let u = scratch.work.popLast() {
            unowned(unsafe) let n = u.takeUnretainedValue()
            var pending: Tensor? = nil
            swap(&pending, &n.pending)
            guard let g = consume pending else {
                // No gradient reached this node (its uses sent none): its inputs still wait on it.
                for i in 0..<n.inputCount { Engine.release(n.inputRef(i), into: scratch) }
                continue
            }
            if !capture.isEmpty, captureIDs.contains(ObjectIdentifier(n)) { captured[ObjectIdentifier(n)] = g }
            if n.isLeaf {
                observe?(BackwardStep(node: n, incoming: g, sent: []))
                if accumulate { createGraph ? Engine.addRecorded(g, into: &n.grad) : Engine.add(g, into: &n.grad) }
                continue
            }
            if n.retainsGrad && accumulate { createGraph ? Engine.addRecorded(g, into: &n.grad) : Engine.add(g, into: &n.grad) }
            guard let rule = n.backward else { throw AutogradError.secondBackward }
            var grads = rule(n, g)
            observe?(BackwardStep(node: n, incoming: g, sent: grads.array(n.inputCount)))
            for i in 0..<n.inputCount {
                guard let u = n.inputRef(i) else { continue }
                if createGraph {
                    if let gi = grads.take(i) {
                        unowned(unsafe) let input = u.takeUnretainedValue()
                        Engine.addRecorded(gi, into: &input.pending)
                    }
                    Engine.release(u, into: scratch)
                } else {
                    Engine.send(grads.take(i), to: u, into: scratch)
                }
            }
        }
        if !retainGraph {
            for u in scratch.order {
                unowned(unsafe) let n = u.takeUnretainedValue()
                if n.savesTensors { n.releaseSaved() }
            }
        }
        return captured
    }

    /// The engine's work arrays, one set per thread, kept between passes (a backward started inside
    /// a backward, from a rule or an observer, gets a set of its own for that pass).
    ///
    /// The thread's set is found through a C thread-local pointer (two loads, where
    /// `pthread_getspecific` costs a call); a pthread key holds the reference, so that the set is
    /// freed when the thread ends.
    final class Scratch {
        // Only the thread that took the scratch touches it: no dynamic exclusivity checks.
        @exclusivity(unchecked) var order: [Unmanaged<GradNode>] = []
        @exclusivity(unchecked) var work: [Unmanaged<GradNode>] = []

        private static let key: pthread_key_t = {
            var k = pthread_key_t()
            pthread_key_create(&k) { p in
                if let p { Unmanaged<Scratch>.fromOpaque(p).release() }
            }
            return k
        }()

        init() {
            order.reserveCapacity(32)
            work.reserveCapacity(32)
        }

        static func take() -> Scratch {
            if bp_scratch_busy() == 0, let p = bp_scratch() {
                bp_set_scratch_busy(1)
                return Unmanaged<Scratch>.fromOpaque(p).takeUnretainedValue()
            }
            let s = Scratch()
            if bp_scratch() == nil {
                // The thread's first pass: its set from now on (the key's reference keeps it).
                pthread_setspecific(key, Unmanaged.passRetained(s).toOpaque())
                bp_set_scratch(Unmanaged.passUnretained(s).toOpaque())
                bp_set_scratch_busy(1)
            }
            return s
        }

        static func giveBack(_ s: Scratch) {
            guard Unmanaged.passUnretained(s).toOpaque() == bp_scratch() else { return }  // a nested pass's own set
            // A pass over a very large graph does not keep its arrays for the rest of the thread's life.
            if s.order.capacity > 1 << 16 {
                s.order = []; s.work = []
                s.order.reserveCapacity(32); s.work.reserveCapacity(32)
            } else {
                s.order.removeAll(keepingCapacity: true)
                s.work.removeAll(keepingCapacity: true)
            }
            bp_set_scratch_busy(0)
        }
    }
}
