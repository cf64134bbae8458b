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
        let charW = 6.6, lineH = 15.0, padX = 10.0, padY = 8.0, gapX = 60.0, gapY = 22.0
        let texts = nodes.map { lines($0, limit: limit).flatMap { ComputationGraph.wrap($0, width: 46) } }
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
        let size = fitWidth ? "width=\"100%\" style=\"max-width: \(f(width))px; height: auto\"" : "width=\"\(f(width))\" height=\"\(f(height))\""
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" \(size) viewBox=\"0 0 \(f(width)) \(f(height))\" role=\"img\" aria-label=\"computation graph\">\n"
        out += "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#555\"/></marker></defs>\n"
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
            out += "<path d=\"M \(f(x1)) \(f(y1)) C \(f(mx)) \(f(y1)), \(f(mx)) \(f(y2)), \(f(x2)) \(f(y2))\" fill=\"none\" stroke=\"#555\" stroke-width=\"1.3\" marker-end=\"url(#arrow)\"/>\n"
            if multiInput(e.to) {
                out += "<text x=\"\(f(x2 - 14))\" y=\"\(f(y2 - 6))\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"10\" fill=\"#333\">\(esc(argName(e)))</text>\n"
            }
        }
        for n in nodes {
            let (fill, _) = ComputationGraph.style(n)
            let stroke = n.kind == .parameter ? "#2e7d32" : (n.isOutput ? "#c25e00" : (n.kind == .constant ? "#888" : "#3b6ea5"))
            let dash = n.kind == .constant ? " stroke-dasharray=\"4 3\"" : ""
            let sw = n.kind == .parameter || n.isOutput ? "2.2" : "1.2"
            out += "<g class=\"node \(n.kind.rawValue)\">\n"
            out += "<rect x=\"\(f(x[n.id]))\" y=\"\(f(y[n.id]))\" width=\"\(f(sizes[n.id].w))\" height=\"\(f(sizes[n.id].h))\" rx=\"6\" fill=\"\(fill)\" stroke=\"\(stroke)\" stroke-width=\"\(sw)\"\(dash)/>\n"
            for (k, line) in texts[n.id].enumerated() {
                let weight = k == 0 ? " font-weight=\"bold\"" : ""
                out += "<text x=\"\(f(x[n.id] + padX))\" y=\"\(f(y[n.id] + padY + lineH * Double(k) + 11))\" font-family=\"Menlo, Consolas, 'DejaVu Sans Mono', monospace\" font-size=\"11\"\(weight) fill=\"#111\">\(esc(line))</text>\n"
            }
            out += "</g>\n"
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
