import Foundation

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
    ///
    /// With `order` 2, the second derivatives: each problem goes through `gradgradcheck` instead.
    public static func run(_ c: GradcheckCase, seed: UInt64 = 0, trials: Int = 3, order: Int = 1) -> GradcheckCaseResult {
        precondition(order == 1 || order == 2, "GradcheckSuite.run: order must be 1 or 2, got \(order)")
        var gen = RandomGenerator(seed: seed ^ UInt64(truncatingIfNeeded: c.name.utf8.reduce(5381) { ($0 &* 33) &+ Int($1) }))
        var inputs = 0, elements = 0, maxAbs = 0.0, maxRel = 0.0
        var failure: String?
        for t in 0..<trials {
            let p = c.make(&gen)
            let report = order == 1 ? gradcheck(p.function, inputs: p.inputs, wrt: p.wrt, seed: gen.next())
                                    : gradgradcheck(p.function, inputs: p.inputs, wrt: p.wrt, seed: gen.next())
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

    /// The cases, one or more per differentiable op, from the op descriptions.
    public static let cases: [GradcheckCase] = OpDescription.all.flatMap(\.gradcheckCases)
}
