import Foundation

/// One gradcheck problem: the inputs, which of them to check, and the function.
public struct GradcheckProblem {
    /// The arguments (float64 values; integer tensors for indices and class targets).
    public let inputs: [Tensor]
    /// The positions of the inputs to check (constants such as class weights are left out).
    public let wrt: [Int]
    /// The op under test.
    public let function: ([Tensor]) -> Tensor
}

/// A differentiable op with a generator of random gradcheck problems for it: random shapes
/// (broadcasting, size-1 dims and 0-d tensors where the op allows them) and values kept at
/// least 0.1 away from the op's kinks and ties.
public struct GradcheckCase: @unchecked Sendable {
    /// A unique name: the PyTorch op, with the variant after a dot (`pow.tensor`).
    public let name: String
    /// The PyTorch op name.
    public let op: String
    /// How the op is spelled in Backprop.
    public let swift: String
    /// Draws one problem.
    public let make: (inout RandomGenerator) -> GradcheckProblem
}

/// The result of running one case over several random problems.
public struct GradcheckCaseResult: Sendable {
    /// The case name (`pow.tensor`).
    public let name: String
    /// The PyTorch op name (`pow`).
    public let op: String
    /// The number of problems drawn.
    public let trials: Int
    /// The number of input tensors checked (over all trials) and of their elements.
    public let inputsChecked: Int
    /// The number of elements of those inputs (each one a finite-difference check).
    public let elementsChecked: Int
    /// The largest absolute and relative errors seen.
    public let maxAbsError: Double
    /// The largest relative error seen.
    public let maxRelError: Double
    /// The first failure: trial, input shapes and the report; nil when every trial passed.
    public let failure: String?
    /// Whether every trial passed.
    public var passed: Bool { failure == nil }
}

/// Every differentiable op of Backprop with its gradcheck input generator, shared by the tests
/// and `backprop gradcheck`.
public enum GradcheckSuite {
    /// Runs `c` on `trials` random problems drawn from `seed`.
    public static func run(_ c: GradcheckCase, seed: UInt64 = 0, trials: Int = 3) -> GradcheckCaseResult {
        var gen = RandomGenerator(seed: seed ^ UInt64(truncatingIfNeeded: c.name.utf8.reduce(5381) { ($0 &* 33) &+ Int($1) }))
        var inputs = 0, elements = 0, maxAbs = 0.0, maxRel = 0.0
        var failure: String?
        for t in 0..<trials {
            let p = c.make(&gen)
            let report = gradcheck(p.function, inputs: p.inputs, wrt: p.wrt, seed: gen.next())
            for r in report.inputs where r.checked { inputs += 1; elements += r.shape.reduce(1, *) }
            maxAbs = Swift.max(maxAbs, report.maxAbsError)
            maxRel = Swift.max(maxRel, report.maxRelError)
            if !report.passed && failure == nil {
                failure = "trial \(t), input shapes \(p.inputs.map(\.shape)): \(report.description.replacingOccurrences(of: "\n", with: "; "))"
            }
        }
        return GradcheckCaseResult(name: c.name, op: c.op, trials: trials, inputsChecked: inputs, elementsChecked: elements,
                                   maxAbsError: maxAbs, maxRelError: maxRel, failure: failure)
    }

    /// The cases, one or more per differentiable op.
    public static let cases: [GradcheckCase] = elementwise + shapes + reductions + losses

    // MARK: - Elementwise

