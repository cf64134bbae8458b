import ArgumentParser
import Backprop
import Foundation

/// `backprop`: the notebook walkthrough (the default), and tools to verify, train and explain.
@main
struct BackpropCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backprop",
        abstract: "Tensors, reverse-mode autodiff and training, with every gradient shown and checked.",
        discussion: "backprop --version prints the version, the matrix-product backend (BLAS or the built-in kernel) and the thread count.",
        subcommands: CLISubcommands.all,
        defaultSubcommand: Walkthrough.self
    )

    /// Like ParsableCommand's own `main`, but every error is one line on stderr (no usage dump), and
    /// a bad argument exits with status 1 like every other bad input (ArgumentParser's own is 64).
    static func main() {
        // Answered here rather than through the configuration, so that an ordinary run does not
        // look for a BLAS library before it needs one.
        if Array(CommandLine.arguments.dropFirst()) == ["--version"] {
            print(BackpropInfo.versionDescription)
            Foundation.exit(0)
        }
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            let message = abridgingLongArguments(self.message(for: error)
                .split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }.joined(separator: " "))
            if !message.isEmpty {
                FileHandle.standardError.write(Data("error: \(message)\n".utf8))
            }
            Foundation.exit(code == .validationFailure ? EXIT_FAILURE : code.rawValue)
        }
    }

    /// The message with each command-line argument longer than 80 characters that it quotes cut
    /// to its start and end, so that a huge bad value still gives one readable line.
    static func abridgingLongArguments(_ message: String) -> String {
        var out = message
        for arg in Set(CommandLine.arguments.dropFirst()) where arg.count > 80 && out.contains(arg) {
            out = out.replacingOccurrences(of: arg, with: "\(arg.prefix(40))...\(arg.suffix(10)) (\(arg.count) characters)")
        }
        return out
    }
}
