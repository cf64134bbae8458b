import Foundation

/// The ops that reference files can name (PyTorch names), each replayed through Backprop's API:
/// derived from the op descriptions (`OpDescription.all`).
///
/// An op returns its output(s): one tensor, or `[values, indices]` for `max` with a dim.
public enum OpRegistry {
    /// The PyTorch op names that can be replayed.
    public static var names: [String] { OpDescription.all.map(\.name).sorted() }

    /// Whether `name` can be replayed.
    public static func contains(_ name: String) -> Bool { OpDescription.named(name) != nil }

    /// Runs op `name` on `args`; throws for an unknown op or malformed arguments.
    public static func call(_ name: String, _ args: [OpValue], _ kwargs: OpKwargs) throws -> [Tensor] {
        guard let d = OpDescription.named(name) else { throw OpArgumentError("\(kwargs.context): unknown op \(name)") }
        return try d.replay(OpCall(args: args, kwargs: kwargs))
    }

    /// The family an op belongs to, for summaries: its description's family; `program` for
    /// multi-op cases and `unknown` for ops Backprop lacks.
    public static func family(of op: String) -> String {
        if op == "program" { return "program" }
        return OpDescription.named(op)?.family.rawValue ?? "unknown"
    }
}
