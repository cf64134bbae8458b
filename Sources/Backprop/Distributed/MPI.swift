import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The few MPI functions Backprop calls, found at run time with `dlopen`: nothing about MPI is
/// known at build time, so the package builds and runs where MPI is not installed.
///
/// Two ABIs are in use. In Open MPI (`libmpi.so.40`) the handles `MPI_COMM_WORLD`, `MPI_FLOAT`,
/// `MPI_SUM`, ... are the addresses of globals (`ompi_mpi_comm_world`, ...), found with `dlsym`; in
/// MPICH (`libmpich.so.12`, also Intel MPI and MVAPICH) they are `int` constants fixed by its
/// `mpi.h`. Every handle is kept here as an `Int` (the pointer's bits, or the constant) and passed
/// through C function types of the right width for the library's ABI.
final class MPILibrary: @unchecked Sendable {
    /// The two handle ABIs.
    enum Flavor: String { case openMPI = "Open MPI", mpich = "MPICH" }

    let flavor: Flavor
    let path: String
    /// `MPI_Get_library_version`'s first line, e.g. `Open MPI v4.1.4, package: Debian OpenMPI, ...`.
    private(set) var version = ""

    // Handles: pointer bits (Open MPI) or constants (MPICH).
    let commWorld: Int, byte: Int, float: Int, double: Int
    let opSum: Int, opMax: Int, opMin: Int
    /// `MPI_IN_PLACE`: `(void *)1` in Open MPI, `(void *)-1` in MPICH.
    let inPlace: UnsafeMutableRawPointer

    // The functions, bound to the ABI's handle width.
    let initialize: () -> Int32
    let isInitialized: () -> Bool
    let isFinalized: () -> Bool
    let finalize: () -> Int32
    let commRank: () -> (Int32, Int32)
    let commSize: () -> (Int32, Int32)
    let allreduce: (_ send: UnsafeRawPointer?, _ recv: UnsafeMutableRawPointer, _ count: Int32, _ type: Int, _ op: Int) -> Int32
    let bcast: (_ buffer: UnsafeMutableRawPointer, _ count: Int32, _ type: Int, _ root: Int32) -> Int32
    let allgather: (_ send: UnsafeRawPointer, _ sendCount: Int32, _ recv: UnsafeMutableRawPointer, _ recvCount: Int32, _ type: Int) -> Int32
    let barrier: () -> Int32
    let abort: (_ code: Int32) -> Int32

    /// The library names tried, in order: Open MPI first when Open MPI's launcher started us, MPICH
    /// first under MPICH's (Hydra sets `PMI_SIZE`), unless `BACKPROP_MPI_LIBRARY` names a file.
    static func candidates(environment env: [String: String]) -> [String] {
        if let path = env["BACKPROP_MPI_LIBRARY"], !path.isEmpty { return [path] }
        #if os(macOS)
        let openMPI = ["libmpi.40.dylib", "/opt/homebrew/lib/libmpi.40.dylib", "/usr/local/lib/libmpi.40.dylib"]
        let mpich = ["libmpi.12.dylib", "/opt/homebrew/lib/libmpi.12.dylib", "/usr/local/lib/libmpi.12.dylib"]
        #else
        let openMPI = ["libmpi.so.40"]
        let mpich = ["libmpich.so.12", "libmpi.so.12"]
        #endif
        return env["OMPI_COMM_WORLD_SIZE"] != nil ? openMPI + mpich : mpich + openMPI
    }

    /// Opens the first library of `candidates` that loads, or throws listing what was tried.
    static func load(candidates: [String]) throws -> MPILibrary {
        var failures: [String] = []
        for name in candidates {
            // RTLD_GLOBAL: Open MPI's own plugins (dlopened by libmpi) need its symbols.
            guard let handle = dlopen(name, RTLD_NOW | RTLD_GLOBAL) else {
                failures.append(dlerror().map { String(cString: $0) } ?? name)
                continue
            }
            do { return try MPILibrary(handle: handle, path: name) } catch {
                failures.append("\(name): \(error)")
            }
        }
        throw ProcessGroupError(message: "no MPI library could be loaded (\(failures.joined(separator: "; ")))")
    }

