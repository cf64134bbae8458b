/// Facts about this build of Backprop, for `backprop --version`.
public enum BackpropInfo {
    public static let version = "0.1.0"

    /// The version and the matrix-product backend in use.
    public static var versionDescription: String {
        "backprop \(version)"
    }
}
