import Foundation

/// "Become a backprop ninja": the learner derives the gradients of one step of a softmax
/// classifier by hand, and each answer is checked against autograd, entry by entry, with the
/// common mistakes recognised and the missing step of the derivation shown.
///
/// The notebook's step asks for grad_c, grad_W and grad_b; a random instance can have more
/// classes and features, a batch, and a hidden ReLU layer (grad_c, grad_W2, grad_b2, grad_h,
/// grad_z, grad_W1, grad_b1).
///
/// ```swift
/// let ex = GradientExercise.random(seed: 3, classes: 3, features: 2, rows: 2)
/// let report = ex.check(["grad_c": try GradientExercise.parseAnswer("[[0.1, -0.1, 0], [0, 0, 0]]")])
/// print(report.text())
/// ```
public struct GradientExercise {
    /// A common mistake: the value it gives and what it says.
    public struct Mistake {
        /// The wrong answer this mistake produces.
        public let value: Tensor
        /// What went wrong, and the rule that fixes it.
        public let message: String
    }

    /// One line of a derivation step: text, and optionally a formula (in the op formulas'
    /// notation, `MathML.formula` renders it) with values for its placeholders.
    public struct HintLine {
        /// Plain text before the formula.
        public let text: String
        /// The formula as text (`grad_W = x^T grad_c`), if any.
        public let formula: String?
        /// Numbers: the formula's names bound to tensors (shown after it as `= ...`).
        public let values: [(String, Tensor)]
        /// The result the line arrives at, if any.
        public let result: Tensor?

        init(_ text: String, _ formula: String? = nil, values: [(String, Tensor)] = [], result: Tensor? = nil) {
            self.text = text; self.formula = formula; self.values = values; self.result = result
        }
    }

    /// One gradient asked for.
    public struct Question {
        /// Its name: `grad_c`, `grad_W`, ...
        public let name: String
        /// The tensor it is the gradient of (`c`, `W`, ...).
        public let of: String
        /// The right answer (autograd's, in Float64).
        public let answer: Tensor
        /// The step of the derivation that gives it.
        public let hint: [HintLine]
        /// Mistakes that give a known wrong value.
        public let mistakes: [Mistake]
        /// The question it follows from (`grad_c` for `grad_W`), and how: the learner's own answer
        /// to it, carried through this step correctly.
        let follows: (name: String, apply: (Tensor) -> Tensor?)?

        /// The command-line flag that gives it: `--grad-W`.
        public var flag: String { "--" + name.replacingOccurrences(of: "_", with: "-") }
        /// Its shape.
        public var shape: [Int] { answer.shape }
    }

    /// The title (what step this is).
    public let title: String
    /// The forward pass, one line each: `c = x.mm(W) + b`.
    public let program: [String]
    /// The given values: name and value, in the order printed.
    public let givens: [(name: String, value: Tensor)]
    /// The values of the forward pass the learner may use (c, softmax, loss).
    public let forward: [(name: String, value: Tensor)]
    /// The gradients asked for, in the order of the backward pass.
    public let questions: [Question]

    /// An entry is right when |given - right| <= tolerance * max(1, |right|): the answers are
    /// printed with 4 decimals, and 3 are asked for.
    public static let tolerance = 1e-3

    init(title: String, program: [String], givens: [(name: String, value: Tensor)], forward: [(name: String, value: Tensor)],
         questions: [Question]) {
        self.title = title; self.program = program; self.givens = givens; self.forward = forward; self.questions = questions
    }

    /// The notebook's step (its W, b, x and target).
    public init(notebook s: NotebookStep) {
        self = GradientExercise.make(title: "the notebook's step (“Backpropagation Again”)",
                                     x: s.x.detached().to(.float64), target: s.target, W: s.W.detached().to(.float64),
                                     b: s.b.detached().to(.float64), hidden: nil)
    }

