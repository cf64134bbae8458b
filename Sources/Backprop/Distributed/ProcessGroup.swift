import Foundation
import Synchronization

/// Why a process group could not start: the launcher and the MPI library disagree, or no
/// library was found.
public struct ProcessGroupError: Error, CustomStringConvertible, Equatable {
    /// What went wrong and what to do about it.
    public let message: String
    /// The message.
    public var description: String { message }
}

/// How `ProcessGroup.allReduce` combines the ranks' values (PyTorch's `dist.ReduceOp`; `mean` is
/// `ReduceOp.AVG`: the sum divided by the world size).
public enum ReduceOp: String, Sendable, CaseIterable {
    /// The elementwise sum over the ranks.
    case sum
    /// The elementwise sum divided by the number of ranks.
    case mean
    /// The elementwise maximum.
    case max
    /// The elementwise minimum.
    case min
}

/// What the launcher (`mpirun`, `mpiexec`) told this process in its environment.
public struct LauncherEnvironment: Sendable, Equatable {
    /// The launcher, as named in messages: `Open MPI's mpirun` or `an MPICH (PMI) launcher`.
    public let launcher: String
    /// The variable the world size came from (`OMPI_COMM_WORLD_SIZE`, `PMI_SIZE`).
    public let sizeVariable: String
    /// This process's rank.
    public let rank: Int
    /// The number of processes started.
    public let size: Int
    /// The number of processes started on this host (1 when the launcher does not say).
    public let localSize: Int

    /// The launcher's variables in `environment`, or nil when no launcher started this process
    /// (Open MPI sets `OMPI_COMM_WORLD_SIZE`/`_RANK`/`_LOCAL_SIZE`; MPICH's Hydra and other
    /// PMI launchers set `PMI_SIZE`/`PMI_RANK`, and Hydra `MPI_LOCALNRANKS`). Throws when the
    /// values are not numbers or the rank is out of range.
    public static func detect(_ environment: [String: String]) throws -> LauncherEnvironment? {
        let schemes = [("Open MPI's mpirun", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE"),
                       ("an MPICH (PMI) launcher", "PMI_SIZE", "PMI_RANK", "MPI_LOCALNRANKS")]
        for (launcher, sizeName, rankName, localName) in schemes {
            guard let sizeText = environment[sizeName] else { continue }
            guard let size = Int(sizeText), size >= 1 else {
                throw ProcessGroupError(message: "\(sizeName)=\(sizeText): the launcher's world size is not a whole number >= 1")
            }
            let rankText = environment[rankName] ?? ""
            guard let rank = Int(rankText), (0..<size).contains(rank) else {
                throw ProcessGroupError(message: "\(rankName)=\(rankText): the launcher's rank is not a whole number from 0 to \(size - 1)")
            }
            let local = environment[localName].flatMap(Int.init).map { Swift.max(1, $0) } ?? 1
            return LauncherEnvironment(launcher: launcher, sizeVariable: sizeName, rank: rank, size: size, localSize: local)
        }
        return nil
    }
}

/// The processes of one data-parallel job and the collectives between them (PyTorch's
/// `torch.distributed` default process group, over MPI).
///
/// `ProcessGroup.world()` starts it from the launcher's environment: under `mpirun -np 4` each of
/// the four processes gets its `rank` (0-3) and `size` 4, and collectives go through the MPI library
/// the launcher belongs to (Open MPI's `libmpi.so.40` or MPICH's `libmpich.so.12`, found at run
/// time; `BACKPROP_MPI_LIBRARY` names another). A process not started by a launcher is a group of
/// one, whose collectives return their input: code written for N ranks runs unchanged alone.
///
/// ```swift
/// let group = try ProcessGroup.world()
/// var g = Tensor([Float(group.rank + 1)], shape: [1])
/// group.allReduce(&g, .mean)          // 1.5 on both ranks of `mpirun -np 2`
/// ```
///
/// Collectives must be called by every rank in the same order (MPI's rule); they are called from
/// one thread at a time.
public final class ProcessGroup: @unchecked Sendable {
    /// This process's rank, 0 ..< size (0 prints, plots and saves).
    public let rank: Int
    /// The number of processes in the job.
    public let size: Int
    /// The number of the job's processes on this host (from the launcher; 1 when it does not say).
    public let localSize: Int
    /// `single process`, or the MPI library in use: `Open MPI v4.1.4 (libmpi.so.40)`.
    public let backend: String
    let mpi: MPILibrary?

    /// A group of one process: collectives return their input.
    public static let single = ProcessGroup(rank: 0, size: 1, localSize: 1, backend: "single process", mpi: nil)

    private init(rank: Int, size: Int, localSize: Int, backend: String, mpi: MPILibrary?) {
        self.rank = rank; self.size = size; self.localSize = localSize; self.backend = backend; self.mpi = mpi
    }

    /// Whether there is more than one process.
    public var isDistributed: Bool { size > 1 }

    /// Whether this is rank 0, the one that prints, plots and saves.
    public var isMain: Bool { rank == 0 }

