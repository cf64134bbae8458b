import ArgumentParser
import Backprop
import Foundation

/// `backprop ops`: the ops Backprop has, from their descriptions (PyTorch name, Swift spelling,
/// family, backward formula).
struct OpsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ops",
        abstract: "List every op with its PyTorch and Swift spellings, its family and its backward rule.",
        discussion: "--markdown prints the README's op table (scripts/update_op_table.sh writes it there).")

    @Flag(help: "Print the table in Markdown.")
    var markdown = false
    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func run() throws {
        if markdown {
            print(OpDescription.markdownTable, terminator: "")
        } else if json {
            try printJSON(["ops": OpDescription.all.map { d -> [String: Any] in
                ["name": d.name, "family": d.family.rawValue, "pytorch": d.pytorch, "swift": d.swift,
                 "rules": d.rules.map { ["name": $0.name, "formula": $0.formula] },
                 "gradcheck": d.gradcheckCases.map(\.name)]
            }])
        } else {
            let width = OpDescription.all.map(\.name.count).max() ?? 0
            for d in OpDescription.all {
                let rule = d.rules.first.map { "\($0.name): \($0.formula)" } ?? "no gradient"
                print(d.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + d.swift + "\n"
                      + String(repeating: " ", count: width + 2) + rule)
            }
            print("\(OpDescription.all.count) ops")
        }
    }
}
