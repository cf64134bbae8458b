/// Sizes of a tensor shape read from a file header (safetensors, NPY), checked before any
/// arithmetic: a header can declare any numbers, and an `Int` product that overflows stops the
/// program. Also bounds the strides a tensor of the shape computes, which multiply the trailing
/// dimensions even when another dimension is 0.
enum FileShape {
    /// The element count and byte size of `shape`, or nil when a dimension is negative or the
    /// product of its non-zero dimensions times `elementBytes` does not fit in an `Int`.
    static func sizes(_ shape: [Int], elementBytes: Int) -> (count: Int, bytes: Int)? {
        var product = elementBytes
        var hasZero = false
        for d in shape {
            guard d >= 0 else { return nil }
            if d == 0 { hasZero = true; continue }
            let (p, overflow) = product.multipliedReportingOverflow(by: d)
            guard !overflow else { return nil }
            product = p
        }
        return hasZero ? (0, 0) : (product / elementBytes, product)
    }
}