    /// A random instance: `rows` rows of `features` features, `classes` classes, and with `hidden`
    /// a ReLU layer of that width before the classifier. Values have one decimal, so that they are
    /// printed exactly.
    public static func random(seed: UInt64, classes: Int = 3, features: Int = 3, rows: Int = 2, hidden: Int? = nil) -> GradientExercise {
        precondition(classes >= 2 && features >= 1 && rows >= 1 && (hidden ?? 1) >= 1,
                     "GradientExercise.random: classes >= 2, features, rows and hidden >= 1")
        var g = RandomGenerator(seed: seed)
        func draw(_ shape: [Int], _ bound: Double) -> Tensor {
            let n = shape.reduce(1, *)
            let steps = Int((bound * 10).rounded())
            return Tensor((0..<n).map { _ in Double(Int(g.next() % UInt64(2 * steps + 1)) - steps) / 10 }, shape: shape, dtype: .float64)
        }
        let x = draw([rows, features], 2)
        let target = Tensor(indices: (0..<rows).map { _ in Int(g.next() % UInt64(classes)) })
        if let h = hidden {
            // A hidden unit whose pre-activation is 0 has no clear derivative: draw again.
            var W1 = draw([features, h], 1), b1 = draw([1, h], 0.5)
            for _ in 0..<100 {
                let z = withNoGrad { x.mm(W1) + b1 }
                if z.scalars.allSatisfy({ Swift.abs($0) >= 0.05 }) && z.scalars.contains(where: { $0 > 0 }) { break }
                W1 = draw([features, h], 1); b1 = draw([1, h], 0.5)
            }
            return make(title: "a random instance (seed \(seed)) with a hidden ReLU layer", x: x, target: target,
                        W: draw([h, classes], 1), b: draw([1, classes], 0.5), hidden: (W1, b1))
        }
        return make(title: "a random instance (seed \(seed))", x: x, target: target, W: draw([features, classes], 1),
                    b: draw([1, classes], 0.5), hidden: nil)
    }

