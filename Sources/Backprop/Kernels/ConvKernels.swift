// The loops of convolution: im2col (the patches of an image as the columns of a matrix), its
// adjoint col2im, and the three products that conv2d and conv_transpose2d are made of, each
// threaded over the batch with one matrix product per sample and group. No autograd here.

/// The shapes of one convolution, seen from its image side (the conv2d input, the
/// conv_transpose2d output) and its column side (the conv2d output, the conv_transpose2d input).
struct ConvGeometry: Equatable, Sendable {
    var batch: Int
    var groups: Int
    /// Channels, height and width of the image side.
    var imageChannels: Int, height: Int, width: Int
    /// Channels, height and width of the column side (one column per kernel position).
    var columnChannels: Int, outHeight: Int, outWidth: Int
    var kernelHeight: Int, kernelWidth: Int
    var strideH: Int, strideW: Int
    /// The padding before the first row and column (any padding after them only changes the sizes).
    var padH: Int, padW: Int
    var dilationH: Int, dilationW: Int

    /// Image channels per group.
    var channelsPerGroup: Int { imageChannels / groups }
    /// Column channels per group.
    var columnsPerGroup: Int { columnChannels / groups }
    /// The rows of a group's patch matrix: channels per group x kernel positions.
    var patchRows: Int { channelsPerGroup * kernelHeight * kernelWidth }
    /// Positions of the column side.
    var positions: Int { outHeight * outWidth }
    /// Pixels of one image channel.
    var pixels: Int { height * width }
    /// Whether the patch matrix is the image itself (a 1x1 kernel, stride 1, no padding).
    var isPointwise: Bool {
        kernelHeight == 1 && kernelWidth == 1 && strideH == 1 && strideW == 1 && padH == 0 && padW == 0
            && outHeight == height && outWidth == width
    }
    /// The weight's shape: [column channels, image channels / groups, kh, kw].
    var weightShape: [Int] { [columnChannels, channelsPerGroup, kernelHeight, kernelWidth] }
    /// The image side's shape.
    var imageShape: [Int] { [batch, imageChannels, height, width] }
    /// The column side's shape.
    var columnShape: [Int] { [batch, columnChannels, outHeight, outWidth] }
    /// The output columns [lo, hi) of kernel column `kw` whose input column ow*s + offW is inside
    /// [0, width), and that offset offW = kw*d - p.
    func insideColumns(kw: Int) -> (offW: Int, lo: Int, hi: Int) {
        let offW = kw * dilationW - padW
        let lo = offW >= 0 ? 0 : Swift.min(outWidth, (-offW + strideW - 1) / strideW)
        let hi = width - offW <= 0 ? 0 : Swift.min(outWidth, (width - offW + strideW - 1) / strideW)
        return (offW, lo, hi)
    }
}

enum ConvKernels {
    /// col[(c kh kw), (oh ow)] = image[c, oh*s - p + kh*d, ow*s - p + kw*d] (0 outside) for the
    /// channels of one group of one sample.
    static func im2col<T: FloatElement>(_ image: UnsafePointer<T>, _ col: UnsafeMutablePointer<T>, _ g: ConvGeometry) {
        let (h, w, oh, ow) = (g.height, g.width, g.outHeight, g.outWidth)
        let l = oh * ow
        var row = 0
        for c in 0..<g.channelsPerGroup {
            let plane = image + c * h * w
            for kh in 0..<g.kernelHeight {
                for kw in 0..<g.kernelWidth {
                    let dst = col + row * l
                    row += 1
                    let (offW, lo, hi) = g.insideColumns(kw: kw)
                    for y in 0..<oh {
                        let iy = y * g.strideH - g.padH + kh * g.dilationH
                        let d = dst + y * ow
                        if iy < 0 || iy >= h || lo >= hi {
                            d.update(repeating: 0, count: ow)
                            continue
                        }
                        let src = plane + iy * w + offW
                        if lo > 0 { d.update(repeating: 0, count: lo) }
                        if g.strideW == 1 {
                            (d + lo).update(from: src + lo, count: hi - lo)
                        } else {
                            for x in lo..<hi { d[x] = src[x * g.strideW] }
                        }
                        if hi < ow { (d + hi).update(repeating: 0, count: ow - hi) }
                    }
                }
            }
        }
    }

