import Foundation

/// The element type of a tensor, chosen at run time as in PyTorch.
public enum DType: String, Sendable, CustomStringConvertible {
    /// 32-bit floating point (`torch.float32`), the default of floating-point tensors.
    case float32
    /// 64-bit floating point (`torch.float64`).
    case float64
    /// 64-bit integers (`torch.int64`), for class indices; never part of autograd.
    case int64
    /// Booleans stored one per byte (`torch.bool`): comparison results, masks, conditions.
    case bool

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .bool: return 1
        case .float32: return 4
        case .float64, .int64: return 8
        }
    }

    /// Whether the type holds real numbers (and so can take part in autograd).
    public var isFloatingPoint: Bool { self == .float32 || self == .float64 }

    /// PyTorch's name: `torch.float32`, `torch.float64`, `torch.int64`, `torch.bool`.
    public var description: String { "torch.\(rawValue)" }
}

/// The floating-point element types that kernels are written for: `Float` and `Double`.
///
/// Kernels are generic over this protocol and specialized by the compiler for both types.
public protocol FloatElement: BinaryFloatingPoint, SIMDScalar, Sendable, Codable
where Self.SIMD8Storage.Scalar == Self {
    /// The dtype of tensors with this element type.
    static var dtype: DType { get }
    /// e^x.
    static func exp(_ x: Self) -> Self
    /// The natural logarithm.
    static func log(_ x: Self) -> Self
    /// log(1 + x), accurate for small x.
    static func log1p(_ x: Self) -> Self
    /// e^x - 1, accurate for small x.
    static func expm1(_ x: Self) -> Self
    /// The hyperbolic tangent.
    static func tanh(_ x: Self) -> Self
    /// The error function (for the exact GELU).
    static func erf(_ x: Self) -> Self
    /// x^y.
    static func pow(_ x: Self, _ y: Self) -> Self
    /// The nearest value of this type to `value`.
    init(_ value: Double)
    /// The value as a `Double`.
    var double: Double { get }
}

/// `Float` elements: float32 tensors, with the `float` functions of the C library (`expf`, `logf`, ...).
extension Float: FloatElement {
    /// `.float32`.
    public static var dtype: DType { .float32 }
    /// e^x (`expf`).
    @inline(__always) public static func exp(_ x: Float) -> Float { Foundation.expf(x) }
    /// The natural logarithm (`logf`).
    @inline(__always) public static func log(_ x: Float) -> Float { Foundation.logf(x) }
    /// log(1 + x) (`log1pf`).
    @inline(__always) public static func log1p(_ x: Float) -> Float { Foundation.log1pf(x) }
    /// e^x - 1 (`expm1f`).
    @inline(__always) public static func expm1(_ x: Float) -> Float { Foundation.expm1f(x) }
    /// The hyperbolic tangent (`tanhf`).
    @inline(__always) public static func tanh(_ x: Float) -> Float { Foundation.tanhf(x) }
    /// The error function (`erff`).
    @inline(__always) public static func erf(_ x: Float) -> Float { Foundation.erff(x) }
    /// x^y (`powf`).
    @inline(__always) public static func pow(_ x: Float, _ y: Float) -> Float { Foundation.powf(x, y) }
    /// The value as a `Double`.
    @inline(__always) public var double: Double { Double(self) }
}

/// `Double` elements: float64 tensors, with the `double` functions of the C library.
extension Double: FloatElement {
    /// `.float64`.
    public static var dtype: DType { .float64 }
    /// e^x (`exp`).
    @inline(__always) public static func exp(_ x: Double) -> Double { Foundation.exp(x) }
    /// The natural logarithm (`log`).
    @inline(__always) public static func log(_ x: Double) -> Double { Foundation.log(x) }
    /// log(1 + x) (`log1p`).
    @inline(__always) public static func log1p(_ x: Double) -> Double { Foundation.log1p(x) }
    /// e^x - 1 (`expm1`).
    @inline(__always) public static func expm1(_ x: Double) -> Double { Foundation.expm1(x) }
    /// The hyperbolic tangent (`tanh`).
    @inline(__always) public static func tanh(_ x: Double) -> Double { Foundation.tanh(x) }
    /// The error function (`erf`).
    @inline(__always) public static func erf(_ x: Double) -> Double { Foundation.erf(x) }
    /// x^y (`pow`).
    @inline(__always) public static func pow(_ x: Double, _ y: Double) -> Double { Foundation.pow(x, y) }
    /// The value itself.
    @inline(__always) public var double: Double { self }
}
