import CBackpropKernels

/// An elementwise function of one variable, written once for every float type.
protocol UnaryFunction {
    static func apply<T: FloatElement>(_ x: T) -> T
}

/// An elementwise function of two variables.
protocol BinaryFunction {
    static func apply<T: FloatElement>(_ a: T, _ b: T) -> T
}

/// Raw elementwise loops over buffers. No shapes beyond broadcasting, no autograd.
enum ElementwiseKernels {
    /// out[i] = F(x[i]).
    @inline(__always)
    static func map<T: FloatElement, F: UnaryFunction>(_ x: UnsafePointer<T>, _ out: UnsafeMutablePointer<T>,
                                                       _ n: Int, _: F.Type) {
        for i in 0..<n { out[i] = F.apply(x[i]) }
    }

    /// out[i] = F(x[i]), split over threads for large n.
    @inline(__always)
    static func mapParallel<T: FloatElement, F: UnaryFunction>(_ x: UnsafePointer<T>, _ out: UnsafeMutablePointer<T>,
                                                               _ n: Int, _ f: F.Type) {
        if T.self == Float.self && F.self == ExpF.self && n >= 16 {
            // float32 exp: the vectorized kernel (about 1 ulp) instead of one libm call per element.
            nonisolated(unsafe) let px = UnsafeRawPointer(x).assumingMemoryBound(to: Float.self)
            nonisolated(unsafe) let po = UnsafeMutableRawPointer(out).assumingMemoryBound(to: Float.self)
            Parallelism.chunked(n) { lo, hi in bp_exp_f32(px + lo, po + lo, hi - lo) }
            return
        }
        if T.self == Float.self && F.self == LogF.self && n >= 16 {
            nonisolated(unsafe) let px = UnsafeRawPointer(x).assumingMemoryBound(to: Float.self)
            nonisolated(unsafe) let po = UnsafeMutableRawPointer(out).assumingMemoryBound(to: Float.self)
            Parallelism.chunked(n) { lo, hi in bp_log_f32(px + lo, po + lo, hi - lo) }
            return
        }
        if n < Parallelism.elementwiseGrain * 2 { map(x, out, n, f); return }
        nonisolated(unsafe) let (px, po) = (x, out)
        Parallelism.chunked(n) { lo, hi in map(px + lo, po + lo, hi - lo, f) }
    }

    /// out[i] = F(a[i], b[i]) for same-shape operands, split over threads for large n.
    @inline(__always)
    static func zipSame<T: FloatElement, F: BinaryFunction>(_ a: UnsafePointer<T>, _ b: UnsafePointer<T>,
                                                            _ out: UnsafeMutablePointer<T>, _ n: Int, _: F.Type) {
        if n < Parallelism.elementwiseGrain * 2 {
            for i in 0..<n { out[i] = F.apply(a[i], b[i]) }
            return
        }
        nonisolated(unsafe) let (pa, pb, po) = (a, b, out)
        Parallelism.chunked(n) { lo, hi in
            for i in lo..<hi { po[i] = F.apply(pa[i], pb[i]) }
        }
    }

    /// out[i] = F(s, x[i]).
    static func scalarFirst<T: FloatElement, F: BinaryFunction>(_ s: T, _ x: UnsafePointer<T>, _ out: UnsafeMutablePointer<T>,
                                                                _ n: Int, _: F.Type) {
        if n < Parallelism.elementwiseGrain * 2 { for i in 0..<n { out[i] = F.apply(s, x[i]) }; return }
        nonisolated(unsafe) let (px, po) = (x, out)
        Parallelism.chunked(n) { lo, hi in for i in lo..<hi { po[i] = F.apply(s, px[i]) } }
    }

    /// out[i] = F(x[i], s).
    static func scalarSecond<T: FloatElement, F: BinaryFunction>(_ x: UnsafePointer<T>, _ s: T, _ out: UnsafeMutablePointer<T>,
                                                                 _ n: Int, _: F.Type) {
        if n < Parallelism.elementwiseGrain * 2 { for i in 0..<n { out[i] = F.apply(x[i], s) }; return }
        nonisolated(unsafe) let (px, po) = (x, out)
        Parallelism.chunked(n) { lo, hi in for i in lo..<hi { po[i] = F.apply(px[i], s) } }
    }