    private static let cached = Mutex<Result<ProcessGroup, ProcessGroupError>?>(nil)

    /// The job's group, started on first use from this process's environment (see
    /// `init(environment:)`); later calls return the same group (MPI starts once per process).
    public static func world() throws -> ProcessGroup {
        try cached.withLock { state in
            if state == nil {
                do { state = .success(try ProcessGroup(environment: ProcessInfo.processInfo.environment)) }
                catch let e as ProcessGroupError { state = .failure(e) }
                catch { state = .failure(ProcessGroupError(message: "\(error)")) }
            }
            return try state!.get()
        }
    }

    /// Starts the group the launcher's variables in `environment` describe: a single process
    /// when there are none (or a world of 1), else MPI from the library found at run time, whose
    /// world must be the launcher's (Open MPI's library under MPICH's launcher silently starts
    /// singletons of size 1: that is an error here, not N separate trainings).
    ///
    /// Also splits the host's cores between its ranks: with several ranks on one host, each gets
    /// `cores / ranks-on-host` kernel threads (`Parallelism.threads`), as torchrun sets one OpenMP
    /// thread per process.
    convenience init(environment: [String: String]) throws {
        guard let launch = try LauncherEnvironment.detect(environment), launch.size > 1 else {
            self.init(rank: 0, size: 1, localSize: 1, backend: "single process", mpi: nil)
            return
        }
        let library: MPILibrary
        do { library = try MPILibrary.load(candidates: MPILibrary.candidates(environment: environment)) } catch {
            throw ProcessGroupError(message: "\(launch.launcher) started this process as rank \(launch.rank) of \(launch.size), but \(error); install MPI (apt-get install openmpi-bin, or mpich) or set BACKPROP_MPI_LIBRARY to the library's path")
        }
        if !library.isInitialized() {
            let code = library.initialize()
            guard code == 0 else { throw ProcessGroupError(message: "MPI_Init failed with code \(code) (\(library.path))") }
            atexit { ProcessGroup.finalizeAtExit() }
        }
        let (e1, size) = library.commSize()
        let (e2, rank) = library.commRank()
        guard e1 == 0, e2 == 0 else { throw ProcessGroupError(message: "MPI_Comm_size/MPI_Comm_rank failed (\(library.path))") }
        guard Int(size) == launch.size, Int(rank) == launch.rank else {
            throw ProcessGroupError(message: "\(launch.launcher) started \(launch.size) processes (\(launch.sizeVariable)=\(launch.size)), but \(library.flavor.rawValue)'s \(library.path) sees rank \(rank) of \(size): the MPI library is not the launcher's; run the mpirun of the library's MPI, or set BACKPROP_MPI_LIBRARY to the launcher's library")
        }
        let version = library.version.isEmpty ? library.flavor.rawValue : library.version
        self.init(rank: Int(rank), size: Int(size), localSize: launch.localSize,
                  backend: "\(version) (\(library.path))", mpi: library)
        ProcessGroup.finalizable.withLock { $0 = library }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        Parallelism.threads = Swift.max(1, cores / Swift.max(1, launch.localSize))
    }

    private static let finalizable = Mutex<MPILibrary?>(nil)

    private static func finalizeAtExit() {
        guard let library = finalizable.withLock({ $0 }) else { return }
        if library.isInitialized() && !library.isFinalized() { _ = library.finalize() }
    }

    // MARK: - Collectives

    /// The largest count one MPI call takes (MPI counts are C ints).
    static let maxCount = Int(Int32.max)

    private func chunks(_ count: Int, _ body: (_ offset: Int, _ count: Int32) -> Void) {
        var offset = 0
        while offset < count {
            let n = Swift.min(ProcessGroup.maxCount, count - offset)
            body(offset, Int32(n))
            offset += n
        }
    }

    private func mpiOp(_ op: ReduceOp, _ mpi: MPILibrary) -> Int {
        switch op {
        case .sum, .mean: return mpi.opSum
        case .max: return mpi.opMax
        case .min: return mpi.opMin
        }
    }

    /// Combines `count` values at `pointer` over all ranks, in place (the same result on every rank).
    func allReduce<T: BinaryFloatingPoint>(_ pointer: UnsafeMutablePointer<T>, count: Int, _ op: ReduceOp) {
        guard let mpi, size > 1, count > 0 else { return }
        let type: Int
        switch MemoryLayout<T>.size {
        case 4: type = mpi.float
        case 8: type = mpi.double
        default: preconditionFailure("allReduce: elements of \(MemoryLayout<T>.size) bytes (float32 and float64 only)")
        }
        let mop = mpiOp(op, mpi)
        chunks(count) { offset, n in
            mpi.check(mpi.allreduce(mpi.inPlace, pointer + offset, n, type, mop), "MPI_Allreduce")
        }
        if op == .mean {
            let divisor = T(size)
            for i in 0..<count { pointer[i] = pointer[i] / divisor }
        }
    }

