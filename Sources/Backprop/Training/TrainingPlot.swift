import Foundation

/// A self-contained SVG picture of a training history: loss (left, optionally on a log scale) and
/// accuracy or R² (right) per epoch, train and test, with axes, ticks from epoch 1, grid lines, a
/// legend and the final test accuracy marked. Opens in any browser; no scripts, and only generic
/// font families (sans-serif), which every system has.
public enum TrainingPlot {
    /// The SVG text for `history`, titled `title`: the loss of `objective` and its score (accuracy
    /// in percent for a classifier, R² for a regression); `logLoss` draws the loss on a log scale.
    public static func svg(history: [EpochRecord], title: String, objective: Objective = .classification,
                           logLoss: Bool = false) -> String {
        let width = 960.0, height = 400.0
        var out = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="13">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(width / 2)" y="24" text-anchor="middle" font-size="16" font-weight="bold">\(escape(title))</text>

        """
        let epochs = history.map { Double($0.epoch) }
        let loss: [(String, String, [Double?])] = [
            ("train", "#1f77b4", history.map { $0.trainLoss }),
            ("test", "#d62728", history.map { $0.testLoss }),
        ]
        let percent = objective.task == .classification ? 100.0 : 1
        let score: [(String, String, [Double?])] = [
            ("train", "#1f77b4", history.map { $0.trainScore * percent }),
            ("test", "#d62728", history.map { $0.testScore.map { $0 * percent } }),
        ]
        let lossName = objective.task == .classification ? "Cross-entropy loss" : "\(objective.lossDescription) loss"
        let lossTitle = logLoss ? "\(lossName) (log scale)" : lossName
        let scoreTitle = objective.task == .classification ? "Accuracy (%)" : "R²"
        out += panel(x: 70, y: 50, w: 380, h: 290, title: lossTitle, xs: epochs, series: loss, legendAtBottom: false, log: logLoss)
        out += panel(x: 560, y: 50, w: 380, h: 290, title: scoreTitle, xs: epochs, series: score, legendAtBottom: true)
        out += "</svg>\n"
        return out
    }

    static func panel(x: Double, y: Double, w: Double, h: Double, title: String, xs: [Double],
                      series: [(String, String, [Double?])], legendAtBottom: Bool, log: Bool = false) -> String {
        var s = "<g>\n"
        s += "<text x=\"\(x + w / 2)\" y=\"\(y - 8)\" text-anchor=\"middle\" font-size=\"13\">\(escape(title))</text>\n"
        s += "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(w)\" height=\"\(h)\" fill=\"none\" stroke=\"#888\"/>\n"
        // On a log scale only positive values can be drawn; the axis then spans whole decades
        // around them, with ticks at 1, 2 and 5 times each power of ten.
        let values = series.flatMap { $0.2.compactMap { $0 } }.filter { $0.isFinite && (!log || $0 > 0) }
        guard let lo0 = values.min(), let hi0 = values.max(), let x0 = xs.min(), let x1 = xs.max() else {
            return s + "<text x=\"\(x + w / 2)\" y=\"\(y + h / 2)\" text-anchor=\"middle\">no data</text>\n</g>\n"
        }
        let f: (Double) -> Double = log ? { Foundation.log10($0) } : { $0 }
        var (lo, hi) = (f(lo0), f(hi0))
        if hi - lo < 1e-12 { lo -= 0.5; hi += 0.5 }
        let pad = (hi - lo) * 0.05
        lo -= pad; hi += pad
        let xr = x1 > x0 ? (x0, x1) : (x0 - 1, x0 + 1)
        func px(_ v: Double) -> Double { x + (v - xr.0) / (xr.1 - xr.0) * w }
        func py(_ v: Double) -> Double { y + h - (f(v) - lo) / (hi - lo) * h }
        let yTicks = log ? logTicks(Foundation.pow(10, lo), Foundation.pow(10, hi)) : ticks(lo, hi)
        for t in yTicks {
            s += "<line x1=\"\(x)\" y1=\(q(py(t))) x2=\"\(x + w)\" y2=\(q(py(t))) stroke=\"#d4d4d4\" stroke-width=\"1\"/>\n"
            s += "<text x=\"\(x - 6)\" y=\(q(py(t) + 4)) text-anchor=\"end\">\(label(t))</text>\n"
        }
        // Epoch ticks: round values, and always the first epoch (1) and the last.
        var xTicks = ticks(xr.0, xr.1).filter { $0 == $0.rounded() && $0 >= x0 }
        if !xTicks.contains(x0) { xTicks.insert(x0, at: 0) }
        if let first = xTicks.dropFirst().first, px(first) - px(x0) < 18 { xTicks.remove(at: 1) }
        for t in xTicks {
            s += "<line x1=\(q(px(t))) y1=\"\(y)\" x2=\(q(px(t))) y2=\"\(y + h)\" stroke=\"#e4e4e4\" stroke-width=\"1\"/>\n"
            s += "<line x1=\(q(px(t))) y1=\"\(y + h)\" x2=\(q(px(t))) y2=\"\(y + h + 5)\" stroke=\"#666\"/>\n"
            s += "<text x=\(q(px(t))) y=\"\(y + h + 18)\" text-anchor=\"middle\">\(Int(t))</text>\n"
        }
        s += "<text x=\"\(x + w / 2)\" y=\"\(y + h + 34)\" text-anchor=\"middle\">epoch</text>\n"
        // Loss falls and accuracy rises: put the legend where the curves usually are not.
        var legendY = legendAtBottom ? y + h - 12 - 16 * Double(series.count - 1) : y + 16
        for (name, color, vals) in series {
            let pts = zip(xs, vals).compactMap { a, b in b.flatMap { $0.isFinite ? "\(r(px(a))),\(r(py($0)))" : nil } }
            guard !pts.isEmpty else { continue }
            if pts.count == 1 {
                let p = pts[0].split(separator: ",")
                s += "<circle cx=\"\(p[0])\" cy=\"\(p[1])\" r=\"3\" fill=\"\(color)\"/>\n"
            } else {
                s += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(pts.joined(separator: " "))\"/>\n"
            }
            s += "<line x1=\"\(x + w - 70)\" y1=\"\(legendY - 4)\" x2=\"\(x + w - 50)\" y2=\"\(legendY - 4)\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
            s += "<text x=\"\(x + w - 45)\" y=\"\(legendY)\">\(name)</text>\n"
            legendY += 16
        }
        // The final test value, marked: the number a run is judged by.
        if title.hasPrefix("Accuracy"), let test = series.first(where: { $0.0 == "test" }), let lastX = xs.last, let v = test.2.last ?? nil, v.isFinite {
            let cx = px(lastX), cy = py(v)
            let text = String(format: "final test %.2f%%", v)
            s += "<circle class=\"final\" cx=\(q(cx)) cy=\(q(cy)) r=\"5\" fill=\"white\" stroke=\"\(test.1)\" stroke-width=\"2.5\"/>\n"
            s += "<text class=\"final\" x=\(q(cx - 8)) y=\(q(cy + (cy > y + h - 30 ? -10 : 20))) text-anchor=\"end\" font-weight=\"bold\" fill=\"\(test.1)\" stroke=\"#fff\" stroke-width=\"4\" paint-order=\"stroke\">\(text)</text>\n"
        }
        return s + "</g>\n"
    }

    /// About five round tick values covering [lo, hi].
    static func ticks(_ lo: Double, _ hi: Double) -> [Double] {
        let span = hi - lo
        guard span > 0, span.isFinite else { return [lo] }
        let raw = span / 5
        let mag = Foundation.pow(10, Foundation.floor(Foundation.log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? 10 * mag
        var t = (lo / step).rounded(.up) * step
        var out: [Double] = []
        // At most a few dozen ticks, and none once a step no longer moves t (a span far below the
        // spacing of doubles near lo, as a diverged loss of 1e20 gives): never an endless loop.
        while t <= hi + step * 1e-9 && out.count < 50 {
            out.append(abs(t) < step * 1e-9 ? 0 : t)
            let next = t + step
            guard next > t else { break }
            t = next
        }
        return out
    }

    /// Ticks at 1, 2 and 5 times the powers of ten within [lo, hi] (lo > 0); only the powers of
    /// ten when that gives more than a dozen.
    static func logTicks(_ lo: Double, _ hi: Double) -> [Double] {
        guard lo > 0, hi > lo, lo.isFinite, hi.isFinite else { return [lo] }
        let first = Int(Foundation.floor(Foundation.log10(lo))), last = Int(Foundation.ceil(Foundation.log10(hi)))
        guard last - first < 40 else { return [lo, hi] }
        var all: [Double] = []
        for e in first...last { for m in [1.0, 2, 5] { let t = m * Foundation.pow(10, Double(e)); if t >= lo && t <= hi { all.append(t) } } }
        return all.count > 12 ? all.filter { Foundation.log10($0) == Foundation.log10($0).rounded() } : all
    }

    static func label(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e6 { return String(Int(v)) }
        var s = String(format: "%.4g", v)
        if s.hasPrefix("0.") == false && s.hasPrefix("-0.") == false, s.contains("e") { s = String(format: "%.2e", v) }
        return s
    }

    static func r(_ v: Double) -> String { String(format: "%.1f", v) }
    static func q(_ v: Double) -> String { "\"\(r(v))\"" }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