    /// out = F(a, b) with NumPy broadcasting from `aShape` and `bShape` to `outShape`.
    static func zip<T: FloatElement, F: BinaryFunction>(
        _ a: UnsafePointer<T>, _ aShape: [Int], _ b: UnsafePointer<T>, _ bShape: [Int],
        _ out: UnsafeMutablePointer<T>, _ outShape: [Int], _: F.Type
    ) {
        let n = outShape.reduce(1, *)
        if n == 0 { return }
        let na = aShape.reduce(1, *), nb = bShape.reduce(1, *)
        if na == n && nb == n {
            zipSame(a, b, out, n, F.self)
            return
        }
        if nb == 1 && na == n {
            let s = b[0]
            for i in 0..<n { out[i] = F.apply(a[i], s) }
            return
        }
        if na == 1 && nb == n {
            let s = a[0]
            for i in 0..<n { out[i] = F.apply(s, b[i]) }
            return
        }
        if let inner = outShape.last, inner > 0 {
            // A matrix and a row (the bias add): one operand is full, the other's elements are its last dim.
            if na == n && nb == inner && bShape.last == inner {
                var r = 0
                while r < n { for j in 0..<inner { out[r + j] = F.apply(a[r + j], b[j]) }; r += inner }
                return
            }
            if nb == n && na == inner && aShape.last == inner {
                var r = 0
                while r < n { for j in 0..<inner { out[r + j] = F.apply(a[j], b[r + j]) }; r += inner }
                return
            }
        }
        let sa = Shapes.broadcastStrides(aShape, to: outShape)
        let sb = Shapes.broadcastStrides(bShape, to: outShape)
        let rank = outShape.count
        let inner = outShape[rank - 1]
        let ia = sa[rank - 1], ib = sb[rank - 1]
        var odo = Odometer(shape: Array(outShape.dropLast()))
        var o = 0
        repeat {
            var offA = 0, offB = 0
            for d in 0..<(rank - 1) { offA += odo.index[d] * sa[d]; offB += odo.index[d] * sb[d] }
            if ia == 1 && ib == 1 {
                for j in 0..<inner { out[o + j] = F.apply(a[offA + j], b[offB + j]) }
            } else if ia == 1 && ib == 0 {
                let s = b[offB]
                for j in 0..<inner { out[o + j] = F.apply(a[offA + j], s) }
            } else if ia == 0 && ib == 1 {
                let s = a[offA]
                for j in 0..<inner { out[o + j] = F.apply(s, b[offB + j]) }
            } else {
                for j in 0..<inner { out[o + j] = F.apply(a[offA + j * ia], b[offB + j * ib]) }
            }
            o += inner
        } while rank > 1 && odo.next() >= 0
    }

    /// Copies `x` (of `shape`) broadcast to `outShape`.
    static func expand<T>(_ x: UnsafePointer<T>, _ shape: [Int], _ out: UnsafeMutablePointer<T>, _ outShape: [Int]) {
        let n = outShape.reduce(1, *)
        if n == 0 { return }
        if outShape.isEmpty { out[0] = x[0]; return }
        let sx = Shapes.broadcastStrides(shape, to: outShape)
        let rank = outShape.count
        let inner = outShape[rank - 1], ix = sx[rank - 1]
        var odo = Odometer(shape: Array(outShape.dropLast()))
        var o = 0
        repeat {
            var off = 0
            for d in 0..<(rank - 1) { off += odo.index[d] * sx[d] }
            for j in 0..<inner { out[o + j] = x[off + j * ix] }
            o += inner
        } while rank > 1 && odo.next() >= 0
    }

    /// Copies `x` (of `shape`) with its dims reordered: output dim i is input dim `perm[i]`.
    static func permute<T>(_ x: UnsafePointer<T>, _ shape: [Int], _ perm: [Int], _ out: UnsafeMutablePointer<T>) {
        if shape.count == 2 && perm[0] == 1 {
            // The matrix transpose: out[j, i] = x[i, j].
            // Tiles of 32 x 32 keep both the reads and the writes within cache lines.
            let (r, c) = (shape[0], shape[1])
            var i0 = 0
            while i0 < r {
                let i1 = Swift.min(r, i0 + 32)
                var j0 = 0
                while j0 < c {
                    let j1 = Swift.min(c, j0 + 32)
                    for i in i0..<i1 { for j in j0..<j1 { out[j * r + i] = x[i * c + j] } }
                    j0 = j1
                }
                i0 = i1
            }
            return
        }
        let n = shape.reduce(1, *)
        if n == 0 { return }
        let outShape = perm.map { shape[$0] }
        if outShape.isEmpty { out[0] = x[0]; return }
        let inStrides = Shapes.strides(shape)
        let st = perm.map { inStrides[$0] }
        let rank = outShape.count
        let inner = outShape[rank - 1], ix = st[rank - 1]
        var odo = Odometer(shape: Array(outShape.dropLast()))
        var o = 0
        repeat {
            var off = 0
            for d in 0..<(rank - 1) { off += odo.index[d] * st[d] }
            for j in 0..<inner { out[o + j] = x[off + j * ix] }
            o += inner
        } while rank > 1 && odo.next() >= 0
    }
}
