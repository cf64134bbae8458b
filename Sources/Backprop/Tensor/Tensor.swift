/// An n-dimensional, row-major array of `Float`, `Double` or `Int64` with value semantics.
///
/// Copies share storage until one of them is mutated (copy-on-write), as Swift's `Array` does.
/// A tensor that requires grad carries a `GradNode`: for a leaf it holds the accumulated `.grad`,
/// for an op result it records how to send gradients back to the op's inputs.
///
/// ```swift
/// let W = Tensor([[1, 2], [2, 1]]).requiringGrad()
/// let x: Tensor = [[8, -2]]
/// let c = x.mm(W)            // tensor([[ 4., 14.]], grad_fn=<MmBackward0>)
/// ```
public struct Tensor: @unchecked Sendable {
    /// The size of each dimension; `[]` for a 0-d (scalar) tensor.
    public private(set) var shape: [Int]
    var storage: TensorStorage
    /// The autograd node: nil when the tensor does not require grad.
    var node: GradNode?

    /// The element type: `.float32`, `.float64` or `.int64`.
    public var dtype: DType { storage.dtype }
    /// The number of elements.
    public var count: Int { storage.count }
    /// The number of dimensions.
    public var rank: Int { shape.count }

    init(shape: [Int], storage: TensorStorage, node: GradNode? = nil) {
        self.shape = shape
        self.storage = storage
        self.node = node
    }

    /// An uninitialized-free (zero-filled unless `zeroed` is false) tensor of the given shape.
    @inline(__always) init(shape: [Int], dtype: DType, zeroed: Bool) {
        self.shape = shape
        self.storage = TensorStorage.make(dtype: dtype, count: shape.reduce(1, *), zeroed: zeroed)
        self.node = nil
    }

    // MARK: - Creation from data

