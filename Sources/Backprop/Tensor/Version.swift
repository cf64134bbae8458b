/// Facts about this build of Backprop, for `backprop --version`.
public enum BackpropInfo {
    /// The package's version.
    public static let version = "0.1.0"

    /// The version and the matrix-product backend in use (set with `BACKPROP_BLAS=none|openblas|<path>`).
    public static var versionDescription: String {
        "backprop \(version)\nmatmul: \(MatmulBackend.description)\nthreads: \(Parallelism.threads)"
    }
}