    static let elementwise: [GradcheckCase] = [
        binary("add", "a.add(b, alpha: 2)") { g in let (a, b) = g.broadcastPair(); return ([g.normal(a), g.normal(b)], { $0[0].add($0[1], alpha: 2) }) },
        binary("sub", "a - b") { g in let (a, b) = g.broadcastPair(); return ([g.normal(a), g.normal(b)], { $0[0] - $0[1] }) },
        binary("mul", "a * b") { g in let (a, b) = g.broadcastPair(); return ([g.normal(a), g.normal(b)], { $0[0] * $0[1] }) },
        binary("div", "a / b") { g in let (a, b) = g.broadcastPair(); return ([g.normal(a), g.awayFromZero(b)], { $0[0] / $0[1] }) },
        unary("neg", "-x") { g in (g.normal(g.shape()), { -$0 }) },
        unary("pow", variant: "scalar", "x.pow(e)") { g in
            let e = [2.0, 3, 0.5, -1.5, 2.5][g.int(0..<5)]
            return (g.uniform(g.shape(), 0.5, 2), { $0.pow(e) })
        },
        binary("pow", variant: "tensor", "x.pow(y)") { g in
            let (a, b) = g.broadcastPair()
            return ([g.uniform(a, 0.5, 2), g.uniform(b, -2, 2)], { $0[0].pow($0[1]) })
        },
        unary("exp", "x.exp()") { g in (g.normal(g.shape()), { $0.exp() }) },
        unary("log", "x.log()") { g in (g.uniform(g.shape(), 0.5, 3), { $0.log() }) },
        unary("sqrt", "x.sqrt()") { g in (g.uniform(g.shape(), 0.5, 3), { $0.sqrt() }) },
        unary("abs", "x.abs()") { g in (g.awayFromZero(g.shape()), { $0.abs() }) },
        unary("relu", "x.relu()") { g in (g.awayFromZero(g.shape()), { $0.relu() }) },
        unary("sigmoid", "x.sigmoid()") { g in (g.normal(g.shape()), { $0.sigmoid() }) },
        unary("tanh", "x.tanh()") { g in (g.normal(g.shape()), { $0.tanh() }) },
        unary("gelu", variant: "none", "x.gelu()") { g in (g.normal(g.shape()), { $0.gelu() }) },
        unary("gelu", variant: "tanh", "x.gelu(approximate: .tanh)") { g in (g.normal(g.shape()), { $0.gelu(approximate: .tanh) }) },
        unary("clamp", "x.clamp(min: -0.5, max: 0.5)") { g in
            (g.awayFrom(g.shape(), points: [-0.5, 0.5]), { $0.clamp(min: -0.5, max: 0.5) })
        },
        unary("clamp", variant: "min", "x.clamp(min: -0.5)") { g in (g.awayFrom(g.shape(), points: [-0.5]), { $0.clamp(min: -0.5) }) },
        unary("clamp", variant: "max", "x.clamp(max: 0.5)") { g in (g.awayFrom(g.shape(), points: [0.5]), { $0.clamp(max: 0.5) }) },
        binary("maximum", "a.maximum(b)") { g in
            let (a, b) = g.broadcastPair()
            return ([g.halfGrid(a, odd: false), g.halfGrid(b, odd: true)], { $0[0].maximum($0[1]) })
        },
        binary("minimum", "a.minimum(b)") { g in
            let (a, b) = g.broadcastPair()
            return ([g.halfGrid(a, odd: false), g.halfGrid(b, odd: true)], { $0[0].minimum($0[1]) })
        },
    ]

    // MARK: - Linear algebra, shapes, indexing

