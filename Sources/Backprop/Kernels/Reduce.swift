import Dispatch

/// Reduction loops: sums and maxima over any set of dims, and along one dim.
enum ReduceKernels {
    /// Sums `x` (of `shape`) over the dims in `reduced`, into `out` shaped like `shape` with those dims set to 1.
    static func sum<T: FloatElement>(_ x: UnsafePointer<T>, _ shape: [Int], reduced: Set<Int>,
                                     _ out: UnsafeMutablePointer<T>) {
        reduce(x, shape, reduced: reduced, out, initial: 0) { $0 + $1 }
    }

    /// The sum of all `n` values into `out[0]` (the same order, and bits, as `sum` over every dim).
    static func sumAll<T: FloatElement>(_ x: UnsafePointer<T>, _ n: Int, _ out: UnsafeMutablePointer<T>) {
        reduceAll(x, n, out, initial: 0) { $0 + $1 }
    }

    /// Sums a tensor seen as [outer, len, inner] over its middle dim into [outer, inner], in the same
    /// order as `reduce` does for contiguous dims (used when outer * inner > 1).
    static func sumMiddle<T: FloatElement>(_ x: UnsafePointer<T>, outer: Int, len: Int, inner: Int,
                                           _ out: UnsafeMutablePointer<T>) {
        for o in 0..<outer {
            let base = o * len * inner
            if inner == 1 {
                var r: T = 0
                for j in 0..<len { r += x[base + j] }
                out[o] = r
            } else {
                // Eight columns at a time in a vector register (each column still sums its values
                // in order from 0, so the results are those of the scalar loop below), then the rest.
                let ob = out + o * inner
                var k0 = 0
                while k0 + 8 <= inner {
                    var acc = SIMD8<T>()
                    for j in 0..<len {
                        acc += UnsafeRawPointer(x + base + j * inner + k0).loadUnaligned(as: SIMD8<T>.self)
                    }
                    UnsafeMutableRawPointer(ob + k0).storeBytes(of: acc, as: SIMD8<T>.self)
                    k0 += 8
                }
                if k0 < inner {
                    for k in k0..<inner { ob[k] = 0 }
                    for j in 0..<len {
                        let xb = x + base + j * inner
                        for k in k0..<inner { ob[k] += xb[k] }
                    }
                }
            }
        }
    }

    /// The largest element over the dims in `reduced`.
    static func max<T: FloatElement>(_ x: UnsafePointer<T>, _ shape: [Int], reduced: Set<Int>,
                                     _ out: UnsafeMutablePointer<T>) {
        reduce(x, shape, reduced: reduced, out, initial: -.infinity) { a, b in (b > a || b.isNaN) ? b : a }
    }

    /// All `n` values of `x` into `out[0]` with `f` from `initial`: eight independent lanes, and
    /// for a large `n` chunks split by size (never by the thread count) combined in order.
    @inline(__always)
    static func reduceAll<T: FloatElement>(_ x: UnsafePointer<T>, _ n: Int, _ out: UnsafeMutablePointer<T>,
                                           initial: T, parallel: Bool = true, _ f: (T, T) -> T) {
        out[0] = initial
        if n == 0 { return }
        if parallel && n >= 2 * Parallelism.elementwiseGrain {
            // A large sum over everything: each chunk summed as below (on whichever thread takes it),
            // then the chunk results combined in order. The chunks depend on n only, not on the
            // thread count, so one thread and many give the same bits.
            let parts = Swift.min(16, n / Parallelism.elementwiseGrain)
            let size = ((n + parts - 1) / parts + 15) & ~15
            let partials = UnsafeMutablePointer<T>.allocate(capacity: parts)
            defer { partials.deallocate() }
            nonisolated(unsafe) let (px, pp) = (x, partials)
            Parallelism.dynamic(parts) { p in
                let lo = p * size, hi = Swift.min(n, lo + size)
                pp[p] = initial
                if lo < hi { reduceLanes(px + lo, hi - lo, pp + p, initial: initial, f) }
            }
            var r = initial
            for p in 0..<parts { r = f(r, partials[p]) }
            out[0] = r
            return
        }
        reduceLanes(x, n, out, initial: initial, f)
    }

