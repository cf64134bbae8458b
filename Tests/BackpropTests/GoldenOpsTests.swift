import Testing
import Foundation
@testable import Backprop

/// Every single-op case of PyTorch's reference values: forward output and vector-Jacobian product.
@Suite struct GoldenOpsTests {
    nonisolated(unsafe) static let opsCases: [String: [String: Any]] = Dictionary(uniqueKeysWithValues:
        Golden.cases("ops.json").map { ($0["name"] as! String, $0) })
    nonisolated(unsafe) static let tieCases: [String: [String: Any]] = Dictionary(uniqueKeysWithValues:
        Golden.cases("ties.json").map { ($0["name"] as! String, $0) })

    @Test("ops.json", arguments: Golden.caseNames("ops.json"))
    func opCase(_ name: String) throws {
        let r = try Verifier.verifyOp(Self.opsCases[name]!, context: name)
        #expect(r.passed, "\(name) (\(r.op)): \(r.failure ?? "")")
    }

    @Test("ties.json", arguments: Golden.caseNames("ties.json"))
    func tieCase(_ name: String) throws {
        let r = try Verifier.verifyOp(Self.tieCases[name]!, context: name)
        #expect(r.passed, "\(name) (\(r.op)): \(r.failure ?? "")")
    }

    @Test("expressions.json: every step value and leaf gradient")
    func expressions() throws {
        for c in Golden.cases("expressions.json") {
            let r = try Verifier.verifyProgram(c, context: c["name"] as! String)
            #expect(r.passed, "\(r.name): \(r.failure ?? "")")
        }
    }

    @Test("the counts the issue names")
    func counts() {
        #expect(Self.opsCases.count == 376)
        #expect(Self.tieCases.count == 14)
        #expect(Golden.cases("expressions.json").count == 8)
    }
}
