import Foundation
@testable import Backprop

/// The PyTorch reference files copied into the test bundle.
enum Fixtures {
    static func path(_ file: String) -> String {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures").appendingPathComponent(file).path
    }

    static func object(_ file: String) -> [String: Any] {
        try! GoldenFormat.loadObject(path(file))
    }

    static func cases(_ file: String) -> [[String: Any]] {
        object(file)["cases"] as! [[String: Any]]
    }

    static func caseNames(_ file: String) -> [String] {
        cases(file).map { $0["name"] as! String }
    }
}