    static let shapes: [GradcheckCase] = [
        binary("mm", "a.mm(b)") { g in
            let (n, k, m) = (g.int(1..<4), g.int(1..<4), g.int(1..<4))
            return ([g.normal([n, k]), g.normal([k, m])], { $0[0].mm($0[1]) })
        },
        binary("bmm", "a.bmm(b)") { g in
            let (b, n, k, m) = (g.int(1..<3), g.int(1..<4), g.int(1..<4), g.int(1..<4))
            return ([g.normal([b, n, k]), g.normal([b, k, m])], { $0[0].bmm($0[1]) })
        },
        binary("matmul", "a.matmul(b)") { g in
            let k = g.int(1..<4)
            let left: [[Int]] = [[k], [g.int(1..<3), k], [g.int(1..<3), 1, g.int(1..<3), k]]
            let right: [[Int]] = [[k], [k, g.int(1..<3)], [g.int(1..<3), k, g.int(1..<3)]]
            return ([g.normal(left[g.int(0..<3)]), g.normal(right[g.int(0..<3)])], { $0[0].matmul($0[1]) })
        },
        GradcheckCase(name: "linear", op: "linear", swift: "x.linear(weight: W, bias: b)") { g in
            let (n, i, o) = (g.int(1..<4), g.int(1..<4), g.int(1..<4))
            let lead: [Int] = g.int(0..<2) == 0 ? [n] : [2, n]
            return GradcheckProblem(inputs: [g.normal(lead + [i]), g.normal([o, i]), g.normal([o])], wrt: [0, 1, 2],
                                    function: { $0[0].linear(weight: $0[1], bias: $0[2]) })
        },
        unary("t", "x.t()") { g in (g.normal(g.shape(minRank: 0, maxRank: 2)), { $0.t() }) },
        unary("transpose", "x.transpose(d0, d1)") { g in
            let s = g.shape(minRank: 2, maxRank: 4)
            let (d0, d1) = (g.int(0..<s.count) - s.count, g.int(0..<s.count))
            return (g.normal(s), { $0.transpose(d0, d1) })
        },
        unary("permute", "x.permute(dims)") { g in
            let s = g.shape(minRank: 1, maxRank: 4)
            let p = g.permutation(s.count)
            return (g.normal(s), { $0.permute(p) })
        },
        unary("reshape", "x.reshape(shape)") { g in
            let s = g.shape(minRank: 0, maxRank: 3)
            let n = s.reduce(1, *)
            let target: [Int] = [[n], [-1], [1, n, 1], [n, -1]][g.int(0..<4)]
            return (g.normal(s), { $0.reshape(target) })
        },
        unary("squeeze", "x.squeeze(dim)") { g in
            var s = g.shape(minRank: 1, maxRank: 3)
            let d = g.int(0..<s.count)
            s[d] = 1
            return (g.normal(s), { $0.squeeze(d) })
        },
        unary("unsqueeze", "x.unsqueeze(dim)") { g in
            let s = g.shape()
            let d = g.int(0..<(s.count + 1)) - (g.int(0..<2) == 0 ? 0 : s.count + 1)
            return (g.normal(s), { $0.unsqueeze(d) })
        },
        unary("expand", "x.expand(sizes)") { g in
            let (small, big) = g.broadcastPair()
            let sizes = big.count >= small.count ? Shapes.broadcast(small, big)! : small
            return (g.normal(small), { $0.expand(sizes) })
        },
        GradcheckCase(name: "cat", op: "cat", swift: "Tensor.cat([a, b, c], dim: d)") { g in
            let s = g.shape(minRank: 1, maxRank: 3)
            let d = g.int(0..<s.count)
            let parts = (0..<g.int(1..<4)).map { _ -> Tensor in var p = s; p[d] = g.int(1..<4); return g.normal(p) }
            return GradcheckProblem(inputs: parts, wrt: Array(parts.indices), function: { Tensor.cat($0, dim: d - s.count) })
        },
        GradcheckCase(name: "stack", op: "stack", swift: "Tensor.stack([a, b], dim: d)") { g in
            let s = g.shape(minRank: 0, maxRank: 3)
            let d = g.int(0..<(s.count + 1))
            let parts = (0..<g.int(1..<4)).map { _ in g.normal(s) }
            return GradcheckProblem(inputs: parts, wrt: Array(parts.indices), function: { Tensor.stack($0, dim: d) })
        },
        unary("narrow", "x.narrow(dim:start:length:)") { g in
            let s = g.shape(minRank: 1, maxRank: 3)
            let d = g.int(0..<s.count)
            let start = g.int(0..<s[d])
            let length = g.int(0..<(s[d] - start + 1))
            return (g.normal(s), { $0.narrow(dim: d, start: start, length: length) })
        },
        GradcheckCase(name: "index_select", op: "index_select", swift: "x.indexSelect(dim: d, index: i)") { g in
            let s = g.shape(minRank: 1, maxRank: 3)
            let d = g.int(0..<s.count)
            let idx = Tensor(indices: (0..<g.int(1..<6)).map { _ in g.int(0..<s[d]) })
            return GradcheckProblem(inputs: [g.normal(s), idx], wrt: [0], function: { $0[0].indexSelect(dim: d, index: $0[1]) })
        },
        GradcheckCase(name: "gather", op: "gather", swift: "x.gather(dim: d, index: i)") { g in
            let s = g.shape(minRank: 1, maxRank: 3)
            let d = g.int(0..<s.count)
            var iShape = s.map { g.int(1..<($0 + 1)) }
            iShape[d] = g.int(1..<5)
            let n = iShape.reduce(1, *)
            let idx = Tensor(indices: (0..<n).map { _ in g.int(0..<s[d]) }, shape: iShape)
            return GradcheckProblem(inputs: [g.normal(s), idx], wrt: [0], function: { $0[0].gather(dim: d, index: $0[1]) })
        },
    ]

