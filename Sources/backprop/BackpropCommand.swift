import ArgumentParser
import Backprop

/// `backprop`: the notebook walkthrough (the default), and tools to verify, train and explain.
@main
struct BackpropCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backprop",
        abstract: "Tensors, reverse-mode autodiff and training, with every gradient shown and checked.",
        version: BackpropInfo.versionDescription,
        subcommands: CLISubcommands.all,
        defaultSubcommand: Walkthrough.self
    )
}
