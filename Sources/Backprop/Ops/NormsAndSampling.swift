import Foundation

// The transformer's remaining ops: std, vector norms (clip_grad_norm_), topk and multinomial (sampling).

extension BackwardRule {
    static let norm = BackwardRule("NormBackward1",
        "dx = G * x * |x|^(p-2) / norm^(p-1) (p = 2: G * x / norm; p = 1: G * sign(x); inf: G * sign(x) at the maxima / their count), 0 where norm = 0")
}

extension OpDescription {
    static let normSamplingOps: [OpDescription] = [std, norm, topk, multinomial]

    static let std = OpDescription(
        "std", .reduction, pytorch: "torch.std(x), torch.std(x, dim=1, correction=0, keepdim=True)",
        swift: "x.std(), x.std(dims: [1], correction: 0, keepDim: true)", note: "composed: sqrt(var)", rules: [.variance, .sqrt],
        replay: { c in
            [try c.tensor(0).std(dims: try c.kwargs.ints("dim") ?? [], correction: try c.kwargs.double("correction") ?? 1,
                                 keepDim: try c.kwargs.bool("keepdim") ?? false)]
        },
        gradcheck: [.unary("x.std(dims:correction:keepDim:)") { g in
            var (s, ds, k) = g.reduction()
            if s.isEmpty { s = [3] }
            let n = ds.isEmpty ? s.reduce(1, *) : ds.reduce(1) { $0 * s[($1 + s.count) % s.count] }
            let correction: Double = n > 1 && g.int(0..<2) == 0 ? 1 : 0
            // At least two distinct values per reduced group keeps the deviation away from 0.
            let shape = n == 1 ? s.map { _ in 2 } : s
            let dims = n == 1 ? [] : ds
            return (g.normal(shape), { $0.std(dims: dims, correction: correction, keepDim: k) })
        }])
    static let norm = OpDescription(
        "norm", .reduction, pytorch: "torch.norm(x, p=2, dim=None, keepdim=False), torch.linalg.vector_norm(x, ord=2)",
        swift: "x.norm(p: 2, dims: nil, keepDim: false), x.vectorNorm(ord: 2)", note: "vector norms: any p, inf, -inf, 0",
        rules: [.norm],
        replay: { c in
            let x = try c.tensor(0)
            var p = 2.0
            switch c.value(named: "p", default: 1) {
            case .number(let v): p = v
            case .none:
                if c.kwargs.values["p"] is String {
                    let s = try c.kwargs.string("p") ?? ""
                    guard s == "fro" else { throw c.error("norm: only vector norms (p a number or 'fro'), got '\(s)'") }
                } else if let v = try c.kwargs.double("p") ?? c.kwargs.double("ord") { p = v }
            default: throw c.error("norm: p must be a number or 'fro'")
            }
            return [x.norm(p: p, dims: try c.kwargs.ints("dim"), keepDim: try c.kwargs.bool("keepdim") ?? false)]
        },
        gradcheck: [.unary("x.norm(p:dims:keepDim:)") { g in
            let (s, ds, k) = g.reduction()
            let p = [2.0, 1, 3, 1.5, Double.infinity][g.int(0..<5)]
            // Away from 0 (|x| is not differentiable there) and, for inf, without ties.
            let x = p == .infinity ? g.distinct(s) : g.awayFromZero(s)
            return (x, { $0.norm(p: p, dims: ds.isEmpty ? nil : ds, keepDim: k) })
        }])
    static let topk = OpDescription(
        "topk", .indexing, pytorch: "torch.topk(x, 3, dim=-1, largest=True, sorted=True)",
        swift: "x.topk(3, dim: -1, largest: true, sorted: true)", note: "values (gather's gradient) and int64 indices",
        rules: [.gather],
        replay: { c in
            let k: Int
            if case .number(let n) = c.value(named: "k", default: 1), let v = Int(exactly: n) { k = v }
            else { k = try c.kwargs.required(try c.kwargs.int("k"), "topk", "k") }
            let x = try c.tensor(0)
            let d = try c.kwargs.int("dim") ?? -1
            guard x.rank == 0 ? (d == 0 || d == -1) && k <= 1 : (d >= -x.rank && d < x.rank && k >= 0 && k <= x.shape[(d + x.rank) % x.rank]) else {
                throw c.error("topk: k \(k) out of range for dim \(d) of shape \(x.shape)")
            }
            let r = x.topk(k, dim: d, largest: try c.kwargs.bool("largest") ?? true, sorted: try c.kwargs.bool("sorted") ?? true)
            return [r.values, r.indices]
        },
        gradcheck: [.unary("x.topk(k, dim:, largest:).values") { g in
            let s = g.shape(minRank: 1, maxRank: 3)
            let d = g.int(0..<s.count), k = g.int(0..<(s[d] + 1)), largest = g.int(0..<2) == 0
            return (g.distinct(s), { $0.topk(k, dim: d, largest: largest).values })
        }])
    static let multinomial = OpDescription(
        "multinomial", .indexing, pytorch: "torch.multinomial(probs, 3, replacement=False)",
        swift: "probs.multinomial(3, replacement: false, using: &generator)",
        note: "sampling with Backprop's generator (PyTorch's draws differ; verify replays deterministic cases)",
        rules: [],
        replay: { c in
            let probs = try c.tensor(0)
            let n: Int
            if case .number(let v) = c.value(named: "num_samples", default: 1), let m = Int(exactly: v) { n = m }
            else { n = try c.kwargs.required(try c.kwargs.int("num_samples"), "multinomial", "num_samples") }
            let replacement = try c.kwargs.bool("replacement") ?? false
            if let problem = Tensor.multinomialProblem(probs, n, replacement: replacement) { throw c.error(problem) }
            var g = RandomGenerator(seed: 0)
            return [probs.multinomial(n, replacement: replacement, using: &g)]
        },
        gradcheck: [])
}

