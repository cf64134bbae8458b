import ArgumentParser
import Backprop
import Foundation

/// A bad command-line value or input file: printed as one line, exit status 1.
struct CLIError: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }

    /// `--flag path: what went wrong`, naming the file once when the error names it already (a
    /// `DataError` about that file).
    init(flag: String, path: String, _ error: Error) {
        if let e = error as? DataError, e.file == path { message = "\(flag) \(e)" } else { message = "\(flag) \(path): \(error)" }
    }
}

extension ParsableCommand {
    /// Runs `body`, turning any thrown error into one line on stderr and exit status 1.
    func reportingErrors(_ body: () throws -> Void) throws {
        do { try body() } catch let e as CLIError {
            FileHandle.standardError.write(Data("error: \(e.message)\n".utf8))
            throw ExitCode(1)
        } catch let e as ExitCode {
            throw e
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// Checks, before any work, that each output file given (`--save`, `--plot`, `--output`) has a
/// directory to go to, so that a long run does not end in an error it could have given at once.
func requireOutputDirectories(_ outputs: [(flag: String, path: String?)]) throws {
    for (flag, path) in outputs {
        guard let path else { continue }
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw CLIError("\(flag) \(path): directory \(dir) does not exist")
        }
    }
}

/// Prints `object` as JSON on standard output, pretty and with sorted keys (stable output).
func printJSON(_ object: Any) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}