    // MARK: - Reductions and softmax

    static let reductions: [GradcheckCase] = [
        unary("sum", "x.sum(dims:keepDim:)") { g in let (s, ds, k) = g.reduction(); return (g.normal(s), { $0.sum(dims: ds, keepDim: k) }) },
        unary("mean", "x.mean(dims:keepDim:)") { g in let (s, ds, k) = g.reduction(); return (g.normal(s), { $0.mean(dims: ds, keepDim: k) }) },
        unary("amax", "x.amax(dims:keepDim:)") { g in let (s, ds, k) = g.reduction(); return (g.distinct(s), { $0.amax(dims: ds, keepDim: k) }) },
        unary("max", variant: "dim", "x.max(dim:keepDim:).values") { g in
            let s = g.shape(minRank: 1, maxRank: 3)
            let d = g.int(0..<s.count), k = g.int(0..<2) == 0
            return (g.distinct(s), { $0.max(dim: d, keepDim: k).values })
        },
        unary("max", variant: "all", "x.max()") { g in (g.distinct(g.shape()), { $0.max() }) },
        unary("logsumexp", "x.logsumexp(dims:keepDim:)") { g in
            let (s, ds, k) = g.reduction(); return (g.normal(s), { $0.logsumexp(dims: ds, keepDim: k) })
        },
        unary("var", "x.variance(dims:correction:keepDim:)") { g in
            let (s, ds, k) = g.reduction()
            let n = ds.isEmpty ? s.reduce(1, *) : ds.reduce(1) { $0 * s[($1 + s.count) % s.count] }
            let correction: Double = n > 1 && g.int(0..<2) == 0 ? 1 : 0
            return (g.normal(s), { $0.variance(dims: ds, correction: correction, keepDim: k) })
        },
        unary("softmax", "x.softmax(dim:)") { g in
            let s = g.shape(minRank: 0, maxRank: 3); let d = s.isEmpty ? 0 : g.int(0..<s.count)
            return (g.normal(s), { $0.softmax(dim: d) })
        },
        unary("log_softmax", "x.logSoftmax(dim:)") { g in
            let s = g.shape(minRank: 0, maxRank: 3); let d = s.isEmpty ? 0 : g.int(0..<s.count)
            return (g.normal(s), { $0.logSoftmax(dim: d) })
        },
    ]

    // MARK: - Losses

