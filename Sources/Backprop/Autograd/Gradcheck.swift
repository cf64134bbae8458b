import Foundation

/// What `gradcheck` found for one input of the function.
public struct GradcheckInputReport: Sendable {
    /// The input's position in the argument list.
    public let index: Int
    /// The input's shape.
    public let shape: [Int]
    /// Whether the input was checked (false for integer tensors and inputs left out of `wrt`).
    public let checked: Bool
    /// The largest |analytic - numeric| over the input's elements.
    public let maxAbsError: Double
    /// The largest |analytic - numeric| / max(|numeric|, 1e-12) over the elements.
    public let maxRelError: Double
    /// The multi-index of the element furthest outside the tolerance (or with the largest error when all pass).
    public let worstIndex: [Int]?
    /// The analytic derivative (from `backward`) at `worstIndex`.
    public let analytic: Double?
    /// The finite-difference derivative at `worstIndex`.
    public let numeric: Double?
    /// Whether every element satisfies |analytic - numeric| <= atol + rtol * |numeric|.
    public let passed: Bool
}

/// The result of `gradcheck`: one report per input, and the reason when it could not run.
public struct GradcheckReport: Sendable, CustomStringConvertible {
    /// One entry per input tensor, in argument order.
    public let inputs: [GradcheckInputReport]
    /// Set when the function or its backward pass failed (then `passed` is false).
    public let error: String?
    /// Whether every checked input passed.
    public var passed: Bool { error == nil && inputs.allSatisfy(\.passed) }
    /// The largest absolute error over all checked inputs.
    public var maxAbsError: Double { inputs.filter(\.checked).map(\.maxAbsError).max() ?? 0 }
    /// The largest relative error over all checked inputs.
    public var maxRelError: Double { inputs.filter(\.checked).map(\.maxRelError).max() ?? 0 }

    /// One line per checked input: its errors, and where the worst mismatch is.
    public var description: String {
        if let error { return "gradcheck failed: \(error)" }
        return inputs.filter(\.checked).map { r in
            var s = "input \(r.index) \(r.shape): \(r.passed ? "ok" : "MISMATCH"), max abs error \(r.maxAbsError), max rel error \(r.maxRelError)"
            if !r.passed, let w = r.worstIndex, let a = r.analytic, let n = r.numeric {
                s += " (at \(w): analytic \(a), numeric \(n))"
            }
            return s
        }.joined(separator: "\n")
    }
}