    /// Combines `tensor` over all ranks in place (PyTorch's `dist.all_reduce(tensor, op)`): every
    /// rank ends with the elementwise sum, mean, maximum or minimum. float32 and float64 only;
    /// every rank passes the same shape. `mean` divides the sum by the world size.
    public func allReduce(_ tensor: inout Tensor, _ op: ReduceOp = .sum) {
        guard isDistributed else { return }
        let n = tensor.count
        switch tensor.dtype {
        case .float32: tensor.withMutablePointer(Float.self) { allReduce($0, count: n, op) }
        case .float64: tensor.withMutablePointer(Double.self) { allReduce($0, count: n, op) }
        case .int64, .bool: preconditionFailure("allReduce: a tensor of dtype \(tensor.dtype) (float32 and float64 only), shape \(tensor.shape)")
        }
    }

    /// Combines `values` over all ranks in place (metrics: sums of losses, counts).
    public func allReduce(_ values: inout [Double], _ op: ReduceOp = .sum) {
        guard isDistributed else { return }
        let n = values.count
        values.withUnsafeMutableBufferPointer { if let b = $0.baseAddress { allReduce(b, count: n, op) } }
    }

    /// Combines `values` over all ranks in place.
    public func allReduce(_ values: inout [Float], _ op: ReduceOp = .sum) {
        guard isDistributed else { return }
        let n = values.count
        values.withUnsafeMutableBufferPointer { if let b = $0.baseAddress { allReduce(b, count: n, op) } }
    }

    /// Sends `bytes` bytes at `pointer` from rank `root` to every other rank.
    func broadcast(bytes pointer: UnsafeMutableRawPointer, count: Int, from root: Int) {
        guard let mpi, size > 1, count > 0 else { return }
        chunks(count) { offset, n in
            mpi.check(mpi.bcast(pointer + offset, n, mpi.byte, Int32(root)), "MPI_Bcast")
        }
    }

    /// Replaces `tensor`'s values on every rank by those of rank `root` (PyTorch's
    /// `dist.broadcast(tensor, src=root)`); every rank passes the same shape and dtype.
    public func broadcast(_ tensor: inout Tensor, from root: Int = 0) {
        precondition((0..<size).contains(root), "broadcast: root \(root) is not a rank of a group of \(size)")
        guard isDistributed else { return }
        let bytes = tensor.count * tensor.dtype.byteSize
        switch tensor.dtype {
        case .float32: tensor.withMutablePointer(Float.self) { broadcast(bytes: UnsafeMutableRawPointer($0), count: bytes, from: root) }
        case .float64: tensor.withMutablePointer(Double.self) { broadcast(bytes: UnsafeMutableRawPointer($0), count: bytes, from: root) }
        case .int64: tensor.withMutablePointer(Int64.self) { broadcast(bytes: UnsafeMutableRawPointer($0), count: bytes, from: root) }
        case .bool: tensor.withMutablePointer(UInt8.self) { broadcast(bytes: UnsafeMutableRawPointer($0), count: bytes, from: root) }
        }
    }

    /// Replaces `values` on every rank by those of rank `root` (every rank passes as many).
    public func broadcast(_ values: inout [Double], from root: Int = 0) {
        precondition((0..<size).contains(root), "broadcast: root \(root) is not a rank of a group of \(size)")
        guard isDistributed else { return }
        let bytes = values.count * MemoryLayout<Double>.size
        values.withUnsafeMutableBytes { if let b = $0.baseAddress { broadcast(bytes: b, count: bytes, from: root) } }
    }

    /// Every rank's `values`, in rank order (PyTorch's `dist.all_gather`); every rank passes as many.
    ///
    /// ```swift
    /// let losses = group.allGather([localLoss])   // [[loss of rank 0], [loss of rank 1], ...]
    /// ```
    public func allGather(_ values: [Double]) -> [[Double]] {
        guard let mpi, isDistributed, !values.isEmpty else { return [values] }
        precondition(values.count * size <= ProcessGroup.maxCount, "allGather: \(values.count) values from \(size) ranks exceed one MPI call")
        var out = [Double](repeating: 0, count: values.count * size)
        values.withUnsafeBytes { send in
            out.withUnsafeMutableBytes { recv in
                let n = Int32(values.count)
                mpi.check(mpi.allgather(send.baseAddress!, n, recv.baseAddress!, n, mpi.double), "MPI_Allgather")
            }
        }
        return (0..<size).map { Array(out[$0 * values.count..<($0 + 1) * values.count]) }
    }

    /// Waits until every rank has called it (PyTorch's `dist.barrier()`).
    public func barrier() {
        guard let mpi, isDistributed else { return }
        mpi.check(mpi.barrier(), "MPI_Barrier")
    }

    /// Ends every process of the job (`MPI_Abort`): what a rank does when it cannot go on, so that
    /// the others do not wait for it in a collective. A group of one exits with `code`.
    public func abort(code: Int32 = 1) -> Never {
        if let mpi, isDistributed { _ = mpi.abort(code) }
        exit(code)
    }
}
