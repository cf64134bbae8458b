import Foundation

/// The interactive page of an `ExplainedPass`: one self-contained HTML file (inline CSS, SVG,
/// MathML and a short script; nothing fetched) that steps through the backward pass.
///
/// Next / Previous and the arrow keys move through the steps in the engine's order; the current
/// node is highlighted in the graph, and its card shows the gradient it received, its local rule
/// as mathematics, the rule with the numbers, what each input receives, finite-difference checks
/// and which leaves' `.grad` are filled so far. Small tensors are written out, large ones drawn
/// as heat maps with their range. Without scripts every card is shown, one after the other.
///
/// Everything the script shows is computed here; the script only shows and hides, and compares
/// the exercise's answers with the numbers this page carries.
public enum StepThroughPage {
    static func esc(_ s: String) -> String { MathML.esc(s) }

    /// A tensor as HTML: a bracketed table of numbers when small, a heat map with its range when large.
    public static func tensorHTML(_ t: Tensor, role: String = "", narrow: Bool = false) -> String {
        let v = t.scalars
        let roleAttr = role.isEmpty ? "" : " data-role=\"\(esc(role))\""
        let shape = esc(ExplainFormat.shape(t.shape))
        if t.rank == 0 {
            return "<span class=\"tensor scalar\"\(roleAttr) data-shape=\"\(shape)\"><span class=\"v\">\(esc(ExplainFormat.number(v.first ?? 0)))</span></span>"
        }
        let cols = t.shape.last ?? 1
        let rows = max(1, v.count / max(1, cols))
        // In a narrow panel a table must fit about 220 px of 13 px digits.
        var narrowWidth = 0.0
        for c in 0..<cols {
            var widest = 0
            for i in stride(from: c, to: v.count, by: cols) { widest = max(widest, ExplainFormat.number(v[i]).count) }
            narrowWidth += Double(widest) * 7.9 + 10
        }
        let fitsNarrow = t.rank <= 2 && narrowWidth <= 220
        if narrow ? ExplainedPass.isSmall(t) && fitsNarrow : ExplainedPass.isSmall(t) {
            var h = "<table class=\"tensor\"\(roleAttr) data-shape=\"\(shape)\">"
            for r in 0..<rows {
                h += "<tr>" + (0..<cols).map { "<td class=\"v\">\(esc(ExplainFormat.number(v[r * cols + $0])))</td>" }.joined() + "</tr>"
            }
            return h + "</table>"
        }
        // A heat map: blue for negative, red for positive, white at 0, scaled to the largest magnitude.
        let finite = v.filter(\.isFinite)
        let lo = finite.min() ?? 0, hi = finite.max() ?? 0
        let scale = max(abs(lo), abs(hi), 1e-30)
        let shownRows = min(rows, 64), shownCols = min(cols, 128)
        // Square cells, as large as fit the width (and a height) available, down to a pixel or so.
        let cell = min(narrow ? 12.0 : 18.0, (narrow ? 220.0 : 360.0) / Double(shownCols), (narrow ? 120.0 : 240.0) / Double(shownRows))
        let w = Double(shownCols) * cell, hgt = Double(shownRows) * cell
        func f(_ v: Double) -> String { String(format: "%.2f", v) }
        var svg = "<svg class=\"heat\" width=\"\(f(w))\" height=\"\(f(hgt))\" viewBox=\"0 0 \(f(w)) \(f(hgt))\" shape-rendering=\"crispEdges\">"
        for r in 0..<shownRows {
            for c in 0..<shownCols {
                let x = v[r * cols + c]
                let a = x.isFinite ? x / scale : 0
                let (red, green, blue): (Double, Double, Double) = a >= 0
                    ? (255, 255 - 190 * a, 255 - 210 * a) : (255 + 215 * a, 255 + 150 * a, 255)
                let title = shownRows * shownCols <= 1024 ? "<title>[\(r), \(c)] \(ExplainFormat.number(x))</title>" : ""
                svg += "<rect x=\"\(f(Double(c) * cell))\" y=\"\(f(Double(r) * cell))\" width=\"\(f(cell + 0.3))\" height=\"\(f(cell + 0.3))\" fill=\"rgb(\(Int(red)),\(Int(green)),\(Int(blue)))\">\(title)</rect>"
            }
        }
        svg += "</svg>"
        let clipped = rows > shownRows || cols > shownCols ? " (the first \(shownRows) × \(shownCols) shown)" : ""
        return "<div class=\"tensor heatmap\"\(roleAttr) data-shape=\"\(shape)\">\(svg)<div class=\"range\">\(shape), \(v.count) values from "
            + "<span class=\"min\">\(esc(ExplainFormat.number(lo)))</span> to <span class=\"max\">\(esc(ExplainFormat.number(hi)))</span>\(clipped)"
            + (narrow ? "" : "<span class=\"scale\"><i style=\"background:rgb(40,105,255)\"></i>−\(esc(ExplainFormat.number(scale)))<i style=\"background:#fff\"></i>0<i style=\"background:rgb(255,65,45)\"></i>+\(esc(ExplainFormat.number(scale)))</span>") + "</div></div>"
    }

