import Foundation

/// A data set: a numeric feature matrix and, per row, a class index (classification) or a
/// number (regression).
public struct Dataset: Sendable {
    /// [rows, features], float32 unless made otherwise.
    public var features: Tensor
    /// [rows]: int64 class indices in `0..<classNames.count`, or a regression's float targets.
    public var labels: Tensor
    /// The feature column names (from the header, or `x0`, `x1`, ...).
    public var featureNames: [String]
    /// The label of each class index, as written in the file (sorted numerically when all are
    /// numbers); empty for a regression.
    public var classNames: [String]
    /// The name of the label or target column (from the header, or `y`).
    public var labelName: String

    /// A data set of `features` [rows, features] and `labels` [rows] (int64 class indices, or
    /// float targets with no class names), with the names of the columns and of the classes.
    public init(features: Tensor, labels: Tensor, featureNames: [String], classNames: [String], labelName: String = "y") {
        precondition(features.rank == 2, "Dataset: features must be [rows, features], got \(features.shape)")
        precondition(labels.shape == [features.shape[0]] && (labels.dtype == .int64 || classNames.isEmpty),
                     "Dataset: labels must be int64 class indices [\(features.shape[0])] (or float targets, without class names), got \(labels.dtype) \(labels.shape)")
        self.features = features; self.labels = labels
        self.featureNames = featureNames; self.classNames = classNames; self.labelName = labelName
    }

    /// Number of rows.
    public var count: Int { features.shape[0] }
    /// Number of feature columns.
    public var featureCount: Int { features.shape[1] }
    /// Number of classes (0 for a regression).
    public var classCount: Int { classNames.count }
    /// Classification when the labels are class indices, regression when they are numbers.
    public var task: Task { labels.dtype == .int64 ? .classification : .regression }
}

/// Which CSV column holds the class label.
public enum LabelColumn: Sendable, Equatable {
    /// The last column (the default).
    case last
    /// A 0-based column index (negative counts from the end: -1 is the last).
    case index(Int)
    /// The column with this header name.
    case name(String)

    /// Parses a flag value: a whole number is an index, anything else a header name.
    public init(_ text: String) {
        if let i = Int(text) { self = .index(i) } else { self = .name(text) }
    }
}

/// The fields of a CSV file: its header (when it has one) and its rows, each with its line number,
/// all of one width.
public struct CSVTable: Sendable {
    /// The file, for errors.
    public let file: String
    /// The column names, when the file has a header row.
    public let header: [String]?
    /// The data rows: the 1-based line number and the fields.
    public let rows: [(number: Int, fields: [String])]
    /// The number of columns.
    public var width: Int { header?.count ?? rows.first?.fields.count ?? 0 }

    /// The index of `column` (`.last`, an index that may count from the end, or a header name).
    public func index(of column: LabelColumn, what: String = "label column") throws -> Int {
        switch column {
        case .last: return width - 1
        case .index(let i):
            let j = i < 0 ? width + i : i
            guard j >= 0 && j < width else {
                throw DataError(file: file, "\(what) \(i) is out of range for \(width) columns (0...\(width - 1))")
            }
            return j
        case .name(let name):
            guard let header else { throw DataError(file: file, "\(what) '\(name)' given by name, but the file has no header") }
            guard let j = header.firstIndex(of: name) else {
                throw DataError(file: file, line: 1, "no column named '\(name)' in the header (columns: \(header.joined(separator: ", ")))")
            }
            return j
        }
    }

    /// The name of column `c`: its header, or `x<c>`.
    public func name(_ c: Int) -> String { header?[c] ?? "x\(c)" }

    /// Columns `columns` of every row as finite numbers, row after row (a `DataError` names the
    /// line and column of the first field that is not one; `what` says which kind of column).
    public func numbers(_ columns: [Int], what: String = "feature column") throws -> [Double] {
        var values = [Double]()
        values.reserveCapacity(rows.count * columns.count)
        for (number, fields) in rows {
            for c in columns {
                let f = fields[c]
                guard let v = Double(f), v.isFinite else {
                    let problem = f.isEmpty ? "empty field" : "'\(f)' is not a finite number"
                    let name = header.map { " (\($0[c]))" } ?? ""
                    throw DataError(file: file, line: number, column: c + 1, "\(problem) in \(what) \(c + 1)\(name)")
                }
                values.append(v)
            }
        }
        return values
    }

