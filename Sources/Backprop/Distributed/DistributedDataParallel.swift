/// Data-parallel training of a module over a process group (PyTorch's
/// `torch.nn.parallel.DistributedDataParallel`).
///
/// Every rank holds a whole copy of the model and trains it on its own share of each batch. At the
/// start the parameters and buffers are broadcast from rank 0, so every copy starts equal (and,
/// with `broadcastBuffers`, rank 0's buffers again before each forward, so BatchNorm's running
/// statistics are rank 0's everywhere, as in PyTorch); after each
/// backward `synchronizeGradients()` replaces every gradient by its mean over the ranks, so every
/// rank's optimizer applies the same update and the copies stay equal, step after step.
///
/// As in PyTorch the gradients travel in buckets of about 25 MB (`bucketCapMB`), filled in reverse
/// parameter order (the order backward produces them in), one allreduce per bucket. Unlike
/// PyTorch the reduction starts after `backward()` has returned, not while it runs: the engine has
/// no hook that fires when a parameter's gradient is ready.
///
/// ```swift
/// let group = try ProcessGroup.world()
/// let ddp = DistributedDataParallel(model, group: group)
/// let opt = SGD(model.parameters(), lr: 0.01, momentum: 0.9)
/// for (x, y) in myShareOfEachBatch {          // rows DistributedSampler gives this rank
///     opt.zeroGrad()
///     let loss = ddp(x).crossEntropy(target: y)
///     loss.backward()
///     ddp.synchronizeGradients()               // the mean over the ranks
///     opt.step()
/// }
/// ```
///
/// With N ranks each taking B/N rows of a batch of B, the mean of the ranks' gradients of their
/// mean losses is the gradient of the mean loss over the B rows: the same training as one
/// process with batches of B (to rounding: the sums are taken in another order).
public final class DistributedDataParallel {
    /// The wrapped model (its parameter names carry no `module.` prefix: save this one).
    public let module: any Module
    /// The ranks that train together.
    public let group: ProcessGroup
    /// The most bytes of gradients one allreduce carries (PyTorch's `bucket_cap_mb`, 25 MB).
    public let bucketCapBytes: Int
    /// The parameters, in the module's order.
    public let parameters: [(name: String, parameter: Parameter)]
    /// The buffers (BatchNorm's running statistics), in the module's order.
    public let buffers: [(name: String, buffer: Buffer)]
    /// Whether `forward` first copies rank 0's buffers to every rank (PyTorch's `broadcast_buffers`).
    public let broadcastsBuffers: Bool
    /// The buckets, in the order they are reduced: each a list of indices into `parameters`,
    /// starting from the last parameter; a bucket holds one dtype.
    public let buckets: [[Int]]
    private var flat: [[Double]] = []
    private var flatFloat: [[Float]] = []

    /// Wraps `module` for training over `group`: checks that every rank has a model of the same
    /// parameter and buffer count and sizes (else it stops, naming the rank), broadcasts the
    /// parameter and buffer values from rank 0 and plans the buckets.
    public init(_ module: any Module, group: ProcessGroup, bucketCapMB: Double = 25, broadcastBuffers: Bool = true) {
        precondition(bucketCapMB > 0, "DistributedDataParallel: bucketCapMB must be > 0, got \(bucketCapMB)")
        self.module = module
        self.group = group
        self.bucketCapBytes = Swift.max(1, Int(bucketCapMB * 1024 * 1024))
        parameters = module.namedParameters()
        buffers = module.namedBuffers()
        broadcastsBuffers = broadcastBuffers
        if group.isDistributed {
            // Every rank must reduce the same buckets, or the collectives pair wrong sizes.
            var layout: [Double] = [Double(parameters.count)]
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for t in parameters.map(\.parameter.value) + [Tensor.zeros([buffers.count])] + buffers.map(\.buffer.value) {
                for d in t.shape + [t.dtype.byteSize, -1] { hash = (hash ^ UInt64(bitPattern: Int64(d))) &* 0x100_0000_01b3 }
            }
            layout.append(Double(hash >> 12))
            let all = group.allGather(layout)
            let differ = all.indices.filter { all[$0] != all[0] }
            precondition(differ.isEmpty, "DistributedDataParallel: the model of rank \(differ.first ?? 0) differs from rank 0's (\(Int(all[differ.first ?? 0][0])) parameters vs \(Int(all[0][0])) or other shapes): every rank must build the same model")
        }
        var plan: [[Int]] = []
        var current: [Int] = [], bytes = 0
        for i in parameters.indices.reversed() {
            let p = parameters[i].parameter.value
            let size = p.count * p.dtype.byteSize
            if let last = current.last, parameters[last].parameter.value.dtype != p.dtype || bytes + size > bucketCapBytes {
                plan.append(current); current = []; bytes = 0
            }
            current.append(i); bytes += size
        }
        if !current.isEmpty { plan.append(current) }
        buckets = plan
        flat = plan.map { _ in [] }
        flatFloat = plan.map { _ in [] }
        broadcastParameters()
        broadcastModuleBuffers()
    }