    static let losses: [GradcheckCase] = [
        GradcheckCase(name: "nll_loss", op: "nll_loss", swift: "x.nllLoss(target:weight:ignoreIndex:reduction:)") { g in
            let (shape, t, c) = g.classProblem()
            let w = g.uniform([c], 0.5, 2)
            let r = Reduction.allCases[g.int(0..<3)]
            return GradcheckProblem(inputs: [g.normal(shape), t, w], wrt: [0],
                                    function: { $0[0].nllLoss(target: $0[1], weight: $0[2], ignoreIndex: 0, reduction: r) })
        },
        GradcheckCase(name: "cross_entropy.indices", op: "cross_entropy",
                      swift: "x.crossEntropy(target:weight:reduction:labelSmoothing:)") { g in
            let (shape, t, c) = g.classProblem()
            let w = g.uniform([c], 0.5, 2)
            let r = Reduction.allCases[g.int(0..<3)]
            let eps = [0, 0.1, 0.25][g.int(0..<3)]
            return GradcheckProblem(inputs: [g.normal(shape), t, w], wrt: [0],
                                    function: { $0[0].crossEntropy(target: $0[1], weight: $0[2], reduction: r, labelSmoothing: eps) })
        },
        GradcheckCase(name: "cross_entropy.probabilities", op: "cross_entropy", swift: "x.crossEntropy(target: probabilities)") { g in
            let (shape, _, _) = g.classProblem()
            let probs = g.uniform(shape, 0.1, 1)
            let r = Reduction.allCases[g.int(0..<3)]
            return GradcheckProblem(inputs: [g.normal(shape), probs], wrt: [0, 1],
                                    function: { $0[0].crossEntropy(target: $0[1], reduction: r) })
        },
        binary("mse_loss", "x.mseLoss(target:reduction:)") { g in
            let s = g.shape(); let r = Reduction.allCases[g.int(0..<3)]
            return ([g.normal(s), g.normal(s)], { $0[0].mseLoss(target: $0[1], reduction: r) })
        },
        binary("l1_loss", "x.l1Loss(target:reduction:)") { g in
            let s = g.shape(); let r = Reduction.allCases[g.int(0..<3)]
            let x = g.normal(s)
            return ([x, x + g.awayFromZero(s)], { $0[0].l1Loss(target: $0[1], reduction: r) })
        },
        GradcheckCase(name: "binary_cross_entropy", op: "binary_cross_entropy", swift: "x.binaryCrossEntropy(target:weight:reduction:)") { g in
            let s = g.shape(minRank: 1, maxRank: 3); let r = Reduction.allCases[g.int(0..<3)]
            let w = g.uniform([s.last!], 0.5, 2)
            return GradcheckProblem(inputs: [g.uniform(s, 0.1, 0.9), g.uniform(s, 0, 1), w], wrt: [0, 1],
                                    function: { $0[0].binaryCrossEntropy(target: $0[1], weight: $0[2], reduction: r) })
        },
        GradcheckCase(name: "binary_cross_entropy_with_logits", op: "binary_cross_entropy_with_logits",
                      swift: "x.binaryCrossEntropyWithLogits(target:weight:posWeight:reduction:)") { g in
            let s = g.shape(minRank: 1, maxRank: 3); let r = Reduction.allCases[g.int(0..<3)]
            let w = g.uniform(s, 0.5, 2), p = g.uniform([s.last!], 0.5, 3)
            return GradcheckProblem(inputs: [g.normal(s, std: 3), g.uniform(s, 0, 1), w, p], wrt: [0, 1],
                                    function: { $0[0].binaryCrossEntropyWithLogits(target: $0[1], weight: $0[2], posWeight: $0[3], reduction: r) })
        },
    ]

    // MARK: - Case builders

    static func unary(_ op: String, variant: String? = nil, _ swift: String,
                      _ make: @escaping (inout RandomGenerator) -> (Tensor, ([Tensor]) -> Tensor)) -> GradcheckCase {
        unaryCase(op, variant, swift) { g in
            let (x, f) = make(&g)
            return GradcheckProblem(inputs: [x], wrt: [0], function: f)
        }
    }

    /// A unary op given as a Tensor -> Tensor function.
    static func unary(_ op: String, variant: String? = nil, _ swift: String,
                      _ make: @escaping (inout RandomGenerator) -> (Tensor, (Tensor) -> Tensor)) -> GradcheckCase {
        unaryCase(op, variant, swift) { g in
            let (x, f) = make(&g)
            return GradcheckProblem(inputs: [x], wrt: [0], function: { f($0[0]) })
        }
    }

    static func unaryCase(_ op: String, _ variant: String?, _ swift: String,
                          _ make: @escaping (inout RandomGenerator) -> GradcheckProblem) -> GradcheckCase {
        GradcheckCase(name: variant.map { "\(op).\($0)" } ?? op, op: op, swift: swift, make: make)
    }

    static func binary(_ op: String, variant: String? = nil, _ swift: String,
                       _ make: @escaping (inout RandomGenerator) -> ([Tensor], ([Tensor]) -> Tensor)) -> GradcheckCase {
        GradcheckCase(name: variant.map { "\(op).\($0)" } ?? op, op: op, swift: swift) { g in
            let (xs, f) = make(&g)
            return GradcheckProblem(inputs: xs, wrt: Array(xs.indices), function: f)
        }
    }
}

// MARK: - Random inputs for gradcheck (float64, small)

extension RandomGenerator {
    /// An integer in `range`.
    mutating func int(_ range: Range<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }

    /// A random shape: rank in [minRank, maxRank], 0-d one time in eight (when allowed), rank 2 most
    /// often; sizes 1...4 (1 a quarter of the time).
    mutating func shape(minRank: Int = 0, maxRank: Int = 3) -> [Int] {
        let rank = Swift.min(Swift.max([0, 1, 1, 2, 2, 2, 3, 3][int(0..<8)], minRank), maxRank)
        return (0..<rank).map { _ in int(1..<5) }
    }

