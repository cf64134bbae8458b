import Foundation
import Testing
@testable import Backprop

/// The op descriptions are the one place an op is described: these tests fail when an op lacks a
/// part, or when what is derived from them (doc comments, the README's table) drifts.
@Suite struct OpDescriptionTests {
    /// The package's root, from this file's path (the tests run from the source tree).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func sources(under folder: String) -> [(path: String, text: String)] {
        let dir = root.appendingPathComponent(folder)
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return files.filter { $0.hasSuffix(".swift") }.sorted().map {
            let p = dir.appendingPathComponent($0).path
            return (p, (try? String(contentsOfFile: p, encoding: .utf8)) ?? "")
        }
    }

    @Test("every op has a name, a family, both spellings, a replay, and gradcheck inputs exactly when it has rules")
    func completeDescriptions() {
        #expect(OpDescription.all.count >= 48)
        #expect(Set(OpDescription.all.map(\.name)).count == OpDescription.all.count, "two descriptions share a name")
        for d in OpDescription.all {
            #expect(!d.pytorch.isEmpty && !d.swift.isEmpty, "\(d.name): missing spelling")
            #expect(d.isDifferentiable == !d.gradcheck.isEmpty, "\(d.name): rules and gradcheck inputs must come together")
            for r in d.rules { #expect(!r.name.isEmpty && !r.formula.isEmpty, "\(d.name): a rule without name or formula") }
            #expect(OpRegistry.contains(d.name) && OpRegistry.family(of: d.name) == d.family.rawValue)
        }
        #expect(GradcheckSuite.cases.count == OpDescription.all.reduce(0) { $0 + $1.gradcheck.count })
    }

    @Test("every description declared in Ops/ is listed in its family, so verify and gradcheck see it")
    func everyDeclaredDescriptionIsListed() {
        var declared = 0
        for (path, text) in Self.sources(under: "Sources/Backprop/Ops") {
            let n = text.components(separatedBy: "= OpDescription(").count - 1
            declared += n
            let listed = OpDescription.all.filter { $0.sourceFile == path }.count
            #expect(listed == n, "\(path): \(n) descriptions declared, \(listed) in OpDescription.all")
        }
        #expect(declared == OpDescription.all.count)
    }

    @Test("each rule's formula is the text its op's doc comment states")
    func docCommentsStateTheFormulas() {
        let docLines = Self.sources(under: "Sources/Backprop/Ops").flatMap { $0.text.split(separator: "\n") }
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.hasPrefix("///") }.joined(separator: "\n")
        for d in OpDescription.all {
            for r in d.rules {
                #expect(docLines.contains("Backward: \(r.formula)") || docLines.contains("Backward (tanh): \(r.formula)"),
                        "\(d.name): no doc comment says \"Backward: \(r.formula)\"")
            }
        }
    }

    @Test("the op tables of the README and the docs are the ones generated from the descriptions",
          arguments: ["README.md", "Sources/Backprop/Backprop.docc/OpTable.md"])
    func generatedTables(file: String) throws {
        let text = try String(contentsOf: Self.root.appendingPathComponent(file), encoding: .utf8)
        guard let a = text.range(of: "<!-- ops:begin -->\n"), let b = text.range(of: "<!-- ops:end -->") else {
            Issue.record("\(file) lacks the <!-- ops:begin --> / <!-- ops:end --> markers")
            return
        }
        let table = String(text[a.upperBound..<b.lowerBound])
        #expect(table == OpDescription.markdownTable, "\(file)'s op table is stale: run scripts/update_op_table.sh")
    }

    @Test("every op of PyTorch's reference files is described")
    func goldenOpsAreDescribed() {
        for c in Golden.cases("ops.json") {
            let op = c["op"] as! String
            #expect(OpDescription.named(op) != nil, "\(op) has no description")
        }
    }

    @Test("nodes carry their description's rule: the formula the trace shows is the description's")
    func nodesCarryTheRule() {
        let a = Tensor([[1, 2]]).requiringGrad(), b = Tensor([[3], [4]]).requiringGrad()
        let y = a.mm(b)
        #expect(y.gradNode?.rule == BackwardRule.mm)
        #expect(y.gradNode?.formula == OpDescription.mm.rules[0].formula)
        let z = a.add(Tensor([[1, 1]]).requiringGrad(), alpha: 2)
        #expect(z.gradNode?.formula == "da = G, db = alpha * G (summed over broadcast dims)")
    }
}
