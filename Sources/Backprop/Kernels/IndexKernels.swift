// Copies through lists of flat offsets, and their adjoint: adding values back at those offsets
// (repeated offsets accumulate). The loops of cat, narrow, index_select, gather and max(dim:).

enum IndexKernels {
    /// dst[i] = src[offsets[i]].
    static func take<T>(_ src: UnsafePointer<T>, _ offsets: [Int], _ dst: UnsafeMutablePointer<T>) {
        for i in offsets.indices { dst[i] = src[offsets[i]] }
    }

    /// dst[offsets[i]] += src[i], for a zeroed `dst` of the source's shape.
    static func scatterAdd<T: FloatElement>(_ src: UnsafePointer<T>, _ offsets: [Int], _ dst: UnsafeMutablePointer<T>) {
        for i in offsets.indices { dst[offsets[i]] += src[i] }
    }

    /// For a tensor seen as [outer, n, inner]: dst[a, idx[a, k], k] += src[a, k] (the adjoint of
    /// picking one entry along the middle dim, as max(dim:) does).
    static func scatterAlong<T: FloatElement>(_ src: UnsafePointer<T>, _ idx: [Int], _ dst: UnsafeMutablePointer<T>,
                                              outer: Int, n: Int, inner: Int) {
        for a in 0..<outer {
            for k in 0..<inner {
                let i = a * inner + k
                dst[(a * n + idx[i]) * inner + k] += src[i]
            }
        }
    }

    /// The flat offsets of the elements [start, start + length) along the middle dim of a tensor
    /// seen as [outer, n, inner].
    static func sliceOffsets(outer: Int, n: Int, inner: Int, start: Int, length: Int) -> [Int] {
        var offsets: [Int] = []
        offsets.reserveCapacity(outer * length * inner)
        for o in 0..<outer {
            for j in start..<(start + length) {
                let base = (o * n + j) * inner
                for k in 0..<inner { offsets.append(base + k) }
            }
        }
        return offsets
    }

    /// The flat offsets of the entries `index` along the middle dim of [outer, n, inner].
    static func selectOffsets(outer: Int, n: Int, inner: Int, index: [Int]) -> [Int] {
        var offsets: [Int] = []
        offsets.reserveCapacity(outer * index.count * inner)
        for o in 0..<outer {
            for j in index {
                let base = (o * n + j) * inner
                for k in 0..<inner { offsets.append(base + k) }
            }
        }
        return offsets
    }
}
