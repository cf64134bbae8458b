import Testing
import Foundation
@testable import Backprop

/// Printing matches PyTorch's repr (printing.json, made by scripts/make_print_reference.py).
@Suite struct PrintingTests {
    nonisolated(unsafe) static let cases: [String: [String: Any]] = Dictionary(uniqueKeysWithValues:
        Fixtures.cases("printing.json").map { ($0["name"] as! String, $0) })

    @Test("repr as PyTorch prints it", arguments: Fixtures.caseNames("printing.json"))
    func repr(_ name: String) {
        let c = Self.cases[name]!
        let dtype = DType(rawValue: c["dtype"] as! String)!
        var t = Tensor((c["data"] as! [Any]).map { ($0 as! NSNumber).doubleValue }, shape: c["shape"] as! [Int], dtype: dtype)
        if c["requires_grad"] as! Bool { t = t.requiringGrad() }
        #expect(t.description == c["repr"] as! String)
    }

    @Test func gradFnShown() {
        let W = Tensor([[1.0, 2], [2, 1]]).requiringGrad()
        let x: Tensor = [[8, -2]]
        #expect(x.mm(W).description == "tensor([[ 4., 14.]], grad_fn=<MmBackward0>)")
        #expect((x.mm(W) + Tensor([[0.0, 0]])).description == "tensor([[ 4., 14.]], grad_fn=<AddBackward0>)")
    }
}
