/// A number or a nested array of numbers, so that `let W: Tensor = [[1, 2], [2, 1]]` works.
public indirect enum TensorLiteral: ExpressibleByArrayLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, Sendable {
    /// A single number (a 0-d tensor, or an element of an enclosing array).
    case number(Double)
    /// A list of literals of one shape: one more dimension.
    case array([TensorLiteral])

    /// `[a, b, ...]`: an array of nested literals.
    public init(arrayLiteral elements: TensorLiteral...) { self = .array(elements) }
    /// An integer literal, as a number.
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    /// A floating-point literal, as a number.
    public init(floatLiteral value: Double) { self = .number(value) }

    /// Flattens the literal, checking that it is rectangular.
    func flattened() -> (shape: [Int], values: [Double]) {
        var values: [Double] = []
        func shapeOf(_ l: TensorLiteral) -> [Int] {
            switch l {
            case .number: return []
            case .array(let items): return [items.count] + (items.first.map(shapeOf) ?? [])
            }
        }
        let shape = shapeOf(self)
        func walk(_ l: TensorLiteral, _ depth: Int) {
            switch l {
            case .number(let v):
                precondition(depth == shape.count, "Tensor literal: ragged nesting (expected shape \(shape))")
                values.append(v)
            case .array(let items):
                precondition(depth < shape.count && items.count == shape[depth],
                             "Tensor literal: ragged nesting (expected shape \(shape))")
                for item in items { walk(item, depth + 1) }
            }
        }
        walk(self, 0)
        return (shape, values)
    }
}

extension Tensor: ExpressibleByArrayLiteral {
    /// A float32 tensor from nested array literals: `let x: Tensor = [[8, -2]]`.
    public init(arrayLiteral elements: TensorLiteral...) {
        self.init(TensorLiteral.array(elements))
    }

    /// A tensor from nested array literals in the given dtype: `Tensor([[1, 2], [2, 1]], dtype: .float64)`.
    public init(_ literal: TensorLiteral, dtype: DType = .float32) {
        let (shape, values) = literal.flattened()
        self.init(values, shape: shape, dtype: dtype)
    }
}

extension Tensor {
    /// A tensor filled with `value` (PyTorch's `torch.full`).
    public static func full(_ shape: [Int], _ value: Double, dtype: DType = .float32) -> Tensor {
        let t = Tensor(shape: shape, dtype: dtype, zeroed: value == 0)
        if value != 0 {
            let n = t.count
            switch dtype {
            case .float32:
                KernelTape.launch((t.kernelWrite(Float.self), Float(value), n)) { a in a.0.update(repeating: a.1, count: a.2) }
            case .float64:
                KernelTape.launch((t.kernelWrite(Double.self), value, n)) { a in a.0.update(repeating: a.1, count: a.2) }
            case .int64:
                KernelTape.launch((t.kernelWrite(Int64.self), Int64(value), n)) { a in a.0.update(repeating: a.1, count: a.2) }
            case .bool:
                KernelTape.launch((t.kernelWrite(UInt8.self), UInt8(value != 0 ? 1 : 0), n)) { a in a.0.update(repeating: a.1, count: a.2) }
            }
        }
        return t
    }

    /// A tensor of zeros.
    public static func zeros(_ shape: [Int], dtype: DType = .float32) -> Tensor {
        Tensor(shape: shape, dtype: dtype, zeroed: true)
    }

    /// A tensor of ones.
    public static func ones(_ shape: [Int], dtype: DType = .float32) -> Tensor { full(shape, 1, dtype: dtype) }

    /// Zeros shaped like `other`, in its dtype.
    public static func zeros(like other: Tensor) -> Tensor { zeros(other.shape, dtype: other.dtype) }

    /// Ones shaped like `other`, in its dtype.
    public static func ones(like other: Tensor) -> Tensor { ones(other.shape, dtype: other.dtype) }

