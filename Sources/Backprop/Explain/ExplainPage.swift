import Foundation

/// The notebook step as one self-contained HTML page: forward values, the graph picture (inline
/// SVG drawn in Swift), every step of the backward pass with its rule and numbers, the chain-rule
/// derivation and the check against autograd. Inline CSS, no scripts, nothing fetched.
public enum ExplainPage {
    static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static let css = """
    body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0; background: #f6f7f9; color: #1d1f23; }
    main { max-width: 1100px; margin: 0 auto; padding: 24px 32px 48px; }
    h1 { font-size: 26px; margin: 8px 0 4px; }
    h2 { font-size: 20px; margin: 32px 0 10px; border-bottom: 2px solid #d8dde4; padding-bottom: 4px; }
    h3 { font-size: 15px; margin: 18px 0 6px; }
    p.lead { color: #4a5160; margin: 0 0 12px; }
    code, pre, td.num { font-family: Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 13px; }
    pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #fff; border: 1px solid #dde2e8; border-radius: 6px; padding: 10px 12px; overflow-x: auto; margin: 4px 0; }
    table { border-collapse: collapse; background: #fff; margin: 6px 0; }
    th, td { border: 1px solid #dde2e8; padding: 5px 10px; text-align: left; vertical-align: top; }
    th { background: #eef1f5; font-weight: 600; }
    .graph { background: #fff; border: 1px solid #dde2e8; border-radius: 8px; padding: 8px; overflow-x: auto; }
    .legend span { display: inline-block; padding: 2px 8px; margin-right: 8px; border-radius: 4px; font-size: 13px; }
    .steps { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr)); gap: 12px; }
    .step { background: #fff; border: 1px solid #dde2e8; border-left: 5px solid #3b6ea5; border-radius: 6px; padding: 10px 14px; }
    .step.leaf { border-left-color: #2e7d32; }
    .step h3 { margin: 0 0 6px; }
    .rule { background: #fff8e1; border-radius: 4px; padding: 2px 6px; }
    .ok { color: #1b7f3b; font-weight: 600; }
    .bad { color: #b3261e; font-weight: 600; }
    """

