import Foundation
import Testing
@testable import Backprop

#if canImport(FoundationXML)
import FoundationXML
#endif

/// The backward trace against autograd, the graph export, and the HTML page.
@Suite struct ExplainTests {
    func maxDiff(_ a: Tensor, _ b: Tensor) -> Double {
        #expect(a.shape == b.shape, "shapes \(a.shape) and \(b.shape) differ")
        return zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0
    }

    func notebook(dtype: DType = .float32, batch: Bool = false) -> NotebookStep {
        let x = batch ? Tensor([8, -2, -10, 20, 3, 1], shape: [3, 2], dtype: dtype) : Tensor([8, -2], shape: [1, 2], dtype: dtype)
        let t = batch ? Tensor(indices: [0, 1, 1]) : Tensor(indices: [0])
        return NotebookStep(W: Tensor([1, 2, 2, 1], shape: [2, 2], dtype: dtype), b: Tensor([0, 0], shape: [1, 2], dtype: dtype),
                            x: x, target: t, explain: true)
    }

    @Test("the notebook's trace: the rules in order, and numbers equal to autograd's .grad",
          arguments: [(DType.float32, false), (.float64, false), (.float32, true), (.float64, true)])
    func notebookTrace(dtype: DType, batch: Bool) throws {
        let s = notebook(dtype: dtype, batch: batch)
        let trace = try #require(s.trace)
        #expect(trace.steps.map(\.op) == ["NllLossBackward0", "LogSoftmaxBackward0", "AddBackward0", "AccumulateGrad",
                                          "MmBackward0", "AccumulateGrad"])
        let w = try #require(trace.step(labelled: "W")), b = try #require(trace.step(labelled: "b"))
        let c = try #require(trace.step(labelled: "c"))
        // The trace is the autograd pass: identical numbers, not merely close ones.
        #expect(maxDiff(w.incoming, s.W.grad!) == 0, "W: trace \(w.incoming) vs .grad \(s.W.grad!)")
        #expect(maxDiff(b.incoming, s.b.grad!) == 0, "b: trace \(b.incoming) vs .grad \(s.b.grad!)")
        #expect(maxDiff(c.incoming, s.c.grad!) == 0, "c: trace \(c.incoming) vs .grad \(s.c.grad!)")
        // And the hand derivation agrees to rounding.
        let tol = dtype == .float64 ? 1e-12 : 1e-5
        #expect(maxDiff(c.incoming, s.gradCManual) < tol)
        #expect(maxDiff(w.incoming, s.gradWManual) < tol * 10)
        // What each rule sent is what its input received.
        let mm = try #require(trace.steps.first { $0.op == "MmBackward0" })
        #expect(mm.formula == "dA = G B^T, dB = A^T G")
        #expect(mm.inputs[0].name == "x" && mm.inputs[0].node == nil && mm.inputs[0].sent == nil)
        #expect(maxDiff(try #require(mm.inputs[1].sent), w.incoming) == 0)
        #expect(w.value.map { maxDiff($0, s.W) } == 0, "the leaf's value is recorded")
        #expect(trace.steps.allSatisfy { $0.value != nil }, "every node keeps its value while recording")
        let e = try #require(NotebookExplanation(s))
        #expect(e.checks.count == 3 && e.checks.allSatisfy { $0.maxAbsDiff == 0 })
        let text = e.text()
        #expect(text.contains("(softmax - onehot) / N"))
        #expect(text.contains(batch ? "grad_b = sum of grad_c over the rows" : "grad_b = grad_c"))
    }

    @Test("the notebook's explanation shows the notebook's numbers")
    func notebookNumbers() throws {
        let text = try #require(NotebookExplanation(notebook())).text()
        #expect(text.contains("grad_c  = [[4.5398e-05, 0.99995]] - [[1, 0]] = [[-0.99995, 0.99995]]"), "\(text)")
        #expect(text.contains("grad_W[0, 0] = 8 * -0.99995 = -7.9996"))
        #expect(text.contains("W.grad = [[-7.9996, 7.9996], [1.9999, -1.9999]]"))
    }

    @Test("a tensor used twice: its gradient is the sum of what each use sent")
    func accumulation() throws {
        let a = Tensor([1, 2, 3, 4], shape: [2, 2], dtype: .float64).requiringGrad().named("a")
        let y = Explain.recordingValues { (a * a + a).sum() }
        let trace = try BackwardTrace.record(y)
        let leaf = try #require(trace.step(labelled: "a"))
        #expect(leaf.contributions.count == 3, "a * a sends twice, + a once")
        let total = leaf.contributions.map(\.gradient).reduce(Tensor.zeros([2, 2], dtype: .float64)) { $0 + $1 }
        #expect(maxDiff(total, leaf.incoming) == 0)
        #expect(maxDiff(leaf.incoming, a.grad!) == 0)
        #expect(a.grad!.scalars == [3, 5, 7, 9], "d/da (a^2 + a) = 2a + 1")
        #expect(trace.text().contains("G (the sum)"))
    }

    /// One training step of a two-layer MLP (makeMLP, SGD) on the built-in example, recorded.
    func mlpStep(hidden: Int = 8, seed: UInt64 = 0, dtype: DType = .float32) throws -> (model: Sequential, step: ExplainedTrainingStep) {
        let data = ExplainedTrainingStep.exampleData(dtype: dtype)
        var g = RandomGenerator(seed: seed)
        let model = makeMLP(inputs: data.featureCount, hidden: [hidden], outputs: data.classCount, dtype: dtype, using: &g)
        let step = try ExplainedTrainingStep(model: model, optimizer: SGD(model.parameters(), lr: 0.1),
                                             x: data.features, target: data.labels)
        return (model, step)
    }

    @Test("a two-layer MLP step: every parameter's trace gradient is its .grad")
    func mlpTrace() throws {
        let (model, step) = try mlpStep(hidden: 5, seed: 3, dtype: .float64)
        let named = model.namedParameters()
        #expect(named.map(\.name) == ["0.weight", "0.bias", "2.weight", "2.bias"])
        for (name, p) in named {
            let s = try #require(step.trace.step(labelled: name), "no step for \(name)")
            #expect(maxDiff(s.incoming, p.grad!) == 0, "\(name): trace vs .grad")
            let before = try #require(step.parametersBefore.first { $0.name == name }).tensor
            #expect(s.value.map { maxDiff($0, before) } == 0, "\(name): the trace shows the values the forward pass used")
            #expect(maxDiff(p.value, before - 0.1 * p.grad!) < 1e-12, "\(name): the SGD update followed the backward pass")
        }
        // Finite differences on one weight confirm the gradients are right, not merely consistent.
        let eps = 1e-6
        let w1Before = try #require(step.parametersBefore.first { $0.name == "0.weight" }).tensor
        func loss(_ w1: Tensor) throws -> Double {
            var state = Dictionary(uniqueKeysWithValues: step.parametersBefore.map { ($0.name, $0.tensor) })
            state["0.weight"] = w1
            try model.load(stateDict: state)
            return withNoGrad { model(step.x).crossEntropy(target: step.target).item }
        }
        var plus = w1Before.scalars, minus = plus
        plus[2] += eps; minus[2] -= eps
        let fd = (try loss(Tensor(plus, shape: [5, 3], dtype: .float64)) - loss(Tensor(minus, shape: [5, 3], dtype: .float64))) / (2 * eps)
        let g = try #require(step.trace.step(labelled: "0.weight")).incoming.scalars[2]
        #expect(abs(fd - g) < 1e-7, "finite difference \(fd) vs \(g)")
        let graph = ComputationGraph(step.trace)
        #expect(graph.nodes.filter { $0.kind == .parameter }.compactMap(\.label).sorted() == ["0.bias", "0.weight", "2.bias", "2.weight"])
        #expect(graph.nodes.filter { $0.kind == .constant }.map(\.label) == ["x"])
        #expect(graph.nodes.filter { $0.kind == .op }.allSatisfy { $0.grad != nil && $0.value != nil })
        #expect(Set(graph.nodes.map(\.opName)).isSuperset(of: ["relu", "addmm", "log_softmax", "nll_loss"]))
    }

    @Test("the MLP step is the step SupervisedTraining takes: same loss and parameters after it")
    func mlpStepIsTrainingStep() throws {
        let (model, step) = try mlpStep(hidden: 4, seed: 1, dtype: .float64)
        let data = ExplainedTrainingStep.exampleData(dtype: .float64)
        var g = RandomGenerator(seed: 1)
        let twin = makeMLP(inputs: 3, hidden: [4], outputs: 3, dtype: .float64, using: &g)
        let run = SupervisedTraining(model: twin, optimizer: SGD(twin.parameters(), lr: 0.1), train: data, test: nil,
                                     batchSize: 0, shuffle: false)
        let r = run.step(x: data.features, y: data.labels)
        #expect(r.loss == step.loss.item)
        for ((n1, a), (n2, b)) in zip(model.stateDict(), twin.stateDict()) {
            #expect(n1 == n2 && maxDiff(a, b) == 0, "\(n1) differs after the step")
        }
    }

    @Test("the README's example: trace, text and DOT from a few lines")
    func readmeExample() throws {
        let W = Tensor([[1, 2], [2, 1]]).requiringGrad().named("W")
        let x: Tensor = [[8, -2]]
        let loss = Explain.recordingValues { x.mm(W).crossEntropy(target: Tensor(indices: [0])) }
        let trace = try BackwardTrace.record(loss, names: [("x", x)])
        #expect(trace.text().contains("dB = W [2, 2] gets [[-7.9996, 7.9996], [1.9999, -1.9999]]"), "\(trace.text())")
        #expect(ComputationGraph(trace).dot().contains("x  (data, no grad)"))
        #expect(maxDiff(try #require(trace.step(labelled: "W")).incoming, W.grad!) == 0)
    }

    @Test("values are abridged for large tensors")
    func abridged() {
        let t = Tensor.arange(0, 64, dtype: .float64)
        #expect(ExplainFormat.values(t, limit: 8) == "[0, 1, 2, 3, 4, … ] (64 values)")
        #expect(ExplainFormat.values(Tensor([1, 2, 3, 4], shape: [2, 2]), limit: 8) == "[[1, 2], [3, 4]]")
    }

    @Test("the SVG drawn in Swift is well-formed XML with one box per node")
    func svgIsXML() throws {
        for trace in [notebook().trace!, try mlpStep().step.trace] {
            let graph = ComputationGraph(trace)
            let svg = graph.svg()
            final class Counter: NSObject, XMLParserDelegate {
                var rects = 0, paths = 0
                func parser(_ p: XMLParser, didStartElement e: String, namespaceURI: String?, qualifiedName: String?,
                            attributes: [String: String] = [:]) {
                    if e == "rect", attributes["rx"] != nil { rects += 1 }
                    if e == "path", attributes["marker-end"] != nil { paths += 1 }
                }
            }
            let parser = XMLParser(data: Data(svg.utf8))
            let counter = Counter()
            parser.delegate = counter
            #expect(parser.parse(), "SVG does not parse: \(String(describing: parser.parserError))")
            #expect(counter.rects == graph.nodes.count)
            #expect(counter.paths == graph.edges.count)
        }
    }

    @Test("the DOT output is valid: Graphviz's dot parses it",
          .enabled(if: ExternalTool.find("dot") != nil, "Graphviz's dot is not installed (apt-get install graphviz): DOT not checked"))
    func dotParses() throws {
        let dot = try #require(ExternalTool.find("dot"))
        for (name, trace) in [("walkthrough", notebook().trace!), ("mlp_step", try mlpStep().step.trace)] {
            let text = ComputationGraph(trace).dot(title: name)
            let (status, out, err) = try ExternalTool.run(dot, ["-Tsvg"], input: Data(text.utf8))
            #expect(status == 0, "dot rejected the \(name) graph: \(err)\n\(text)")
            #expect(String(decoding: out, as: UTF8.self).contains("<svg"))
        }
    }

    @Test("the HTML page is written atomically and holds the steps, formulas, graph and chain rule")
    func htmlPage() throws {
        let e = try #require(NotebookExplanation(notebook()))
        let html = ExplainPage.html(e)
        for needle in ["<!DOCTYPE html>", "<svg", "dA = G B^T, dB = A^T G", "Step 6 of 6</span> leaf W", "Why: the log-softmax",
                       "<mn>4.5398e-05</mn>", "<mn>0.99995</mn>", "<math"] {
            #expect(html.contains(needle), "page lacks \(needle)")
        }
        // Self-contained: its script and styles are inline, nothing is fetched.
        #expect(!html.contains("src=") && !html.contains("<link") && !html.contains("https://"))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("explain-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("page.html").path
        try "old".write(toFile: path, atomically: false, encoding: .utf8)
        try ExplainFiles.writeAtomically(html, to: path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == html)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["page.html"], "no temporary file is left")
        #expect(throws: ExplainFileError.self) { try ExplainFiles.writeAtomically(html, to: dir.path + "/missing/page.html") }
    }

    @Test("the HTML page renders in a headless browser (screenshot is a real picture)",
          .enabled(if: ExternalTool.browser != nil,
                   "no headless browser found (chromium, chromium-browser, google-chrome): apt-get install chromium to run this check"))
    func screenshot() throws {
        let browser = try #require(ExternalTool.browser)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("shot-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let page = dir.appendingPathComponent("walkthrough.html"), png = dir.appendingPathComponent("walkthrough.png")
        try ExplainFiles.writeAtomically(ExplainPage.html(try #require(NotebookExplanation(notebook()))), to: page.path)
        let (status, _, err) = try ExternalTool.run(browser, [
            "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,1600",
            "--user-data-dir=\(dir.appendingPathComponent("profile").path)",
            "--screenshot=\(png.path)", page.absoluteString,
        ], timeout: 120)
        #expect(status == 0, "\(browser) failed: \(err)")
        let data = try Data(contentsOf: png)
        #expect(data.count > 20_000, "screenshot of \(data.count) bytes is too small to show the page")
        let image = try #require(PNGImage(data), "not a PNG")
        #expect(image.width == 1280 && image.height == 1600, "screenshot is \(image.width)x\(image.height)")
        if let stats = image.colourStats() {
            print("screenshot: \(image.width)x\(image.height), \(data.count) bytes, \(stats.distinct) colours, \(String(format: "%.1f", stats.nonBackground * 100))% of pixels unlike the background")
            #expect(stats.distinct > 50, "only \(stats.distinct) colours: the page did not render")
            #expect(stats.nonBackground > 0.02, "only \(stats.nonBackground * 100)% of the pixels differ from the background")
        } else {
            Issue.record("zlib (libz.so.1) could not be loaded to decode the screenshot's pixels")
        }
    }
}

/// Optional command-line tools, found on PATH at run time.
enum ExternalTool {
    static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static let browser: String? = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"].lazy.compactMap(find).first

    /// Runs a tool with `input` on stdin; returns its status, stdout and stderr.
    static func run(_ exe: String, _ args: [String], input: Data? = nil, timeout: TimeInterval = 60) throws -> (Int32, Data, String) {
        let dir = FileManager.default.temporaryDirectory
        let tag = UUID().uuidString
        let inURL = dir.appendingPathComponent("in-\(tag)"), outURL = dir.appendingPathComponent("out-\(tag)"),
            errURL = dir.appendingPathComponent("err-\(tag)")
        defer { for u in [inURL, outURL, errURL] { try? FileManager.default.removeItem(at: u) } }
        try (input ?? Data()).write(to: inURL)
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        p.standardInput = try FileHandle(forReadingFrom: inURL)
        p.standardOutput = try FileHandle(forWritingTo: outURL)
        p.standardError = try FileHandle(forWritingTo: errURL)
        try p.run()
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if p.isRunning { p.terminate(); p.waitUntilExit(); return (-1, Data(), "timed out after \(timeout) s") }
        p.waitUntilExit()
        return (p.terminationStatus, try Data(contentsOf: outURL),
                String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
    }
}

/// Just enough PNG decoding to look at a screenshot's pixels (8-bit RGB/RGBA/grey), with zlib
/// loaded at run time.
struct PNGImage {
    let width: Int, height: Int, colourType: UInt8, bitDepth: UInt8
    let idat: Data

    init?(_ data: Data) {
        let bytes = [UInt8](data)
        guard bytes.count > 33, bytes[0..<8] == [137, 80, 78, 71, 13, 10, 26, 10] else { return nil }
        func be32(_ i: Int) -> Int { Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3]) }
        var i = 8, w = 0, h = 0, ct: UInt8 = 0, bd: UInt8 = 0
        var idat = Data()
        while i + 8 <= bytes.count {
            let len = be32(i)
            let type = String(decoding: bytes[(i + 4)..<(i + 8)], as: UTF8.self)
            guard i + 12 + len <= bytes.count else { return nil }
            let body = i + 8
            if type == "IHDR" { w = be32(body); h = be32(body + 4); bd = bytes[body + 8]; ct = bytes[body + 9] }
            if type == "IDAT" { idat.append(contentsOf: bytes[body..<(body + len)]) }
            if type == "IEND" { break }
            i = body + len + 4
        }
        guard w > 0, h > 0 else { return nil }
        width = w; height = h; colourType = ct; bitDepth = bd; self.idat = idat
    }

    typealias Uncompress = @convention(c) (UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<UInt>?,
                                          UnsafePointer<UInt8>?, UInt) -> Int32

    /// The number of distinct colours and the share of pixels unlike the top-left one; nil when
    /// zlib cannot be loaded or the format is not 8-bit.
    func colourStats() -> (distinct: Int, nonBackground: Double)? {
        let channels: Int
        switch colourType { case 0: channels = 1; case 2: channels = 3; case 4: channels = 2; case 6: channels = 4; default: return nil }
        guard bitDepth == 8, let lib = dlopen("libz.so.1", RTLD_NOW) ?? dlopen("libz.so", RTLD_NOW),
              let sym = dlsym(lib, "uncompress") else { return nil }
        let uncompress = unsafeBitCast(sym, to: Uncompress.self)
        let stride = width * channels
        var raw = [UInt8](repeating: 0, count: height * (stride + 1))
        var rawLen = UInt(raw.count)
        let src = [UInt8](idat)
        let rc = raw.withUnsafeMutableBufferPointer { r in
            src.withUnsafeBufferPointer { s in uncompress(r.baseAddress, &rawLen, s.baseAddress, UInt(s.count)) }
        }
        guard rc == 0, Int(rawLen) == raw.count else { return nil }
        // Undo the per-row filters.
        var px = [UInt8](repeating: 0, count: height * stride)
        for y in 0..<height {
            let filter = raw[y * (stride + 1)]
            for x in 0..<stride {
                let v = raw[y * (stride + 1) + 1 + x]
                let a = x >= channels ? Int(px[y * stride + x - channels]) : 0
                let b = y > 0 ? Int(px[(y - 1) * stride + x]) : 0
                let c = x >= channels && y > 0 ? Int(px[(y - 1) * stride + x - channels]) : 0
                let pred: Int
                switch filter {
                case 1: pred = a
                case 2: pred = b
                case 3: pred = (a + b) / 2
                case 4:
                    let p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                    pred = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c)
                default: pred = 0
                }
                px[y * stride + x] = UInt8(truncatingIfNeeded: Int(v) + pred)
            }
        }
        var colours = Set<UInt32>()
        var differ = 0
        func colour(_ i: Int) -> UInt32 {
            var c: UInt32 = 0
            for k in 0..<min(channels, 4) { c = c << 8 | UInt32(px[i + k]) }
            return c
        }
        let background = colour(0)
        for p in 0..<(width * height) {
            let c = colour(p * channels)
            colours.insert(c)
            if c != background { differ += 1 }
        }
        return (colours.count, Double(differ) / Double(width * height))
    }
}