    /// Column `c` as written; an empty field is an error naming its line.
    public func labels(_ c: Int) throws -> [String] {
        try rows.map { number, fields in
            let label = fields[c]
            guard !label.isEmpty else { throw DataError(file: file, line: number, column: c + 1, "empty label") }
            return label
        }
    }
}

/// Reads numeric CSV files into a `Dataset`.
///
/// Fields are separated by commas (surrounding spaces ignored, double quotes allowed around a
/// field); blank lines are skipped. Every feature must be a finite number; labels may be numbers
/// (whole numbers) or names, a regression's targets finite numbers. Problems are thrown as
/// `DataError` with the line and column.
public enum CSVReader {
    /// Reads `path`; see `parse`.
    public static func read(_ path: String, labelColumn: LabelColumn = .last, task: Task = .classification,
                            hasHeader: Bool = true, dtype: DType = .float32, classes: [String]? = nil) throws -> Dataset {
        try dataset(readTable(path, hasHeader: hasHeader), labelColumn: labelColumn, task: task, dtype: dtype, classes: classes)
    }

    /// The fields of the CSV file at `path` (at least two columns, every row as wide as the header).
    public static func readTable(_ path: String, hasHeader: Bool = true, minimumWidth: Int = 2) throws -> CSVTable {
        let data = try AtomicFile.read(path)
        guard let text = String(data: data, encoding: .utf8) else {
            throw DataError(file: path, "not UTF-8 text")
        }
        return try table(text, file: path, hasHeader: hasHeader, minimumWidth: minimumWidth)
    }

    /// Parses CSV text (`file` only names it in errors) into a data set: the label column
    /// (`task` .classification) or target column (.regression), and the other columns as features.
    public static func parse(_ text: String, file: String = "", labelColumn: LabelColumn = .last, task: Task = .classification,
                             hasHeader: Bool = true, dtype: DType = .float32, classes: [String]? = nil) throws -> Dataset {
        try dataset(table(text, file: file, hasHeader: hasHeader), labelColumn: labelColumn, task: task, dtype: dtype,
                    classes: classes)
    }