    /// The page for a step made with `NotebookStep(..., explain: true)`.
    public static func html(_ e: NotebookExplanation) -> String {
        let s = e.step
        let v = { (t: Tensor) in esc(ExplainFormat.values(t)) }
        var h = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        h += "<title>Backpropagation Again: every gradient explained</title>\n<style>\n\(css)\n</style>\n</head>\n<body>\n<main>\n"
        h += "<h1>Backpropagation Again: every gradient explained</h1>\n"
        h += "<p class=\"lead\">One SGD step of a softmax classifier (\(s.W.dtype.rawValue)): <code>c = x.mm(W) + b</code>, "
        h += "<code>loss = cross_entropy(c, target)</code>, then <code>W -= lr * W.grad</code>. "
        h += "Below: the values of the forward pass, the graph autograd recorded, what <code>loss.backward()</code> did at each node, "
        h += "and why the gradients are what they are.</p>\n"

        h += "<h2>Forward pass</h2>\n<table>\n<tr><th>name</th><th>formula</th><th>shape</th><th>value</th></tr>\n"
        let rows: [(String, String, Tensor)] = [
            ("W", "parameter", s.W), ("b", "parameter", s.b), ("x", "data", s.x), ("target", "class index", s.target),
            ("c", "x.mm(W) + b", s.c), ("softmax", "exp(c) / sum(exp(c), dim=1)", s.softmax),
            ("log_softmax", "c - log(sum(exp(c), dim=1))", s.logSoftmax),
            ("loss", "nll_loss(log_softmax, target)", s.crossEntropy),
        ]
        for (name, formula, t) in rows {
            h += "<tr><td><b>\(esc(name))</b></td><td><code>\(esc(formula))</code></td><td class=\"num\">\(esc(ExplainFormat.shape(t.shape)))</td><td class=\"num\">\(v(t))</td></tr>\n"
        }
        h += "</table>\n"

        let graph = ComputationGraph(e.trace)
        h += "<h2>The graph</h2>\n"
        h += "<p class=\"legend\"><span style=\"background:#d5efd5\">parameter (gets .grad)</span><span style=\"background:#eeeeee\">data (no gradient)</span>"
        h += "<span style=\"background:#dbe9f6\">op</span><span style=\"background:#fdd9b5\">output (the loss)</span> "
        h += "Each box: the op, its shape, its forward value and the gradient the backward pass brought to it.</p>\n"
        h += "<div class=\"graph\">\n\(graph.svg(fitWidth: true))</div>\n"

        h += "<h2>Backward pass, step by step</h2>\n"
        h += "<p class=\"lead\">The engine starts at the loss with G = 1 and visits a node once every gradient for it has arrived. "
        h += "At an op it applies the op's local rule to G and sends the results to its inputs; at a leaf it adds G into <code>.grad</code>.</p>\n"
        h += "<div class=\"steps\">\n"
        for st in e.trace.steps {
            h += "<div class=\"step\(st.isLeaf ? " leaf" : "")\">\n"
            let title = st.isLeaf ? "leaf \(st.label ?? "")" : st.op + (st.label.map { " (\($0))" } ?? "")
            h += "<h3>Step \(st.index): \(esc(title))</h3>\n<table>\n"
            h += "<tr><th>shape</th><td class=\"num\">\(esc(ExplainFormat.shape(st.shape)))</td></tr>\n"
            if let val = st.value { h += "<tr><th>value</th><td class=\"num\">\(v(val))</td></tr>\n" }
            if st.contributions.count > 1 {
                for c in st.contributions { h += "<tr><th>from step \(c.fromStep)</th><td class=\"num\">\(v(c.gradient))</td></tr>\n" }
            }
            h += "<tr><th>G</th><td class=\"num\">\(v(st.incoming))</td></tr>\n"
            if st.isLeaf {
                h += "<tr><th>effect</th><td><code>\(esc(st.label ?? "leaf")).grad += G</code></td></tr>\n"
            } else {
                h += "<tr><th>rule</th><td><code class=\"rule\">\(esc(st.formula))</code></td></tr>\n"
                for (i, input) in st.inputs.enumerated() {
                    let role = ExplainFormat.role(op: st.op, index: i, count: st.inputs.count)
                    let sent = input.sent.map(v) ?? (input.node == nil ? "no gradient (data)" : "none")
                    h += "<tr><th>\(esc(role)) → \(esc(input.name))</th><td class=\"num\">\(sent)</td></tr>\n"
                }
            }
            h += "</table>\n</div>\n"
        }
        h += "</div>\n"

        h += "<h2>The chain rule, with the numbers</h2>\n"
        h += "<p class=\"lead\"><code>cross_entropy(c, target) = nll_loss(log_softmax(c), target)</code>: the backward pass applies the rule of nll_loss, then of log_softmax, then of add and mm.</p>\n"
        for p in e.derivation {
            h += "<h3>\(esc(p.heading))</h3>\n<pre>\(esc(p.lines.joined(separator: "\n")))</pre>\n"
        }

        h += "<h2>Check: the trace against autograd</h2>\n<table>\n<tr><th>gradient</th><th>in the trace</th><th>autograd .grad</th><th>largest difference</th></tr>\n"
        for c in e.checks {
            h += "<tr><td>\(esc(c.name))</td><td class=\"num\">\(v(c.trace))</td><td class=\"num\">\(v(c.autograd))</td><td class=\"num\">\(esc(ExplainFormat.number(c.maxAbsDiff)))</td></tr>\n"
        }
        h += "</table>\n"
        h += s.gradientsAgree ? "<p class=\"ok\">The hand-derived gradients and autograd agree.</p>\n"
                              : "<p class=\"bad\">MISMATCH between the hand-derived gradients and autograd.</p>\n"

        h += "<h2>SGD update (lr = \(esc(ExplainFormat.number(s.lr))))</h2>\n<table>\n"
        h += "<tr><td><code>W_new = W - lr * W.grad</code></td><td class=\"num\">\(v(s.WNew))</td></tr>\n"
        h += "<tr><td><code>b_new = b - lr * b.grad</code></td><td class=\"num\">\(v(s.bNew))</td></tr>\n</table>\n"
        h += "</main>\n</body>\n</html>\n"
        return h
    }
}

/// Writing a user's file without ever leaving it half-written.
public enum ExplainFiles {
    /// Writes `text` with `AtomicFile.write` (a temporary file beside `path`, flushed, then renamed
    /// over `path`); a failure is thrown as an `ExplainFileError` naming the file.
    public static func writeAtomically(_ text: String, to path: String) throws {
        do { try AtomicFile.write(Data(text.utf8), to: path) } catch let e as DataError {
            throw ExplainFileError(message: e.description)
        }
    }
}

/// A file of an explanation could not be written.
public struct ExplainFileError: Error, CustomStringConvertible {
    /// What went wrong, naming the file.
    public let message: String
    /// The message.
    public var description: String { message }
}
