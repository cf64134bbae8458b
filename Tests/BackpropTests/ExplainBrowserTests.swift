import Foundation
import Testing
@testable import Backprop

/// The interactive page in a real browser: headless Chromium, driven over the DevTools protocol,
/// opens the page `backprop explain --html` wrote, presses → through every step, and checks that
/// the highlighted node and the numbers shown are the trace's (`backprop explain --json`). It keeps
/// screenshots of the first, a middle and the last step in `.build/explain-screenshots` (or
/// `$BACKPROP_SCREENSHOTS`). Skips where no Chromium is installed.
@Suite(.serialized) struct ExplainBrowserTests {
    static let skipMessage = "no headless Chromium (chromium, chromium-browser, google-chrome): install it with `apt-get install chromium` (Debian, Ubuntu) to run the browser test of the explain page"

    static let screenshotDirectory: URL = {
        if let d = ProcessInfo.processInfo.environment["BACKPROP_SCREENSHOTS"], !d.isEmpty { return URL(fileURLWithPath: d) }
        return Golden.directory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/explain-screenshots")
    }()

    /// What the page shows for the current step, read from the DOM as a user sees it.
    static let readState = #"""
    (function () {
      function num(s) { return parseFloat(s.replace(/\u2212/g, '-')); }
      function read(el) {
        if (!el) return null;
        if (el.classList.contains('heatmap')) return { min: num(el.querySelector('.min').textContent), max: num(el.querySelector('.max').textContent) };
        return { values: Array.prototype.map.call(el.querySelectorAll('.v'), function (v) { return num(v.textContent); }) };
      }
      var card = document.querySelector('.card.current');
      var visible = Array.prototype.filter.call(document.querySelectorAll('.card'), function (c) { return c.getBoundingClientRect().height > 0; });
      return JSON.stringify({
        step: +card.dataset.step, node: +card.dataset.node,
        highlighted: Array.prototype.map.call(document.querySelectorAll('.node.current'), function (g) { return +g.dataset.node; }),
        visibleCards: visible.length,
        counter: document.getElementById('counter').textContent,
        G: read(card.querySelector('[data-role=G]')),
        inputs: Array.prototype.map.call(card.querySelectorAll('.input'), function (d) { return { index: +d.dataset.input, sent: read(d.querySelector('[data-role=sent]')) }; }),
        filled: Array.prototype.map.call(document.querySelectorAll('.leaves li.is-filled'), function (li) { return +li.dataset.node; }),
        mathRule: card.querySelectorAll('.rule math').length,
        overflowX: document.documentElement.scrollWidth > window.innerWidth + 1
      });
    })()
    """#

    static func flatten(_ any: Any?) -> [Double] {
        if let n = any as? NSNumber { return [n.doubleValue] }
        if let l = any as? [Any] { return l.flatMap { flatten($0) } }
        return []
    }

    /// Whether shown numbers (5 significant digits) are the trace's.
    static func same(_ shown: [String: Any]?, _ expected: Any?, _ what: String) -> String? {
        let e = flatten(expected)
        guard let shown else { return "\(what): nothing shown" }
        func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-4 * max(abs(b), 1e-12) + 1e-12 }
        if let values = shown["values"] as? [Any] {
            let v = flatten(values)
            guard v.count == e.count else { return "\(what): \(v.count) numbers shown, the trace has \(e.count)" }
            for (i, (a, b)) in zip(v, e).enumerated() where !close(a, b) { return "\(what)[\(i)]: shown \(a), the trace has \(b)" }
            return nil
        }
        let lo = (shown["min"] as? NSNumber)?.doubleValue ?? .nan, hi = (shown["max"] as? NSNumber)?.doubleValue ?? .nan
        guard let emin = e.min(), let emax = e.max(), close(lo, emin), close(hi, emax) else {
            return "\(what): heat map range \(lo)...\(hi), the trace's \(e.min() ?? .nan)...\(e.max() ?? .nan)"
        }
        return nil
    }

    /// Writes the page and the trace JSON with the CLI, then steps through the page.
    func stepThrough(_ name: String, _ args: [String]) throws {
        let browser = try #require(ExternalTool.browser)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("browser-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let page = dir.appendingPathComponent("\(name).html")
        let wrote = try CLI.run(["explain"] + args + ["--html", page.path])
        #expect(wrote.status == 0, "explain --html: \(wrote.stderr)")
        let json = try CLI.run(["explain"] + args + ["--json"])
        #expect(json.status == 0, "explain --json: \(json.stderr)")
        let trace = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        let leaves = trace.filter { $0["is_leaf"] as? Bool == true }

        let chrome = try HeadlessChromium(executable: browser, profile: dir.appendingPathComponent("profile").path)
        defer { chrome.stop() }
        try chrome.openPage(width: 1280, height: 800)
        try chrome.navigate(page.absoluteString)
        try FileManager.default.createDirectory(at: Self.screenshotDirectory, withIntermediateDirectories: true)
        for old in (try? FileManager.default.contentsOfDirectory(atPath: Self.screenshotDirectory.path)) ?? [] where old.hasPrefix("\(name)-") {
            try? FileManager.default.removeItem(at: Self.screenshotDirectory.appendingPathComponent(old))
        }
        // The middle screenshot shows an op (a rule with its numbers), the one nearest the middle.
        let ops = trace.indices.filter { trace[$0]["is_leaf"] as? Bool != true && $0 > 0 && $0 < trace.count - 1 }
        let middle = ops.min { abs($0 - trace.count / 2) < abs($1 - trace.count / 2) } ?? trace.count / 2
        let shots = Set([0, middle, trace.count - 1])
        for (k, expected) in trace.enumerated() {
            if k > 0 { try chrome.press("ArrowRight") }
            let text = try #require(try chrome.evaluate(Self.readState) as? String)
            let state = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
            let index = expected["index"] as! Int, node = expected["node"] as! Int
            #expect(state["step"] as? Int == index, "\(name): after \(k) presses the page shows step \(state["step"] ?? "?"), expected \(index)")
            #expect(state["counter"] as? String == "Step \(index) of \(trace.count)")
            #expect(state["visibleCards"] as? Int == 1, "\(name) step \(index): one card at a time")
            #expect(state["highlighted"] as? [Int] == [node], "\(name) step \(index): highlighted \(state["highlighted"] ?? "?"), the trace's node is \(node)")
            #expect(state["node"] as? Int == node)
            if let problem = Self.same(state["G"] as? [String: Any], expected["incoming"], "\(name) step \(index) G") { Issue.record("\(problem)") }
            let expectedInputs = expected["inputs"] as? [[String: Any]] ?? []
            let shownInputs = state["inputs"] as? [[String: Any]] ?? []
            if expected["is_leaf"] as? Bool != true {
                #expect(shownInputs.count == expectedInputs.count, "\(name) step \(index): \(shownInputs.count) inputs shown, the trace has \(expectedInputs.count)")
                #expect(state["mathRule"] as? Int == 1, "\(name) step \(index): the rule is MathML")
            }
            for (i, input) in expectedInputs.enumerated() where i < shownInputs.count {
                if let sent = input["sent"] {
                    if let problem = Self.same(shownInputs[i]["sent"] as? [String: Any], sent, "\(name) step \(index) input \(i)") { Issue.record("\(problem)") }
                } else {
                    #expect(shownInputs[i]["sent"] == nil || shownInputs[i]["sent"] is NSNull, "\(name) step \(index) input \(i): no gradient")
                }
            }
            let filledExpected = leaves.filter { ($0["index"] as! Int) <= index }.map { $0["node"] as! Int }.sorted()
            #expect((state["filled"] as? [Int])?.sorted() == filledExpected, "\(name) step \(index): leaves filled \(state["filled"] ?? "?"), expected \(filledExpected)")
            #expect(state["overflowX"] as? Bool == false, "\(name) step \(index): the page is wider than 1280 px")
            if shots.contains(k) {
                let png = try chrome.screenshot()
                let which = k == 0 ? "first" : (k == trace.count - 1 ? "last" : "middle")
                let url = Self.screenshotDirectory.appendingPathComponent("\(name)-\(which)-step\(index).png")
                try png.write(to: url)
                let image = try #require(PNGImage(png))
                #expect(image.width == 1280 && image.height == 800, "screenshot \(image.width)x\(image.height)")
                print("screenshot: \(url.path)")
            }
        }
        // One more → stays at the last step; ← goes back.
        try chrome.press("ArrowRight")
        let last = try #require(try chrome.evaluate("document.querySelector('.card.current').dataset.step") as? String)
        #expect(Int(last) == trace.count)
        try chrome.press("ArrowLeft")
        let back = try #require(try chrome.evaluate("document.querySelector('.card.current').dataset.step") as? String)
        #expect(Int(back) == trace.count - 1)
        if name == "notebook" { try exercise(chrome) }
    }

    /// The page's exercise: a wrong grad_c is explained, the right one accepted.
    func exercise(_ chrome: HeadlessChromium) throws {
        func answer(_ q: Int, _ text: String) throws -> String {
            let js = "(function () { var d = document.querySelector('.answer[data-q=\"\(q)\"]'); d.querySelector('input').value = '\(text)'; "
                + "d.querySelector('button').click(); return d.dataset.verdict + ' | ' + d.querySelector('.verdict').textContent; })()"
            return try #require(try chrome.evaluate(js) as? String)
        }
        let wrong = try answer(0, "[[0.99995, -0.99995]]")
        #expect(wrong.hasPrefix("wrong") && wrong.contains("sign is reversed") && wrong.contains("off by"), "\(wrong)")
        let right = try answer(0, "[[-0.99995, 0.99995]]")
        #expect(right.hasPrefix("right"), "\(right)")
        let w = try answer(1, "[[-7.9996, 7.9996], [1.9999, -1.9999]]")
        #expect(w.hasPrefix("right"), "\(w)")
        let b = try answer(2, "[[-0.5, 0.5]]")
        #expect(b.hasPrefix("wrong") && b.contains("off by"), "\(b)")
        _ = try answer(0, "[[0.99995, -0.99995]]")
        _ = try chrome.evaluate("document.getElementById('exercise').scrollIntoView(); window.scrollBy(0, -70); true")
        let url = Self.screenshotDirectory.appendingPathComponent("notebook-exercise.png")
        try chrome.screenshot().write(to: url)
        print("screenshot: \(url.path)")
    }

    @Test("a random instance's exercise page in Chromium: the right answers are accepted, a forgotten relu mask is named",
          .enabled(if: ExternalTool.browser != nil, "\(ExplainBrowserTests.skipMessage)"))
    func exercisePage() throws {
        let browser = try #require(ExternalTool.browser)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("exercise-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let page = dir.appendingPathComponent("exercise.html")
        let args = ["exercise", "--seed", "9", "--rows", "3", "--hidden", "3"]
        let wrote = try CLI.run(args + ["--html", page.path])
        #expect(wrote.status == 0, "\(wrote.stderr)")
        let json = try CLI.run(args + ["--json"])
        let answers = try #require((try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])?["answers"] as? [[String: Any]])
        let chrome = try HeadlessChromium(executable: browser, profile: dir.appendingPathComponent("profile").path)
        defer { chrome.stop() }
        try chrome.openPage(width: 1280, height: 800)
        try chrome.navigate(page.absoluteString)
        for (q, a) in answers.enumerated() {
            let text = String(decoding: try JSONSerialization.data(withJSONObject: a["expected"]!), as: UTF8.self)
            let js = "(function () { var d = document.querySelector('.answer[data-q=\"\(q)\"]'); d.querySelector('input').value = '\(text)'; "
                + "d.querySelector('button').click(); return d.dataset.verdict + ' | ' + d.querySelector('.verdict').textContent; })()"
            let verdict = try #require(try chrome.evaluate(js) as? String)
            #expect(verdict.hasPrefix("right"), "\(a["name"] ?? q): \(verdict)")
        }
        // grad_z given as grad_h: relu's mask forgotten.
        let names = answers.map { $0["name"] as! String }
        let h = try #require(names.firstIndex(of: "grad_h")), z = try #require(names.firstIndex(of: "grad_z"))
        let gh = String(decoding: try JSONSerialization.data(withJSONObject: answers[h]["expected"]!), as: UTF8.self)
        let js = "(function () { var d = document.querySelector('.answer[data-q=\"\(z)\"]'); d.querySelector('input').value = '\(gh)'; "
            + "d.querySelector('button').click(); return d.dataset.verdict + ' | ' + d.querySelector('.verdict').textContent; })()"
        let verdict = try #require(try chrome.evaluate(js) as? String)
        #expect(verdict.hasPrefix("wrong") && verdict.contains("z > 0"), "\(verdict)")
    }

    @Test("the notebook's page in Chromium: every step's node and numbers are the trace's",
          .enabled(if: ExternalTool.browser != nil, "\(ExplainBrowserTests.skipMessage)"))
    func notebookPage() throws {
        try stepThrough("notebook", [])
    }

    @Test("the MLP's page in Chromium (iris, train's options, one batch): every step's node and numbers are the trace's",
          .enabled(if: ExternalTool.browser != nil, "\(ExplainBrowserTests.skipMessage)"))
    func mlpPage() throws {
        try stepThrough("mlp", ["--model", "mlp", "--data", Fixtures.path("iris.csv"), "--hidden", "8", "--batch-size", "8", "--standardize"])
    }
}