    /// All `n` values (n > 0) into `out[0]`: eight independent partial results vectorize and keep
    /// float32 sums accurate (a cascade, as PyTorch's own sum kernel uses).
    @inline(__always)
    static func reduceLanes<T: FloatElement>(_ x: UnsafePointer<T>, _ n: Int, _ out: UnsafeMutablePointer<T>,
                                             initial: T, _ f: (T, T) -> T) {
        withUnsafeTemporaryAllocation(of: T.self, capacity: 8) { acc in
            for k in 0..<8 { acc[k] = initial }
            var i = 0
            while i + 8 <= n {
                for k in 0..<8 { acc[k] = f(acc[k], x[i + k]) }
                i += 8
            }
            while i < n { acc[0] = f(acc[0], x[i]); i += 1 }
            var r = initial
            for k in 0..<8 { r = f(r, acc[k]) }
            out[0] = r
        }
    }

    @inline(__always)
    static func reduce<T: FloatElement>(_ x: UnsafePointer<T>, _ shape: [Int], reduced: Set<Int>,
                                        _ out: UnsafeMutablePointer<T>, initial: T, parallel: Bool = true,
                                        _ f: (T, T) -> T) {
        let n = shape.reduce(1, *)
        let outShape = shape.enumerated().map { reduced.contains($0.offset) ? 1 : $0.element }
        let m = outShape.reduce(1, *)
        for i in 0..<m { out[i] = initial }
        if n == 0 { return }
        if m == 1 {
            reduceAll(x, n, out, initial: initial, parallel: parallel, f)
            return
        }
        // Collapse to [outer, n, inner] when the reduced dims are contiguous.
        let rs = reduced.sorted()
        if let first = rs.first, let last = rs.last, last - first + 1 == rs.count {
            let outer = shape[..<first].reduce(1, *)
            let len = shape[first...last].reduce(1, *)
            let inner = shape[(last + 1)...].reduce(1, *)
            for o in 0..<outer {
                let base = o * len * inner
                if inner == 1 {
                    var r = initial
                    for j in 0..<len { r = f(r, x[base + j]) }
                    out[o] = r
                } else {
                    let ob = o * inner
                    for j in 0..<len {
                        let xb = base + j * inner
                        for k in 0..<inner { out[ob + k] = f(out[ob + k], x[xb + k]) }
                    }
                }
            }
            return
        }
        let outStrides = Shapes.strides(outShape).enumerated().map { reduced.contains($0.offset) ? 0 : $0.element }
        var odo = Odometer(shape: shape)
        var i = 0
        repeat {
            var o = 0
            for d in 0..<shape.count { o += odo.index[d] * outStrides[d] }
            out[o] = f(out[o], x[i])
            i += 1
        } while odo.next() >= 0
    }

    /// The maximum along the middle dim of a tensor seen as [outer, n, inner], and the first index of it.
    static func maxAlong<T: FloatElement>(_ x: UnsafePointer<T>, outer: Int, n: Int, inner: Int,
                                          _ values: UnsafeMutablePointer<T>, _ indices: UnsafeMutablePointer<Int64>) {
        for o in 0..<outer {
            for k in 0..<inner {
                let base = o * n * inner + k
                var best = x[base], bi = 0
                if !best.isNaN {
                    for j in 1..<Swift.max(n, 1) {
                        let v = x[base + j * inner]
                        if v > best || v.isNaN { best = v; bi = j; if v.isNaN { break } }
                    }
                }
                values[o * inner + k] = best
                indices[o * inner + k] = Int64(bi)
            }
        }
    }
}

/// The [outer, n, inner] view of a shape around one dim, used by every op along a dim.
struct DimSplit {
    let outer: Int, n: Int, inner: Int
    init(_ shape: [Int], _ dim: Int) {
        if shape.isEmpty { outer = 1; n = 1; inner = 1; return }
        outer = shape[..<dim].reduce(1, *)
        n = shape[dim]
        inner = shape[(dim + 1)...].reduce(1, *)
    }
}
