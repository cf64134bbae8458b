/// A backward rule as an op's description states it: PyTorch's name for the backward function and
/// the formula, the one text that the op's doc comment, the backward trace, `--explain` and the
/// graph pictures show. `G` is the incoming gradient.
///
/// Each rule is a `static let` declared with its op's `OpDescription`. Both texts are static
/// strings, so a graph node holds its rule with no reference counting and no allocation.
public struct BackwardRule: Sendable, Equatable, CustomStringConvertible {
    private let staticName: StaticString
    private let staticFormula: StaticString

    /// A rule named `name` (PyTorch's backward function) with the formula `formula`.
    public init(_ name: StaticString, _ formula: StaticString) {
        staticName = name
        staticFormula = formula
    }

    /// PyTorch's name of the backward function, e.g. `MmBackward0`.
    public var name: String { staticName.description }
    /// The rule in terms of the op's inputs and the incoming gradient `G`, e.g. `dA = G B^T, dB = A^T G`.
    public var formula: String { staticFormula.description }

    /// `name: formula`.
    public var description: String { formula.isEmpty ? name : "\(name): \(formula)" }

    /// Two rules are equal when their names and formulas are.
    public static func == (a: BackwardRule, b: BackwardRule) -> Bool { a.name == b.name && a.formula == b.formula }

    /// The "rule" of a leaf: its gradient accumulates into `.grad`.
    public static let accumulateGrad = BackwardRule("AccumulateGrad", "")
}
