import Foundation

/// Presentation MathML, which Chromium, Firefox and Safari render with no script library: a few
/// builders, tensors as matrices, and the op descriptions' formula text (`dA = G B^T, dB = A^T G`)
/// turned into mathematics (∂ℓ/∂A = G Bᵀ) with `formula(_:bindings:)`.
///
/// ```swift
/// MathML.math(MathML.formula("dA = G B^T, dB = A^T G"))   // <math display="block">...</math>
/// ```
public enum MathML {
    /// Escapes text for XML.
    static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// A `<math>` element; `display: true` for a block of its own.
    public static func math(_ body: String, display: Bool = true) -> String {
        "<math xmlns=\"http://www.w3.org/1998/Math/MathML\"\(display ? " display=\"block\"" : "")>\(body)</math>"
    }

    /// An identifier (italic when one letter, upright otherwise, as MathML does).
    public static func mi(_ s: String) -> String { "<mi>\(esc(s))</mi>" }
    /// An upright identifier (a function name, a word).
    public static func name(_ s: String) -> String { "<mi mathvariant=\"normal\">\(esc(s))</mi>" }
    /// An operator.
    public static func mo(_ s: String) -> String { "<mo>\(esc(s))</mo>" }
    /// A number.
    public static func mn(_ s: String) -> String { "<mn>\(esc(s))</mn>" }
    /// A number, formatted as `ExplainFormat.number`; negative numbers with a true minus sign.
    public static func number(_ v: Double) -> String {
        let s = ExplainFormat.number(v)
        return s.hasPrefix("-") ? row(mo("\u{2212}") + mn(String(s.dropFirst()))) : mn(s)
    }
    /// Text in the middle of mathematics.
    public static func text(_ s: String) -> String { "<mtext>\(esc(s))</mtext>" }
    /// A group.
    public static func row(_ parts: String...) -> String { "<mrow>" + parts.joined() + "</mrow>" }
    /// A group of a list.
    public static func row(_ parts: [String]) -> String { "<mrow>" + parts.joined() + "</mrow>" }
    /// a over b.
    public static func frac(_ a: String, _ b: String) -> String { "<mfrac>\(a)\(b)</mfrac>" }
    /// base with a subscript.
    public static func sub(_ base: String, _ s: String) -> String { "<msub>\(base)\(s)</msub>" }
    /// base with a superscript.
    public static func sup(_ base: String, _ s: String) -> String { "<msup>\(base)\(s)</msup>" }
    /// base with something written under it (a sum's index).
    public static func under(_ base: String, _ s: String) -> String { "<munder>\(base)\(s)</munder>" }
    /// A square root.
    public static func sqrt(_ s: String) -> String { "<msqrt>\(s)</msqrt>" }
    /// Space between parts of a formula.
    public static let space = "<mspace width=\"1em\"/>"
    /// Parentheses around `s`.
    public static func parens(_ s: String, _ open: String = "(", _ close: String = ")") -> String { row(mo(open) + s + mo(close)) }
    /// ∂ℓ/∂`of`: the gradient of the loss with respect to `of`.
    public static func grad(_ of: String) -> String { frac(row(mo("\u{2202}") + mi("\u{2113}")), row(mo("\u{2202}") + of)) }
    /// The transpose of `s`.
    public static func transpose(_ s: String) -> String { sup(s, mi("T")) }
    /// Σ over `index` of `body`.
    public static func sum(_ index: String, _ body: String) -> String { row(under(mo("\u{2211}"), index) + body) }

    /// A tensor's values: a number, a row, or a matrix in brackets (rank 1 and 2), with
    /// `ExplainFormat.number`'s digits; nil for higher ranks.
    public static func tensor(_ t: Tensor) -> String? {
        let v = t.scalars
        switch t.rank {
        case 0: return number(v.first ?? 0)
        case 1, 2:
            let (rows, cols) = t.rank == 1 ? (1, t.shape[0]) : (t.shape[0], t.shape[1])
            // The brackets are borders: a stretched [ needs a font with a MATH table, which many
            // systems lack (DejaVu, Liberation), and a small [ beside a tall matrix misleads.
            var table = "<mtable style=\"border-left: 1.5px solid; border-right: 1.5px solid; border-radius: 4px; padding: 0.1em 0.25em\">"
            for r in 0..<rows {
                table += "<mtr>" + (0..<cols).map { "<mtd style=\"padding: 0.15em 0.4em; text-align: right\">\(number(v[r * cols + $0]))</mtd>" }.joined() + "</mtr>"
            }
            table += "</mtable>"
            return row(table)
        default: return nil
        }
    }

    // MARK: - Formula text to MathML

    /// Names written as symbols.
    static let greek: [String: String] = [
        "alpha": "\u{03B1}", "beta": "\u{03B2}", "delta": "\u{03B4}", "Phi": "\u{03A6}", "phi": "\u{03C6}",
        "sigma": "\u{03C3}", "eps": "\u{03B5}",
    ]
    /// English words of the formulas' notes (set as text, not as products of letters).
    static let words: Set<String> = [
        "when", "in", "the", "input's", "dtype", "summed", "over", "expanded", "broadcast", "to", "at", "of",
        "maximum", "elsewhere", "where", "per", "batch", "divided", "by", "for", "no", "weights", "placed", "along",
        "slice", "that", "filled", "rounded", "quotient", "is", "and", "else", "otherwise", "each", "row", "rows",
        "scatter_add", "zeros", "if",
    ]
    /// Names that are words only next to other words ("along dim", "(mean)", "a rounded quotient").
    static let ambiguous: Set<String> = ["a", "index", "mean", "dim", "max", "min", "dims"]

    enum Token: Equatable {
        case ident(String), number(String), op(String), space
    }

    static func tokenize(_ s: String) -> [Token] {
        var out: [Token] = []
        let chars = Array(s)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == " " { if out.last != .space { out.append(.space) }; i += 1; continue }
            if c.isLetter || c == "_" || c == "@" {
                var j = i + 1
                while j < chars.count, chars[j].isLetter || chars[j].isNumber || chars[j] == "_" || chars[j] == "'"
                        || (chars[j] == "." && j + 1 < chars.count && chars[j + 1].isLetter) { j += 1 }
                out.append(.ident(String(chars[i..<j]))); i = j; continue
            }
            if c.isNumber {
                var j = i + 1
                while j < chars.count, chars[j].isNumber || chars[j] == "." || (chars[j] == "e" && j + 1 < chars.count && (chars[j + 1].isNumber || chars[j + 1] == "-")) {
                    if chars[j] == "e" { j += 1 }
                    j += 1
                }
                out.append(.number(String(chars[i..<j]))); i = j; continue
            }
            let two = i + 1 < chars.count ? String(chars[i...(i + 1)]) : ""
            if ["==", "+=", "<=", ">="].contains(two) { out.append(.op(two)); i += 2; continue }
            if c == "." && i + 2 < chars.count && chars[i + 1] == "." && chars[i + 2] == "." { out.append(.op("...")); i += 3; continue }
            out.append(.op(String(c))); i += 1
        }
        return out
    }

    /// A parsed piece of a formula: a token, a parenthesized group, or a call `f(args)`.
    indirect enum Node {
        case token(Token)
        case group([Node])
        case call(String, [Node])
        case text(String)
    }

    static func parse(_ tokens: [Token]) -> [Node] {
        var i = 0
        func items(nested: Bool) -> [Node] {
            var out: [Node] = []
            while i < tokens.count {
                let t = tokens[i]
                if t == .op(")") {
                    if nested { i += 1; return out }
                    out.append(.token(t)); i += 1; continue
                }
                if t == .op("(") {
                    i += 1
                    let inner = items(nested: true)
                    if case .ident(let f)? = out.last.flatMap({ n -> Token? in if case .token(let t) = n { return t }; return nil }),
                       !words.contains(f) {
                        out.removeLast()
                        out.append(.call(f, inner))
                    } else {
                        out.append(.group(inner))
                    }
                    continue
                }
                out.append(.token(t)); i += 1
            }
            return out
        }
        return markText(items(nested: false))
    }

    /// Turns runs of English words (and the ambiguous names next to them) into text.
    static func markText(_ nodes: [Node]) -> [Node] {
        func word(_ n: Node) -> String? { if case .token(.ident(let s)) = n { return s }; return nil }
        var isWord = nodes.map { n -> Bool in word(n).map { words.contains($0) } ?? false }
        // Ambiguous names next to words are words (skipping spaces), until nothing changes.
        var changed = true
        while changed {
            changed = false
            for (k, n) in nodes.enumerated() where !isWord[k] {
                guard let w = word(n), ambiguous.contains(w) else { continue }
                var p = k - 1; while p >= 0, case .token(.space) = nodes[p] { p -= 1 }
                var q = k + 1; while q < nodes.count, case .token(.space) = nodes[q] { q += 1 }
                let next = q < nodes.count ? nodes[q] : nil
                if case .token(.op("["))? = next { continue }
                if (p >= 0 && isWord[p]) || (q < nodes.count && isWord[q]) || nodes.count == 1 { isWord[k] = true; changed = true }
            }
        }
        var out: [Node] = []
        var k = 0
        while k < nodes.count {
            if isWord[k] {
                var text = word(nodes[k])!
                var j = k + 1
                while true {
                    var q = j; while q < nodes.count, case .token(.space) = nodes[q] { q += 1 }
                    guard q < nodes.count, isWord[q] else { break }
                    text += " " + word(nodes[q])!
                    j = q + 1
                }
                out.append(.text(text))
                k = j
                continue
            }
            switch nodes[k] {
            case .group(let inner): out.append(.group(markText(inner)))
            case .call(let f, let inner): out.append(.call(f, markText(inner)))
            default: out.append(nodes[k])
            }
            k += 1
        }
        return out
    }

    /// The source text of nodes, spaces normalized (to look up bindings such as `softmax(x)`).
    static func source(_ nodes: [Node]) -> String {
        var s = ""
        for n in nodes {
            switch n {
            case .token(.ident(let x)), .token(.number(let x)), .token(.op(let x)): s += x
            case .token(.space): s += " "
            case .group(let inner): s += "(" + source(inner) + ")"
            case .call(let f, let inner): s += f + "(" + source(inner) + ")"
            case .text(let t): s += t
            }
        }
        return s.trimmingCharacters(in: .whitespaces)
    }

    /// An identifier as MathML: `t_i` as t with subscript i, `delta_jk` as δ with jk, Greek names
    /// as letters, `x.shape` upright, `dX` on the left of `=` as ∂ℓ/∂X.
    static func identifier(_ s: String, isGradient: Bool = false) -> String {
        if isGradient, s.count >= 2, s.first == "d" {
            return grad(identifier(String(s.dropFirst())))
        }
        if let g = greek[s] { return mi(g) }
        if s.contains(".") { return name(s) }
        if s == "onehot" { return name("onehot") }
        if let u = s.lastIndex(of: "_"), u != s.startIndex {
            let base = String(s[..<u]), index = String(s[s.index(after: u)...])
            if !index.isEmpty && index.count <= 3 && !s.hasPrefix("scatter") {
                let sb = index.count == 1 ? mi(index) : row(index.map { mi(String($0)) })
                return sub(identifier(base), sb)
            }
        }
        if s == "sum" { return mo("\u{2211}") }
        // Names of more than one letter (functions, words like threshold) are upright.
        if s.count > 1 && !s.allSatisfy({ $0.isUppercase }) { return name(s) }
        return mi(s)
    }

    /// Renders the formula text of an op's backward rule (or any formula in that notation) as
    /// MathML: parts separated by commas, `^` as superscripts, `/` between simple operands as
    /// fractions, `*` as a centred dot, `sum(G, dim)` as Σ, comparisons in parentheses as the
    /// indicator 𝟙[...], English notes as text.
    ///
    /// `bindings` replaces names (`G`, `B`) or calls (`softmax(x)`, `sum(G, dim)`) by their values:
    /// that is how the page shows the rule with the numbers. Names on the left of `=` stay names,
    /// but for placeholders, bindings whose name starts with `@` (any MathML, anywhere).
    public static func formula(_ text: String, bindings: [String: String] = [:]) -> String {
        let nodes = parse(tokenize(text))
        return render(nodes, bindings: bindings, top: true)
    }

    /// Whether nodes hold a comparison at their top level (an indicator such as (x > 0)).
    static func isComparison(_ nodes: [Node]) -> Bool {
        nodes.contains { if case .token(.op(let o)) = $0 { return ["<", ">", "==", "<=", ">="].contains(o) }; return false }
            && !nodes.contains { if case .text = $0 { return true }; return false }
    }

    /// The top level: parts separated by "," or ";", each `lhs = rhs` or a bare expression.
    static func render(_ nodes: [Node], bindings: [String: String], top: Bool) -> String {
        let out = renderParts(nodes, bindings: bindings)
        return row(out.enumerated().map { $0.offset == 0 ? $0.element : row(mo(",")) + space + $0.element })
    }

    static func renderParts(_ nodes: [Node], bindings: [String: String]) -> [String] {
        var parts: [([Node], String?)] = [([], nil)]
        var brackets = 0
        for n in nodes {
            if case .token(.op("[")) = n { brackets += 1 }
            if case .token(.op("]")) = n { brackets = max(0, brackets - 1) }
            if case .token(.op(let o)) = n, o == "," || o == ";", brackets == 0 { parts[parts.count - 1].1 = o; parts.append(([], nil)) } else {
                parts[parts.count - 1].0.append(n)
            }
        }
        // A note in parentheses that is a formula of its own, "(no weights: dx = ...)", gets a line of its own.
        parts = parts.flatMap { part -> [([Node], String?)] in
            let (p, sep) = part
            guard let g = p.indices.dropFirst().first(where: { i in
                if case .group(let inner) = p[i] {
                    return inner.contains { if case .token(.op("=")) = $0 { return true }; return false }
                }
                return false
            }) else { return [part] }
            return [(Array(p[..<g]), nil), (Array(p[g...]), sep)]
        }
        func eqIndex(_ p: [Node]) -> Int? {
            p.firstIndex { if case .token(.op(let o)) = $0 { return o == "=" || o == "+=" }; return false }
        }
        var gradients: Set<String> = []
        for (p, _) in parts {
            if let e = eqIndex(p), let first = p[..<e].first(where: { if case .token(.ident) = $0 { return true }; return false }),
               case .token(.ident(let s)) = first, s.count >= 2, s.first == "d" { gradients.insert(s) }
        }
        var out: [String] = []
        for (p, _) in parts where !p.isEmpty {
            var s: String
            if let e = eqIndex(p) {
                guard case .token(.op(let o)) = p[e] else { continue }
                s = sequence(Array(p[..<e]), bindings: bindings, lhs: true, gradients: gradients) + mo(o)
                    + sequence(Array(p[(e + 1)...]), bindings: bindings, lhs: false, gradients: gradients)
            } else {
                s = sequence(p, bindings: bindings, lhs: false, gradients: gradients)
            }
            out.append(row(s))
        }
        return out
    }

    /// The formula with one part per line, left-aligned: the form a rule takes on the page.
    public static func formulaLines(_ text: String, bindings: [String: String] = [:]) -> String {
        let parts = renderParts(parse(tokenize(text)), bindings: bindings)
        guard parts.count > 1 else { return parts.first ?? "" }
        // MathML Core has no columnalign: the cells are aligned with CSS.
        return "<mtable displaystyle=\"true\">" + parts.map { "<mtr><mtd style=\"text-align: left; padding: 0.25em 0\">\($0)</mtd></mtr>" }.joined() + "</mtable>"
    }

    /// Rows aligned on their `=`: `lhs = a`, `= b`, `= c` (a derivation with the numbers).
    public static func aligned(_ lhs: String, _ steps: [String]) -> String {
        var t = "<mtable displaystyle=\"true\">"
        let pad = "padding: 0.3em 0.15em"
        for (k, step) in steps.enumerated() {
            t += "<mtr><mtd style=\"text-align: right; \(pad)\">\(k == 0 ? lhs : "")</mtd><mtd style=\"\(pad)\">\(mo("="))</mtd>"
                + "<mtd style=\"text-align: left; \(pad)\">\(step)</mtd></mtr>"
        }
        return t + "</mtable>"
    }

    /// A sequence of nodes: `^` as superscripts, `/` between simple operands as fractions, `[...]`
    /// after a name as its subscript.
    static func sequence(_ nodes: [Node], bindings: [String: String], lhs: Bool, gradients: Set<String>) -> String {
        func atom(_ n: Node) -> String {
            switch n {
            case .token(.ident(let s)):
                if let b = bindings[s], !lhs || s.hasPrefix("@") { return b }
                return identifier(s, isGradient: lhs || gradients.contains(s))
            case .token(.number(let s)): return mn(s)
            case .token(.op(let o)):
                switch o {
                case "*": return mo("\u{00B7}")
                case "-": return mo("\u{2212}")
                case "==": return mo("=")
                default: return mo(o)
                }
            case .token(.space): return ""
            case .text(let t): return text(t)
            case .group(let inner):
                if !lhs, let b = bindings[source(inner)] { return b }
                if isComparison(inner) {
                    return row(mi("\u{1D7D9}") + mo("[") + sequence(inner, bindings: bindings, lhs: lhs, gradients: gradients) + mo("]"))
                }
                // A note in words, "(summed over broadcast dims)", stands apart from the formula.
                if inner.contains(where: { if case .text = $0 { return true }; return false }) {
                    // With the numbers substituted the note has been said already: left out.
                    if !lhs && bindings.keys.contains(where: { !$0.hasPrefix("@") }) { return "" }
                    return row("<mspace width=\"0.5em\"/>" + parens(sequence(inner, bindings: bindings, lhs: lhs, gradients: gradients)))
                }
                return parens(sequence(inner, bindings: bindings, lhs: lhs, gradients: gradients))
            case .call(let f, let inner):
                if !lhs, let b = bindings[f + "(" + source(inner) + ")"] { return b }
                let args = splitArgs(inner)
                let inside = { (ns: [Node]) in sequence(ns, bindings: bindings, lhs: lhs, gradients: gradients) }
                if f == "sum", args.count == 2 {
                    let index = source(args[1]).contains(" ") ? text(source(args[1])) : sequence(args[1], bindings: [:], lhs: false, gradients: [])
                    return sum(index, inside(args[0]))
                }
                if f == "sqrt" { return sqrt(inside(inner)) }
                return row(identifier(f) + mo("\u{2061}") + parens(inside(inner)))
            }
        }
        func exponent(_ n: Node) -> String {
            if case .group(let inner) = n { return sequence(inner, bindings: bindings, lhs: lhs, gradients: gradients) }
            return atom(n)
        }
        func nextIndex(_ q0: Int) -> Int { var q = q0; while q < nodes.count, case .token(.space) = nodes[q] { q += 1 }; return q }
        func isOperator(_ n: Node) -> Bool { if case .token(.op) = n { return true }; return false }
        var atoms: [String] = []
        var k = 0
        while k < nodes.count {
            let n = nodes[k]
            if case .token(.space) = n { k += 1; continue }
            if case .token(.op("^")) = n, let base = atoms.popLast() {
                let q = nextIndex(k + 1)
                guard q < nodes.count else { atoms.append(base); k += 1; continue }
                atoms.append(sup(base, exponent(nodes[q])))
                k = q + 1; continue
            }
            if case .token(.op("/")) = n, let a = atoms.last, !a.hasPrefix("<mo") {
                let q = nextIndex(k + 1)
                if q < nodes.count, !isOperator(nodes[q]) {
                    var b = atom(nodes[q])
                    var r = nextIndex(q + 1)
                    if r < nodes.count, case .token(.op("^")) = nodes[r] {
                        let e = nextIndex(r + 1)
                        if e < nodes.count { b = sup(b, exponent(nodes[e])); r = e + 1 }
                    } else { r = q + 1 }
                    atoms.removeLast()
                    atoms.append(frac(stripParens(a), stripParens(b)))
                    k = r; continue
                }
            }
            if case .token(.op("[")) = n, let base = atoms.last, !base.hasPrefix("<mo") {
                var depth = 0, q = k
                var inner: [Node] = []
                while q < nodes.count {
                    if case .token(.op("[")) = nodes[q] { depth += 1; if depth == 1 { q += 1; continue } }
                    if case .token(.op("]")) = nodes[q] { depth -= 1; if depth == 0 { break } }
                    inner.append(nodes[q]); q += 1
                }
                if q < nodes.count {
                    atoms.removeLast()
                    atoms.append(sub(base, sequence(inner, bindings: [:], lhs: false, gradients: [])))
                    k = q + 1; continue
                }
            }
            if case .text(let t) = n {
                // Words between pieces of a formula keep a space on each side that has a neighbour.
                let before = k > 0 ? "\u{00A0}" : "", after = k < nodes.count - 1 ? "\u{00A0}" : ""
                atoms.append(text(before + t + after))
                k += 1
                continue
            }
            atoms.append(atom(n))
            k += 1
        }
        return row(atoms)
    }

    /// A group's rendering without its outer parentheses (for a fraction's numerator).
    static func stripParens(_ s: String) -> String {
        let open = "<mrow><mo>(</mo>", close = "<mo>)</mo></mrow>"
        if s.hasPrefix(open) && s.hasSuffix(close) {
            let inner = String(s.dropFirst(open.count).dropLast(close.count))
            return "<mrow>" + inner + "</mrow>"
        }
        return s
    }

    /// The arguments of a call, split at its top-level commas.
    static func splitArgs(_ nodes: [Node]) -> [[Node]] {
        var out: [[Node]] = [[]]
        for n in nodes {
            if case .token(.op(",")) = n { out.append([]) } else { out[out.count - 1].append(n) }
        }
        return out
    }

    /// The parts of a formula's text at its top-level ", " (parentheses respected).
    public static func parts(_ text: String) -> [String] {
        var out: [String] = [], current = "", depth = 0
        let chars = Array(text)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "(" || c == "[" { depth += 1 }
            if c == ")" || c == "]" { depth = max(0, depth - 1) }
            if c == ",", depth == 0, i + 1 < chars.count, chars[i + 1] == " " {
                out.append(current); current = ""; i += 2; continue
            }
            current.append(c); i += 1
        }
        if !current.isEmpty { out.append(current) }
        return out
    }
}