    /// The module's output (PyTorch's `ddp(x)`), after copying rank 0's buffers to every rank when
    /// `broadcastsBuffers` (and the module has buffers).
    public func forward(_ x: Tensor) -> Tensor {
        if broadcastsBuffers { broadcastModuleBuffers() }
        return module.forward(x)
    }

    /// `forward(x)`.
    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }

    /// Copies rank 0's buffer values into every rank's model (done by `init`, and by `forward`
    /// when `broadcastsBuffers`).
    public func broadcastModuleBuffers() {
        guard group.isDistributed else { return }
        for (_, b) in buffers {
            var v = b.value.detached()
            group.broadcast(&v, from: 0)
            b.assign(v)
        }
    }

    /// Copies rank 0's parameter values into every rank's model (done by `init`; call it again
    /// after loading values on rank 0 only).
    public func broadcastParameters() {
        guard group.isDistributed else { return }
        for (_, p) in parameters {
            var v = p.value.detached()
            group.broadcast(&v, from: 0)
            p.assign(v)
        }
    }

    /// `loss.backward()`, then `synchronizeGradients()`.
    public func backward(_ loss: Tensor) {
        loss.backward()
        synchronizeGradients()
    }

    /// Replaces every parameter's gradient by its mean over the ranks: one in-place allreduce
    /// (sum, then division by the world size) per bucket. Every parameter must have a gradient
    /// on every rank (PyTorch's `find_unused_parameters=False`); a group of one changes nothing.
    public func synchronizeGradients() {
        guard group.isDistributed else { return }
        for (b, bucket) in buckets.enumerated() {
            let dtype = parameters[bucket[0]].parameter.value.dtype
            let total = bucket.reduce(0) { $0 + parameters[$1].parameter.value.count }
            switch dtype {
            case .float32: reduce(bucket, total: total, into: &flatFloat[b])
            case .float64: reduce(bucket, total: total, into: &flat[b])
            case .int64, .bool: preconditionFailure("DistributedDataParallel: parameter \(parameters[bucket[0]].name) has dtype \(dtype)")
            }
        }
    }

    private func reduce<T: FloatElement>(_ bucket: [Int], total: Int, into buffer: inout [T]) {
        if buffer.count != total { buffer = [T](repeating: 0, count: total) }
        buffer.withUnsafeMutableBufferPointer { flat in
            var offset = 0
            for i in bucket {
                let (name, p) = parameters[i]
                guard let g = p.grad else {
                    preconditionFailure("DistributedDataParallel: parameter \(name) has no gradient on rank \(group.rank) after backward; every parameter must take part in the loss on every rank")
                }
                let n = g.count
                g.withPointer(T.self) { (flat.baseAddress! + offset).update(from: $0, count: n) }
                offset += n
            }
            group.allReduce(flat.baseAddress!, count: total, .mean)
            offset = 0
            for i in bucket {
                let node = parameters[i].parameter.value.gradNode!
                // Taken out of the node so that the write below finds it unshared and needs no copy.
                var g = node.grad!
                node.grad = nil
                let n = g.count
                g.withMutablePointer(T.self) { $0.update(from: flat.baseAddress! + offset, count: n) }
                node.grad = g
                offset += n
            }
        }
    }
}