    /// A tensor from a flat, row-major list of values and a shape (float32 unless `dtype` says otherwise).
    public init(_ values: [Double], shape: [Int], dtype: DType = .float32) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative size in shape \(shape)")
        precondition(values.count == shape.reduce(1, *),
                     "Tensor: \(values.count) values do not fill shape \(shape)")
        self.init(shape: shape, dtype: dtype, zeroed: false)
        switch dtype {
        case .float32: let p = storage.address(Float.self); for i in values.indices { p[i] = Float(values[i]) }
        case .float64: let p = storage.address(Double.self); for i in values.indices { p[i] = values[i] }
        case .int64: let p = storage.address(Int64.self); for i in values.indices { p[i] = Int64(values[i]) }
        case .bool: let p = storage.address(UInt8.self); for i in values.indices { p[i] = values[i] != 0 ? 1 : 0 }
        }
        recordedAsConstant()
    }

    /// A float32 tensor from a flat list of `Float` and a shape.
    public init(_ values: [Float], shape: [Int]) {
        precondition(values.count == shape.reduce(1, *),
                     "Tensor: \(values.count) values do not fill shape \(shape)")
        self.init(shape: shape, dtype: .float32, zeroed: false)
        let p = storage.address(Float.self)
        for i in values.indices { p[i] = values[i] }
        recordedAsConstant()
    }

    /// A 1-d tensor from a list of values.
    public init(_ values: [Double], dtype: DType = .float32) {
        self.init(values, shape: [values.count], dtype: dtype)
    }

    /// A 0-d tensor holding one number.
    public init(scalar: Double, dtype: DType = .float32) {
        self.init(shape: [], dtype: dtype, zeroed: false)
        switch dtype {
        case .float32: storage.address(Float.self)[0] = Float(scalar)
        case .float64: storage.address(Double.self)[0] = scalar
        case .int64: storage.address(Int64.self)[0] = Int64(scalar)
        case .bool: storage.address(UInt8.self)[0] = scalar != 0 ? 1 : 0
        }
        recordedAsConstant()
    }

    /// A bool tensor (`torch.tensor([True, False])`), 1-d unless a shape is given.
    public init(bools: [Bool], shape: [Int]? = nil) {
        let shape = shape ?? [bools.count]
        precondition(bools.count == shape.reduce(1, *),
                     "Tensor(bools:): \(bools.count) values do not fill shape \(shape)")
        self.init(shape: shape, dtype: .bool, zeroed: false)
        let p = storage.address(UInt8.self)
        for i in bools.indices { p[i] = bools[i] ? 1 : 0 }
        recordedAsConstant()
    }

    /// An int64 tensor of class indices (what `torch.tensor([0, 2])` gives), 1-d unless a shape is given.
    public init(indices: [Int], shape: [Int]? = nil) {
        let shape = shape ?? [indices.count]
        precondition(indices.count == shape.reduce(1, *),
                     "Tensor(indices:): \(indices.count) values do not fill shape \(shape)")
        self.init(shape: shape, dtype: .int64, zeroed: false)
        let p = storage.address(Int64.self)
        for i in indices.indices { p[i] = Int64(indices[i]) }
        recordedAsConstant()
    }

    // MARK: - Reading values

    /// All elements in row-major order, converted to `Double`.
    public var scalars: [Double] {
        let n = count
        switch dtype {
        case .float32: let p = storage.pointer(Float.self); return (0..<n).map { Double(p[$0]) }
        case .float64: let p = storage.pointer(Double.self); return Array(UnsafeBufferPointer(start: p, count: n))
        case .int64: let p = storage.pointer(Int64.self); return (0..<n).map { Double(p[$0]) }
        case .bool: let p = storage.pointer(UInt8.self); return (0..<n).map { Double(p[$0]) }
        }
    }

    /// All elements as `Bool` (nonzero is true), for masks and comparison results.
    public var bools: [Bool] {
        switch dtype {
        case .bool: let p = storage.pointer(UInt8.self); return (0..<count).map { p[$0] != 0 }
        default: return scalars.map { $0 != 0 }
        }
    }

    /// All elements as `Float` (float32 tensors only).
    public var floats: [Float] {
        precondition(dtype == .float32, "floats: tensor is \(dtype), not float32")
        return Array(UnsafeBufferPointer(start: storage.pointer(Float.self), count: count))
    }

    /// All elements as `Int` (converted from any dtype by truncation).
    public var integers: [Int] {
        switch dtype {
        case .int64: let p = storage.pointer(Int64.self); return (0..<count).map { Int(p[$0]) }
        default: return scalars.map { Int($0) }
        }
    }

    /// The only element of a one-element tensor, as `Double` (PyTorch's `.item()`).
    public var item: Double {
        precondition(count == 1, "item: tensor of shape \(shape) has \(count) elements, not 1")
        return scalars[0]
    }

    /// The element at a multi-index (negative indices count from the end), as `Double`:
    /// `x.element(0, 1)` is PyTorch's `x[0, 1].item()`.
    public func element(_ index: Int...) -> Double {
        precondition(index.count == rank, "element: \(index.count) indices for a tensor of shape \(shape)")
        var offset = 0
        for (d, i) in index.enumerated() {
            let j = i < 0 ? i + shape[d] : i
            precondition(j >= 0 && j < shape[d], "element: index \(i) out of range for dim \(d) of shape \(shape)")
            offset = offset * shape[d] + j
        }
        switch dtype {
        case .float32: return Double(storage.pointer(Float.self)[offset])
        case .float64: return storage.pointer(Double.self)[offset]
        case .int64: return Double(storage.pointer(Int64.self)[offset])
        case .bool: return Double(storage.pointer(UInt8.self)[offset])
        }
    }

    /// Nested arrays of the values (rank 0 gives a number), for JSON and display.
    public var nestedArray: Any {
        let values = scalars
        return nested(element: { values[$0] as Any }, group: { $0 as Any })
    }

    /// Folds the elements into the tensor's nesting: `element(i)` for the element at row-major
    /// offset `i`, `group` for the list of each dimension's slices (the element itself for a scalar).
    func nested<R>(element: (Int) -> R, group: ([R]) -> R) -> R {
        func build(_ dim: Int, _ offset: Int) -> R {
            if dim == rank { return element(offset) }
            let stride = shape[(dim + 1)...].reduce(1, *)
            return group((0..<shape[dim]).map { build(dim + 1, offset + $0 * stride) })
        }
        return build(0, 0)
    }

    // MARK: - Storage access for kernels

    /// Makes this tensor the sole owner of its storage, copying it if another value shares it.
    mutating func ensureUniqueStorage() {
        if isKnownUniquelyReferenced(&storage) { return }
        // While a compiled step records, its own reference (which only keeps the memory alive for
        // replays) does not count: the step's state is updated in place, as it is without one.
        if _slowPath(KernelTape.isRecording), KernelTape.recorder!.isUniqueIgnoringRecorder(&storage) { return }
        storage = storage.copy()
    }

    /// Read access to the elements (the type must match the dtype).
    @inline(__always) func withPointer<T, R>(_: T.Type, file: StaticString = #fileID, line: UInt = #line,
                                              _ body: (UnsafePointer<T>) throws -> R) rethrows -> R {
        if _slowPath(KernelTape.isRecording) { KernelTape.untraced("\(file):\(line) reads tensor memory outside a recorded kernel") }
        return try body(UnsafePointer(storage.address(T.self)))
    }

    /// Write access to the elements; copies the storage first if it is shared.
    @inline(__always) mutating func withMutablePointer<T, R>(_: T.Type, file: StaticString = #fileID, line: UInt = #line,
                                                             _ body: (UnsafeMutablePointer<T>) throws -> R) rethrows -> R {
        ensureUniqueStorage()
        if _slowPath(KernelTape.isRecording) { KernelTape.untraced("\(file):\(line) writes tensor memory outside a recorded kernel") }
        return try body(storage.address(T.self))
    }

    /// Write access to a tensor the calling code has just created, whose storage nothing else holds
    /// yet: no copy-on-write test, and (the method does not mutate) no exclusivity check on the variable.
    @inline(__always) func withFreshPointer<T, R>(_: T.Type, file: StaticString = #fileID, line: UInt = #line,
                                                   _ body: (UnsafeMutablePointer<T>) throws -> R) rethrows -> R {
        if _slowPath(KernelTape.isRecording) { KernelTape.untraced("\(file):\(line) writes tensor memory outside a recorded kernel") }
        return try body(storage.address(T.self))
    }

    /// The tensor with the same values and no autograd history (PyTorch's `detach()`).
    ///
    /// The result shares storage with `self` until either is mutated.
    public func detached() -> Tensor { Tensor(shape: shape, storage: storage) }

    /// The same values under a new shape with as many elements, sharing storage; no autograd.
    func withShape(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, storage: storage)
    }
}

extension Tensor {
    /// Whether every element is equal and the shapes and dtypes agree.
    public func isIdentical(to other: Tensor) -> Bool {
        shape == other.shape && dtype == other.dtype && scalars == other.scalars
    }
}