extension Tensor {
    /// The standard deviation over `dims` (all when empty): sqrt(var) with Bessel's `correction`
    /// (PyTorch's `torch.std`). Composed of `variance` and `sqrt`.
    ///
    /// Backward: dx = G * (x - mean) / ((n - correction) * std)
    public func std(dims: [Int] = [], correction: Double = 1, keepDim: Bool = false) -> Tensor {
        requireFloat("std")
        return variance(dims: dims, correction: correction, keepDim: keepDim).sqrt()
    }

    /// The standard deviation over one dim.
    public func std(dim: Int, correction: Double = 1, keepDim: Bool = false) -> Tensor {
        std(dims: [dim], correction: correction, keepDim: keepDim)
    }

    /// The vector p-norm over `dims` (all elements when nil): (sum |x|^p)^(1/p); p = inf is max |x|,
    /// -inf min |x|, 0 the number of non-zero elements (PyTorch's `torch.norm(x, p, dim, keepdim)`
    /// and `torch.linalg.vector_norm`). The gradient is 0 where the norm is 0, as in PyTorch.
    ///
    /// Backward: dx = G * x * |x|^(p-2) / norm^(p-1) (p = 2: G * x / norm; p = 1: G * sign(x); inf: G * sign(x) at the maxima / their count), 0 where norm = 0
    public func norm(p: Double = 2, dims: [Int]? = nil, keepDim: Bool = false) -> Tensor {
        requireFloat("norm")
        let ds = reductionDims(dims ?? [], op: "norm")
        let keepShape = reducedShape(ds, keepDim: true), outShape = reducedShape(ds, keepDim: keepDim)
        let x = detached()
        let out: Tensor = withNoGrad {
            // |x| only for the norms that use it.
            let a = p == 2 ? x : x.abs()
            let r: Tensor
            if p == 2 { r = (x * x).rawSum(ds).sqrt() }
            else if p == 1 { r = a.rawSum(ds) }
            else if p == .infinity { r = a.amax(dims: ds.isEmpty ? Array(0..<x.rank) : ds, keepDim: true) }
            else if p == -.infinity { r = -((-a).amax(dims: ds.isEmpty ? Array(0..<x.rank) : ds, keepDim: true)) }
            else if p == 0 { r = a.map(NonZeroF.self, op: "norm").rawSum(ds) }
            else { r = a.pow(p).rawSum(ds).pow(1 / p) }
            return r.reshape(outShape)
        }
        guard Tensor.recordsGrad(self), p != 0 else { return out }
        return out.recorded(.norm, self, save0: x, save1: out) { node, g in
            let x = node.input(0, value: node.saved0!)
            let nrm = node.output(value: node.saved1!).reshape(keepShape)
            let gk = g.reshape(keepShape)
            // Where the norm is 0 every |x| is 0 too: dividing by 1 there leaves the gradient 0.
            let zero = withNoGrad { nrm.detached().map(IsZeroF.self, op: "norm") }
            let safe = nrm + zero
            if p == 2 { return InputGrads(gk * x / safe) }
            let sign = withNoGrad { x.detached().map(SignF.self, op: "norm") }
            if p == 1 { return InputGrads(gk * sign) }
            if p.isInfinite {
                let hit = withNoGrad { Tensor.equalMask(x.detached().abs(), nrm.detached()) }
                let count = withNoGrad { hit.rawSum(ds).reshape(keepShape) }
                return InputGrads(gk * sign * hit / count)
            }
            return InputGrads(gk * x * x.abs().pow(p - 2) / safe.pow(p - 1))
        }
    }

    /// `norm(p: ord, dims: dims, keepDim: keepDim)` under the name of `torch.linalg.vector_norm`.
    public func vectorNorm(ord: Double = 2, dims: [Int]? = nil, keepDim: Bool = false) -> Tensor {
        norm(p: ord, dims: dims, keepDim: keepDim)
    }

