import Foundation

/// Draws a `ComputationGraph` as SVG in Swift, so that a page can show the graph without Graphviz.
///
/// Layered left to right as Graphviz's `rankdir=LR` does: each op one column right of its deepest
/// input, parameters and data one column left of their first user, rows ordered by the mean row of
/// the neighbours (a few barycentre sweeps), edges as curves with arrowheads.
extension ComputationGraph {
    /// A standalone SVG document of the graph.
    ///
    /// - Parameters:
    ///   - limit: how many values of each tensor to show before abridging (as in `lines(_:limit:)`).
    ///   - fitWidth: size the picture to the width of its container (for a page) instead
    ///     of its natural size in pixels.
    public func svg(limit: Int = 8, fitWidth: Bool = false) -> String {
        let texts = nodes.map { lines($0, limit: limit).flatMap { ComputationGraph.wrap($0, width: 46) } }
        return picture(texts: texts, fontSize: 13, fitWidth: fitWidth, legend: edgeLegend(), forPage: false)
    }

    /// The picture for the interactive page: each box with its op, shape and a value summary, in
    /// text of the page's size; every box and edge carries the trace's node ids (`data-node`,
    /// `data-to`) so that the page's script can highlight the current step. The edge labels are
    /// explained by the page's legend (`edgeLegend()`).
    public func pageSVG() -> String {
        picture(texts: nodes.map(pageLines), fontSize: 14, fitWidth: false, legend: [], forPage: true)
    }

    /// The short lines of a box on the page: name and op, shape, and the values (or their range).
    public func pageLines(_ n: Node) -> [String] {
        let title: String
        switch n.kind {
        case .op: title = (n.label.map { "\($0) = " } ?? "") + n.opName
        case .parameter: title = n.label ?? "leaf"
        case .constant: title = n.label ?? "data"
        }
        var out = [title + "  " + ExplainFormat.shape(n.shape)]
        if let v = n.value { out.append(ExplainFormat.summary(v)) }
        return out
    }

    /// What the edge labels mean: for each op with several inputs, which input is which argument
    /// of its rule (`mm: A = x, B = W in dA = G B^T, dB = A^T G`).
    public func edgeLegend() -> [String] {
        var out: [String] = []
        var seen: Set<String> = []
        for n in nodes where n.kind == .op && multiInput(n.id) {
            let ins = edges.filter { $0.to == n.id }.sorted { $0.argument < $1.argument }
            let args = ins.map { "\(argName($0)) = \(nodes[$0.from].label ?? nodes[$0.from].opName)" }.joined(separator: ", ")
            let line = "\(n.label.map { "\($0) = " } ?? "")\(n.opName): \(args)   (rule: \(n.formula))"
            if seen.insert(line).inserted { out.append(line) }
        }
        return out
    }

