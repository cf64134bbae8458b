import Foundation

/// The explanation pages: the notebook's step (what `backprop walkthrough --html` and `backprop
/// explain --html` write) and any `ExplainedPass`, as the interactive `StepThroughPage`.
public enum ExplainPage {
    /// The page for a step made with `NotebookStep(..., explain: true)`: the backward pass step by
    /// step with the notebook's chain rule beside the steps it explains, and the exercise.
    public static func html(_ e: NotebookExplanation) -> String { StepThroughPage.html(ExplainedPass.notebook(e)) }

    /// The page of any explained pass (an MLP training step, say).
    public static func html(_ pass: ExplainedPass) -> String { StepThroughPage.html(pass) }
}

/// Writing a user's file without ever leaving it half-written.
public enum ExplainFiles {
    /// Writes `text` with `AtomicFile.write` (a temporary file beside `path`, flushed, then renamed
    /// over `path`); a failure is thrown as an `ExplainFileError` naming the file.
    public static func writeAtomically(_ text: String, to path: String) throws {
        do { try AtomicFile.write(Data(text.utf8), to: path) } catch let e as DataError {
            throw ExplainFileError(message: e.description)
        }
    }
}

/// A file of an explanation could not be written.
public struct ExplainFileError: Error, CustomStringConvertible {
    /// What went wrong, naming the file.
    public let message: String
    /// The message.
    public var description: String { message }
}