    static func make(title: String, x: Tensor, target: Tensor, W: Tensor, b: Tensor, hidden: (W1: Tensor, b1: Tensor)?) -> GradientExercise {
        let n = x.shape[0], classes = W.shape[1]
        let onehot = target.oneHot(numClasses: classes).to(.float64)
        let Wl = W.detached().requiringGrad(), bl = b.detached().requiringGrad()
        var W1l: Tensor? = nil, b1l: Tensor? = nil
        var z: Tensor? = nil, h: Tensor? = nil
        var input = x
        if let hidden {
            W1l = hidden.W1.detached().requiringGrad(); b1l = hidden.b1.detached().requiringGrad()
            let zz = x.mm(W1l!) + b1l!
            zz.retainGrad()
            let hh = zz.relu()
            hh.retainGrad()
            z = zz; h = hh; input = hh
        }
        let c = input.mm(Wl) + bl
        c.retainGrad()
        let loss = c.crossEntropy(target: target)
        loss.backward()
        let p = withNoGrad { c.softmax(dim: 1) }
        let gc = c.grad!, gW = Wl.grad!, gb = bl.grad!
        let N = Double(n)

        func sumRows(_ t: Tensor) -> Tensor { withNoGrad { t.sum(dims: [0], keepDim: true) } }
        func fromUpstream(_ a: Tensor, shape: [Int]) -> Tensor? { a.shape == shape ? a : nil }
        let (wName, bName, cInput) = hidden == nil ? ("W", "b", "x") : ("W2", "b2", "h")
        let inputValue = input.detached()
        var questions: [Question] = []
        var cMistakes = [
            Mistake(value: withNoGrad { -gc }, message: "The sign is reversed: grad_c = (softmax - onehot) / N, not (onehot - softmax) / N (raising the target's logit lowers the loss)."),
            Mistake(value: withNoGrad { p / N }, message: "You left out the one-hot: nll_loss sends -onehot / N to log_softmax, and the log-softmax's rule turns it into (softmax - onehot) / N."),
            Mistake(value: withNoGrad { -onehot / N }, message: "That is the gradient at log_softmax, one step early: the log-softmax's rule dx = G - softmax * sum(G, dim) still has to be applied."),
        ]
        if n > 1 {
            cMistakes.insert(Mistake(value: withNoGrad { p - onehot }, message: "You left out the 1/N of the mean: the loss is the mean over the N = \(n) rows, so every row of grad_c is divided by N."), at: 0)
            cMistakes.append(Mistake(value: p, message: "You left out the one-hot and the 1/N: grad_c = (softmax - onehot) / N."))
        }
        questions.append(Question(name: "grad_c", of: "c", answer: gc, hint: [
            HintLine("The loss is the mean over the rows of minus the log-probability of the target class:",
                     "loss = -(1/N) sum_i log_softmax(c)[i, t_i]"),
            HintLine("nll_loss gives log_softmax the gradient -onehot / N, and the log-softmax's rule (G - softmax * sum(G, dim), each row of G summing to -1/N) turns it into",
                     "grad_c = (softmax - onehot) / N", values: [("softmax", p), ("onehot", onehot), ("N", Tensor(scalar: N, dtype: .float64))], result: gc),
        ], mistakes: cMistakes, follows: nil))

        func weightQuestion(_ name: String, of: String, input: Tensor, inputName: String, upstream: String, upstreamValue: Tensor,
                            answer: Tensor) -> Question {
            var m = [
                Mistake(value: withNoGrad { upstreamValue.t().mm(input) },
                        message: "The shape is that of \(of)ᵀ: \(name) has \(of)'s shape \(ExplainFormat.shape(answer.shape)), so it is \(inputName)^T \(upstream), not \(upstream)^T \(inputName)."),
                Mistake(value: withNoGrad { -answer }, message: "The sign is reversed (check the sign of \(upstream))."),
            ]
            if n > 1 { m.append(Mistake(value: withNoGrad { answer * N }, message: "This is N times too large: the 1/N of the mean comes with \(upstream).")) }
            return Question(name: name, of: of, answer: answer, hint: [
                HintLine("\(of) multiplies \(inputName) from the right (\(inputName).mm(\(of))); the rule of mm, dB = A^T G, gives",
                         "\(name) = \(inputName)^T \(upstream)", values: [(inputName, input), (upstream, upstreamValue)], result: answer),
                HintLine("entry by entry, a sum over the rows: \(name)[f, k] = sum_i \(inputName)[i, f] * \(upstream)[i, k]."),
            ], mistakes: m, follows: (upstream, { a in a.shape == upstreamValue.shape ? withNoGrad { input.t().mm(a) } : nil }))
        }
        func biasQuestion(_ name: String, of: String, upstream: String, upstreamValue: Tensor, answer: Tensor) -> Question {
            var m = [Mistake(value: withNoGrad { -answer }, message: "The sign is reversed (check the sign of \(upstream)).")]
            if n > 1 {
                m.insert(Mistake(value: upstreamValue, message: "\(of) [1, \(answer.shape[1])] was broadcast over the N = \(n) rows: its gradient is the sum of \(upstream)'s rows, of \(of)'s shape."), at: 0)
                m.append(Mistake(value: withNoGrad { upstreamValue.mean(dims: [0], keepDim: true) }, message: "That is the mean of \(upstream)'s rows: a broadcast's gradient is their sum."))
                m.append(Mistake(value: withNoGrad { answer * N }, message: "This is N times too large: the 1/N of the mean comes with \(upstream)."))
            }
            return Question(name: name, of: of, answer: answer, hint: [
                HintLine("\(of) is added to every row (a broadcast add, whose rule passes G on and sums it over the broadcast dims):",
                         "\(name) = sum_i \(upstream)[i]", values: [(upstream, upstreamValue)], result: answer),
            ], mistakes: m, follows: (upstream, { a in a.shape == upstreamValue.shape ? sumRows(a) : nil }))
        }
        questions.append(weightQuestion("grad_\(wName)", of: wName, input: inputValue, inputName: cInput, upstream: "grad_c",
                                        upstreamValue: gc, answer: gW))
        questions.append(biasQuestion("grad_\(bName)", of: bName, upstream: "grad_c", upstreamValue: gc, answer: gb))

        if let z, let h, let W1l, let b1l {
            let gh = h.grad!, gz = z.grad!
            let mask = Tensor(z.scalars.map { $0 > 0 ? 1 : 0 }, shape: z.shape, dtype: .float64)
            questions.append(Question(name: "grad_h", of: "h", answer: gh, hint: [
                HintLine("h multiplies W2 from the left (h.mm(W2)); the rule of mm, dA = G B^T, gives",
                         "grad_h = grad_c W2^T", values: [("grad_c", gc), ("W2", W)], result: gh),
            ], mistakes: [
                Mistake(value: withNoGrad { W.mm(gc.t()) }, message: "The shape is that of hᵀ: grad_h has h's shape \(ExplainFormat.shape(gh.shape)), so it is grad_c W2^T."),
                Mistake(value: withNoGrad { -gh }, message: "The sign is reversed (check the sign of grad_c)."),
            ], follows: ("grad_c", { a in a.shape == gc.shape ? withNoGrad { a.mm(W.t()) } : nil })))
            questions.append(Question(name: "grad_z", of: "z", answer: gz, hint: [
                HintLine("h = relu(z) passes the gradient where z > 0 and stops it elsewhere (relu's rule dx = G * (x > 0)):",
                         "grad_z = grad_h * (z > 0)", values: [("grad_h", gh), ("z > 0", mask)], result: gz),
            ], mistakes: [
                Mistake(value: gh, message: "You left out relu's rule: it passes the gradient only where z > 0 (grad_z = grad_h * (z > 0))."),
                Mistake(value: withNoGrad { gh * h.detached() }, message: "relu's derivative is the indicator (z > 0), not h itself."),
            ], follows: ("grad_h", { a in a.shape == gh.shape ? withNoGrad { a * mask } : nil })))
            var w1 = weightQuestion("grad_W1", of: "W1", input: x, inputName: "x", upstream: "grad_z", upstreamValue: gz, answer: W1l.grad!)
            w1 = Question(name: w1.name, of: w1.of, answer: w1.answer, hint: w1.hint,
                          mistakes: w1.mistakes + [Mistake(value: withNoGrad { x.t().mm(gh) }, message: "You used grad_h: relu's rule comes first (grad_z = grad_h * (z > 0)), then grad_W1 = x^T grad_z.")],
                          follows: w1.follows)
            questions.append(w1)
            var b1 = biasQuestion("grad_b1", of: "b1", upstream: "grad_z", upstreamValue: gz, answer: b1l.grad!)
            b1 = Question(name: b1.name, of: b1.of, answer: b1.answer, hint: b1.hint,
                          mistakes: b1.mistakes + [Mistake(value: sumRows(gh), message: "You used grad_h: relu's rule comes first (grad_z = grad_h * (z > 0)), then grad_b1 sums grad_z's rows.")],
                          follows: b1.follows)
            questions.append(b1)
        }

        var givens: [(String, Tensor)] = [("x", x), ("target", target)]
        var program: [String]
        var forward: [(String, Tensor)] = []
        if let hidden, let z, let h {
            givens += [("W1", hidden.W1), ("b1", hidden.b1), ("W2", W), ("b2", b)]
            program = ["z = x.mm(W1) + b1", "h = relu(z)", "c = h.mm(W2) + b2", "loss = cross_entropy(c, target)   (the mean over the N rows)"]
            forward = [("z", z.detached()), ("h", h.detached())]
        } else {
            givens += [("W", W), ("b", b)]
            program = ["c = x.mm(W) + b", "loss = cross_entropy(c, target)   (the mean over the N rows)"]
        }
        forward += [("c", c.detached()), ("softmax(c)", p), ("onehot", onehot), ("loss", loss.detached())]
        return GradientExercise(title: title, program: program, givens: givens, forward: forward, questions: questions)
    }