    /// Two shapes that broadcast together: dims dropped from the front and sizes set to 1 at random.
    mutating func broadcastPair() -> ([Int], [Int]) {
        let full = shape()
        func variant(_ g: inout RandomGenerator) -> [Int] {
            let drop = g.int(0..<(full.count + 1))
            return full.dropFirst(drop).map { g.int(0..<3) == 0 ? 1 : $0 }
        }
        let a = variant(&self), b = variant(&self)
        return int(0..<2) == 0 ? (full, b) : (a, b)
    }

    /// Shape, reduction dims (empty means all; negative dims and lists included) and keepDim.
    mutating func reduction() -> ([Int], [Int], Bool) {
        let s = shape()
        var dims: [Int] = []
        if !s.isEmpty && int(0..<3) != 0 {
            dims = Array(Set((0..<int(1..<(s.count + 1))).map { _ in int(0..<s.count) })).sorted()
            if int(0..<2) == 0 { dims = dims.map { $0 - s.count } }
        }
        return (s, dims, int(0..<2) == 0)
    }

    /// (N, C, d...) or (C) logits shape, int64 targets with some set to class 0 (the ignored index in
    /// the nll_loss case, never all), and C.
    mutating func classProblem() -> ([Int], Tensor, Int) {
        let c = int(2..<5)
        let layout = int(0..<3)
        let shape: [Int] = layout == 0 ? [c] : layout == 1 ? [int(1..<4), c] : [int(1..<3), c, int(1..<3)]
        let tShape: [Int] = layout == 0 ? [] : layout == 1 ? [shape[0]] : [shape[0], shape[2]]
        let n = tShape.reduce(1, *)
        var t = (0..<n).map { _ in int(0..<c) }
        t[int(0..<n)] = int(1..<c)   // at least one target is not ignored
        return (shape, Tensor(indices: t, shape: tShape), c)
    }

    mutating func normal(_ s: [Int], std: Double = 1) -> Tensor {
        Tensor((0..<s.reduce(1, *)).map { _ in nextNormal() * std }, shape: s, dtype: .float64)
    }

    mutating func uniform(_ s: [Int], _ low: Double, _ high: Double) -> Tensor {
        Tensor((0..<s.reduce(1, *)).map { _ in low + (high - low) * nextUniform() }, shape: s, dtype: .float64)
    }

    /// Values with |x| in [0.2, 2].
    mutating func awayFromZero(_ s: [Int]) -> Tensor {
        Tensor((0..<s.reduce(1, *)).map { _ in (next() & 1 == 0 ? 1.0 : -1.0) * (0.2 + 1.8 * nextUniform()) }, shape: s, dtype: .float64)
    }

    /// Values in [-2, 2] at least 0.1 from each of `points`.
    mutating func awayFrom(_ s: [Int], points: [Double]) -> Tensor {
        Tensor((0..<s.reduce(1, *)).map { _ in
            var v = -2 + 4 * nextUniform()
            while points.contains(where: { Swift.abs($0 - v) < 0.1 }) { v = -2 + 4 * nextUniform() }
            return v
        }, shape: s, dtype: .float64)
    }

    /// Values near whole numbers (odd: false) or near halves (odd: true), ±0.1, so that two such
    /// tensors are never within 0.3 of each other: no ties for maximum/minimum.
    mutating func halfGrid(_ s: [Int], odd: Bool) -> Tensor {
        Tensor((0..<s.reduce(1, *)).map { _ in
            Double(int(-3..<3)) + (odd ? 0.5 : 0) + 0.2 * (nextUniform() - 0.5)
        }, shape: s, dtype: .float64)
    }

    /// Distinct values at least 0.2 apart (a shuffled grid with small noise): no ties for max.
    mutating func distinct(_ s: [Int]) -> Tensor {
        let n = s.reduce(1, *)
        let p = permutation(n)
        return Tensor(p.map { Double($0) * 0.3 - 1 + 0.1 * (nextUniform() - 0.5) }, shape: s, dtype: .float64)
    }
}
