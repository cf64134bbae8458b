import ArgumentParser

/// Every subcommand of `backprop`, in the order `--help` lists them. The first is the default.
enum CLISubcommands {
    static let all: [ParsableCommand.Type] = [
        Walkthrough.self,
        Train.self,
        Predict.self,
        Verify.self,
        GradcheckCommand.self,
        OpsCommand.self,
        Graph.self,
        ExplainCommand.self,
        ExerciseCommand.self,
    ]
}