    private init(handle: UnsafeMutableRawPointer, path: String) throws {
        self.path = path
        func symbol(_ name: String) throws -> UnsafeMutableRawPointer {
            guard let p = dlsym(handle, name) else { throw ProcessGroupError(message: "\(path) has no symbol \(name)") }
            return p
        }
        func fn<F>(_ name: String, _: F.Type) throws -> F { unsafeBitCast(try symbol(name), to: F.self) }

        if dlsym(handle, "ompi_mpi_comm_world") != nil {
            flavor = .openMPI
            func global(_ name: String) throws -> Int { Int(bitPattern: try symbol(name)) }
            commWorld = try global("ompi_mpi_comm_world")
            byte = try global("ompi_mpi_byte"); float = try global("ompi_mpi_float"); double = try global("ompi_mpi_double")
            opSum = try global("ompi_mpi_op_sum"); opMax = try global("ompi_mpi_op_max"); opMin = try global("ompi_mpi_op_min")
            inPlace = UnsafeMutableRawPointer(bitPattern: 1)!
        } else {
            flavor = .mpich
            commWorld = 0x4400_0000
            byte = 0x4c00_010d; float = 0x4c00_040a; double = 0x4c00_080b
            opMax = 0x5800_0001; opMin = 0x5800_0002; opSum = 0x5800_0003
            inPlace = UnsafeMutableRawPointer(bitPattern: -1)!
        }

        typealias InitF = @convention(c) (UnsafeMutablePointer<Int32>?, UnsafeMutableRawPointer?) -> Int32
        typealias FlagF = @convention(c) (UnsafeMutablePointer<Int32>) -> Int32
        typealias VoidF = @convention(c) () -> Int32
        let mpiInit = try fn("MPI_Init", InitF.self)
        let initialized = try fn("MPI_Initialized", FlagF.self)
        let finalized = try fn("MPI_Finalized", FlagF.self)
        initialize = { mpiInit(nil, nil) }
        isInitialized = { var f: Int32 = 0; _ = initialized(&f); return f != 0 }
        isFinalized = { var f: Int32 = 0; _ = finalized(&f); return f != 0 }
        finalize = try fn("MPI_Finalize", VoidF.self)

        let world = commWorld
        // Collectives are started non-blocking and waited for by polling MPI_Test, spinning briefly
        // and then sleeping: a blocking MPI call spins at full speed until its peers arrive, which on
        // a machine shared with other work takes the CPU from the very rank it is waiting for.
        typealias Req = UnsafeMutableRawPointer
        let test = try fn("MPI_Test", (@convention(c) (Req, UnsafeMutablePointer<Int32>, UnsafeMutableRawPointer?) -> Int32).self)
        // MPI_STATUS_IGNORE: (MPI_Status *)0 in Open MPI, (MPI_Status *)1 in MPICH.
        let statusIgnore = flavor == .openMPI ? nil : UnsafeMutableRawPointer(bitPattern: 1)
        let wait = { (start: (Req) -> Int32) -> Int32 in
            // An MPI_Request is a pointer (Open MPI) or an int (MPICH): 8 bytes hold either.
            var request: UInt64 = 0
            return withUnsafeMutableBytes(of: &request) { r -> Int32 in
                let code = start(r.baseAddress!)
                guard code == 0 else { return code }
                return MPILibrary.poll { flag in test(r.baseAddress!, flag, statusIgnore) }
            }
        }
        switch flavor {
        case .openMPI:
            // Handles are pointers.
            typealias H = OpaquePointer?
            func h(_ v: Int) -> H { OpaquePointer(bitPattern: v) }
            let rank = try fn("MPI_Comm_rank", (@convention(c) (H, UnsafeMutablePointer<Int32>) -> Int32).self)
            let size = try fn("MPI_Comm_size", (@convention(c) (H, UnsafeMutablePointer<Int32>) -> Int32).self)
            let ar = try fn("MPI_Iallreduce", (@convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer?, Int32, H, H, H, Req) -> Int32).self)
            let bc = try fn("MPI_Ibcast", (@convention(c) (UnsafeMutableRawPointer?, Int32, H, Int32, H, Req) -> Int32).self)
            let ib = try fn("MPI_Ibarrier", (@convention(c) (H, Req) -> Int32).self)
            let ag = try fn("MPI_Allgather", (@convention(c) (UnsafeRawPointer?, Int32, H, UnsafeMutableRawPointer?, Int32, H, H) -> Int32).self)
            let ab = try fn("MPI_Abort", (@convention(c) (H, Int32) -> Int32).self)
            commRank = { var r: Int32 = -1; let e = rank(h(world), &r); return (e, r) }
            commSize = { var s: Int32 = -1; let e = size(h(world), &s); return (e, s) }
            allreduce = { s, r, n, t, op in wait { ar(s, r, n, h(t), h(op), h(world), $0) } }
            bcast = { b, n, t, root in wait { bc(b, n, h(t), root, h(world), $0) } }
            allgather = { s, sn, r, rn, t in ag(s, sn, h(t), r, rn, h(t), h(world)) }
            barrier = { wait { ib(h(world), $0) } }
            abort = { ab(h(world), $0) }
        case .mpich:
            // Handles are C ints.
            typealias H = Int32
            func h(_ v: Int) -> H { H(truncatingIfNeeded: v) }
            let rank = try fn("MPI_Comm_rank", (@convention(c) (H, UnsafeMutablePointer<Int32>) -> Int32).self)
            let size = try fn("MPI_Comm_size", (@convention(c) (H, UnsafeMutablePointer<Int32>) -> Int32).self)
            let ar = try fn("MPI_Iallreduce", (@convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer?, Int32, H, H, H, Req) -> Int32).self)
            let bc = try fn("MPI_Ibcast", (@convention(c) (UnsafeMutableRawPointer?, Int32, H, Int32, H, Req) -> Int32).self)
            let ib = try fn("MPI_Ibarrier", (@convention(c) (H, Req) -> Int32).self)
            let ag = try fn("MPI_Allgather", (@convention(c) (UnsafeRawPointer?, Int32, H, UnsafeMutableRawPointer?, Int32, H, H) -> Int32).self)
            let ab = try fn("MPI_Abort", (@convention(c) (H, Int32) -> Int32).self)
            commRank = { var r: Int32 = -1; let e = rank(h(world), &r); return (e, r) }
            commSize = { var s: Int32 = -1; let e = size(h(world), &s); return (e, s) }
            allreduce = { s, r, n, t, op in wait { ar(s, r, n, h(t), h(op), h(world), $0) } }
            bcast = { b, n, t, root in wait { bc(b, n, h(t), root, h(world), $0) } }
            allgather = { s, sn, r, rn, t in ag(s, sn, h(t), r, rn, h(t), h(world)) }
            barrier = { wait { ib(h(world), $0) } }
            abort = { ab(h(world), $0) }
        }
        if let v = dlsym(handle, "MPI_Get_library_version") {
            let get = unsafeBitCast(v, to: (@convention(c) (UnsafeMutablePointer<CChar>, UnsafeMutablePointer<Int32>) -> Int32).self)
            // MPI_MAX_LIBRARY_VERSION_STRING is 256 in Open MPI and 8192 in MPICH.
            var buffer = [CChar](repeating: 0, count: 8192)
            var length: Int32 = 0
            if get(&buffer, &length) == 0 {
                let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                // "Open MPI v4.1.4, package: ..." or "MPICH Version:\t4.0.2": the name and the version.
                let first = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
                let name = first.split(separator: ",").first.map(String.init) ?? first
                version = name.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            }
        }
    }

    /// Calls `test` (MPI_Test) until it reports completion or an error: about 50 µs of spinning
    /// (peers that arrive together never sleep), then yielding, then sleeping 20-200 µs between tests.
    static func poll(_ test: (UnsafeMutablePointer<Int32>) -> Int32) -> Int32 {
        var done: Int32 = 0
        var tries = 0
        let start = DispatchTime.now().uptimeNanoseconds
        while true {
            let code = test(&done)
            if code != 0 || done != 0 { return code }
            tries += 1
            if tries < 64 { continue }
            let waited = DispatchTime.now().uptimeNanoseconds &- start
            if waited < 50_000 { continue }
            if waited < 200_000 { sched_yield(); continue }
            usleep(waited < 2_000_000 ? 20 : 200)
        }
    }

    /// Stops with a message naming the MPI call when it returned an error code (with MPI's default
    /// error handler, MPI_ERRORS_ARE_FATAL, the library ends the job itself before this).
    func check(_ code: Int32, _ call: String) {
        precondition(code == 0, "\(call) failed with MPI error code \(code) (\(flavor.rawValue), \(path))")
    }
}
