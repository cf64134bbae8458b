import Foundation

/// Warnings about likely mistakes that are not errors (PyTorch's `UserWarning`): printed once per
/// kind on standard error, as Python's default warning filter shows each warning once per place.
public enum Warnings {
    private final class Seen: @unchecked Sendable {
        let lock = NSLock()
        var keys = Set<String>()
        var handler: (@Sendable (String) -> Void)?
    }
    private static let seen = Seen()

    /// Prints `message` as `UserWarning: message` on standard error the first time `key` is warned about.
    public static func warnOnce(_ key: String, _ message: String) {
        let (first, handler) = seen.lock.withLock { (seen.keys.insert(key).inserted, seen.handler) }
        guard first else { return }
        if let handler { handler(message) } else {
            FileHandle.standardError.write(Data("UserWarning: \(message)\n".utf8))
        }
    }

    /// Sends warnings to `handler` instead of standard error (nil restores it), and forgets which
    /// were shown: for tests and for programs that log their own way.
    public static func redirect(to handler: (@Sendable (String) -> Void)?) {
        seen.lock.withLock {
            seen.handler = handler
            seen.keys.removeAll()
        }
    }
}
