// The random inputs that op descriptions draw for gradcheck: small float64 tensors, shapes with
// broadcasting, size-1 dims and 0-d tensors, values kept away from each op's kinks and ties.

/// One gradcheck problem: the inputs, which of them to check, and the function.
public struct GradcheckProblem {
    /// The arguments (float64 values; integer tensors for indices and class targets).
    public let inputs: [Tensor]
    /// The positions of the inputs to check (constants such as class weights are left out).
    public let wrt: [Int]
    /// The op under test.
    public let function: ([Tensor]) -> Tensor

    /// A problem: `function` of `inputs`, checked with respect to the inputs at `wrt`.
    public init(inputs: [Tensor], wrt: [Int], function: @escaping ([Tensor]) -> Tensor) {
        self.inputs = inputs; self.wrt = wrt; self.function = function
    }
}

/// A differentiable op with a generator of random gradcheck problems for it: random shapes
/// (broadcasting, size-1 dims and 0-d tensors where the op allows them) and values kept at
/// least 0.1 away from the op's kinks and ties. Made from the op's description.
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

/// How an op's description draws gradcheck problems: a variant name (`tensor` in `pow.tensor`),
/// the Swift spelling checked, and the generator.
public struct GradcheckInputs: @unchecked Sendable {
    /// The variant, shown after the op's name and a dot; nil for the op's only case.
    public let variant: String?
    /// How the call is spelled in Backprop (`x.pow(y)`).
    public let swift: String
    /// Draws one problem.
    public let make: (inout RandomGenerator) -> GradcheckProblem

    /// Inputs from a generator of whole problems (several inputs, constants left out of `wrt`).
    public static func problem(_ variant: String?, _ swift: String,
                               _ make: @escaping (inout RandomGenerator) -> GradcheckProblem) -> GradcheckInputs {
        GradcheckInputs(variant: variant, swift: swift, make: make)
    }
    /// `problem` for an op's only case.
    public static func problem(_ swift: String, _ make: @escaping (inout RandomGenerator) -> GradcheckProblem) -> GradcheckInputs {
        problem(nil, swift, make)
    }
    /// `unary` for an op's only case.
    static func unary(_ swift: String, _ make: @escaping (inout RandomGenerator) -> (Tensor, (Tensor) -> Tensor)) -> GradcheckInputs {
        unary(nil, swift, make)
    }
    /// `all` for an op's only case.
    static func all(_ swift: String, _ make: @escaping (inout RandomGenerator) -> ([Tensor], ([Tensor]) -> Tensor)) -> GradcheckInputs {
        all(nil, swift, make)
    }

    /// One input, checked, and the function of it.
    static func unary(_ variant: String?, _ swift: String,
                      _ make: @escaping (inout RandomGenerator) -> (Tensor, (Tensor) -> Tensor)) -> GradcheckInputs {
        GradcheckInputs(variant: variant, swift: swift) { g in
            let (x, f) = make(&g)
            return GradcheckProblem(inputs: [x], wrt: [0], function: { f($0[0]) })
        }
    }

    /// Several inputs, all checked.
    static func all(_ variant: String?, _ swift: String,
                    _ make: @escaping (inout RandomGenerator) -> ([Tensor], ([Tensor]) -> Tensor)) -> GradcheckInputs {
        GradcheckInputs(variant: variant, swift: swift) { g in
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