    /// Splits CSV text into a header and rows of one width (`minimumWidth` columns at least).
    public static func table(_ text: String, file: String = "", hasHeader: Bool = true, minimumWidth: Int = 2) throws -> CSVTable {
        var lines: [(number: Int, fields: [String])] = []
        var lineNumber = 0
        // "\r\n" is one Character in Swift: split on both forms.
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNumber += 1
            var line = Substring(raw)
            if line.hasSuffix("\r") { line = line.dropLast() }
            if lineNumber == 1 && line.hasPrefix("\u{FEFF}") { line = line.dropFirst() }
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            lines.append((lineNumber, try splitFields(line, file: file, line: lineNumber)))
        }
        guard !lines.isEmpty else { throw DataError(file: file, "the file is empty: no header and no rows") }
        var header: [String]? = nil
        if hasHeader { header = lines.removeFirst().fields }
        guard !lines.isEmpty else { throw DataError(file: file, "no data rows after the header") }
        let width = header?.count ?? lines[0].fields.count
        guard width >= minimumWidth else {
            throw DataError(file: file, line: header != nil ? 1 : lines[0].number,
                            minimumWidth == 2 ? "need at least 2 columns (features and a label), found \(width)"
                                : "need at least \(minimumWidth) columns, found \(width)")
        }
        for (number, fields) in lines where fields.count != width {
            throw DataError(file: file, line: number, column: min(fields.count, width) + 1,
                            "row has \(fields.count) fields, expected \(width)\(header != nil ? " as in the header" : " as in the first row")")
        }
        return CSVTable(file: file, header: header, rows: lines)
    }

    /// A data set from the columns of `table`: `labelColumn` as the class label (`task`
    /// .classification) or the target (.regression), the other columns as features.
    ///
    /// Class `i` is the i-th of `classes` when given (labels `3` and `7` with `classes: ["0", ..., "9"]`
    /// stay 3 and 7; a label not in the list throws); otherwise the distinct labels, numbers sorted
    /// as numbers and names as text. The names are kept in `Dataset.classNames`.
    public static func dataset(_ table: CSVTable, labelColumn: LabelColumn = .last, task: Task = .classification,
                               dtype: DType = .float32, classes: [String]? = nil) throws -> Dataset {
        let labelIndex = try table.index(of: labelColumn, what: task == .regression ? "target column" : "label column")
        let featureColumns = (0..<table.width).filter { $0 != labelIndex }
        let values = try table.numbers(featureColumns)
        let features = Tensor(values, shape: [table.rows.count, featureColumns.count], dtype: dtype)
        let names = featureColumns.map(table.name)
        let labelName = table.header?[labelIndex] ?? "y"
        if task == .regression {
            let targets = try table.numbers([labelIndex], what: "target column")
            return Dataset(features: features, labels: Tensor(targets, shape: [targets.count], dtype: dtype),
                           featureNames: names, classNames: [], labelName: labelName)
        }
        var rawLabels = try table.labels(labelIndex)

        // Class names: numeric labels sorted as numbers (and required to be whole), others as text.
        let numeric = rawLabels.map { Double($0) }
        var classNames: [String]
        var index: [String: Int] = [:]
        if numeric.allSatisfy({ $0 != nil }) {
            var ids: [Int] = []
            ids.reserveCapacity(numeric.count)
            for (k, v) in numeric.enumerated() {
                ids.append(try classID(v!, text: rawLabels[k], file: table.file, line: table.rows[k].number, column: labelIndex + 1))
            }
            let distinct = Set(ids).sorted()
            classNames = distinct.map(String.init)
            for (k, v) in distinct.enumerated() { index[String(v)] = k }
            rawLabels = ids.map(String.init)
        } else {
            classNames = Set(rawLabels).sorted()
            for (k, v) in classNames.enumerated() { index[v] = k }
        }
        if let classes {
            // A numeric class list names ids as the labels do ("7.0" is class "7").
            let names = classes.map { c in Double(c).flatMap { Int(exactly: $0) }.map(String.init) ?? c }
            guard Set(names).count == names.count else {
                throw DataError(file: table.file, "the class list \(classes) names a class twice")
            }
            index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
            classNames = classes
            for (k, label) in rawLabels.enumerated() where index[label] == nil {
                throw DataError(file: table.file, line: table.rows[k].number, column: labelIndex + 1,
                                "label '\(label)' is not one of the classes \(classes.joined(separator: ", "))")
            }
        }
        let labels = rawLabels.map { index[$0]! }
        return Dataset(features: features, labels: Tensor(indices: labels), featureNames: names, classNames: classNames,
                       labelName: labelName)
    }

    /// Doubles are exact integers up to this magnitude; a larger label would name a class other
    /// than the one written (and one past `Int`'s range would stop the program when converted).
    static let largestClassID = 9_007_199_254_740_992.0  // 2^53

    /// The class id of a numeric label: a whole, finite number of at most 2^53 in magnitude.
    static func classID(_ v: Double, text: String, file: String, line: Int, column: Int) throws -> Int {
        func fail(_ m: String) -> DataError {
            DataError(file: file, line: line, column: column, "label '\(text)' \(m) (labels are class ids or names)")
        }
        guard v.isFinite else { throw fail("is not a finite number") }
        guard v == v.rounded() else { throw fail("is not a whole number") }
        guard abs(v) <= largestClassID else { throw fail("is past 2^53 = 9007199254740992, the largest class id") }
        return Int(v)
    }

    /// The fields of one line: split at commas outside double quotes, trimmed.
    static func splitFields(_ line: Substring, file: String, line number: Int) throws -> [String] {
        var fields: [String] = []
        var current = ""
        var inQuotes = false
        var wasQuoted = false
        var iterator = line.makeIterator()
        var pending: Character? = nil
        while let ch = pending ?? iterator.next() {
            pending = nil
            if inQuotes {
                if ch == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" { current.append("\"") } else { inQuotes = false; pending = next }
                    } else { inQuotes = false }
                } else { current.append(ch) }
            } else if ch == "\"" && current.trimmingCharacters(in: .whitespaces).isEmpty {
                inQuotes = true; wasQuoted = true; current = ""
            } else if ch == "," {
                fields.append(wasQuoted ? current : current.trimmingCharacters(in: .whitespaces))
                current = ""; wasQuoted = false
            } else {
                current.append(ch)
            }
        }
        if inQuotes { throw DataError(file: file, line: number, column: fields.count + 1, "unterminated quoted field") }
        fields.append(wasQuoted ? current : current.trimmingCharacters(in: .whitespaces))
        return fields
    }
}
