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
    fatalError(message, file: file, line: line)
}