    /// Reads an answer written as a nested array, `[[0.1, -0.2]]`; throws a `TensorParseError`.
    public static func parseAnswer(_ text: String) throws -> Tensor {
        let (shape, values) = try TensorTextParser.parse(text)
        return Tensor(values, shape: shape, dtype: .float64)
    }

    /// The problem as text: what was run, the givens, what to find.
    public func problemText() -> String {
        var out = "Exercise: the gradients of \(title)\n\n"
        out += program.map { "    " + $0 }.joined(separator: "\n") + "\n\n"
        for (name, v) in givens { out += "    \(name) = \(ExplainFormat.values(v, limit: 64))\n" }
        out += "\nThe forward pass gives:\n"
        for (name, v) in forward { out += "    \(name) = \(ExplainFormat.values(v, limit: 64))\n" }
        out += "\nFind, as nested arrays (entries to 3 decimals):\n"
        for q in questions { out += "    \(q.name) = d loss / d \(q.of)   shape \(ExplainFormat.shape(q.shape))   (\(q.flag))\n" }
        return out
    }

    /// Checks `answers` (by question name; a missing name is a question not answered).
    public func check(_ answers: [String: Tensor]) -> ExerciseReport {
        let tol = GradientExercise.tolerance
        func close(_ a: Tensor, _ b: Tensor) -> Bool {
            a.count == b.count && zip(a.scalars, b.scalars).allSatisfy { Swift.abs($0 - $1) <= tol * Swift.max(1, Swift.abs($1)) }
        }
        var results: [ExerciseReport.Result] = []
        for q in questions {
            guard var a = answers[q.name] else {
                results.append(.init(question: q, given: nil, verdict: .missing, diagnosis: nil))
                continue
            }
            // A row vector may be written without its outer brackets, as PyTorch's b of shape [C].
            if a.shape != q.shape, a.count == q.answer.count, q.shape.count == 2, q.shape[0] == 1, a.rank == 1 { a = a.reshape(q.shape) }
            var diagnosis: String? = nil
            if let m = q.mistakes.first(where: { $0.value.shape == a.shape && close(a, $0.value) }) { diagnosis = m.message }
            if diagnosis == nil, let f = q.follows, let theirs = answers[f.name], let carried = f.apply(theirs),
               carried.shape == a.shape, close(a, carried), !close(a, q.answer) {
                diagnosis = "This step is right for your \(f.name): \(q.name) follows from it correctly, so the mistake is in \(f.name)."
            }
            guard a.shape == q.shape else {
                results.append(.init(question: q, given: a, verdict: .wrongShape(a.shape), diagnosis: diagnosis
                    ?? "\(q.name) has the shape of \(q.of), \(ExplainFormat.shape(q.shape)); you gave \(ExplainFormat.shape(a.shape))."))
                continue
            }
            var wrong: [ExerciseReport.Entry] = []
            for (i, (x, y)) in zip(a.scalars, q.answer.scalars).enumerated() where Swift.abs(x - y) > tol * Swift.max(1, Swift.abs(y)) {
                wrong.append(.init(index: Tensor.multiIndex(i, shape: q.shape), given: x, expected: y))
            }
            results.append(.init(question: q, given: a, verdict: wrong.isEmpty ? .right : .wrong(wrong), diagnosis: wrong.isEmpty ? nil : diagnosis))
        }
        return ExerciseReport(results: results)
    }
}

