import CBackpropKernels

/// Switches for explanations.
public enum Explain {
    // Per thread, as grad mode: explanations recorded on one thread (or in one parallel test) do not
    // switch recording on or off for another.
    /// Whether op nodes made on this thread keep their forward value.
    static var recordingValues: Bool {
        @inline(__always) get { bp_recording_values() != 0 }
        set { bp_set_recording_values(newValue ? 1 : 0) }
    }

    /// Runs `body` with every op node keeping its forward value, for traces and graph pictures.
    public static func recordingValues<R>(_ body: () throws -> R) rethrows -> R {
        let was = recordingValues
        recordingValues = true
        defer { recordingValues = was }
        return try body()
    }
}
