/// The bridge from `Tensor` values to the typed kernels: dtype switches, output allocation,
/// broadcasting checks. No autograd here.
extension Tensor {
    /// Stops unless the tensor holds floats; names the op.
    @inline(__always) func requireFloat(_ op: String) {
        precondition(dtype.isFloatingPoint, "\(op): expected a floating point tensor, got \(dtype) of shape \(shape)")
    }

    /// A new tensor F(x) elementwise.
    func map<F: UnaryFunction>(_ f: F.Type, op: String) -> Tensor {
        requireFloat(op)
        let out = Tensor(shape: shape, dtype: dtype, zeroed: false)
        let n = count
        switch dtype {
        case .float32:
            out.withFreshPointer(Float.self) { o in withPointer(Float.self) { ElementwiseKernels.mapParallel($0, o, n, f) } }
        case .float64:
            out.withFreshPointer(Double.self) { o in withPointer(Double.self) { ElementwiseKernels.mapParallel($0, o, n, f) } }
        case .int64, .bool: preconditionFailure("expected a floating point tensor, got \(dtype) of shape \(shape)")
        }
        return out
    }

    /// A new tensor F(a, b) with broadcasting; the result dtype is the wider of the two.
    static func zip<F: BinaryFunction>(_ a: Tensor, _ b: Tensor, _ f: F.Type, op: String) -> Tensor {
        a.requireFloat(op); b.requireFloat(op)
        if a.dtype == b.dtype && a.shape == b.shape {
            // Same shape (the common case): no broadcast shape to build, one flat loop.
            let out = Tensor(shape: a.shape, dtype: a.dtype, zeroed: false)
            let n = out.count
            if a.dtype == .float32 {
                out.withFreshPointer(Float.self) { o in a.withPointer(Float.self) { pa in b.withPointer(Float.self) { pb in
                    ElementwiseKernels.zipSame(pa, pb, o, n, f) } } }
            } else {
                out.withFreshPointer(Double.self) { o in a.withPointer(Double.self) { pa in b.withPointer(Double.self) { pb in
                    ElementwiseKernels.zipSame(pa, pb, o, n, f) } } }
            }
            return out
        }
        guard let outShape = Shapes.broadcast(a.shape, b.shape) else {
            preconditionFailure("\(op): shapes \(a.shape) and \(b.shape) cannot be broadcast together")
        }
        if a.dtype != b.dtype {
            let wide: DType = (a.dtype == .float64 || b.dtype == .float64) ? .float64 : .float32
            return zip(a.to(wide), b.to(wide), f, op: op)
        }
        let out = Tensor(shape: outShape, dtype: a.dtype, zeroed: false)
        switch a.dtype {
        case .float32:
            out.withFreshPointer(Float.self) { o in
                a.withPointer(Float.self) { pa in b.withPointer(Float.self) { pb in
                    ElementwiseKernels.zip(pa, a.shape, pb, b.shape, o, outShape, f) } } }
        case .float64:
            out.withFreshPointer(Double.self) { o in
                a.withPointer(Double.self) { pa in b.withPointer(Double.self) { pb in
                    ElementwiseKernels.zip(pa, a.shape, pb, b.shape, o, outShape, f) } } }
        case .int64, .bool: preconditionFailure("\(op): expected floating point tensors, got \(a.dtype) of shape \(a.shape)")
        }
        return out
    }

    /// The values converted to another dtype (no autograd; see `to(_:)` for the differentiable one).
    func converted(to target: DType) -> Tensor {
        if target == dtype { return detached() }
        let out = Tensor(shape: shape, dtype: target, zeroed: false)
        let n = count
        func copy<S, D>(_ src: UnsafePointer<S>, _ dst: UnsafeMutablePointer<D>, _ f: (S) -> D) {
            for i in 0..<n { dst[i] = f(src[i]) }
        }
        let src = storage.raw
        let dst = out.storage.raw
        switch (dtype, target) {
        case (.float32, .float64): copy(src.assumingMemoryBound(to: Float.self), dst.assumingMemoryBound(to: Double.self)) { Double($0) }
        case (.float32, .int64): copy(src.assumingMemoryBound(to: Float.self), dst.assumingMemoryBound(to: Int64.self)) { Int64($0) }
        case (.float64, .float32): copy(src.assumingMemoryBound(to: Double.self), dst.assumingMemoryBound(to: Float.self)) { Float($0) }
        case (.float64, .int64): copy(src.assumingMemoryBound(to: Double.self), dst.assumingMemoryBound(to: Int64.self)) { Int64($0) }
        case (.int64, .float32): copy(src.assumingMemoryBound(to: Int64.self), dst.assumingMemoryBound(to: Float.self)) { Float($0) }
        case (.int64, .float64): copy(src.assumingMemoryBound(to: Int64.self), dst.assumingMemoryBound(to: Double.self)) { Double($0) }
        case (_, .bool):
            let v = scalars
            let d = dst.assumingMemoryBound(to: UInt8.self)
            for i in 0..<n { d[i] = v[i] != 0 ? 1 : 0 }
        case (.bool, .float32): copy(src.assumingMemoryBound(to: UInt8.self), dst.assumingMemoryBound(to: Float.self)) { Float($0) }
        case (.bool, .float64): copy(src.assumingMemoryBound(to: UInt8.self), dst.assumingMemoryBound(to: Double.self)) { Double($0) }
        case (.bool, .int64): copy(src.assumingMemoryBound(to: UInt8.self), dst.assumingMemoryBound(to: Int64.self)) { Int64($0) }
        default: break
        }
        return out
    }

    /// A 0-d tensor of this tensor's dtype holding `value` (rounded to the dtype first, as PyTorch does).
    func scalarLike(_ value: Double) -> Tensor { Tensor(scalar: value, dtype: dtype.isFloatingPoint ? dtype : .float32) }

    /// Runs `body` with the float type of this tensor.
    @inline(__always)
    func dispatchFloat<R>(_ op: String, _ f32: () -> R, _ f64: () -> R) -> R {
        switch dtype {
        case .float32: return f32()
        case .float64: return f64()
        case .int64, .bool: preconditionFailure("\(op): expected a floating point tensor, got \(dtype) of shape \(shape)")
        }
    }
}
