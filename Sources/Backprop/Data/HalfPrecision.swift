/// IEEE half precision (binary16, PyTorch's `torch.float16`) and bfloat16 (`torch.bfloat16`) as
/// bit patterns, converted to and from `Float` as PyTorch's CPU conversions do, so that a file
/// written here holds the bits `tensor.half()` / `tensor.bfloat16()` would.
///
/// Written with integer and `Float` arithmetic rather than Swift's `Float16`, which macOS on
/// x86_64 lacks. The half-precision code is the FP16 library's (Marat Dukhan), which c10 uses:
/// both directions exact where they can be and rounding to nearest, ties to even, otherwise.
public enum HalfPrecision {
    /// The binary16 bits nearest to `x` (ties to even); beyond 65504 it rounds to infinity, a
    /// NaN becomes the quiet NaN 0x7E00 with x's sign.
    public static func float16Bits(_ x: Float) -> UInt16 {
        let scaleToInf = Float(bitPattern: 0x7780_0000)    // 2^112
        let scaleToZero = Float(bitPattern: 0x0880_0000)   // 2^-110
        var base = (Swift.abs(x) * scaleToInf) * scaleToZero
        let w = x.bitPattern
        let shl1 = w &+ w
        let sign = w & 0x8000_0000
        var bias = shl1 & 0xFF00_0000
        if bias < 0x7100_0000 { bias = 0x7100_0000 }
        base = Float(bitPattern: (bias >> 1) &+ 0x0780_0000) + base
        let bits = base.bitPattern
        let nonsign = ((bits >> 13) & 0x0000_7C00) &+ (bits & 0x0000_0FFF)
        return UInt16(truncatingIfNeeded: (sign >> 16) | (shl1 > 0xFF00_0000 ? 0x7E00 : nonsign))
    }

    /// The value of binary16 bits `h` (every half-precision value is exact in a `Float`).
    public static func float(float16Bits h: UInt16) -> Float {
        let w = UInt32(h) << 16
        let sign = w & 0x8000_0000
        let twoW = w &+ w
        let expOffset: UInt32 = 0xE0 << 23
        let expScale = Float(bitPattern: 0x0780_0000)      // 2^-112
        let normalized = Float(bitPattern: (twoW >> 4) &+ expOffset) * expScale
        let magicMask: UInt32 = 126 << 23
        let denormalized = Float(bitPattern: (twoW >> 17) | magicMask) - 0.5
        let cutoff: UInt32 = 1 << 27
        return Float(bitPattern: sign | (twoW < cutoff ? denormalized.bitPattern : normalized.bitPattern))
    }

    /// The bfloat16 bits nearest to `x` (ties to even, as c10's `round_to_nearest_even`); a NaN
    /// becomes 0x7FC0, as c10's scalar conversion makes it (PyTorch's vectorized loop, which
    /// long tensors take, writes 0xFFFF: another NaN).
    public static func bfloat16Bits(_ x: Float) -> UInt16 {
        guard !x.isNaN else { return 0x7FC0 }
        let u = x.bitPattern
        let roundingBias = ((u >> 16) & 1) &+ 0x7FFF
        return UInt16(truncatingIfNeeded: (u &+ roundingBias) >> 16)
    }

    /// The value of bfloat16 bits `b` (exact: the top half of a `Float`).
    public static func float(bfloat16Bits b: UInt16) -> Float { Float(bitPattern: UInt32(b) << 16) }
}
