import Foundation

/// A problem with a data file: what is wrong and where (file, line, column), in one line.
public struct DataError: Error, CustomStringConvertible, Equatable {
    /// The file (as given), or empty for in-memory data.
    public let file: String
    /// 1-based line number, when the problem has one.
    public let line: Int?
    /// 1-based column (field) number, when the problem has one.
    public let column: Int?
    /// What is wrong.
    public let message: String

    /// A problem in `file` at `line` and `column` (1-based, either may be unknown): `message`.
    public init(file: String, line: Int? = nil, column: Int? = nil, _ message: String) {
        self.file = file; self.line = line; self.column = column; self.message = message
    }

    /// `file:line:column: message`, leaving out the parts that are unknown.
    public var description: String {
        var place = file
        if let line { place += place.isEmpty ? "line \(line)" : ":\(line)" }
        if let column { place += place.isEmpty ? "column \(column)" : ":\(column)" }
        return place.isEmpty ? message : "\(place): \(message)"
    }
}