/// Checks the backward rules of `function` against central finite differences in Float64
/// (PyTorch's `torch.autograd.gradcheck`).
///
/// Float inputs are converted to float64. With a random cotangent v (seeded), the analytic
/// vector-Jacobian product vᵀJ from `backward` is compared, element by element, with
/// (f(x + eps e_j) - f(x - eps e_j)) · v / (2 eps); an element passes when
/// |analytic - numeric| <= atol + rtol |numeric|. Integer inputs (indices, targets) are passed
/// through unchanged and not checked.
///
/// ```swift
/// let report = gradcheck({ $0[0].pow($0[1]) }, inputs: [Tensor([1.5, 2]), Tensor([2, 0.5])])
/// report.passed      // true
/// ```
/// - Parameters:
///   - function: the computation; it must return a floating point tensor.
///   - inputs: its arguments.
///   - wrt: the positions of the inputs to check (default: every floating point input).
///   - eps: the finite-difference step.
///   - atol: the absolute tolerance (PyTorch's default 1e-5).
///   - rtol: the relative tolerance (PyTorch's default 1e-3).
///   - seed: the seed of the random cotangent.
public func gradcheck(_ function: ([Tensor]) -> Tensor, inputs: [Tensor], wrt: [Int]? = nil,
                      eps: Double = 1e-6, atol: Double = 1e-5, rtol: Double = 1e-3,
                      seed: UInt64 = 0) -> GradcheckReport {
    let xs = inputs.map { $0.dtype.isFloatingPoint ? $0.detached().to(.float64) : $0.detached() }
    let checkedSet = Set(wrt ?? xs.indices.filter { xs[$0].dtype.isFloatingPoint })
    for i in checkedSet {
        precondition(i >= 0 && i < xs.count && xs[i].dtype.isFloatingPoint,
                     "gradcheck: wrt index \(i) is not a floating point input (\(xs.count) inputs)")
    }
    let order = checkedSet.sorted()

    // Analytic: one backward pass with a random cotangent.
    let leaves = xs.enumerated().map { checkedSet.contains($0.offset) ? $0.element.requiringGrad() : $0.element }
    let out = withGrad { function(leaves) }
    guard out.dtype.isFloatingPoint else { return GradcheckReport(inputs: [], error: "the function returned a \(out.dtype) tensor") }
    var gen = RandomGenerator(seed: seed)
    let cot = Tensor.randn(out.shape, dtype: .float64, using: &gen)
    let cotValues = cot.scalars
    var analytic: [Int: [Double]] = [:]
    if out.requiresGrad {
        do {
            let gs = try gradients(of: out, wrt: order.map { leaves[$0] }, gradient: cot)
            for (k, i) in order.enumerated() { analytic[i] = gs[k]?.scalars ?? [Double](repeating: 0, count: xs[i].count) }
        } catch {
            return GradcheckReport(inputs: [], error: "backward: \(error)")
        }
    } else {
        for i in order { analytic[i] = [Double](repeating: 0, count: xs[i].count) }
    }

    // Numeric: central differences of f(x) · v, one element at a time.
    func objective(_ args: [Tensor]) -> Double {
        let y = withNoGrad { function(args) }
        precondition(y.shape == out.shape, "gradcheck: the function's output shape changed from \(out.shape) to \(y.shape)")
        let v = y.scalars
        var s = 0.0
        for k in v.indices { s += v[k] * cotValues[k] }
        return s
    }
    var reports: [GradcheckInputReport] = []
    for (i, x) in xs.enumerated() {
        guard let a = analytic[i] else {
            reports.append(GradcheckInputReport(index: i, shape: x.shape, checked: false, maxAbsError: 0, maxRelError: 0,
                                                worstIndex: nil, analytic: nil, numeric: nil, passed: true))
            continue
        }
        var values = x.scalars
        var args = xs
        var maxAbs = 0.0, maxRel = 0.0, worst: Int? = nil, worstExcess = -Double.infinity
        var numericAtWorst = 0.0, passed = true
        for j in values.indices {
            let v0 = values[j]
            values[j] = v0 + eps
            args[i] = Tensor(values, shape: x.shape, dtype: .float64)
            let fp = objective(args)
            values[j] = v0 - eps
            args[i] = Tensor(values, shape: x.shape, dtype: .float64)
            let fm = objective(args)
            values[j] = v0
            let numeric = (fp - fm) / (2 * eps)
            let err = Swift.abs(a[j] - numeric)
            let tol = atol + rtol * Swift.abs(numeric)
            if !(err <= tol) { passed = false }
            maxAbs = Swift.max(maxAbs, err.isNaN ? .infinity : err)
            maxRel = Swift.max(maxRel, err.isNaN ? .infinity : err / Swift.max(Swift.abs(numeric), 1e-12))
            let excess = err.isNaN ? Double.infinity : err - tol
            if excess > worstExcess { worstExcess = excess; worst = j; numericAtWorst = numeric }
        }
        let worstIndex = worst.map { Tensor.multiIndex($0, shape: x.shape) }
        reports.append(GradcheckInputReport(index: i, shape: x.shape, checked: true, maxAbsError: maxAbs, maxRelError: maxRel,
                                            worstIndex: worstIndex, analytic: worst.map { a[$0] },
                                            numeric: worst.map { _ in numericAtWorst }, passed: passed))
    }
    return GradcheckReport(inputs: reports, error: nil)
}

extension Tensor {
    /// The multi-index of flat offset `offset` in a row-major `shape`.
    static func multiIndex(_ offset: Int, shape: [Int]) -> [Int] {
        var rest = offset
        var index = [Int](repeating: 0, count: shape.count)
        for d in stride(from: shape.count - 1, through: 0, by: -1) where shape[d] > 0 {
            index[d] = rest % shape[d]
            rest /= shape[d]
        }
        return index
    }
}