    /// The adjoint of `im2col`: image[c, ...] += col[(c kh kw), (oh ow)] at the positions inside.
    static func col2im<T: FloatElement>(_ col: UnsafePointer<T>, _ image: UnsafeMutablePointer<T>, _ g: ConvGeometry) {
        let (h, w, oh, ow) = (g.height, g.width, g.outHeight, g.outWidth)
        let l = oh * ow
        var row = 0
        for c in 0..<g.channelsPerGroup {
            let plane = image + c * h * w
            for kh in 0..<g.kernelHeight {
                for kw in 0..<g.kernelWidth {
                    let src = col + row * l
                    row += 1
                    let (offW, lo, hi) = g.insideColumns(kw: kw)
                    if lo >= hi { continue }
                    for y in 0..<oh {
                        let iy = y * g.strideH - g.padH + kh * g.dilationH
                        if iy < 0 || iy >= h { continue }
                        let d = plane + iy * w + offW
                        let s = src + y * ow
                        if g.strideW == 1 {
                            for x in lo..<hi { d[x] += s[x] }
                        } else {
                            for x in lo..<hi { d[x * g.strideW] += s[x] }
                        }
                    }
                }
            }
        }
    }

    /// The samples split into contiguous ranges, one per worker (at most `Parallelism.threads`):
    /// for outputs computed per sample, where the split does not change a value.
    static func sampleRanges(_ n: Int, work: Int) -> [Range<Int>] {
        // Below about 64K multiply-adds per sample the split costs more than it saves.
        ranges(n, parts: work * n < (1 << 17) ? 1 : Parallelism.threads)
    }

    /// The samples split for a sum over them (the weight gradient): a number of ranges that depends
    /// on the shapes only, never on the thread count, so that the order of the sum, and so every
    /// bit of the result, is the same on one thread as on many (at most 8 ranges, and at most 4M
    /// elements of partial sums).
    static func sumRanges(_ n: Int, work: Int, size: Int) -> [Range<Int>] {
        ranges(n, parts: work * n < (1 << 17) ? 1 : Swift.min(8, Swift.max(1, (1 << 22) / Swift.max(size, 1))))
    }

    /// `0..<n` in at most `parts` contiguous ranges of equal size (the last may be shorter).
    static func ranges(_ n: Int, parts: Int) -> [Range<Int>] {
        let parts = Swift.max(1, Swift.min(parts, n))
        let size = (n + parts - 1) / parts
        return stride(from: 0, to: n, by: Swift.max(size, 1)).map { $0..<Swift.min(n, $0 + size) }
    }

    /// columns[n, o, l] = sum over the group's patch rows r of weight[o, r] im2col(image[n])[r, l]
    /// (the conv2d forward; the conv_transpose2d input gradient).
    static func forward<T: FloatElement>(image: UnsafePointer<T>, weight: UnsafePointer<T>,
                                         columns: UnsafeMutablePointer<T>, _ g: ConvGeometry) {
        let (k, l, og) = (g.patchRows, g.positions, g.columnsPerGroup)
        let ranges = sampleRanges(g.batch, work: g.columnChannels * k * l)
        nonisolated(unsafe) let (x, wt, out) = (image, weight, columns)
        Parallelism.dynamic(ranges.count) { part in
            let col = g.isPointwise ? nil : UnsafeMutablePointer<T>.allocate(capacity: k * l)
            defer { col?.deallocate() }
            for n in ranges[part] {
                for grp in 0..<g.groups {
                    let img = x + (n * g.imageChannels + grp * g.channelsPerGroup) * g.pixels
                    let b: UnsafePointer<T>
                    if let col { im2col(img, col, g); b = UnsafePointer(col) } else { b = img }
                    MatmulKernels.gemmSerial(m: og, n: l, k: k, wt + grp * og * k, transA: false, b, transB: false,
                                             out + (n * g.columnChannels + grp * og) * l)
                }
            }
        }
    }

    /// image[n] = col2im(weight^T columns[n]) per group (the conv2d input gradient; the
    /// conv_transpose2d forward). `image` must be zeroed.
    static func backward<T: FloatElement>(columns: UnsafePointer<T>, weight: UnsafePointer<T>,
                                          image: UnsafeMutablePointer<T>, _ g: ConvGeometry) {
        let (k, l, og) = (g.patchRows, g.positions, g.columnsPerGroup)
        let ranges = sampleRanges(g.batch, work: g.columnChannels * k * l)
        nonisolated(unsafe) let (cs, wt, img) = (columns, weight, image)
        Parallelism.dynamic(ranges.count) { part in
            let col = g.isPointwise ? nil : UnsafeMutablePointer<T>.allocate(capacity: k * l)
            defer { col?.deallocate() }
            for n in ranges[part] {
                for grp in 0..<g.groups {
                    let dst = img + (n * g.imageChannels + grp * g.channelsPerGroup) * g.pixels
                    let a = wt + grp * og * k, b = cs + (n * g.columnChannels + grp * og) * l
                    if let col {
                        MatmulKernels.gemmSerial(m: k, n: l, k: og, a, transA: true, b, transB: false, col)
                        col2im(UnsafePointer(col), dst, g)
                    } else {
                        MatmulKernels.gemmSerial(m: k, n: l, k: og, a, transA: true, b, transB: false, dst, accumulate: true)
                    }
                }
            }
        }
    }