    /// The `k` largest (or, with `largest: false`, smallest) values along `dim` and their int64
    /// indices (PyTorch's `torch.topk`), in order from the largest (smallest); equal values keep
    /// their index order. The values are a `gather`, so their gradient goes to the chosen positions.
    public func topk(_ k: Int, dim: Int = -1, largest: Bool = true, sorted: Bool = true) -> (values: Tensor, indices: Tensor) {
        requireFloat("topk")
        let x = rank == 0 ? reshape([1]) : self
        let d = Shapes.normalize(dim, rank: x.rank, op: "topk")
        let n = x.shape[d]
        precondition(k >= 0 && k <= n, "topk: selected index k \(k) out of range for dim \(dim) of size \(n) (shape \(shape))")
        let split = DimSplit(x.shape, d)
        let values = x.scalars
        var idx = [Int](repeating: 0, count: split.outer * k * split.inner)
        var order = [Int](repeating: 0, count: n)
        for o in 0..<split.outer {
            for i in 0..<split.inner {
                let base = o * n * split.inner + i
                for j in 0..<n { order[j] = j }
                // NaN counts as the largest value, as in PyTorch.
                func key(_ j: Int) -> Double { let v = values[base + j * split.inner]; return v.isNaN ? .infinity : v }
                order.sort { a, b in
                    let (va, vb) = (key(a), key(b))
                    if va != vb { return largest ? va > vb : va < vb }
                    return a < b
                }
                for j in 0..<k { idx[(o * k + j) * split.inner + i] = order[j] }
            }
        }
        var outShape = x.shape
        outShape[d] = k
        let indices = Tensor(indices: idx, shape: outShape)
        var v = x.gather(dim: d, index: indices)
        if rank == 0 { return (v.reshape([]), indices.reshape([])) }
        if k == 0 { v = v.reshape(outShape) }
        return (v, indices)
    }

    /// Why `multinomial` would refuse these arguments (PyTorch's messages), or nil.
    static func multinomialProblem(_ probs: Tensor, _ n: Int, replacement: Bool) -> String? {
        guard probs.dtype.isFloatingPoint else { return "multinomial: probabilities must be floating point, got \(probs.dtype)" }
        guard probs.rank == 1 || probs.rank == 2 else { return "multinomial: prob_dist must be 1 or 2 dim, got shape \(probs.shape)" }
        guard n > 0 else { return "multinomial: cannot sample n_sample <= 0 samples" }
        let c = probs.shape.last!
        guard c > 0 else { return "multinomial: the number of categories must be positive" }
        let v = probs.scalars
        for r in 0..<(probs.count / c) {
            let row = v[(r * c)..<((r + 1) * c)]
            if row.contains(where: { $0 < 0 || !$0.isFinite }) { return "multinomial: probability tensor contains either `inf`, `nan` or element < 0" }
            if row.allSatisfy({ $0 == 0 }) { return "multinomial: invalid multinomial distribution (sum of probabilities <= 0)" }
            if !replacement && row.filter({ $0 > 0 }).count < n {
                return "multinomial: cannot sample n_sample > prob_dist.size(-1) samples without replacement"
            }
        }
        return nil
    }

    /// `numSamples` int64 category indices per row, drawn from `generator` with probabilities
    /// proportional to this tensor's rows (1-d [C] or 2-d [N, C]; PyTorch's `torch.multinomial`).
    /// Without `replacement` each category is drawn at most once. No gradient.
    ///
    /// ```swift
    /// let next = logits.softmax(dim: -1).multinomial(1, using: &g)   // a sampled token per row
    /// ```
    public func multinomial(_ numSamples: Int, replacement: Bool = false, using generator: inout RandomGenerator) -> Tensor {
        if let problem = Tensor.multinomialProblem(self, numSamples, replacement: replacement) { preconditionFailure(problem) }
        let c = shape.last!, rows = count / c
        let v = scalars
        var out: [Int] = []
        out.reserveCapacity(rows * numSamples)
        for r in 0..<rows {
            var w = Array(v[(r * c)..<((r + 1) * c)])
            for _ in 0..<numSamples {
                var total = 0.0
                for x in w { total += x }
                let u = generator.nextUniform() * total
                var acc = 0.0, pick = -1
                for j in 0..<c where w[j] > 0 {
                    acc += w[j]
                    pick = j
                    if u < acc { break }
                }
                out.append(pick)
                if !replacement { w[pick] = 0 }
            }
        }
        return Tensor(indices: out, shape: rank == 1 ? [numSamples] : [rows, numSamples])
    }
}

struct NonZeroF: UnaryFunction { @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T { x != 0 ? 1 : 0 } }
struct IsZeroF: UnaryFunction { @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T { x == 0 ? 1 : 0 } }