    func picture(texts: [[String]], fontSize: Double, fitWidth: Bool, legend: [String], forPage: Bool) -> String {
        // Monospace glyphs are 0.6 em wide in every common font (DejaVu Sans Mono, Liberation Mono,
        // Menlo, Consolas); a little more keeps the text inside its box whatever the font.
        let charW = fontSize * 0.62, lineH = fontSize * 1.4, padX = 10.0, padY = 7.0
        let gapX = forPage ? 36.0 : 60.0, gapY = forPage ? 16.0 : 22.0
        let sizes = texts.map { t -> (w: Double, h: Double) in
            (Double(t.map(\.count).max() ?? 4) * charW + 2 * padX, Double(t.count) * lineH + 2 * padY)
        }
        // Columns: the forward depth of ops; leaves just before their first user.
        var inputsOf: [[Int]] = Array(repeating: [], count: nodes.count)
        var usersOf: [[Int]] = Array(repeating: [], count: nodes.count)
        for e in edges { inputsOf[e.to].append(e.from); usersOf[e.from].append(e.to) }
        var depth = [Int?](repeating: nil, count: nodes.count)
        func opDepth(_ i: Int) -> Int {
            // Iterative post-order, so that deep graphs do not overflow the stack.
            var stack = [(i, false)]
            while let (n, expanded) = stack.popLast() {
                if depth[n] != nil { continue }
                let ins = inputsOf[n].filter { nodes[$0].kind == .op }
                if expanded || ins.allSatisfy({ depth[$0] != nil }) {
                    depth[n] = 1 + (ins.compactMap { depth[$0] }.max() ?? 0)
                } else {
                    stack.append((n, true))
                    for j in ins where depth[j] == nil { stack.append((j, false)) }
                }
            }
            return depth[i]!
        }
        for n in nodes where n.kind == .op { _ = opDepth(n.id) }
        for n in nodes where n.kind != .op {
            depth[n.id] = max(0, (usersOf[n.id].compactMap { depth[$0] }.min() ?? 1) - 1)
        }
        let columnCount = (depth.compactMap { $0 }.max() ?? 0) + 1
        var columns: [[Int]] = Array(repeating: [], count: columnCount)
        for n in nodes { columns[depth[n.id]!].append(n.id) }
        // Order rows by the barycentre of neighbours, sweeping right then left.
        var row = [Double](repeating: 0, count: nodes.count)
        func renumber() { for c in columns { for (r, id) in c.enumerated() { row[id] = Double(r) } } }
        renumber()
        for sweep in 0..<4 {
            let order = sweep % 2 == 0 ? Array(0..<columnCount) : Array((0..<columnCount).reversed())
            for c in order {
                columns[c].sort { a, b in
                    func bary(_ id: Int) -> Double {
                        let nb = sweep % 2 == 0 ? inputsOf[id] : usersOf[id]
                        return nb.isEmpty ? row[id] : nb.map { row[$0] }.reduce(0, +) / Double(nb.count)
                    }
                    return (bary(a), a) < (bary(b), b)
                }
                renumber()
            }
        }
        // Coordinates.
        var x = [Double](repeating: 0, count: nodes.count), y = x
        var left = 20.0
        var height = 0.0
        for c in columns {
            let w = c.map { sizes[$0].w }.max() ?? 0
            var top = 20.0
            for id in c {
                x[id] = left; y[id] = top
                top += sizes[id].h + gapY
            }
            height = max(height, top)
            left += w + gapX
        }
        let width = left - gapX + 20
        height += 20 - gapY
        // Centre each column vertically.
        for c in columns {
            guard let last = c.last else { continue }
            let used = y[last] + sizes[last].h - 20
            let shift = (height - 40 - used) / 2
            for id in c { y[id] += shift }
        }

        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        let legendLineH = fontSize * 1.35
        let legendTop = height
        let legendLines = legend.isEmpty ? [] : ["Edge labels: the argument of the op's rule each input is"] + legend.map { "  " + $0 }
        let totalHeight = height + (legendLines.isEmpty ? 0 : Double(legendLines.count) * legendLineH + 16)
        let totalWidth = max(width, Double(legendLines.map(\.count).max() ?? 0) * charW * 0.95 + 40)
        // On the page the picture shrinks to its panel, but to no less than 80% of its size
        // (the text stays readable; a wider graph scrolls).
        let size = forPage ? "width=\"100%\" style=\"max-width: \(f(totalWidth))px; min-width: \(f(totalWidth * 0.8))px; height: auto\""
            : fitWidth ? "width=\"100%\" style=\"max-width: \(f(totalWidth))px; height: auto\"" : "width=\"\(f(totalWidth))\" height=\"\(f(totalHeight))\""
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" \(size) viewBox=\"0 0 \(f(totalWidth)) \(f(totalHeight))\" role=\"img\" aria-label=\"computation graph\" font-family=\"monospace\">\n"
        out += "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerUnits=\"userSpaceOnUse\" markerWidth=\"9\" markerHeight=\"9\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#555\"/></marker></defs>\n"
        out += "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n"
        for e in edges {
            let x1 = x[e.from] + sizes[e.from].w, y1 = y[e.from] + sizes[e.from].h / 2
            // Arguments enter the op's left side at distinct heights, ordered as their sources so
            // that the curves do not cross; the labels say which argument each one is.
            let siblings = edges.filter { $0.to == e.to }
                .sorted { (y[$0.from] + sizes[$0.from].h / 2, $0.argument) < (y[$1.from] + sizes[$1.from].h / 2, $1.argument) }
            let slot = siblings.firstIndex(of: e) ?? 0
            let x2 = x[e.to], y2 = y[e.to] + sizes[e.to].h * Double(slot + 1) / Double(siblings.count + 1)
            let mx = (x1 + x2) / 2
            let data = forPage ? " class=\"edge\"" + (nodes[e.to].traceNode.map { " data-to=\"\($0)\"" } ?? "")
                + (nodes[e.from].traceNode.map { " data-from=\"\($0)\"" } ?? "") : ""
            out += "<path\(data) d=\"M \(f(x1)) \(f(y1)) C \(f(mx)) \(f(y1)), \(f(mx)) \(f(y2)), \(f(x2)) \(f(y2))\" fill=\"none\" stroke=\"#555\" stroke-width=\"1.5\" marker-end=\"url(#arrow)\"/>\n"
            if multiInput(e.to) {
                // The label sits on the curve, three quarters of the way, on a white halo.
                let t = 0.72, u = 1 - t
                let lx = u * u * u * x1 + 3 * u * u * t * mx + 3 * u * t * t * mx + t * t * t * x2
                let ly = u * u * u * y1 + 3 * u * u * t * y1 + 3 * u * t * t * y2 + t * t * t * y2
                out += "<text x=\"\(f(lx))\" y=\"\(f(ly + fontSize * 0.35))\" text-anchor=\"middle\" font-family=\"sans-serif\" font-size=\"\(f(fontSize))\" font-weight=\"bold\" fill=\"#8a3b00\" stroke=\"#fff\" stroke-width=\"4\" paint-order=\"stroke\">\(esc(argName(e)))</text>\n"
            }
        }
        for n in nodes {
            let (fill, _) = ComputationGraph.style(n)
            let stroke = n.kind == .parameter ? "#2e7d32" : (n.isOutput ? "#c25e00" : (n.kind == .constant ? "#888" : "#3b6ea5"))
            let dash = n.kind == .constant ? " stroke-dasharray=\"4 3\"" : ""
            let sw = n.kind == .parameter || n.isOutput ? "2.2" : "1.2"
            let data = forPage ? (n.traceNode.map { " data-node=\"\($0)\"" } ?? "") : ""
            out += "<g class=\"node \(n.kind.rawValue)\"\(data)>\n"
            out += "<rect x=\"\(f(x[n.id]))\" y=\"\(f(y[n.id]))\" width=\"\(f(sizes[n.id].w))\" height=\"\(f(sizes[n.id].h))\" rx=\"6\" fill=\"\(fill)\" stroke=\"\(stroke)\" stroke-width=\"\(sw)\"\(dash)/>\n"
            for (k, line) in texts[n.id].enumerated() {
                let weight = k == 0 ? " font-weight=\"bold\"" : ""
                out += "<text x=\"\(f(x[n.id] + padX))\" y=\"\(f(y[n.id] + padY + lineH * Double(k) + fontSize))\" font-size=\"\(f(fontSize))\"\(weight) fill=\"#111\">\(esc(line))</text>\n"
            }
            out += "</g>\n"
        }
        for (k, line) in legendLines.enumerated() {
            let weight = k == 0 ? " font-weight=\"bold\"" : ""
            out += "<text x=\"20\" y=\"\(f(legendTop + 8 + legendLineH * Double(k + 1)))\" font-size=\"\(f(fontSize * 0.95))\"\(weight) fill=\"#333\" xml:space=\"preserve\">\(esc(line))</text>\n"
        }
        out += "</svg>\n"
        return out
    }

    /// Breaks a long line after ", " so that boxes stay narrow; continuation lines are indented.
    static func wrap(_ line: String, width: Int) -> [String] {
        guard line.count > width else { return [line] }
        var out: [String] = []
        var current = ""
        for piece in line.components(separatedBy: ", ").enumerated().map({ $0.offset == 0 ? $0.element : ", " + $0.element }) {
            if !current.isEmpty && current.count + piece.count > width {
                out.append(current + ",")
                current = "      " + String(piece.dropFirst(2))
            } else {
                current += piece
            }
        }
        if !current.isEmpty { out.append(current) }
        return out
    }
}
