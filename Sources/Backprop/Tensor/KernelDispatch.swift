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
            KernelTape.launch((kernelRead(Float.self), out.kernelWrite(Float.self), n)) { a in
                ElementwiseKernels.mapParallel(a.0, a.1, a.2, F.self) }
        case .float64:
            KernelTape.launch((kernelRead(Double.self), out.kernelWrite(Double.self), n)) { a in
                ElementwiseKernels.mapParallel(a.0, a.1, a.2, F.self) }
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
                KernelTape.launch((a.kernelRead(Float.self), b.kernelRead(Float.self), out.kernelWrite(Float.self), n)) { x in
                    ElementwiseKernels.zipSame(x.0, x.1, x.2, x.3, F.self) }
            } else {
                KernelTape.launch((a.kernelRead(Double.self), b.kernelRead(Double.self), out.kernelWrite(Double.self), n)) { x in
                    ElementwiseKernels.zipSame(x.0, x.1, x.2, x.3, F.self) }
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
            KernelTape.launch((a.kernelRead(Float.self), a.shape, b.kernelRead(Float.self), b.shape,
                               out.kernelWrite(Float.self), outShape)) { x in
                ElementwiseKernels.zip(x.0, x.1, x.2, x.3, x.4, x.5, F.self) }
        case .float64:
            KernelTape.launch((a.kernelRead(Double.self), a.shape, b.kernelRead(Double.self), b.shape,
                               out.kernelWrite(Double.self), outShape)) { x in
                ElementwiseKernels.zip(x.0, x.1, x.2, x.3, x.4, x.5, F.self) }
        case .int64, .bool: preconditionFailure("\(op): expected floating point tensors, got \(a.dtype) of shape \(a.shape)")
        }
        return out
    }

    /// The values converted to another dtype (no autograd; see `to(_:)` for the differentiable one).
    func converted(to target: DType) -> Tensor {
        if target == dtype { return detached() }
        let out = Tensor(shape: shape, dtype: target, zeroed: false)
        let n = count
        let src = UnsafeMutableRawPointer(mutating: kernelRead(UInt8.self))
        let dst = UnsafeMutableRawPointer(out.kernelWrite(UInt8.self))
        let source = dtype
        KernelTape.launch((src, dst, n, source, target)) { a in
            Tensor.convert(a.0, a.1, a.2, a.3, a.4)
        }
        return out
    }

    /// The conversion loop of `converted(to:)`, on raw buffers.
    static func convert(_ src: UnsafeMutableRawPointer, _ dst: UnsafeMutableRawPointer, _ n: Int, _ dtype: DType, _ target: DType) {
        func copy<S, D>(_ src: UnsafePointer<S>, _ dst: UnsafeMutablePointer<D>, _ f: (S) -> D) {
            for i in 0..<n { dst[i] = f(src[i]) }
        }
        switch (dtype, target) {
        case (.float32, .float64): copy(src.assumingMemoryBound(to: Float.self), dst.assumingMemoryBound(to: Double.self)) { Double($0) }
        case (.float32, .int64): copy(src.assumingMemoryBound(to: Float.self), dst.assumingMemoryBound(to: Int64.self)) { Int64($0) }
        case (.float64, .float32): copy(src.assumingMemoryBound(to: Double.self), dst.assumingMemoryBound(to: Float.self)) { Float($0) }
        case (.float64, .int64): copy(src.assumingMemoryBound(to: Double.self), dst.assumingMemoryBound(to: Int64.self)) { Int64($0) }
        case (.int64, .float32): copy(src.assumingMemoryBound(to: Int64.self), dst.assumingMemoryBound(to: Float.self)) { Float($0) }
        case (.int64, .float64): copy(src.assumingMemoryBound(to: Int64.self), dst.assumingMemoryBound(to: Double.self)) { Double($0) }
        case (.float32, .bool): copy(src.assumingMemoryBound(to: Float.self), dst.assumingMemoryBound(to: UInt8.self)) { $0 != 0 ? 1 : 0 }
        case (.float64, .bool): copy(src.assumingMemoryBound(to: Double.self), dst.assumingMemoryBound(to: UInt8.self)) { $0 != 0 ? 1 : 0 }
        case (.int64, .bool): copy(src.assumingMemoryBound(to: Int64.self), dst.assumingMemoryBound(to: UInt8.self)) { $0 != 0 ? 1 : 0 }
        case (.bool, .float32): copy(src.assumingMemoryBound(to: UInt8.self), dst.assumingMemoryBound(to: Float.self)) { Float($0) }
        case (.bool, .float64): copy(src.assumingMemoryBound(to: UInt8.self), dst.assumingMemoryBound(to: Double.self)) { Double($0) }
        case (.bool, .int64): copy(src.assumingMemoryBound(to: UInt8.self), dst.assumingMemoryBound(to: Int64.self)) { Int64($0) }
        default: break
        }
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
