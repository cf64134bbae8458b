import Testing
import Foundation
import CBackpropKernels
@testable import Backprop

/// Every fast path checked against the plain one: the blocked and threaded matrix kernels and BLAS
/// against the triple loop, the vectorized exp against libm, fused backward rules against their
/// composed formulas, threaded elementwise loops, in-place updates. No timing here.
@Suite struct FastPathTests {
    /// Random values in [-1, 1).
    static func values<T: FloatElement>(_ n: Int, seed: UInt64, _: T.Type) -> [T] {
        var g = RandomGenerator(seed: seed)
        return (0..<n).map { _ in T(2 * g.nextUniform() - 1) }
    }

    /// C from one backend, for A [m,k] (or [k,m] when transA) and B [k,n] (or [n,k] when transB);
    /// with `threads` > 0 the built-in kernel's own split over that many threads.
    static func product<T: FloatElement>(_ backend: MatmulKernels.Backend, threads: Int = 0, m: Int, n: Int, k: Int,
                                         transA: Bool, transB: Bool, accumulate: Bool, _: T.Type) -> [T] {
        let a: [T] = values(m * k, seed: 1, T.self), b: [T] = values(k * n, seed: 2, T.self)
        var c: [T] = values(m * n, seed: 3, T.self)
        a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
            if backend == .builtin && threads > 0 {
                BuiltinGemm.run(m: m, n: n, k: k, pa.baseAddress!, transA: transA, pb.baseAddress!, transB: transB,
                                pc.baseAddress!, accumulate: accumulate, threads: threads)
            } else {
                MatmulKernels.gemm(m: m, n: n, k: k, pa.baseAddress!, transA: transA, pb.baseAddress!, transB: transB,
                                   pc.baseAddress!, accumulate: accumulate, backend: backend)
            }
        } } }
        return c
    }

    static let shapes: [(Int, Int, Int)] = [(1, 1, 1), (7, 5, 3), (6, 16, 8), (13, 17, 19), (64, 33, 70), (100, 130, 90), (97, 40, 300),
                                            (150, 3, 16), (150, 16, 4), (16, 4, 150), (3, 16, 150), (40, 10, 256),
                                            (200, 70, 50),   // BLAS split by rows (100, 130, 90: by columns)
                                            (30, 100, 40)]   // built-in split by columns (too few rows)

    /// Shapes that cross the blocked kernel's cache blocks (Sources/CBackpropKernels/gemm_impl.h:
    /// KC = 256 along k, MC = 96 rows of A, NC = 1024 columns of B) by one or a few elements, with
    /// register tiles (6 x 2 vectors) cut at the edges.
    static let blockEdgeShapes: [(Int, Int, Int)] = [(97, 40, 257), (95, 17, 255), (13, 1043, 20), (7, 1041, 257),
                                                     (193, 33, 513), (101, 1030, 9)]

    static func compare<T: FloatElement>(_ backend: MatmulKernels.Backend, threads: Int = 0, _: T.Type, tol: Double,
                                         shapes: [(Int, Int, Int)] = shapes) {
        for (m, n, k) in shapes {
            for transA in [false, true] {
                for transB in [false, true] {
                    if backend == .narrow && (n > 16 || k > 256) { continue }
                    for accumulate in [false, true] {
                        let want = product(.naive, m: m, n: n, k: k, transA: transA, transB: transB, accumulate: accumulate, T.self)
                        let got = product(backend, threads: threads, m: m, n: n, k: k, transA: transA, transB: transB,
                                          accumulate: accumulate, T.self)
                        var worst = 0.0
                        for i in want.indices { worst = Swift.max(worst, abs(got[i].double - want[i].double)) }
                        // Each element sums k products of values in [-1, 1].
                        #expect(worst <= tol * Double(k), "\(backend) \(T.self) m=\(m) n=\(n) k=\(k) transA=\(transA) transB=\(transB) accumulate=\(accumulate): max error \(worst)")
                    }
                }
            }
        }
    }

    @Test("built-in blocked gemm (float32, float64) matches the triple loop")
    func builtinGemm() {
        Self.compare(.builtin, Float.self, tol: 1e-6)
        Self.compare(.builtin, Double.self, tol: 1e-14)
    }

    @Test("unpacked and narrow-B kernels match the triple loop")
    func smallGemm() {
        Self.compare(.small, Float.self, tol: 1e-6)
        Self.compare(.small, Double.self, tol: 1e-14)
        Self.compare(.narrow, Float.self, tol: 1e-6)
        Self.compare(.narrow, Double.self, tol: 1e-14)
    }

    @Test("built-in gemm split over threads matches the triple loop")
    func threadedGemm() {
        Self.compare(.builtin, threads: 2, Float.self, tol: 1e-6)
        Self.compare(.builtin, threads: 3, Double.self, tol: 1e-14)
    }

    @Test("built-in gemm across its cache-block edges matches the triple loop, on one thread and three")
    func blockEdgeGemm() {
        Self.compare(.builtin, Float.self, tol: 1e-6, shapes: Self.blockEdgeShapes)
        Self.compare(.builtin, Double.self, tol: 1e-14, shapes: Self.blockEdgeShapes)
        Self.compare(.builtin, threads: 3, Float.self, tol: 1e-6, shapes: Self.blockEdgeShapes)
        Self.compare(.builtin, threads: 3, Double.self, tol: 1e-14, shapes: Self.blockEdgeShapes)
    }

    /// The built-in kernel's result, bit for bit, whatever the thread count: each element is one
    /// thread's sum over the whole of k in a fixed order (compiled training steps rely on it).
    static func sameBitsOverThreads<T: FloatElement>(_: T.Type) {
        for (m, n, k) in [(200, 70, 300), (30, 100, 40), (97, 1041, 257), (150, 33, 513)] {
            for transA in [false, true] {
                for transB in [false, true] {
                    for accumulate in [false, true] {
                        let one = product(.builtin, threads: 1, m: m, n: n, k: k, transA: transA, transB: transB,
                                          accumulate: accumulate, T.self)
                        for threads in [2, 3, 4] {
                            let got = product(.builtin, threads: threads, m: m, n: n, k: k, transA: transA,
                                              transB: transB, accumulate: accumulate, T.self)
                            #expect(got == one, "\(T.self) m=\(m) n=\(n) k=\(k) transA=\(transA) transB=\(transB) accumulate=\(accumulate): \(threads) threads differ from one")
                        }
                    }
                }
            }
        }
    }

    @Test("built-in gemm gives the same bits on 1, 2, 3 and 4 threads")
    func gemmSameBitsOverThreads() {
        Self.sameBitsOverThreads(Float.self)
        Self.sameBitsOverThreads(Double.self)
    }

    @Test("BLAS gemm matches the triple loop", .enabled(if: BLAS.library != nil,
          "no BLAS loaded (BACKPROP_BLAS=none, or no libopenblas.so.0 / libblas.so.3): install libopenblas0-pthread to test this path"))
    func blasGemm() {
        Self.compare(.blas, Float.self, tol: 1e-6)
        Self.compare(.blas, Double.self, tol: 1e-14)
    }

    @Test("mm picks a backend by size and agrees with the plain loop on a large product")
    func mmLarge() {
        let (m, k, n) = (150, 120, 70)
        let a = Tensor(Self.values(m * k, seed: 1, Double.self), shape: [m, k], dtype: .float32)
        let b = Tensor(Self.values(k * n, seed: 2, Double.self), shape: [k, n], dtype: .float32)
        let c = a.mm(b).scalars
        let want = Self.product(.naive, m: m, n: n, k: k, transA: false, transB: false, accumulate: false, Float.self)
        // a and b hold the same float32 values as `product` uses (same seeds, rounded the same way).
        for i in want.indices { #expect(abs(c[i] - want[i].double) <= 1e-4, "mm element \(i): \(c[i]) vs \(want[i])") }
    }

    @Test("BACKPROP_BLAS choices")
    func blasChoice() {
        #expect(BLAS.candidates(for: "none") == nil)
        #expect(BLAS.candidates(for: "/opt/lib/libmyblas.so") == ["/opt/lib/libmyblas.so"])
        #expect(BLAS.candidates(for: nil)?.isEmpty == false)
        #expect(BLAS.load(choice: "/nonexistent/libnothing.so") == nil)
        #expect(MatmulBackend.description.contains("built-in"))
    }

    @Test("vectorized float exp is within 3 ulp of libm, exact at the edges")
    func vectorExp() {
        var xs: [Float] = (0..<20000).map { -110 + 220 * Float($0) / 20000 }
        xs += [0, -0, 1, -1, 88.5, 89, -87.5, -104, -200, 200, .infinity, -.infinity, .nan, 1e-30, -1e-30]
        var ys = [Float](repeating: 0, count: xs.count), gen = ys
        bp_exp_f32(xs, &ys, xs.count)
        bp_exp_f32_generic(xs, &gen, xs.count)
        for (i, x) in xs.enumerated() {
            let want = expf(x)
            for (name, got) in [("dispatch", ys[i]), ("portable", gen[i])] {
                if want.isNaN { #expect(got.isNaN, "\(name) exp(\(x))"); continue }
                if want == 0 || want.isInfinite || want < Float.leastNormalMagnitude {
                    #expect(got == want, "\(name) exp(\(x)) = \(got), libm \(want)")
                    continue
                }
                #expect(abs(got - want) <= 3 * want.ulp, "\(name) exp(\(x)) = \(got), libm \(want)")
            }
        }
        #expect(bp_max_f32([1, 5, -3, 2, 2, 2, 2, 2, 2, 4.5], 10) == 5)
        #expect(bp_max_f32([1, 5, .nan, 2, 2, 2, 2, 2, 2, 4.5], 10).isNaN)
    }

    @Test("vectorized float log is within 2 ulp of libm, exact at the edges")
    func vectorLog() {
        var xs: [Float] = (0..<20000).map { expf(-90 + 180 * Float($0) / 20000) }
        xs += [0, -0, -1, 1, 1.0000001, 0.99999994, 1e-40, .infinity, -.infinity, .nan, .greatestFiniteMagnitude, .leastNormalMagnitude]
        var ys = [Float](repeating: 0, count: xs.count), gen = ys
        bp_log_f32(xs, &ys, xs.count)
        bp_log_f32_generic(xs, &gen, xs.count)
        for (i, x) in xs.enumerated() {
            let want = logf(x)
            for (name, got) in [("dispatch", ys[i]), ("portable", gen[i])] {
                if want.isNaN { #expect(got.isNaN, "\(name) log(\(x))"); continue }
                if want == 0 || want.isInfinite { #expect(got == want, "\(name) log(\(x)) = \(got), libm \(want)"); continue }
                #expect(abs(got - want) <= 2 * want.ulp, "\(name) log(\(x)) = \(got), libm \(want)")
            }
        }
        // Through the op: a large float32 log takes this path.
        let t = Tensor(xs.prefix(1000).map { Double($0) }, shape: [1000])
        let viaOp = t.log().floats
        for i in 0..<1000 { #expect(abs(viaOp[i] - logf(xs[i])) <= 2 * abs(logf(xs[i])).ulp, "log op [\(i)]") }
    }

    @Test("softmax and log-softmax on wide float32 rows (vector path) match a float64 reference")
    func wideSoftmax() {
        let (rows, cols) = (5, 300)
        let v = Self.values(rows * cols, seed: 6, Double.self).map { $0 * 20 }
        let x32 = Tensor(v, shape: [rows, cols]), x64 = Tensor(v, shape: [rows, cols], dtype: .float64)
        for log in [false, true] {
            let got = (log ? x32.logSoftmax(dim: 1) : x32.softmax(dim: 1)).scalars
            let want = (log ? x64.logSoftmax(dim: 1) : x64.softmax(dim: 1)).scalars
            for i in got.indices { #expect(abs(got[i] - want[i]) <= 1e-5 * Swift.max(1, abs(want[i])), "log=\(log) [\(i)]: \(got[i]) vs \(want[i])") }
        }
        // A row with a NaN comes out all NaN, as on the scalar path.
        let bad = Tensor([Double](repeating: 1, count: 20) + [.nan] + [Double](repeating: 1, count: 19), shape: [2, 20])
        let sm = bad.softmax(dim: 1).scalars
        #expect(sm[20..<40].allSatisfy { $0.isNaN } && sm[0..<20].allSatisfy { abs($0 - 0.05) < 1e-7 })
    }

    @Test("fused softmax / log-softmax backward equals the composed formula")
    func fusedSoftmaxBackward() {
        for (shape, dim) in [([4, 37], 1), ([3, 5, 6], 1), ([2, 40], 0), ([64], 0)] {
            let n = shape.reduce(1, *)
            for dt in [DType.float32, .float64] {
                let x = Tensor(Self.values(n, seed: 7, Double.self).map { $0 * 4 }, shape: shape, dtype: dt)
                let g = Tensor(Self.values(n, seed: 8, Double.self), shape: shape, dtype: dt)
                let y = x.softmax(dim: dim), ly = x.logSoftmax(dim: dim)
                let fused = Tensor.softmaxBackward(y: y, g: g, dim: dim, log: false).scalars
                let gy = g * y
                let composed = (gy - y * gy.sum(dims: [dim], keepDim: true)).scalars
                let lfused = Tensor.softmaxBackward(y: ly, g: g, dim: dim, log: true).scalars
                let lcomposed = (g - ly.exp() * g.sum(dims: [dim], keepDim: true)).scalars
                let tol = dt == .float32 ? 1e-5 : 1e-12
                for i in 0..<n {
                    #expect(abs(fused[i] - composed[i]) <= tol, "softmax backward \(shape) dim \(dim) \(dt) [\(i)]")
                    #expect(abs(lfused[i] - lcomposed[i]) <= tol, "log_softmax backward \(shape) dim \(dim) \(dt) [\(i)]")
                }
            }
        }
    }

    @Test("elementwise ops split over threads equal the one-thread loop")
    func threadedElementwise() {
        let n = Parallelism.elementwiseGrain * 4 + 13
        let av = Self.values(n, seed: 9, Double.self), bv = Self.values(n, seed: 10, Double.self)
        let a = Tensor(av, shape: [n]), b = Tensor(bv, shape: [n])
        Parallelism.threadOverride = 3
        defer { Parallelism.threadOverride = 0 }
        let sum = (a + b).floats, prod = (a * 0.5).floats, e = a.exp().floats, r = a.relu().floats
        var into = Tensor.zeros([n])
        a.add(b, into: &into)
        var copy = Tensor.zeros([n])
        copy.copy(from: a)
        let af = a.floats, bf = b.floats, intoF = into.floats, copyF = copy.floats
        for i in 0..<n {
            #expect(sum[i] == af[i] + bf[i] && intoF[i] == sum[i], "add [\(i)]")
            #expect(prod[i] == af[i] * 0.5, "mul [\(i)]")
            #expect(r[i] == Swift.max(af[i], 0), "relu [\(i)]")
            #expect(copyF[i] == af[i], "copy [\(i)]")
            #expect(abs(e[i] - expf(af[i])) <= 3 * expf(af[i]).ulp, "exp [\(i)]")
        }
    }

    @Test("sum() gives the bits of a sum over every dim, and its gradient", arguments: [[1], [], [7, 13], [3, 0, 2], [Parallelism.elementwiseGrain * 3 + 5]])
    func fullSumFastPath(shape: [Int]) {
        let n = shape.reduce(1, *)
        for dtype in [DType.float32, .float64] {
            let v = Self.values(n, seed: 23, Double.self)
            let x = Tensor(v, shape: shape).to(dtype).requiringGrad()
            // The general kernel (any set of dims) over every dim, as sum() ran before its fast path.
            func general<T: FloatElement>(_: T.Type) -> Tensor {
                var out = Tensor(shape: [], dtype: dtype, zeroed: true)
                x.withPointer(T.self) { px in
                    out.withMutablePointer(T.self) { ReduceKernels.sum(px, shape, reduced: Set(0..<shape.count), $0) }
                }
                return out
            }
            let reference = dtype == .float32 ? general(Float.self) : general(Double.self)
            let all = x.sum(dims: Array(0..<shape.count), keepDim: false)
            let fast = x.sum()
            #expect(fast.shape == [] && fast.dtype == dtype)
            #expect(fast.item.bitPattern == reference.item.bitPattern, "\(shape) \(dtype)")
            #expect(all.item.bitPattern == reference.item.bitPattern, "\(shape) \(dtype)")
            fast.backward()
            #expect(x.grad!.shape == shape && x.grad!.scalars.allSatisfy { $0 == 1 })
        }
    }

    @Test("a large sum and max split over threads match a float64 reference")
    func threadedReduction() {
        let n = Parallelism.elementwiseGrain * 5 + 7
        let v = Self.values(n, seed: 15, Double.self)
        let t = Tensor(v, shape: [n])
        Parallelism.threadOverride = 2
        defer { Parallelism.threadOverride = 0 }
        let exact = t.floats.reduce(0.0) { $0 + Double($1) }
        #expect(abs(t.sum().item - exact) <= 1e-2, "sum \(t.sum().item) vs \(exact)")  // float32 accumulation over 1.3M values
        #expect(t.max().item == Double(t.floats.max()!))
        Parallelism.threadOverride = 1
        #expect(abs(t.sum().item - exact) <= 1e-2)
    }

    @Test("scalar operands give the same values as 0-d tensors")
    func scalarOperands() {
        let x = Tensor(Self.values(50, seed: 11, Double.self), shape: [5, 10])
        let s = 0.1
        #expect((x * s).isIdentical(to: x.mul(x.scalarLike(s))))
        #expect((s * x).isIdentical(to: x.scalarLike(s).mul(x)))
        #expect((x - s).isIdentical(to: x.sub(x.scalarLike(s))))
        #expect((s - x).isIdentical(to: x.scalarLike(s).sub(x)))
        #expect((x / 3.0).isIdentical(to: x.div(x.scalarLike(3))))
        #expect((3.0 / x).isIdentical(to: x.scalarLike(3).div(x)))
        #expect((x + s).isIdentical(to: x.add(x.scalarLike(s))))
        // Under grad the node is still recorded.
        let w = x.requiringGrad()
        #expect((w * 2.0).gradFn == "MulBackward0")
    }

    @Test("in-place updates keep saved values and leaf identity")
    func inPlaceUpdates() {
        var w = Tensor([1, 2, 3, 4], shape: [2, 2]).requiringGrad()
        let x: Tensor = [[1, 1]]
        let y = x.mm(w).sum()            // saves w's values
        y.backward(retainGraph: true)
        let node = w.gradNode
        withNoGrad { w -= 0.5 * w.grad! }
        #expect(w.gradNode === node, "the leaf keeps its node")
        #expect(w.scalars == [0.5, 1.5, 2.5, 3.5])
        w.zeroGrad()
        y.backward()                     // the graph still sees the old w (its grad is x^T, unchanged)
        #expect(w.grad!.scalars == [1, 1, 1, 1])
        // Unshared storage is updated in place, shared storage is copied first.
        var a = Tensor([1, 2, 3], shape: [3])
        let alias = a
        a += Tensor([1, 1, 1], shape: [3])
        #expect(alias.scalars == [1, 2, 3] && a.scalars == [2, 3, 4])
        a *= Tensor([2, 2, 2], shape: [3])
        #expect(a.scalars == [4, 6, 8])
    }

    @Test("row-broadcast add and contiguous sums match the general paths")
    func broadcastAndSums() {
        let m = Tensor(Self.values(12, seed: 12, Double.self), shape: [3, 4], dtype: .float64)
        let r = Tensor(Self.values(4, seed: 13, Double.self), shape: [4], dtype: .float64)
        let mv = m.scalars, rv = r.scalars
        let s1 = (m + r).scalars, s2 = (r - m).scalars, s3 = (m * r.reshape([1, 4])).scalars
        for i in 0..<3 { for j in 0..<4 {
            #expect(s1[i * 4 + j] == mv[i * 4 + j] + rv[j])
            #expect(s2[i * 4 + j] == rv[j] - mv[i * 4 + j])
            #expect(s3[i * 4 + j] == mv[i * 4 + j] * rv[j])
        } }
        let t = Tensor(Self.values(60, seed: 14, Double.self), shape: [3, 4, 5], dtype: .float64)
        let tv = t.scalars
        for dims in [[0], [1], [2], [0, 1], [1, 2]] {
            let got = t.sum(dims: dims, keepDim: true).scalars
            var want = [Double](repeating: 0, count: got.count)
            let os = [0, 1, 2].map { dims.contains($0) ? 1 : [3, 4, 5][$0] }
            for i in 0..<3 { for j in 0..<4 { for k in 0..<5 {
                let o = (dims.contains(0) ? 0 : i) * os[1] * os[2] + (dims.contains(1) ? 0 : j) * os[2] + (dims.contains(2) ? 0 : k)
                want[o] += tv[(i * 4 + j) * 5 + k]
            } } }
            for i in got.indices { #expect(abs(got[i] - want[i]) <= 1e-12, "sum dims \(dims) [\(i)]") }
        }
    }

    @Test("cross_entropy without a graph (fused rows) equals the composed log_softmax + nll_loss to the bit")
    func fusedCrossEntropyForward() {
        var gen = RandomGenerator(seed: 5)
        for (n, c) in [(37, 1000), (5, 16), (300, 40), (1, 17)] {
            var x = Tensor.randn([n, c], using: &gen) * 4
            if n > 2 {
                // A row with -inf and one with a huge logit (the max shift matters).
                x = x + Tensor((0..<(n * c)).map { $0 == c + 3 ? -Double.infinity : ($0 == 2 * c ? 200 : 0) }, shape: [n, c])
            }
            var t = (0..<n).map { ($0 * 7) % c }
            if n > 1 { t[1] = -100 }
            let target = Tensor(indices: t)
            for reduction in [Reduction.mean, .sum] {
                let fused = withNoGrad { x.crossEntropy(target: target, reduction: reduction) }
                // A leaf that requires grad takes the composed path.
                let composed = x.requiringGrad().crossEntropy(target: target, reduction: reduction).detached()
                #expect(fused.item == composed.item, "n=\(n) c=\(c) \(reduction): \(fused.item) vs \(composed.item)")
            }
        }
        // Every target ignored: 0 / 0, as the composed path gives.
        let x = Tensor.randn([2, 20], using: &gen)
        let none = withNoGrad { x.crossEntropy(target: Tensor(indices: [-100, -100])) }
        #expect(none.item.isNaN)
    }

    @Test("column sums in vector registers and linear's bias-first product equal the plain loops to the bit")
    func biasPathsExact() {
        var gen = RandomGenerator(seed: 21)
        // sum over dim 0 of [len, inner]: each column summed in order from 0.
        for (len, inner) in [(150, 19), (7, 8), (3, 16), (40, 3)] {
            let x = Tensor.randn([len, inner], using: &gen)
            let got = x.sum(dim: 0).floats, xv = x.floats
            for k in 0..<inner {
                var want: Float = 0
                for j in 0..<len { want += xv[j * inner + k] }
                #expect(got[k] == want, "sum [\(len), \(inner)] column \(k)")
            }
        }
        // linear with bias (bias rows first, the product added once, k <= 256) against mm + bias.
        for (m, k, n) in [(150, 4, 16), (150, 16, 3), (64, 128, 10), (33, 200, 40)] {
            let x = Tensor.randn([m, k], using: &gen), w = Tensor.randn([n, k], using: &gen), b = Tensor.randn([n], using: &gen)
            let got = x.linear(weight: w, bias: b).floats
            let want = (x.mm(w.t()) + b).floats
            #expect(got == want, "linear [\(m), \(k)] -> \(n)")
        }
    }

    @Test("softmax and log-softmax of short float32 rows (C block path) equal the row formula to the bit")
    func shortRowSoftmaxExact() {
        var gen = RandomGenerator(seed: 31)
        for (rows, n) in [(150, 3), (37, 10), (6, 15), (300, 2)] {
            var v = (Tensor.randn([rows, n], using: &gen) * 5).floats
            v[n] = -.infinity; v[2 * n + 1] = .infinity; v[3 * n] = .nan; v[4 * n + 1] = 90
            let x = Tensor(v, shape: [rows, n])
            // The reference: each row shifted by its max, then one exp call over all rows (the kernel's
            // block is the whole tensor at these sizes: 1024 / n rows), then each row's sum.
            var shifted = [Float](repeating: 0, count: rows * n)
            for r in 0..<rows {
                var m = v[r * n]
                for j in 1..<n { m = Swift.max(m, v[r * n + j]) }
                if !m.isFinite { m = m.isNaN ? m : 0 }
                for j in 0..<n { shifted[r * n + j] = v[r * n + j] - m }
            }
            var e = [Float](repeating: 0, count: rows * n)
            bp_exp_f32(shifted, &e, rows * n)
            for log in [false, true] {
                let got = (log ? x.logSoftmax(dim: 1) : x.softmax(dim: 1)).floats
                for r in 0..<rows {
                    var s: Float = 0
                    for j in 0..<n { s += e[r * n + j] }
                    let want = (0..<n).map { log ? shifted[r * n + $0] - logf(s) : e[r * n + $0] * (1 / s) }
                    let row = Array(got[(r * n)..<(r * n + n)])
                    #expect(zip(row, want).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) },
                            "\(log ? "log_softmax" : "softmax") [\(rows), \(n)] row \(r): \(row) vs \(want)")
                }
            }
        }
    }
}