/// The verdicts on a learner's answers, with what to show for each wrong one.
public struct ExerciseReport {
    /// A wrong entry.
    public struct Entry {
        /// Its position.
        public let index: [Int]
        /// The learner's value.
        public let given: Double
        /// The gradient's.
        public let expected: Double
    }

    /// How one answer fared.
    public enum Verdict {
        /// Every entry within the tolerance.
        case right
        /// These entries are not.
        case wrong([Entry])
        /// The answer has another shape.
        case wrongShape([Int])
        /// No answer given.
        case missing
    }

    /// One question's result.
    public struct Result {
        /// The question.
        public let question: GradientExercise.Question
        /// The learner's answer.
        public let given: Tensor?
        /// The verdict.
        public let verdict: Verdict
        /// A recognised mistake, if any.
        public let diagnosis: String?

        /// Whether the answer is right.
        public var isRight: Bool { if case .right = verdict { return true }; return false }
    }

    /// One result per question, in order.
    public let results: [Result]
    /// Whether every answer is right.
    public var allRight: Bool { results.allSatisfy(\.isRight) }

    /// A number with 5 significant digits, as the rest of the explanations print them.
    static func n(_ v: Double) -> String { ExplainFormat.number(v) }

    /// The derivation step of a question, as text lines.
    public static func hintText(_ q: GradientExercise.Question) -> [String] {
        q.hint.flatMap { line -> [String] in
            var out = [line.text]
            if let f = line.formula {
                out.append("    " + f)
                if !line.values.isEmpty {
                    out.append("    with " + line.values.map { "\($0.0) = \(ExplainFormat.values($0.1, limit: 64))" }.joined(separator: ", "))
                }
                if let r = line.result { out.append("    = \(ExplainFormat.values(r, limit: 64))") }
            }
            return out
        }
    }

