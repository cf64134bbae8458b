// One description per op, in the spirit of PyTorch's OpInfo and derivatives.yaml: the PyTorch
// name, the family, how it is spelled on both sides, its backward rules (name and formula), how
// `backprop verify` replays it and how gradcheck draws its inputs. Each description sits next to
// its op's forward and rule, in the op's family file; the verify registry, the families, the
// gradcheck suite and the README's op table are derived from `OpDescription.all`.

/// The family an op belongs to, for summaries and the op table.
public enum OpFamily: String, CaseIterable, Sendable {
    /// Elementwise arithmetic and functions, with broadcasting.
    case elementwise
    /// Matrix products.
    case linearAlgebra = "linear algebra"
    /// Views and copies that move values: reshape, transpose, expand.
    case shape
    /// Selecting and joining by position: cat, gather, one_hot.
    case indexing
    /// Sums, means, maxima and variances over dims.
    case reduction
    /// softmax and log_softmax.
    case softmax
    /// Loss functions.
    case loss
}

/// Everything Backprop knows about one op besides its forward and its backward function.
///
/// Adding an op means three things in its family file: the forward (a `Tensor` method), its
/// backward rule (recorded with `recorded(_:...)` and one of the description's `rules`), and a
/// `static let` description listed in the file's family list. Verify, gradcheck, the docs and the
/// README's table then know it. (`OpDescriptionTests` fails when a part is missing.)
public struct OpDescription: @unchecked Sendable {
    /// Replays the op on the arguments of a reference case; throws when they are malformed or
    /// the op would reject them.
    public typealias Replay = (OpCall) throws -> [Tensor]

    /// PyTorch's name (`add`, `log_softmax`), as reference files name it.
    public let name: String
    /// The family, for summaries.
    public let family: OpFamily
    /// How PyTorch users write it (`torch.add(a, b, alpha=2)`).
    public let pytorch: String
    /// How it is written in Backprop (`a.add(b, alpha: 2)`).
    public let swift: String
    /// A remark for the op table (tie rules, defaults), or nil.
    public let note: String?
    /// The backward rules the op records (empty when it has no gradient: argmax, one_hot).
    public let rules: [BackwardRule]
    /// How `backprop verify` calls it.
    public let replay: Replay
    /// How gradcheck draws its inputs, one entry per variant (empty when it has no gradient).
    public let gradcheck: [GradcheckInputs]
    /// The source file that declares it (for the test that holds doc comments to the formulas).
    public let sourceFile: String

    /// Whether the op has a gradient.
    public var isDifferentiable: Bool { !rules.isEmpty }

    init(_ name: String, _ family: OpFamily, pytorch: String, swift: String, note: String? = nil,
         rules: [BackwardRule], replay: @escaping Replay, gradcheck: [GradcheckInputs], file: String = #filePath) {
        self.name = name; self.family = family; self.pytorch = pytorch; self.swift = swift; self.note = note
        self.rules = rules; self.replay = replay; self.gradcheck = gradcheck; self.sourceFile = file
    }

    /// The gradcheck cases of this op, named `op` or `op.variant`.
    public var gradcheckCases: [GradcheckCase] {
        gradcheck.map { GradcheckCase(name: $0.variant.map { "\(name).\($0)" } ?? name, op: name, swift: $0.swift, make: $0.make) }
    }

    /// Every op, family by family (each family file lists its own).
    public static let all: [OpDescription] =
        arithmeticOps + unaryOps + activationOps + powerOps + comparisonOps + linearAlgebraOps + shapeOps + indexingOps
        + reductionOps + statisticsOps + softmaxOps + lossOps + elementwiseLossOps + sequenceOps + logicalOps + subscriptOps

    /// The op named `name` (PyTorch's name), or nil.
    public static func named(_ name: String) -> OpDescription? { byName[name] }
    private static let byName: [String: OpDescription] = Dictionary(all.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })

    /// The op table of the README and the docs, in Markdown: one row per op.
    public static var markdownTable: String {
        var lines = ["| PyTorch | Backprop | family | backward |", "|---|---|---|---|"]
        for d in all {
            let rules = d.rules.isEmpty ? "no gradient"
                : d.rules.map { "`\($0.formula)`" }.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
                    .joined(separator: "; ")
            let swift = codeSpans(d.swift) + (d.note.map { " (\($0))" } ?? "")
            lines.append("| \(codeSpans(d.pytorch)) | \(swift) | \(d.family.rawValue) | \(rules) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `a + b, torch.add(a, b)` as two code spans: split at the commas outside brackets.
    static func codeSpans(_ spellings: String) -> String {
        var parts: [String] = [], current = "", depth = 0
        for ch in spellings {
            if "([".contains(ch) { depth += 1 } else if ")]".contains(ch) { depth -= 1 }
            if ch == "," && depth == 0 { parts.append(current); current = ""; continue }
            current.append(ch)
        }
        parts.append(current)
        return parts.map { "`\($0.trimmingCharacters(in: .whitespaces))`" }.joined(separator: ", ")
    }
}
