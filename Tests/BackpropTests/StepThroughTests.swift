import Foundation
import Testing
@testable import Backprop

#if canImport(FoundationXML)
import FoundationXML
#endif

/// The interactive explanation: rules as MathML, the numbers, finite differences, the page.
@Suite struct StepThroughTests {
    func parses(_ xml: String) -> Bool {
        XMLParser(data: Data(xml.utf8)).parse()
    }

    func notebookPass(batch: Bool = false) throws -> ExplainedPass {
        let x = batch ? Tensor([8, -2, -10, 20, 3, 1], shape: [3, 2]) : Tensor([[8, -2]])
        let t = batch ? Tensor(indices: [0, 1, 1]) : Tensor(indices: [0])
        let s = NotebookStep(W: [[1, 2], [2, 1]], b: [[0, 0]], x: x, target: t, explain: true)
        return ExplainedPass.notebook(try #require(NotebookExplanation(s)))
    }

    @Test("every op's backward formula becomes well-formed MathML with no ASCII operators left")
    func everyFormula() {
        let formulas = Set(OpDescription.all.flatMap { $0.rules.map(\.formula) })
        #expect(formulas.count > 30)
        for f in formulas {
            let m = MathML.math(MathML.formulaLines(f))
            #expect(parses(m), "not XML: \(f)\n\(m)")
            #expect(!m.contains("<mo>^</mo>") && !m.contains("<mo>*</mo>"), "raw ^ or * left in \(f)")
            #expect(m.contains("\u{2202}"), "no gradient on the left in \(f)")
        }
    }

    @Test("mm's rule: fractions, transposes, and the numbers substituted")
    func mmRule() {
        let m = MathML.formula("dA = G B^T, dB = A^T G")
        #expect(m.contains("<msup><mi>B</mi><mi>T</mi></msup>"))
        #expect(m.components(separatedBy: "<mfrac>").count - 1 == 2, "∂ℓ/∂A and ∂ℓ/∂B")
        let b = MathML.formula("A^T G", bindings: ["A": MathML.tensor(Tensor([[8, -2]]))!])
        #expect(b.contains("<mn>8</mn>") && b.contains("<mn>2</mn>") && b.contains("<mi>G</mi>"))
        #expect(MathML.formula("dx = G * (x > 0)").contains("\u{1D7D9}"), "a comparison is an indicator")
        #expect(MathML.formula("db = sum(G, dim 0)").contains("<munder><mo>\u{2211}</mo>"))
        #expect(MathML.formula("dx = G / (2 * sqrt(x))").contains("<msqrt>"))
    }

    @Test("the notebook's pass: the rule of each step with its numbers, and the chain rule beside it")
    func notebookViews() throws {
        let pass = try notebookPass()
        #expect(pass.views.map(\.step.op) == ["NllLossBackward0", "LogSoftmaxBackward0", "AddBackward0", "AccumulateGrad",
                                              "MmBackward0", "AccumulateGrad"])
        let mm = pass.views[4]
        #expect(mm.roles == ["dA", "dB"])
        #expect(mm.numbers.count == 1 && mm.numbers[0].input == 1, "only B = W gets a gradient: x is data")
        let line = try #require(mm.numbers.first?.math)
        for n in ["<mn>8</mn>", "<mn>0.99995</mn>", "<mn>7.9996</mn>", "<mn>1.9999</mn>"] { #expect(line.contains(n), "\(n) not in \(line)") }
        let lsm = pass.views[1]
        #expect(lsm.numbers.first?.math.contains("<mn>4.5398e-05</mn>") == true, "softmax(x) substituted")
        #expect(pass.views[0].numbers.first?.math.contains("onehot") == true, "nll_loss without weights: -onehot * G / N")
        for v in pass.views {
            #expect(parses(v.rule.isEmpty ? "<math/>" : v.rule), "rule of step \(v.step.index)")
            for n in v.numbers { #expect(parses(n.math), "numbers of step \(v.step.index)") }
            for note in v.notes { for p in note.paragraphs { #expect(parses("<p>" + p + "</p>"), "note of step \(v.step.index): \(p)") } }
        }
        #expect(pass.views.filter { !$0.notes.isEmpty }.map(\.step.index) == [1, 2, 3, 4, 5, 6])
        #expect(pass.exercise?.questions.map(\.name) == ["grad_c", "grad_W", "grad_b"])
    }

    @Test("finite differences agree with every gradient of the notebook and of an MLP step, and catch a wrong one",
          arguments: [false, true])
    func finiteDifferences(batch: Bool) throws {
        let pass = try notebookPass(batch: batch)
        for v in pass.views {
            let c = try #require(v.check, "no check at step \(v.step.index) (\(v.step.op))")
            #expect(c.passed, "step \(v.step.index): \(c.entries.map { ($0.autograd, $0.numeric) })")
        }
        let data = ExplainedTrainingStep.exampleData()
        var g = RandomGenerator(seed: 2)
        let model = makeMLP(inputs: 3, hidden: [5], outputs: 3, activation: .tanh, using: &g)
        let step = try ExplainedTrainingStep(model: model, optimizer: SGD(model.parameters(), lr: 0.1), x: data.features, target: data.labels)
        let mlp = ExplainedPass.trainingStep(step, model: model, description: "test")
        #expect(mlp.views.allSatisfy { $0.check?.passed == true }, "\(mlp.views.map { ($0.step.op, $0.check?.passed as Any) })")
        // A gradient that is off is caught.
        let w = try #require(pass.trace.step(labelled: "W"))
        let (b, x, target) = (pass.forwardRows[1].value.to(.float64), pass.forwardRows[2].value.to(.float64), pass.forwardRows[3].value)
        let wrong = FiniteDifferenceCheck.check(w.incoming * 1.1, value: try #require(w.value)) { wv in
            withNoGrad { (x.mm(wv) + b).crossEntropy(target: target).item }
        }
        #expect(!wrong.passed)
    }

    @Test("the page: self-contained, one card per step, MathML, the trace's JSON, the exercise")
    func page() throws {
        let pass = try notebookPass()
        let html = StepThroughPage.html(pass)
        #expect(html.components(separatedBy: "<section class=\"card").count - 1 == 6)
        #expect(html.contains("<math") && html.contains("id=\"backprop-trace\"") && html.contains("id=\"backprop-exercise\""))
        // Nothing fetched: no external scripts, styles, images or fonts.
        for needle in ["src=", "<link", "@import", "url(http", "https://"] { #expect(!html.contains(needle), "the page fetches something: \(needle)") }
        let urls = html.components(separatedBy: "http://").dropFirst().map { String($0.prefix(30)) }
        #expect(urls.allSatisfy { $0.hasPrefix("www.w3.org/2000/svg") || $0.hasPrefix("www.w3.org/1998/Math/MathML") }, "\(urls)")
        // The graph's boxes carry the trace's node ids.
        for s in pass.trace.steps { #expect(html.contains("<g class=\"node \(s.isLeaf ? "parameter" : "op")\" data-node=\"\(s.node)\">")) }
        let big = StepThroughPage.tensorHTML(Tensor.arange(0, 64, dtype: .float64).reshape([8, 8]))
        #expect(big.contains("class=\"tensor heatmap\"") && big.contains(">63<"), "a large tensor is a heat map with its range")
        #expect(StepThroughPage.tensorHTML(Tensor([[1, 2]])).contains("<td class=\"v\">2</td>"))
    }

    @Test("the graph's edge labels are explained, and DOT asks for generic font families")
    func legend() throws {
        let pass = try notebookPass()
        let legend = pass.graph.edgeLegend()
        #expect(legend.contains { $0.hasPrefix("mm: A = x, B = W") }, "\(legend)")
        #expect(legend.contains { $0.hasPrefix("c = add: a = mm, b = b") }, "\(legend)")
        let dot = pass.graph.dot()
        #expect(!dot.contains("Helvetica") && dot.contains("fontname=\"monospace\"") && dot.contains("Edge labels"))
        #expect(!pass.graph.svg().contains("Helvetica") && pass.graph.svg().contains("Edge labels"))
    }
}

/// `GradientExercise`: answers checked against autograd, mistakes recognised.
@Suite struct ExerciseTests {
    let notebook = GradientExercise(notebook: NotebookStep(W: Tensor([[1, 2], [2, 1]], dtype: .float64), b: Tensor([[0, 0]], dtype: .float64),
                                                           x: Tensor([[8, -2]], dtype: .float64), target: Tensor(indices: [0])))

    func answers(_ e: GradientExercise) -> [String: Tensor] {
        Dictionary(uniqueKeysWithValues: e.questions.map { ($0.name, $0.answer) })
    }

    @Test("the notebook: the right answers (as printed, 4 decimals) pass; a reversed sign is named")
    func notebookAnswers() throws {
        var a: [String: Tensor] = [
            "grad_c": try GradientExercise.parseAnswer("[[-0.99995, 0.99995]]"),
            "grad_W": try GradientExercise.parseAnswer("[[-7.9996, 7.9996], [1.9999, -1.9999]]"),
            "grad_b": try GradientExercise.parseAnswer("[-0.99995, 0.99995]"),
        ]
        #expect(notebook.check(a).allRight, "\(notebook.check(a).text())")
        a["grad_W"] = try GradientExercise.parseAnswer("[[7.9996, -7.9996], [-1.9999, 1.9999]]")
        let r = notebook.check(a)
        #expect(!r.allRight)
        let w = try #require(r.results.first { $0.question.name == "grad_W" })
        guard case .wrong(let entries) = w.verdict else { Issue.record("grad_W: \(w.verdict)"); return }
        #expect(entries.count == 4 && entries[0].index == [0, 0] && abs(entries[0].given - entries[0].expected - 15.9992) < 1e-3)
        #expect(w.diagnosis?.contains("sign is reversed") == true, "\(w.diagnosis ?? "none")")
        #expect(r.text().contains("The step of the derivation") && r.text().contains("grad_W = x^T grad_c"))
    }

    @Test("random instances: right answers pass, each common mistake is recognised", arguments: [UInt64(1), 2, 3])
    func random(seed: UInt64) throws {
        let e = GradientExercise.random(seed: seed, classes: 3, features: 2, rows: 3)
        #expect(e.questions.map(\.name) == ["grad_c", "grad_W", "grad_b"])
        #expect(e.check(answers(e)).allRight)
        let gc = e.questions[0].answer
        var a = answers(e)
        a["grad_c"] = gc * 3
        #expect(e.check(a).results[0].diagnosis?.contains("1/N") == true)
        a = answers(e)
        a["grad_b"] = gc
        #expect(e.check(a).results[2].diagnosis?.contains("broadcast") == true)
        a = answers(e)
        a["grad_W"] = gc.t().mm(try #require(e.givens.first { $0.name == "x" }).value)
        #expect(e.check(a).results[1].diagnosis?.contains("shape") == true)
        // A wrong grad_c carried through correctly: grad_W is right for it.
        a = answers(e)
        let wrongC = gc * 2
        a["grad_c"] = wrongC
        a["grad_W"] = try #require(e.givens.first { $0.name == "x" }).value.t().mm(wrongC)
        #expect(e.check(a).results[1].diagnosis?.contains("mistake is in grad_c") == true, "\(e.check(a).text())")
        #expect(e.check([:]).results.allSatisfy { if case .missing = $0.verdict { return true }; return false })
    }

    @Test("a hidden ReLU layer: grad_h, grad_z (the mask), grad_W1, grad_b1")
    func hidden() throws {
        let e = GradientExercise.random(seed: 5, classes: 3, features: 2, rows: 2, hidden: 4)
        #expect(e.questions.map(\.name) == ["grad_c", "grad_W2", "grad_b2", "grad_h", "grad_z", "grad_W1", "grad_b1"])
        #expect(e.check(answers(e)).allRight)
        var a = answers(e)
        a["grad_z"] = a["grad_h"]
        let z = try #require(e.forward.first { $0.name == "z" }).value
        if z.scalars.contains(where: { $0 < 0 }) {
            #expect(e.check(a).results[4].diagnosis?.contains("z > 0") == true)
        }
        #expect(e.problemText().contains("h = relu(z)"))
        let json = e.check(a).jsonObject()
        #expect(JSONSerialization.isValidJSONObject(json))
    }
}

/// `backprop explain` and `backprop exercise` from the command line.
@Suite struct ExplainCLITests {
    @Test("explain --json is the trace; --html writes the page; --model mlp takes train's options")
    func explain() throws {
        let r = try CLI.run(["explain", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let steps = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        #expect(steps.map { $0["op"] as? String ?? "" } == ["NllLossBackward0", "LogSoftmaxBackward0", "AddBackward0", "AccumulateGrad",
                                                           "MmBackward0", "AccumulateGrad"])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("explain-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let page = dir.appendingPathComponent("mlp.html").path
        let m = try CLI.run(["explain", "--model", "mlp", "--data", Fixtures.path("iris.csv"), "--hidden", "4", "--batch-size", "5", "--html", page])
        #expect(m.status == 0, "\(m.stderr)")
        let html = try String(contentsOfFile: page, encoding: .utf8)
        #expect(html.contains("0.weight") && html.contains("a mini-batch of 5 rows") && html.contains("AddmmBackward0"))
        let text = try CLI.run(["explain", "--model", "mlp"])
        #expect(text.status == 0 && text.stdout.contains("leaf 0.weight"), "\(text.stderr)")
    }

    @Test("the walkthrough's page is the same interactive page")
    func walkthroughPage() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let (a, b) = (dir.appendingPathComponent("a.html").path, dir.appendingPathComponent("b.html").path)
        #expect(try CLI.run(["walkthrough", "--html", a]).status == 0)
        #expect(try CLI.run(["explain", "--html", b]).status == 0)
        #expect(try String(contentsOfFile: a, encoding: .utf8) == String(contentsOfFile: b, encoding: .utf8))
    }

    @Test("bad explain and exercise flags: one line, exit status 1", arguments: [
        (["explain", "--model", "cnn"], "FashionCNN"),
        (["explain", "--model", "attention"], "attention"),
        (["explain", "--model", "resnet"], "--model"),
        (["explain", "--limit", "0"], "--limit"),
        (["explain", "--data", "x.csv"], "--model mlp"),
        (["explain", "--html", "/nonexistent/dir/p.html"], "p.html"),
        (["exercise", "--grad-c", "[[1,"], "--grad-c"),
        (["exercise", "--grad-W2", "[[1]]"], "--grad-W2"),
        (["exercise", "--seed", "1", "--classes", "1"], "--classes"),
        (["exercise", "--seed", "1", "--rows", "99"], "--rows"),
        (["exercise", "--hidden", "3"], "--seed"),
        (["exercise", "--target", "[7]"], "--target"),
    ])
    func badFlags(_ args: [String], _ needle: String) throws {
        let r = try CLI.run(args)
        #expect(r.status == 1, "status \(r.status): \(r.stderr)")
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1 && r.stderr.hasPrefix("error: ") && r.stderr.contains(needle), "stderr: \(r.stderr)")
    }

    @Test("exercise: right answers exit 0, wrong ones 1 with what is wrong; --json; prompts")
    func exercise() throws {
        let right = ["--grad-c", "[[-0.99995, 0.99995]]", "--grad-W", "[[-7.9996, 7.9996], [1.9999, -1.9999]]", "--grad-b", "[[-1, 1]]"]
        let ok = try CLI.run(["exercise"] + right)
        #expect(ok.status == 0, "\(ok.stdout)\(ok.stderr)")
        #expect(ok.stdout.contains("3 of 3 right"))
        let bad = try CLI.run(["exercise", "--grad-c", "[[0.99995, -0.99995]]", "--grad-W", "[[-7.9996, 7.9996], [1.9999, -1.9999]]"])
        #expect(bad.status == 1)
        #expect(bad.stdout.contains("grad_c [1, 2]: 2 of 2 entries wrong") && bad.stdout.contains("off by") && bad.stdout.contains("sign is reversed"), "\(bad.stdout)")
        #expect(bad.stdout.contains("grad_b [1, 2]: not answered"))
        let json = try CLI.run(["exercise", "--json"] + right)
        let o = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(o["all_right"] as? Bool == true && json.status == 0)
        let typed = try CLI.run(["exercise", "--seed", "4", "--rows", "1", "--classes", "2", "--feature-count", "1"], input: "[[0.5, -0.5]]\n\n\n")
        #expect(typed.status == 1)
        #expect(typed.stdout.contains("grad_c [1, 2] = ") && typed.stdout.contains("grad_W [1, 2]: not answered"), "\(typed.stdout)")
        // The random instance's own answers, from --json, pass.
        let r = try CLI.run(["exercise", "--seed", "9", "--rows", "3", "--hidden", "2", "--json"])
        let answers = try #require((try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])?["answers"] as? [[String: Any]])
        var args = ["exercise", "--seed", "9", "--rows", "3", "--hidden", "2"]
        for a in answers {
            let name = a["name"] as! String
            let text = String(decoding: try JSONSerialization.data(withJSONObject: a["expected"]!), as: UTF8.self)
            args += ["--" + name.replacingOccurrences(of: "_", with: "-"), text]
        }
        let all = try CLI.run(args)
        #expect(all.status == 0 && all.stdout.contains("7 of 7 right"), "\(all.stdout)")
    }
}