    /// The report as text: each answer's verdict, its wrong entries and by how much, the mistake
    /// recognised, and the derivation step it is missing.
    public func text() -> String {
        var out = ""
        for r in results {
            let q = r.question
            let head = "\(q.name) \(ExplainFormat.shape(q.shape))"
            switch r.verdict {
            case .right:
                out += "\(head): right\n"
                continue
            case .missing:
                out += "\(head): not answered (give it with \(q.flag) '[[...]]')\n"
            case .wrongShape(let s):
                out += "\(head): wrong shape \(ExplainFormat.shape(s))\n"
            case .wrong(let entries):
                out += "\(head): \(entries.count) of \(q.answer.count) entries wrong\n"
                for e in entries.prefix(8) {
                    out += "    [\(e.index.map(String.init).joined(separator: ", "))]  you gave \(Self.n(e.given)), the gradient is \(Self.n(e.expected))  (off by \(Self.n(e.given - e.expected)))\n"
                }
                if entries.count > 8 { out += "    ... and \(entries.count - 8) more\n" }
            }
            if let d = r.diagnosis { out += "    " + d + "\n" }
            out += "    The step of the derivation:\n"
            out += Self.hintText(q).map { "      " + $0 }.joined(separator: "\n") + "\n"
        }
        let right = results.filter(\.isRight).count
        out += "\n\(right) of \(results.count) right" + (allRight ? ": every gradient is right.\n" : "\n")
        return out
    }

    /// The report as a JSON object, for tools.
    public func jsonObject() -> [String: Any] {
        [
            "all_right": allRight,
            "tolerance": GradientExercise.tolerance,
            "answers": results.map { r -> [String: Any] in
                var o: [String: Any] = ["name": r.question.name, "shape": r.question.shape, "expected": r.question.answer.nestedArray]
                switch r.verdict {
                case .right: o["verdict"] = "right"
                case .missing: o["verdict"] = "missing"
                case .wrongShape(let s): o["verdict"] = "wrong_shape"; o["given_shape"] = s
                case .wrong(let entries):
                    o["verdict"] = "wrong"
                    o["wrong_entries"] = entries.map { ["index": $0.index, "given": $0.given, "expected": $0.expected, "difference": $0.given - $0.expected] as [String: Any] }
                }
                if let g = r.given { o["given"] = g.nestedArray }
                if let d = r.diagnosis { o["diagnosis"] = d }
                if !r.isRight { o["hint"] = ExerciseReport.hintText(r.question) }
                return o
            },
        ]
    }
}