    /// `start, start + step, ...` up to but excluding `end` (PyTorch's `torch.arange`).
    public static func arange(_ start: Double = 0, _ end: Double, step: Double = 1, dtype: DType = .float32) -> Tensor {
        precondition(step != 0, "arange: step must be non-zero")
        let n = Swift.max(0, Int(((end - start) / step).rounded(.up)))
        return Tensor((0..<n).map { start + Double($0) * step }, shape: [n], dtype: dtype)
    }

    /// The n x n identity matrix.
    public static func eye(_ n: Int, dtype: DType = .float32) -> Tensor {
        var v = [Double](repeating: 0, count: n * n)
        for i in 0..<n { v[i * n + i] = 1 }
        return Tensor(v, shape: [n, n], dtype: dtype)
    }

    /// Uniform random values in `[low, high)` drawn from `generator`.
    public static func uniform(_ shape: [Int], low: Double = 0, high: Double = 1, dtype: DType = .float32,
                               using generator: inout RandomGenerator) -> Tensor {
        let n = shape.reduce(1, *)
        return Tensor((0..<n).map { _ in low + (high - low) * generator.nextUniform() }, shape: shape, dtype: dtype)
    }

    /// Uniform random values in `[0, 1)` (PyTorch's `torch.rand`).
    public static func rand(_ shape: [Int], dtype: DType = .float32, using generator: inout RandomGenerator) -> Tensor {
        uniform(shape, dtype: dtype, using: &generator)
    }

    /// Normal random values (PyTorch's `torch.randn` when mean 0 and std 1).
    public static func normal(_ shape: [Int], mean: Double = 0, std: Double = 1, dtype: DType = .float32,
                              using generator: inout RandomGenerator) -> Tensor {
        let n = shape.reduce(1, *)
        return Tensor((0..<n).map { _ in mean + std * generator.nextNormal() }, shape: shape, dtype: dtype)
    }

    /// Standard normal random values.
    public static func randn(_ shape: [Int], dtype: DType = .float32, using generator: inout RandomGenerator) -> Tensor {
        normal(shape, dtype: dtype, using: &generator)
    }

    /// Random integers in `[low, high)` as an int64 tensor (PyTorch's `torch.randint`).
    public static func randint(_ low: Int, _ high: Int, _ shape: [Int], using generator: inout RandomGenerator) -> Tensor {
        precondition(high > low, "randint: high \(high) must exceed low \(low)")
        let n = shape.reduce(1, *)
        return Tensor(indices: (0..<n).map { _ in low + Int(generator.next() % UInt64(high - low)) }, shape: shape)
    }
}

/// A small, fast, seeded random number generator (xoshiro256**, seeded through SplitMix64).
///
/// Every random draw in Backprop takes one explicitly, so that a seed reproduces a run.
public struct RandomGenerator: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)
    private var spareNormal: Double?

    /// A generator whose state is expanded from `seed` by SplitMix64; the same seed gives the same draws.
    ///
    /// ```swift
    /// var g = RandomGenerator(seed: 0)
    /// let w = Tensor.randn([2, 3], using: &g)
    /// ```
    public init(seed: UInt64) {
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    /// The next 64 random bits (xoshiro256**).
    public mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3
        s.2 ^= t
        s.3 = (s.3 << 45) | (s.3 >> 19)
        return result
    }

    /// A uniform double in [0, 1) with 53 random bits.
    public mutating func nextUniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// A standard normal double (Box-Muller, both values used).
    public mutating func nextNormal() -> Double {
        if let z = spareNormal { spareNormal = nil; return z }
        var u1 = nextUniform()
        while u1 <= .leastNormalMagnitude { u1 = nextUniform() }
        let u2 = nextUniform()
        let r = (-2 * Foundation.log(u1)).squareRoot()
        spareNormal = r * Foundation.sin(2 * .pi * u2)
        return r * Foundation.cos(2 * .pi * u2)
    }

    /// A random permutation of `0..<n` (Fisher-Yates).
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        if n > 1 { for i in stride(from: n - 1, to: 0, by: -1) { p.swapAt(i, Int(next() % UInt64(i + 1))) } }
        return p
    }
}

import Foundation
