/// A backward rule as an op's description states it: PyTorch's name for the backward function and
/// the formula, the one text that the op's doc comment, the backward trace, `--explain` and the
/// graph pictures show. `G` is the incoming gradient.
///
/// Each rule is a `static let` (declared with its op's `OpDescription`), alive for the whole
/// process: graph nodes point to it without reference counting.
public final class BackwardRule: Sendable, CustomStringConvertible {
    /// PyTorch's name of the backward function, e.g. `MmBackward0`.
    public let name: String
    /// The rule in terms of the op's inputs and the incoming gradient `G`, e.g. `dA = G B^T, dB = A^T G`.
    public let formula: String

    /// A rule named `name` (PyTorch's backward function) with the formula `formula`.
    public init(_ name: String, _ formula: String) {
        self.name = name
        self.formula = formula
    }

    /// `name: formula`.
    public var description: String { formula.isEmpty ? name : "\(name): \(formula)" }

    /// The "rule" of a leaf: its gradient accumulates into `.grad`.
    public static let accumulateGrad = BackwardRule("AccumulateGrad", "")
}
