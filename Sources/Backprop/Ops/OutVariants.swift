// Ops that write into an existing tensor (PyTorch's `out=` and `copy_`): no new storage, so no
// fresh pages to fault in. They record no autograd history, as PyTorch refuses `out=` under grad.

extension Tensor {
    /// Stops when an `out=` op is asked to record a graph.
    private func requireNoGrad(_ op: String, _ others: Tensor...) {
        precondition(!(GradMode.isEnabled && (node != nil || others.contains { $0.node != nil })),
                     "\(op): out= variants do not support automatic differentiation; use them inside withNoGrad or on tensors that do not require grad")
    }

    /// Writes `self + other` (same shape and dtype) into `out` (PyTorch's `torch.add(a, b, out=c)`).
    public func add(_ other: Tensor, into out: inout Tensor) {
        requireNoGrad("add(into:)", other)
        precondition(shape == other.shape && out.shape == shape && dtype == other.dtype && out.dtype == dtype,
                     "add(into:): shapes \(shape), \(other.shape) into \(out.shape) (dtypes \(dtype), \(other.dtype), \(out.dtype)) must all agree")
        let n = count
        switch dtype {
        case .float32:
            out.withMutablePointer(Float.self) { o in withPointer(Float.self) { pa in other.withPointer(Float.self) { pb in
                ElementwiseKernels.zipSame(pa, pb, o, n, AddF.self) } } }
        case .float64:
            out.withMutablePointer(Double.self) { o in withPointer(Double.self) { pa in other.withPointer(Double.self) { pb in
                ElementwiseKernels.zipSame(pa, pb, o, n, AddF.self) } } }
        case .int64, .bool: preconditionFailure("add(into:): expected a floating point tensor, got \(dtype)")
        }
    }

    /// Writes `exp(self)` into `out` (PyTorch's `torch.exp(a, out=c)`).
    public func exp(into out: inout Tensor) {
        requireNoGrad("exp(into:)")
        precondition(out.shape == shape && out.dtype == dtype,
                     "exp(into:): \(shape) \(dtype) into \(out.shape) \(out.dtype)")
        let n = count
        switch dtype {
        case .float32: out.withMutablePointer(Float.self) { o in withPointer(Float.self) { ElementwiseKernels.mapParallel($0, o, n, ExpF.self) } }
        case .float64: out.withMutablePointer(Double.self) { o in withPointer(Double.self) { ElementwiseKernels.mapParallel($0, o, n, ExpF.self) } }
        case .int64, .bool: preconditionFailure("exp(into:): expected a floating point tensor, got \(dtype)")
        }
    }

    /// Copies the values of `source` (same shape; converted to this dtype) into this tensor's own
    /// storage (PyTorch's `copy_`), keeping its identity.
    public mutating func copy(from source: Tensor) {
        requireNoGrad("copy(from:)", source)
        precondition(source.shape == shape, "copy(from:): source of shape \(source.shape) into a tensor of shape \(shape)")
        let src = source.dtype == dtype ? source : source.converted(to: dtype)
        let bytes = count * dtype.byteSize
        ensureUniqueStorage()
        let dst = storage.raw
        let from = UnsafeRawPointer(src.storage.raw)
        Parallelism.chunked(bytes, grain: 1 << 20) { lo, hi in
            (dst + lo).copyMemory(from: from + lo, byteCount: hi - lo)
        }
    }
}