    /// weight[o, r] = sum over samples and positions of columns[n, o, l] im2col(image[n])[r, l]
    /// (the weight gradient of both convolutions).
    static func weightGradient<T: FloatElement>(columns: UnsafePointer<T>, image: UnsafePointer<T>,
                                                weight: UnsafeMutablePointer<T>, _ g: ConvGeometry) {
        let (k, l, og) = (g.patchRows, g.positions, g.columnsPerGroup)
        let size = g.columnChannels * k
        let ranges = sumRanges(g.batch, work: g.columnChannels * k * l, size: size)
        // One partial sum per range after the first, added at the end in order.
        let partials = UnsafeMutablePointer<T>.allocate(capacity: Swift.max(1, ranges.count - 1) * size)
        defer { partials.deallocate() }
        weight.update(repeating: 0, count: size)
        if ranges.count > 1 { partials.update(repeating: 0, count: (ranges.count - 1) * size) }
        nonisolated(unsafe) let (cs, x, wt, parts) = (columns, image, weight, partials)
        Parallelism.dynamic(ranges.count) { part in
            let dst = part == 0 ? wt : parts + (part - 1) * size
            let col = g.isPointwise ? nil : UnsafeMutablePointer<T>.allocate(capacity: k * l)
            defer { col?.deallocate() }
            for n in ranges[part] {
                for grp in 0..<g.groups {
                    let img = x + (n * g.imageChannels + grp * g.channelsPerGroup) * g.pixels
                    let b: UnsafePointer<T>
                    if let col { im2col(img, col, g); b = UnsafePointer(col) } else { b = img }
                    MatmulKernels.gemmSerial(m: og, n: k, k: l, cs + (n * g.columnChannels + grp * og) * l, transA: false,
                                             b, transB: true, dst + grp * og * k, accumulate: true)
                }
            }
        }
        for p in 0..<(ranges.count - 1) {
            let src = partials + p * size
            for i in 0..<size { weight[i] += src[i] }
        }
    }

    /// out[n, c, :] += bias[c] over `positions` entries per channel.
    static func addBias<T: FloatElement>(_ out: UnsafeMutablePointer<T>, _ bias: UnsafePointer<T>,
                                         batch: Int, channels: Int, positions: Int) {
        for n in 0..<batch {
            for c in 0..<channels {
                let p = out + (n * channels + c) * positions, b = bias[c]
                for i in 0..<positions { p[i] += b }
            }
        }
    }

    /// bias[c] = sum over n and positions of g[n, c, :] (accumulated in double).
    static func biasGradient<T: FloatElement>(_ g: UnsafePointer<T>, _ bias: UnsafeMutablePointer<T>,
                                              batch: Int, channels: Int, positions: Int) {
        for c in 0..<channels {
            var s = 0.0
            for n in 0..<batch {
                let p = g + (n * channels + c) * positions
                var a = SIMD8<T>(), i = 0
                while i + 8 <= positions { a += UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<T>.self); i += 8 }
                var t = a.sum()
                while i < positions { t += p[i]; i += 1 }
                s += Double(t)
            }
            bias[c] = T(s)
        }
    }
}

extension MatmulKernels {
    /// `gemm` on the calling thread only (for kernels that already split their work over threads):
    /// BLAS when loaded and the product large, the blocked kernel, or the small loops.
    static func gemmSerial<T: FloatElement>(m: Int, n: Int, k: Int,
                                            _ a: UnsafePointer<T>, transA: Bool,
                                            _ b: UnsafePointer<T>, transB: Bool,
                                            _ c: UnsafeMutablePointer<T>, accumulate: Bool = false) {
        if m == 0 || n == 0 { return }
        let work = m * n * k
        if k > 0, work >= blasThreshold, let lib = BLAS.library {
            blasCall(lib, m: m, n: n, k: k, a, transA ? m : k, transA, b, transB ? k : n, transB, c, n, accumulate)
            return
        }
        if !accumulate { c.update(repeating: 0, count: m * n) }
        if k == 0 { return }
        if n <= 16 && k <= 256 && (m >= 32 || work >= blockedThreshold) {
            BuiltinGemm.callNarrow(m: m, n: n, k: k, a, transA ? m : k, transA, b, transB, c)
        } else if work >= blockedThreshold && k >= 8 {
            BuiltinGemm.call(m: m, n: n, k: k, a, transA ? m : k, transA, b, transB ? k : n, transB, c, ldc: n)
        } else {
            BuiltinGemm.callSmall(m: m, n: n, k: k, a, transA ? m : k, transA, b, transB ? k : n, transB, c)
        }
    }
}