    /// A finite-difference check as a small table.
    static func checkHTML(_ c: FiniteDifferenceCheck?) -> String {
        guard let c, !c.entries.isEmpty else { return "" }
        var h = "<table class=\"fd\" title=\"central differences of the loss in float64: (loss(v + eps) - loss(v - eps)) / (2 eps), eps = 1e-6\">"
        h += "<tr><th colspan=\"4\">finite-difference check: \(c.passed ? "<span class=\"ok\">agrees ✓</span>" : "<span class=\"bad\">disagrees ✗</span>")</th></tr>"
        h += "<tr><td class=\"h\">entry</td><td class=\"h\">backward</td><td class=\"h\">numeric</td><td></td></tr>"
        for e in c.entries {
            h += "<tr><td>[\(e.index.map(String.init).joined(separator: ", "))]</td><td class=\"n\">\(esc(ExplainFormat.number(e.autograd)))</td>"
            h += "<td class=\"n\">\(esc(ExplainFormat.number(e.numeric)))</td><td>\(e.agrees ? "<span class=\"ok\">✓</span>" : "<span class=\"bad\">✗</span>")</td></tr>"
        }
        return h + "</table>"
    }

    static func stepTitle(_ s: BackwardTrace.Step, graph: ComputationGraph) -> String {
        if s.isLeaf { return "leaf \(s.label ?? "")" }
        let opName = graph.nodes.first { $0.traceNode == s.node }?.opName ?? s.op
        return (s.label.map { "\($0) = " } ?? "") + opName
    }

    static func card(_ v: ExplainedPass.StepView, pass: ExplainedPass, total: Int) -> String {
        let s = v.step
        let title = stepTitle(s, graph: pass.graph)
        var h = "<section class=\"card\(s.isLeaf ? " leaf" : "")\" id=\"card-\(s.index)\" data-step=\"\(s.index)\" data-node=\"\(s.node)\">\n"
        h += "<h2><span class=\"stepno\">Step \(s.index) of \(total)</span> \(esc(title))"
            + (s.isLeaf ? "" : " <span class=\"pt\">\(esc(s.op))</span>") + "</h2>\n"
        func stepRef(_ i: Int) -> String {
            guard i > 0, i <= pass.trace.steps.count else { return "the start" }
            return "step \(i) (\(esc(stepTitle(pass.trace.steps[i - 1], graph: pass.graph))))"
        }
        h += "<div class=\"cols\">\n<div class=\"col\">\n"
        // What happens here.
        if s.index == 1 {
            h += "<p class=\"what\">The pass starts at the loss with G = ∂ℓ/∂ℓ = 1; the engine visits each node once all its gradients have arrived.</p>\n"
        } else if s.isLeaf {
            h += "<p class=\"what\"><b>\(esc(s.label ?? "This leaf"))</b> is a leaf that requires grad (a parameter): the engine adds the G it received, from \(s.contributions.map { stepRef($0.fromStep) }.joined(separator: " and ")), into <code>\(esc(s.label ?? "leaf")).grad</code>.</p>\n"
        } else {
            h += "<p class=\"what\">G, the gradient of the loss with respect to this node's output, arrived from "
                + "\(s.contributions.map { stepRef($0.fromStep) }.joined(separator: " and ")); the local rule turns it into a gradient for each input.</p>\n"
        }
        if !s.isLeaf {
            h += "<h3>Local rule</h3>\n<div class=\"math rule\" title=\"\(esc(s.op)): \(esc(s.formula))\">\(v.rule)</div>\n"
            if !v.numbers.isEmpty {
                h += "<h3>With the numbers</h3>\n<div class=\"math numbers\">" + v.numbers.map(\.math).joined(separator: "\n") + "</div>\n"
            } else {
                h += "<p class=\"note\">These tensors are too large to write out in the rule: G and what each input receives are drawn as heat maps beside it (point at a cell for its value).</p>\n"
            }
        } else {
            h += "<h3>Rule</h3>\n<div class=\"math rule\">\(MathML.math(MathML.row(MathML.name("\(s.label ?? "leaf").grad"), MathML.mo("+="), MathML.mi("G"))))</div>\n"
        }
        for note in v.notes {
            h += "<div class=\"why\"><h3>\(esc(note.heading))</h3>\n" + note.paragraphs.map { "<p>\($0)</p>" }.joined(separator: "\n") + "</div>\n"
        }
        h += "</div>\n<div class=\"col\">\n"
        // What arrived.
        h += "<h3>G received <span class=\"src\">∂ℓ/∂(\(esc(s.label ?? (s.isLeaf ? "leaf" : title)))), shape \(esc(ExplainFormat.shape(s.incoming.shape)))</span></h3>\n"
        if s.contributions.count > 1 {
            h += "<p class=\"sum\">The sum of what its \(s.contributions.count) uses sent:</p><ul class=\"contribs\">"
            for c in s.contributions { h += "<li>from \(stepRef(c.fromStep)): \(tensorHTML(c.gradient))</li>" }
            h += "</ul>\n"
        }
        h += "<div class=\"grad\">\(tensorHTML(s.incoming, role: "G"))\(checkHTML(v.check))</div>\n"
        if !s.isLeaf {
            h += "<h3>What each input receives</h3>\n"
            for (i, input) in s.inputs.enumerated() {
                let role = v.roles[i]
                let roleMath = MathML.math(MathML.grad(MathML.identifier(String(role.dropFirst()))), display: false)
                let inputTitle = input.node.flatMap { n in pass.trace.step(node: n).map { stepTitle($0, graph: pass.graph) } } ?? input.name
                h += "<div class=\"input\" data-input=\"\(i)\"\(input.node.map { " data-to-node=\"\($0)\"" } ?? "")>"
                h += "<div class=\"ihead\">\(roleMath) <span class=\"iname\">\(esc(String(role.dropFirst()))) = \(esc(inputTitle.replacingOccurrences(of: "leaf ", with: "")))</span> <span class=\"shape\">\(esc(ExplainFormat.shape(input.shape)))</span></div>"
                if let sent = input.sent {
                    h += "<div class=\"grad\">" + tensorHTML(sent, role: "sent") + checkHTML(v.inputChecks[i]) + "</div>"
                } else if input.node == nil {
                    h += "<div class=\"none\">no gradient: \(esc(input.name)) is data (it does not require grad), so this part of the rule is not computed</div>"
                } else {
                    h += "<div class=\"none\">none</div>"
                }
                h += "</div>\n"
            }
        }
        h += "</div>\n</div>\n</section>\n"
        return h
    }

    /// The leaves' `.grad`, each shown from the step that fills it.
    static func leavesPanel(_ pass: ExplainedPass) -> String {
        let leaves = pass.trace.steps.filter(\.isLeaf)
        guard !leaves.isEmpty else { return "" }
        var h = "<aside class=\"leaves\"><h3>The leaves' <code>.grad</code> so far</h3><ul>\n"
        for l in leaves {
            let name = esc(l.label ?? "leaf")
            h += "<li data-filled-at=\"\(l.index)\" data-node=\"\(l.node)\"><span class=\"lname\">\(name).grad</span> "
            h += "<span class=\"pending\">not yet: filled at step \(l.index)</span>"
            h += "<span class=\"filled\">filled at step \(l.index):<br>\(tensorHTML(l.incoming, role: "leaf-grad", narrow: true))</span></li>\n"
        }
        return h + "</ul></aside>\n"
    }

    static func exerciseSection(_ e: GradientExercise) -> String {
        var h = "<section class=\"exercise\" id=\"exercise\">\n<h2>Exercise: derive the gradients yourself</h2>\n"
        h += "<p>As in Karpathy’s “become a backprop ninja”: write each gradient of the step below as a nested array "
            + "(<code>[[0.1, -0.2]]</code>) and press Check. Entries are right within \(ExplainFormat.number(GradientExercise.tolerance)) "
            + "(relative above 1). The command line has the same exercise, and random ones: <code>backprop exercise --seed 1 --rows 3</code>.</p>\n"
        h += "<pre class=\"program\">" + esc(e.program.joined(separator: "\n")) + "</pre>\n<table class=\"givens\">"
        for (name, v) in e.givens + e.forward { h += "<tr><th>\(esc(name))</th><td>\(tensorHTML(v))</td></tr>" }
        h += "</table>\n<div class=\"answers\">\n"
        for (k, q) in e.questions.enumerated() {
            h += "<div class=\"answer\" data-q=\"\(k)\"><label for=\"answer-\(k)\"><b>\(esc(q.name))</b> = ∂ℓ/∂\(esc(q.of)), shape \(esc(ExplainFormat.shape(q.shape)))</label>"
            h += "<input id=\"answer-\(k)\" type=\"text\" spellcheck=\"false\" autocomplete=\"off\" placeholder=\"\(esc(placeholder(q.shape)))\">"
            h += "<button type=\"button\" class=\"check\">Check</button><div class=\"verdict\" aria-live=\"polite\"></div></div>\n"
        }
        h += "</div>\n</section>\n"
        return h
    }

    static func placeholder(_ shape: [Int]) -> String {
        guard shape.count == 2 else { return "[...]" }
        let row = "[" + Array(repeating: "…", count: shape[1]).joined(separator: ", ") + "]"
        return "[" + Array(repeating: row, count: min(shape[0], 3)).joined(separator: ", ") + (shape[0] > 3 ? ", …" : "") + "]"
    }

    /// The exercise's answers, mistakes and derivation steps, for the page's script.
    static func exerciseJSON(_ e: GradientExercise) -> [String: Any] {
        [
            "tolerance": GradientExercise.tolerance,
            "questions": e.questions.map { q -> [String: Any] in
                [
                    "name": q.name, "shape": q.shape, "answer": q.answer.scalars,
                    "mistakes": q.mistakes.map { ["shape": $0.value.shape, "values": $0.value.scalars, "message": $0.message] as [String: Any] },
                    "hint": hintHTML(q),
                ]
            },
        ]
    }

    static func hintHTML(_ q: GradientExercise.Question) -> String {
        var h = "<div class=\"hint\"><b>The step of the derivation:</b> "
        for line in q.hint {
            h += "<p>\(esc(line.text))"
            if let f = line.formula {
                var m = MathML.formula(f)
                if !line.values.isEmpty, let eq = f.range(of: " = ") {
                    var b: [String: String] = [:]
                    for (k, t) in line.values { b[k] = MathML.tensor(t) ?? MathML.text(ExplainFormat.values(t)) }
                    m += MathML.mo("=") + MathML.formula(String(f[eq.upperBound...]), bindings: b)
                }
                if let r = line.result { m += MathML.mo("=") + (MathML.tensor(r) ?? MathML.text(ExplainFormat.values(r))) }
                h += MathML.math(MathML.row(m))
            }
            h += "</p>"
        }
        return h + "</div>"
    }

    static func json(_ o: Any) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])) ?? Data("null".utf8)
        // Safe inside a <script> element.
        return String(decoding: data, as: UTF8.self).replacingOccurrences(of: "</", with: "<\\/")
    }

    /// The page.
    public static func html(_ pass: ExplainedPass) -> String {
        let total = pass.views.count
        var h = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        h += "<title>\(esc(pass.title))</title>\n<style>\n\(css)\n</style>\n</head>\n<body data-kind=\"\(esc(pass.kind))\">\n"
        h += "<header class=\"bar\"><h1>\(esc(pass.title))</h1>\n<nav><button type=\"button\" id=\"prev\" aria-label=\"previous step\">◀ Previous</button>"
        h += "<span id=\"counter\">Step 1 of \(total)</span><button type=\"button\" id=\"next\" aria-label=\"next step\">Next ▶</button>"
        h += "<span class=\"keys\">or the ← → keys</span></nav></header>\n<main>\n"
        h += "<p class=\"lead\">\(pass.lead)</p>\n"
        h += "<div class=\"graph-panel\"><div class=\"graph\">\n\(pass.graph.pageSVG())</div>\n"
        h += "<p class=\"legend\"><span class=\"sw param\">parameter (gets .grad)</span><span class=\"sw data\">data (no gradient)</span>"
        h += "<span class=\"sw op\">op</span><span class=\"sw out\">output (the loss)</span><span class=\"sw cur\">current step</span><span class=\"sw done\">visited</span>"
        h += " Each box: name = op, shape, forward value (or its range and count).</p>\n"
        let legend = pass.graph.edgeLegend()
        if !legend.isEmpty {
            h += "<p class=\"legend edges\"><b>Edge labels</b> name the argument of the op's rule that each input is: "
                + legend.map { "<code>\(esc($0))</code>" }.joined(separator: "; ") + ".</p>\n"
        }
        h += "</div>\n<div class=\"stage\">\n<div class=\"cards\">\n"
        for v in pass.views { h += card(v, pass: pass, total: total) }
        h += "</div>\n\(leavesPanel(pass))</div>\n"
        if let e = pass.exercise { h += exerciseSection(e) }
        h += "<section class=\"forward\"><h2>The forward pass</h2>\n<table class=\"fwd\"><tr><th>name</th><th>formula</th><th>value</th></tr>\n"
        for (name, formula, t) in pass.forwardRows {
            h += "<tr><th>\(esc(name))</th><td><code>\(esc(formula))</code></td><td>\(tensorHTML(t))</td></tr>\n"
        }
        h += "</table></section>\n</main>\n"
        h += "<script type=\"application/json\" id=\"backprop-trace\">\(json(WalkthroughReport.jsonObject(pass.trace)))</script>\n"
        if let e = pass.exercise { h += "<script type=\"application/json\" id=\"backprop-exercise\">\(json(exerciseJSON(e)))</script>\n" }
        h += "<script>\n\(script)\n</script>\n</body>\n</html>\n"
        return h
    }

    /// A page with the exercise alone (a random instance, say): the problem, an input field per
    /// gradient, each checked on the spot.
    public static func exercisePage(_ e: GradientExercise) -> String {
        var h = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        h += "<title>Exercise: the gradients of \(esc(e.title))</title>\n<style>\n\(css)\n</style>\n</head>\n<body data-kind=\"exercise\">\n"
        h += "<header class=\"bar\"><h1>Exercise: the gradients of \(esc(e.title))</h1></header>\n<main>\n"
        h += exerciseSection(e)
        h += "</main>\n<script type=\"application/json\" id=\"backprop-exercise\">\(json(exerciseJSON(e)))</script>\n"
        h += "<script>\n\(script)\n</script>\n</body>\n</html>\n"
        return h
    }

    static let css = #"""
    :root { --ink: #1d1f23; --muted: #4f5766; --line: #d6dbe2; --blue: #3b6ea5; --green: #2e7d32; --orange: #c25e00; }
    * { box-sizing: border-box; }
    body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif; font-size: 16px; line-height: 1.45; margin: 0; background: #f4f6f8; color: var(--ink); }
    .bar { position: sticky; top: 0; z-index: 5; display: flex; align-items: center; justify-content: space-between; gap: 16px; padding: 8px 24px; background: #fff; border-bottom: 1px solid var(--line); }
    .bar h1 { font-size: 20px; margin: 0; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
    nav { display: flex; align-items: center; gap: 10px; white-space: nowrap; }
    nav button { font: inherit; font-weight: 600; padding: 6px 14px; border: 1px solid var(--blue); background: var(--blue); color: #fff; border-radius: 6px; cursor: pointer; }
    nav button:disabled { background: #c9d3df; border-color: #c9d3df; cursor: default; }
    #counter { font-weight: 600; min-width: 110px; text-align: center; }
    .keys { color: var(--muted); font-size: 14px; }
    html:not(.js) nav { display: none; }
    main { padding: 10px 24px 40px; max-width: 1500px; margin: 0 auto; }
    .lead { margin: 0 0 8px; color: var(--muted); }
    code, pre { font-family: ui-monospace, "DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace; font-size: 14px; }
    .graph-panel { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 8px 12px 4px; }
    .graph { overflow-x: auto; }
    .graph svg { display: block; margin: 0 auto; }
    .node rect { transition: stroke-width .15s; }
    .node.done rect { fill: #eef2f7; }
    .node.param.done rect, .node.parameter.done rect { fill: #c3e6c3; }
    .node.current rect { stroke: #e8590c !important; stroke-width: 4px !important; fill: #fff3d6 !important; }
    path.edge.current { stroke: #e8590c; stroke-width: 3px; }
    .legend { margin: 4px 0; font-size: 14px; color: var(--muted); }
    .legend .sw { display: inline-block; padding: 1px 8px; margin-right: 6px; border-radius: 4px; border: 1px solid #bbb; color: var(--ink); }
    .sw.param { background: #d5efd5; border-color: var(--green); } .sw.data { background: #eee; border-style: dashed; }
    .sw.op { background: #dbe9f6; border-color: var(--blue); } .sw.out { background: #fdd9b5; border-color: var(--orange); }
    .sw.cur { background: #fff3d6; border: 3px solid #e8590c; } .sw.done { background: #eef2f7; }
    .legend.edges code { font-size: 13px; }
    .stage { display: grid; grid-template-columns: minmax(0, 1fr) 270px; gap: 14px; margin-top: 12px; align-items: start; }
    .card { background: #fff; border: 1px solid var(--line); border-left: 6px solid var(--blue); border-radius: 8px; padding: 10px 16px 12px; margin-bottom: 12px; }
    .card.leaf { border-left-color: var(--green); }
    .js .card { display: none; } .js .card.current { display: block; }
    .card h2 { font-size: 20px; margin: 0 0 6px; }
    .stepno { color: var(--muted); font-weight: 600; margin-right: 6px; }
    .pt { font-size: 15px; font-weight: 500; color: var(--muted); font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
    .cols { display: grid; grid-template-columns: minmax(0, 1.1fr) minmax(0, 1fr); gap: 22px; }
    .card h3, .leaves h3 { font-size: 16px; margin: 10px 0 4px; }
    .src { font-weight: 400; color: var(--muted); font-size: 14px; }
    .what { margin: 2px 0 6px; }
    .note { color: var(--muted); font-size: 15px; }
    .math { overflow-x: auto; padding: 2px 0; }
    math { font-size: 1.12em; }
    .math math, .why math[display="block"], .hint math[display="block"] { display: block math; math-style: normal; margin: 4px 0 4px 12px; width: max-content; }
    .numbers math { margin: 6px 0; }
    .why { border-top: 1px dashed var(--line); margin-top: 8px; }
    .why p { margin: 4px 0; }
    table.tensor { border-collapse: separate; border-spacing: 0; border-left: 2px solid #333; border-right: 2px solid #333; border-radius: 4px; margin: 2px 0; display: inline-table; vertical-align: middle; }
    table.tensor td.v { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 14px; padding: 1px 8px; text-align: right; white-space: nowrap; }
    .scalar { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 15px; }
    .heatmap { display: inline-block; } .heatmap svg { display: block; border: 1px solid #999; }
    .range { font-size: 13px; color: var(--muted); } .range .min, .range .max { font-family: ui-monospace, monospace; color: var(--ink); }
    .scale i { display: inline-block; width: 12px; height: 10px; border: 1px solid #999; margin: 0 3px 0 8px; }
    .grad { display: flex; flex-wrap: wrap; align-items: flex-start; gap: 6px 14px; margin: 2px 0 4px; }
    table.fd { border-collapse: collapse; font-size: 13px; }
    table.fd th { text-align: left; font-weight: 400; color: var(--muted); padding: 0 0 1px; }
    table.fd td { border: 1px solid var(--line); padding: 0 6px; white-space: nowrap; }
    table.fd td.h { color: var(--muted); } table.fd td.n { font-family: ui-monospace, "DejaVu Sans Mono", monospace; text-align: right; }
    .input { border-top: 1px solid #eef0f3; padding: 4px 0 2px; }
    .ihead { margin-bottom: 2px; }
    .iname { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 14px; } .shape { color: var(--muted); font-size: 13px; }
    .none { color: var(--muted); font-style: italic; font-size: 15px; }
    .contribs { margin: 2px 0; padding-left: 20px; }
    .ok { color: #1b7f3b; font-weight: 600; } .bad { color: #b3261e; font-weight: 600; }
    .leaves { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 4px 14px 10px; position: sticky; top: 64px; }
    .leaves ul { list-style: none; padding: 0; margin: 0; }
    .leaves li { padding: 6px 0; border-top: 1px solid #eef0f3; }
    .leaves table.tensor td.v { font-size: 13px; padding: 1px 5px; }
    .lname { font-family: ui-monospace, monospace; font-weight: 600; display: block; }
    .js .leaves li .filled { display: none; } .js .leaves li.is-filled .filled { display: inline; } .js .leaves li.is-filled .pending { display: none; }
    html:not(.js) .leaves .pending { display: none; }
    .pending { color: var(--muted); font-style: italic; }
    .exercise, .forward { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 6px 18px 14px; margin-top: 14px; }
    .exercise h2, .forward h2 { font-size: 20px; margin: 8px 0; }
    pre.program { background: #f7f8fa; border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; }
    table.givens th, table.fwd th { text-align: left; padding: 3px 12px 3px 0; white-space: nowrap; }
    table.fwd td { padding: 3px 12px 3px 0; }
    .answer { margin: 10px 0; }
    .answer label { display: block; margin-bottom: 3px; }
    .answer input { font-family: ui-monospace, monospace; font-size: 15px; width: min(640px, 70%); padding: 5px 8px; border: 1px solid #9aa4b2; border-radius: 5px; }
    .answer button { font: inherit; margin-left: 8px; padding: 4px 14px; border-radius: 5px; border: 1px solid var(--blue); background: #fff; color: var(--blue); font-weight: 600; cursor: pointer; }
    .verdict { margin-top: 4px; } .verdict ul { margin: 2px 0; }
    .hint { background: #fffbe6; border: 1px solid #f0e2a8; border-radius: 6px; padding: 4px 10px; margin-top: 4px; }
    .hint p { margin: 4px 0; }
    @media (max-width: 1000px) { .stage { grid-template-columns: 1fr; } .cols { grid-template-columns: 1fr; } .leaves { position: static; } }
    """#

    static let script = #"""
    (function () {
      document.documentElement.classList.add('js');
      var cards = Array.prototype.slice.call(document.querySelectorAll('.card'));
      var total = cards.length, k = 0;
      var prev = document.getElementById('prev'), next = document.getElementById('next');
      var counter = document.getElementById('counter');
      var visitedNode = {};
      cards.forEach(function (c, i) { visitedNode[c.dataset.node] = visitedNode[c.dataset.node] === undefined ? i : visitedNode[c.dataset.node]; });
      function show(i) {
        k = Math.max(0, Math.min(total - 1, i));
        var node = cards[k].dataset.node;
        cards.forEach(function (c, j) { c.classList.toggle('current', j === k); });
        document.querySelectorAll('.node[data-node]').forEach(function (g) {
          var v = visitedNode[g.dataset.node];
          g.classList.toggle('current', g.dataset.node === node);
          g.classList.toggle('done', v !== undefined && v < k);
        });
        document.querySelectorAll('path.edge').forEach(function (p) { p.classList.toggle('current', p.dataset.to === node); });
        document.querySelectorAll('.leaves li').forEach(function (li) { li.classList.toggle('is-filled', +li.dataset.filledAt <= k + 1); });
        counter.textContent = 'Step ' + (k + 1) + ' of ' + total;
        prev.disabled = k === 0; next.disabled = k === total - 1;
        var cur = document.querySelector('.node.current');
        var box = document.querySelector('.graph');
        if (cur && box && cur.getBBox) {
          var b = cur.getBBox(), svg = box.querySelector('svg');
          var scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
          var x = b.x * scale, w = b.width * scale;
          if (x < box.scrollLeft || x + w > box.scrollLeft + box.clientWidth) box.scrollLeft = Math.max(0, x + w / 2 - box.clientWidth / 2);
        }
        if (history.replaceState) history.replaceState(null, '', '#step-' + (k + 1));
      }
      if (prev) prev.addEventListener('click', function () { show(k - 1); });
      if (next) next.addEventListener('click', function () { show(k + 1); });
      if (total > 0) document.addEventListener('keydown', function (e) {
        if (e.target && (e.target.tagName === 'INPUT' || e.target.tagName === 'TEXTAREA')) return;
        if (e.key === 'ArrowRight') { show(k + 1); e.preventDefault(); }
        if (e.key === 'ArrowLeft') { show(k - 1); e.preventDefault(); }
        if (e.key === 'Home') { show(0); e.preventDefault(); }
        if (e.key === 'End') { show(total - 1); e.preventDefault(); }
      });
      var m = /^#step-(\d+)$/.exec(location.hash);
      if (total > 0) show(m ? +m[1] - 1 : 0);

      // The exercise: the answers and known mistakes come with the page; here they are compared.
      var data = document.getElementById('backprop-exercise');
      if (!data) return;
      var ex = JSON.parse(data.textContent);
      function parse(text) {
        var t = text.replace(/\u2212/g, '-').trim();
        if (!t) throw new Error('write a nested array, e.g. [[0.1, -0.2]]');
        var v = JSON.parse(t);
        var shape = [];
        for (var x = v; Array.isArray(x); x = x[0]) shape.push(x.length);
        var flat = [];
        (function walk(a, d) {
          if (d === shape.length) { if (typeof a !== 'number' || !isFinite(a)) throw new Error('every entry must be a number'); flat.push(a); return; }
          if (!Array.isArray(a) || a.length !== shape[d]) throw new Error('the rows must all have the same length');
          a.forEach(function (b) { walk(b, d + 1); });
        })(v, 0);
        return { shape: shape, values: flat };
      }
      function close(a, b) { return Math.abs(a - b) <= ex.tolerance * Math.max(1, Math.abs(b)); }
      function fmt(x) { return x === 0 ? '0' : String(+x.toPrecision(5)); }
      function index(i, shape) { var out = []; for (var d = shape.length - 1; d >= 0; d--) { out.unshift(i % shape[d]); i = Math.floor(i / shape[d]); } return '[' + out.join(', ') + ']'; }
      document.querySelectorAll('.answer').forEach(function (div) {
        var q = ex.questions[+div.dataset.q];
        var input = div.querySelector('input'), out = div.querySelector('.verdict');
        function check() {
          var a;
          try { a = parse(input.value); } catch (err) { out.innerHTML = '<span class="bad">Cannot read that: ' + err.message + '.</span>'; return; }
          if (a.shape.length === 1 && q.shape.length === 2 && q.shape[0] === 1 && a.values.length === q.shape[1]) a.shape = q.shape.slice();
          var mistake = q.mistakes.filter(function (m) { return m.shape.join() === a.shape.join() && m.values.every(function (v, i) { return close(a.values[i], v); }); })[0];
          var html;
          if (a.shape.join() !== q.shape.join()) {
            html = '<span class="bad">Wrong shape [' + a.shape.join(', ') + ']: ' + q.name + ' has shape [' + q.shape.join(', ') + '].</span>';
          } else {
            var wrong = [];
            q.answer.forEach(function (v, i) { if (!close(a.values[i], v)) wrong.push('<li>' + index(i, q.shape) + ': you gave ' + fmt(a.values[i]) + ', the gradient is ' + fmt(v) + ' (off by ' + fmt(a.values[i] - v) + ')</li>'); });
            if (!wrong.length) { out.innerHTML = '<span class="ok">Right: every entry of ' + q.name + ' matches autograd.</span>'; div.dataset.verdict = 'right'; return; }
            html = '<span class="bad">' + wrong.length + ' of ' + q.answer.length + ' entries wrong:</span><ul>' + wrong.slice(0, 8).join('') + '</ul>';
          }
          if (mistake) html += '<p>' + mistake.message.replace(/&/g, '&amp;').replace(/</g, '&lt;') + '</p>';
          out.innerHTML = html + q.hint;
          div.dataset.verdict = 'wrong';
        }
        div.querySelector('button').addEventListener('click', check);
        input.addEventListener('keydown', function (e) { if (e.key === 'Enter') check(); });
      });
    })();
    """#
}
