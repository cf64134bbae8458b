import Foundation

/// The element type of a tensor, chosen at run time as in PyTorch.
public enum DType: String, Sendable, CustomStringConvertible {
    case float32
    case float64
    case int64

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .float32: return 4
        case .float64, .int64: return 8
        }
    }

    /// Whether the type holds real numbers (and so can take part in autograd).
    public var isFloatingPoint: Bool { self != .int64 }

    public var description: String { "torch.\(rawValue)" }
}

/// The floating-point element types that kernels are written for: `Float` and `Double`.
///
/// Kernels are generic over this protocol and specialized by the compiler for both types.
public protocol FloatElement: BinaryFloatingPoint, SIMDScalar, Sendable
where Self.SIMD8Storage.Scalar == Self {
    static var dtype: DType { get }
    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    static func log1p(_ x: Self) -> Self
    static func expm1(_ x: Self) -> Self
    static func tanh(_ x: Self) -> Self
    static func erf(_ x: Self) -> Self
    static func pow(_ x: Self, _ y: Self) -> Self
    init(_ value: Double)
    var double: Double { get }
}

extension Float: FloatElement {
    public static var dtype: DType { .float32 }
    @inline(__always) public static func exp(_ x: Float) -> Float { Foundation.expf(x) }
    @inline(__always) public static func log(_ x: Float) -> Float { Foundation.logf(x) }
    @inline(__always) public static func log1p(_ x: Float) -> Float { Foundation.log1pf(x) }
    @inline(__always) public static func expm1(_ x: Float) -> Float { Foundation.expm1f(x) }
    @inline(__always) public static func tanh(_ x: Float) -> Float { Foundation.tanhf(x) }
    @inline(__always) public static func erf(_ x: Float) -> Float { Foundation.erff(x) }
    @inline(__always) public static func pow(_ x: Float, _ y: Float) -> Float { Foundation.powf(x, y) }
    @inline(__always) public var double: Double { Double(self) }
}

extension Double: FloatElement {
    public static var dtype: DType { .float64 }
    @inline(__always) public static func exp(_ x: Double) -> Double { Foundation.exp(x) }
    @inline(__always) public static func log(_ x: Double) -> Double { Foundation.log(x) }
    @inline(__always) public static func log1p(_ x: Double) -> Double { Foundation.log1p(x) }
    @inline(__always) public static func expm1(_ x: Double) -> Double { Foundation.expm1(x) }
    @inline(__always) public static func tanh(_ x: Double) -> Double { Foundation.tanh(x) }
    @inline(__always) public static func erf(_ x: Double) -> Double { Foundation.erf(x) }
    @inline(__always) public static func pow(_ x: Double, _ y: Double) -> Double { Foundation.pow(x, y) }
    @inline(__always) public var double: Double { self }
}
