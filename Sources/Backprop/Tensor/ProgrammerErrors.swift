// Programmer errors (a shape mismatch, a class index out of range) stop the program with a
// message that names the op and the shapes. Swift's own `precondition` prints its message only in
// unoptimized builds, so a release build of a user's program would stop without saying why; these
// module-level versions shadow the standard ones inside Backprop and keep the message in every
// configuration except -Ounchecked.

@inline(__always)
func precondition(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String = String(),
                  file: StaticString = #fileID, line: UInt = #line) {
    if _slowPath(!condition()) { stop(message(), file: file, line: line) }
}

@inline(__always)
func preconditionFailure(_ message: @autoclosure () -> String = String(),
                         file: StaticString = #fileID, line: UInt = #line) -> Never {
    stop(message(), file: file, line: line)
}

@inline(never) @_semantics("optimize.sil.specialize.generic.never")
private func stop(_ message: String, file: StaticString, line: UInt) -> Never {
    ProgrammerErrors.exitIfCatching(message)
    fatalError(message, file: file, line: line)
}

// MARK: - Replaying calls that may stop

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A call that stopped with a programmer error (an op rejecting its arguments) while
/// `ProgrammerErrors.catching` ran it; the message is the op's.
public struct StoppedCall: Error, CustomStringConvertible {
    /// The op's message, e.g. `mm: [1, 3] x [2, 2]: inner dimensions 3 and 2 differ`.
    public let message: String
    /// The message.
    public var description: String { message }
}

/// Where a caught call leaves its result.
final class ResultBox<T> {
    var result: Result<T, Error>?
}

/// Running a call that may stop (for `backprop verify`, which replays arguments that other
/// libraries' tests chose: a case that makes an op stop is that case's failure, not the run's end).
public enum ProgrammerErrors {
    final class Catcher {
        var message: String?
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k, nil)
        return k
    }()

    /// Runs `body` on a thread of its own and returns its result; a programmer error inside
    /// (a failed `precondition` of Backprop, with its message) ends only that thread and comes back
    /// as `StoppedCall`, and an error `body` throws comes back as itself.
    ///
    /// What the stopped call had allocated is not freed (its frames are unwound without running
    /// their cleanups), so this is for replaying test cases, not for control flow.
    public static func catching<T>(_ body: @escaping () throws -> T) -> Result<T, Error> {
        let box = ResultBox<T>()
        do {
            let catcher = Catcher { box.result = Result { try body() } }
            let context = Unmanaged.passRetained(catcher)
            var attributes = pthread_attr_t()
            pthread_attr_init(&attributes)
            pthread_attr_setstacksize(&attributes, 16 << 20)
            defer { pthread_attr_destroy(&attributes) }
            #if canImport(Glibc)
            var thread = pthread_t()
            #else
            var thread: pthread_t?
            #endif
            let created = pthread_create(&thread, &attributes, { p in
                pthread_setspecific(ProgrammerErrors.key, p)
                Unmanaged<Catcher>.fromOpaque(p!).takeUnretainedValue().body()
                pthread_setspecific(ProgrammerErrors.key, nil)
                return nil
            }, context.toOpaque())
            guard created == 0 else {
                context.release()
                return .failure(StoppedCall(message: "could not start a thread (error \(created))"))
            }
            #if canImport(Glibc)
            pthread_join(thread, nil)
            #else
            pthread_join(thread!, nil)
            #endif
            let stopped = catcher.message
            context.release()
            if let stopped { return .failure(StoppedCall(message: stopped)) }
            return box.result ?? .failure(StoppedCall(message: "stopped"))
        }
    }

    /// Inside `catching`: records the message and ends the calling thread. Elsewhere: returns.
    static func exitIfCatching(_ message: String) {
        guard let p = pthread_getspecific(key) else { return }
        Unmanaged<Catcher>.fromOpaque(p).takeUnretainedValue().message = message
        pthread_exit(nil)
    }
}
