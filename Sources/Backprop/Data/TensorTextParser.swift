import Foundation

/// A problem with text that was meant to be a tensor: what is wrong, in one sentence.
public struct TensorParseError: Error, CustomStringConvertible {
    /// What is wrong, in one sentence.
    public let message: String
    /// The message.
    public var description: String { message }
}

/// Parses nested-list text such as `[[1, 2], [2, 1]]` (JSON numbers, also `1e-3`, `-2.`).
public enum TensorTextParser {
    /// The deepest nesting accepted: the parser recurses once per level, and text from outside
    /// must not be able to exhaust the stack.
    public static let maxDepth = 32

    /// The shape and row-major values of the text; throws for malformed, ragged or non-finite input.
    public static func parse(_ text: String) throws -> (shape: [Int], values: [Double]) {
        var chars = Array(text.utf8)
        chars.append(0)
        var i = 0
        func skip() { while chars[i] == 32 || chars[i] == 9 || chars[i] == 10 || chars[i] == 13 { i += 1 } }
        func fail(_ m: String) -> TensorParseError { TensorParseError(message: m) }
        enum Node { case num(Double), list([Node]) }
        func value(depth: Int) throws -> Node {
            skip()
            if chars[i] == UInt8(ascii: "[") {
                guard depth < maxDepth else { throw fail("lists nested deeper than \(maxDepth) levels at character \(i + 1)") }
                i += 1; skip()
                var items: [Node] = []
                if chars[i] == UInt8(ascii: "]") { i += 1; return .list(items) }
                while true {
                    items.append(try value(depth: depth + 1))
                    skip()
                    if chars[i] == UInt8(ascii: ",") { i += 1; continue }
                    if chars[i] == UInt8(ascii: "]") { i += 1; return .list(items) }
                    throw fail(chars[i] == 0 ? "missing ']'" : "expected ',' or ']' at character \(i + 1)")
                }
            }
            let start = i
            while chars[i] != 0, let c = Optional(chars[i]),
                  (c >= 48 && c <= 57) || c == 43 || c == 45 || c == 46 || c == 101 || c == 69
                    || (c >= 65 && c <= 122 && c != 93) { i += 1 }
            let token = String(decoding: chars[start..<i], as: UTF8.self)
            if token.isEmpty { throw fail(chars[i] == 0 ? "unexpected end of input" : "unexpected '\(Character(UnicodeScalar(chars[i])))' at character \(i + 1)") }
            guard let v = Double(token) else { throw fail("'\(token)' is not a number") }
            guard v.isFinite else { throw fail("'\(token)' is not a finite number") }
            return .num(v)
        }
        let root = try value(depth: 0)
        skip()
        if chars[i] != 0 { throw fail("unexpected text after the value at character \(i + 1)") }
        func shapeOf(_ n: Node) -> [Int] {
            if case .list(let items) = n { return [items.count] + (items.first.map(shapeOf) ?? []) }
            return []
        }
        let shape = shapeOf(root)
        var values: [Double] = []
        func walk(_ n: Node, _ depth: Int) throws {
            switch n {
            case .num(let v):
                guard depth == shape.count else { throw fail("ragged nesting: expected shape \(shape)") }
                values.append(v)
            case .list(let items):
                guard depth < shape.count, items.count == shape[depth] else { throw fail("ragged nesting: rows of different lengths (expected shape \(shape))") }
                for item in items { try walk(item, depth + 1) }
            }
        }
        try walk(root, 0)
        return (shape, values)
    }
}
