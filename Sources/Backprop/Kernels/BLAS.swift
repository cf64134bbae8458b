import Foundation

/// The platform BLAS, found at run time with dlopen so that building needs nothing installed.
///
/// `BACKPROP_BLAS` chooses: unset or `auto` tries Accelerate (macOS) or `libopenblas.so.0`, then
/// `libblas.so.3` (Linux); `none` forces the built-in kernel; `openblas` only OpenBLAS; anything
/// else is a path to a library that exports `cblas_sgemm` and `cblas_dgemm`.
enum BLAS {
    typealias SGEMM = @convention(c) (Int32, Int32, Int32, Int32, Int32, Int32,
                                      Float, UnsafePointer<Float>?, Int32, UnsafePointer<Float>?, Int32,
                                      Float, UnsafeMutablePointer<Float>?, Int32) -> Void
    typealias DGEMM = @convention(c) (Int32, Int32, Int32, Int32, Int32, Int32,
                                      Double, UnsafePointer<Double>?, Int32, UnsafePointer<Double>?, Int32,
                                      Double, UnsafeMutablePointer<Double>?, Int32) -> Void
    typealias SetThreads = @convention(c) (Int32) -> Void

    /// A loaded CBLAS.
    struct Library: @unchecked Sendable {
        let path: String
        let sgemm: SGEMM
        let dgemm: DGEMM
        let setThreads: SetThreads?
    }

    // CBLAS enum values.
    static let rowMajor: Int32 = 101, noTrans: Int32 = 111, trans: Int32 = 112

    /// The library in use, or nil when the built-in kernel does all matrix products.
    static let library: Library? = load(choice: ProcessInfo.processInfo.environment["BACKPROP_BLAS"])

    /// Why no BLAS is in use (for `--version`), when `library` is nil.
    nonisolated(unsafe) static var loadNote = ""

    static func candidates(for choice: String?) -> [String]? {
        let c = (choice ?? "auto").trimmingCharacters(in: .whitespaces)
        #if os(macOS)
        let accelerate = "/System/Library/Frameworks/Accelerate.framework/Accelerate"
        let openblas = ["libopenblas.dylib", "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
                        "/usr/local/opt/openblas/lib/libopenblas.dylib"]
        let auto = [accelerate] + openblas
        #else
        let openblas = ["libopenblas.so.0", "libopenblas.so"]
        let auto = openblas + ["libblas.so.3"]
        #endif
        switch c.lowercased() {
        case "", "auto": return auto
        case "none", "off", "0": return nil
        case "openblas": return openblas
        default: return [c]
        }
    }

    static func load(choice: String?) -> Library? {
        guard let paths = candidates(for: choice) else {
            loadNote = "BACKPROP_BLAS=none"
            return nil
        }
        for path in paths {
            guard let h = dlopen(path, RTLD_NOW | RTLD_LOCAL) else { continue }
            guard let s = dlsym(h, "cblas_sgemm"), let d = dlsym(h, "cblas_dgemm") else {
                dlclose(h)
                continue
            }
            let t = dlsym(h, "openblas_set_num_threads")
            let lib = Library(path: path, sgemm: unsafeBitCast(s, to: SGEMM.self), dgemm: unsafeBitCast(d, to: DGEMM.self),
                              setThreads: t.map { unsafeBitCast($0, to: SetThreads.self) })
            // One thread inside BLAS: Backprop splits large products itself (Parallelism.dynamic),
            // which does not stall when the OS leaves a helper thread without a core.
            lib.setThreads?(1)
            return lib
        }
        loadNote = "no BLAS found (tried \(paths.joined(separator: ", ")))"
        return nil
    }
}

/// Which code does the matrix products: reported by `backprop --version` and the benchmarks.
public enum MatmulBackend {
    /// A one-line description, e.g. `OpenBLAS (libopenblas.so.0) above 32768 multiply-adds, built-in AVX2+FMA kernel below`.
    public static var description: String {
        let kernel = "built-in \(BuiltinGemm.variantName) kernel"
        if let lib = BLAS.library {
            return "BLAS \(lib.path) for products of \(MatmulKernels.blasThreshold)+ multiply-adds, \(kernel) below"
        }
        return "\(kernel) (\(BLAS.loadNote))"
    }

    /// The path of the BLAS library in use, or nil when the built-in kernel does everything.
    public static var blasPath: String? { BLAS.library?.path }
}
