import Testing
import Foundation
@testable import Backprop

/// The distributed sampler, the launcher's environment and the process group of one process:
/// no MPI needed.
@Suite struct DistributedSamplerTests {
    /// PyTorch's `DistributedSampler(range(n), num_replicas=R, rank=r, shuffle=False, drop_last=d)`
    /// lists (printed by PyTorch 2.15).
    @Test("DistributedSampler pads or cuts as PyTorch's does", arguments: [
        (10, 3, false, [[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]]),
        (10, 3, true, [[0, 3, 6], [1, 4, 7], [2, 5, 8]]),
        (2, 5, false, [[0], [1], [0], [1], [0]]),
        (7, 2, false, [[0, 2, 4, 6], [1, 3, 5, 0]]),
        (7, 2, true, [[0, 2, 4], [1, 3, 5]]),
        (0, 2, false, [[], []]),
        (6, 3, false, [[0, 3], [1, 4], [2, 5]]),
    ])
    func matchesPyTorch(_ n: Int, _ replicas: Int, _ dropLast: Bool, _ expected: [[Int]]) {
        for r in 0..<replicas {
            let s = DistributedSampler(count: n, replicas: replicas, rank: r, shuffle: false, dropLast: dropLast)
            #expect(s.indices() == expected[r], "rank \(r) of \(replicas), \(n) rows, drop_last \(dropLast)")
            #expect(s.numSamples == expected[r].count)
        }
    }

    @Test func shuffledEpochsAgreeAcrossRanksAndCoverEveryRow() {
        var seen: [Int] = []
        var orders: [[Int]] = []
        for r in 0..<3 {
            var s = DistributedSampler(count: 11, replicas: 3, rank: r, seed: 7)
            s.setEpoch(2)
            seen += s.indices()
            s.setEpoch(3)
            orders.append(s.indices())
        }
        // 11 rows over 3 ranks: 4 each, one row repeated; every row present.
        #expect(seen.count == 12 && Set(seen) == Set(0..<11))
        var again = DistributedSampler(count: 11, replicas: 3, rank: 0, seed: 7)
        again.setEpoch(2)
        #expect(again.indices() == Array(seen[0..<4]), "the same seed and epoch give the same order")
        #expect(orders[0] != Array(seen[0..<4]), "another epoch gives another order")
    }

    @Test func shardOfAnyOrderTakesEveryReplicasthEntry() {
        let order = [5, 3, 1, 0, 2, 4, 6]
        #expect(DistributedSampler.shard(order, replicas: 2, rank: 0) == [5, 1, 2, 6])
        #expect(DistributedSampler.shard(order, replicas: 2, rank: 1) == [3, 0, 4, 5])
        #expect(DistributedSampler.shard(order, replicas: 2, rank: 1, dropLast: true) == [3, 0, 4])
    }

    /// Batch k of all ranks together holds the rows of one process's batch k.
    @Test func ranksShareEachGlobalBatch() throws {
        let data = try CSVReader.read(Repository.path("data/iris.csv"))
        var g = RandomGenerator(seed: 5)
        let whole = data.batches(size: 30, shuffle: true, using: &g)
        let shares = (0..<3).map { r -> [(x: Tensor, y: Tensor)] in
            var g = RandomGenerator(seed: 5)
            return data.batches(size: 30, shuffle: true, using: &g, rank: r, of: 3)
        }
        #expect(shares.allSatisfy { $0.count == whole.count })
        for (k, batch) in whole.enumerated() {
            #expect(shares.allSatisfy { $0[k].x.shape == [10, 4] })
            // Rank r holds rows r, r + 3, ... of the batch.
            for r in 0..<3 {
                let rows = Array(stride(from: r, to: 30, by: 3))
                #expect(shares[r][k].x.isIdentical(to: batch.x.selectingRows(rows)), "batch \(k), rank \(r)")
                #expect(shares[r][k].y.isIdentical(to: batch.y.selectingRows(rows)))
            }
        }
    }

    @Test func launcherEnvironment() throws {
        #expect(try LauncherEnvironment.detect([:]) == nil)
        let o = try #require(try LauncherEnvironment.detect(["OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_RANK": "3",
                                                              "OMPI_COMM_WORLD_LOCAL_SIZE": "2"]))
        #expect(o.rank == 3 && o.size == 4 && o.localSize == 2 && o.sizeVariable == "OMPI_COMM_WORLD_SIZE")
        let m = try #require(try LauncherEnvironment.detect(["PMI_SIZE": "2", "PMI_RANK": "1"]))
        #expect(m.rank == 1 && m.size == 2 && m.localSize == 1)
        #expect(throws: ProcessGroupError.self) { try LauncherEnvironment.detect(["PMI_SIZE": "2", "PMI_RANK": "2"]) }
        #expect(throws: ProcessGroupError.self) { try LauncherEnvironment.detect(["OMPI_COMM_WORLD_SIZE": "two"]) }
    }

    @Test func noLauncherIsOneProcess() throws {
        let g = try ProcessGroup(environment: [:])
        #expect(g.rank == 0 && g.size == 1 && !g.isDistributed && g.mpi == nil)
        var t = Tensor([1.5, -2], shape: [2])
        g.allReduce(&t, .mean)
        g.broadcast(&t)
        #expect(t.scalars == [1.5, -2])
        #expect(g.allGather([3, 4]) == [[3, 4]])
        // A world of one under mpirun -np 1 needs no MPI either.
        #expect(try ProcessGroup(environment: ["OMPI_COMM_WORLD_SIZE": "1", "OMPI_COMM_WORLD_RANK": "0"]).mpi == nil)
    }

    @Test func launcherWithoutALibraryIsAClearError() {
        do {
            _ = try ProcessGroup(environment: ["PMI_SIZE": "2", "PMI_RANK": "1", "BACKPROP_MPI_LIBRARY": "/nonexistent/libmpi.so"])
            Issue.record("no error without an MPI library")
        } catch {
            let text = "\(error)"
            #expect(text.contains("rank 1 of 2") && text.contains("/nonexistent/libmpi.so") && text.contains("apt-get install openmpi-bin"), "\(text)")
        }
    }

    @Test func bucketsRunInReverseParameterOrderUnderTheCap() {
        var gen = RandomGenerator(seed: 0)
        let model = makeMLP(inputs: 100, hidden: [50, 20], outputs: 10, using: &gen)
        // 0.weight 5000, 0.bias 50, 2.weight 1000, 2.bias 20, 4.weight 200, 4.bias 10 floats.
        let ddp = DistributedDataParallel(model, group: .single, bucketCapMB: 5000.0 * 4 / 1024 / 1024)
        #expect(ddp.buckets == [[5, 4, 3, 2, 1], [0]])
        #expect(DistributedDataParallel(model, group: .single).buckets == [[5, 4, 3, 2, 1, 0]])
    }
}

/// `mpirun -np 2 backprop train`: the same parameters as one process, and a killed rank ends the
/// job. Needs Open MPI's (or MPICH's) mpirun; skipped otherwise.
@Suite(.serialized) struct MPITrainingTests {
    static let mpirun = ExternalTool.find("mpirun")
    static let skipMessage = "mpirun is not installed: install Open MPI (apt-get install openmpi-bin) to run the data-parallel tests (2 ranks against one process, and a killed rank)"

    /// Whether `mpirun` is Open MPI's (which takes --oversubscribe and --mca); MPICH's Hydra does not.
    static let isOpenMPI: Bool = {
        guard let mpirun, let r = try? ExternalTool.run(mpirun, ["--version"], timeout: 30) else { return false }
        return String(decoding: r.1, as: UTF8.self).contains("Open MPI") || r.2.contains("Open MPI")
    }()

    /// mpirun's arguments for `ranks` processes: as root Open MPI wants --allow-run-as-root, and
    /// more ranks than cores --oversubscribe; `tcp` forces TCP over loopback (a stand-in for two hosts).
    static func launch(_ ranks: Int, tcp: Bool = false) -> [String] {
        guard isOpenMPI else { return ["-np", "\(ranks)"] }
        var a = ["--oversubscribe", "-np", "\(ranks)"]
        if getuid() == 0 { a.insert("--allow-run-as-root", at: 0) }
        if tcp { a += ["--mca", "btl", "self,tcp", "--mca", "btl_tcp_if_include", "lo"] }
        return a
    }

    /// Open MPI refuses to run as root without these (CI containers run as root).
    static let rootAllowed = ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"]

    static func temporary(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("backprop-mpi-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name).path
    }

    static func trainArguments(dtype: String, save: String) -> [String] {
        ["train", "--data", Repository.path("data/iris.csv"), "--hidden", "16", "--optimizer", "sgd", "--lr", "0.1",
         "--momentum", "0.9", "--batch-size", "24", "--epochs", "4", "--seed", "3", "--save", save, "--json"] + (dtype == "f64" ? ["--float64"] : [])
    }

    /// One process training as 2 ranks do: each batch of 24 split into the rows 0, 2, 4, ... and
    /// 1, 3, 5, ..., the gradient of each half's mean loss computed alone, their sum halved (what
    /// the allreduce computes), then one SGD step.
    static func reference(dtype: DType, ranks: Int = 2) throws -> Sequential {
        let data = try CSVReader.read(Repository.path("data/iris.csv"), dtype: dtype)
        let (train, _) = data.split(testFraction: 0.2, seed: 3)
        var gen = RandomGenerator(seed: 3)
        let model = makeMLP(inputs: 4, hidden: [16], outputs: 3, dtype: dtype, using: &gen)
        let opt = SGD(model.parameters(), lr: 0.1, momentum: 0.9)
        let loop = SupervisedTraining(model: model, optimizer: opt, train: train, test: nil, batchSize: 24, seed: 3)
        for epoch in 1...4 {
            for (x, y) in loop.batches(epoch: epoch) {
                var sums: [Tensor] = []
                for r in 0..<ranks {
                    let rows = Array(stride(from: r, to: x.shape[0], by: ranks))
                    opt.zeroGrad()
                    model(x.selectingRows(rows)).crossEntropy(target: y.selectingRows(rows)).backward()
                    let grads = model.parameters().map { $0.grad!.detached() }
                    sums = sums.isEmpty ? grads : zip(sums, grads).map { $0 + $1 }
                }
                for (p, s) in zip(model.parameters(), sums) { p.value.grad = s / Double(ranks) }
                opt.step()
            }
        }
        return model
    }

    static func mpirunTrain(_ args: [String], tcp: Bool = false) throws -> ExternalToolResult {
        let exe = try #require(CLI.executable, "the backprop executable")
        let job = try BackgroundJob(mpirun!, launch(2, tcp: tcp) + [exe.path] + args, environment: rootAllowed)
        defer { job.stop() }
        guard job.wait(timeout: 300, { !job.isRunning }) else {
            return ExternalToolResult(status: -1, stdout: job.stdout, stderr: "timed out after 300 s\n" + job.stderr)
        }
        return ExternalToolResult(status: job.status, stdout: job.stdout, stderr: job.stderr)
    }

    @Test("2 ranks end with the parameters of one process averaging per-shard gradients, bit for bit",
          .enabled(if: mpirun != nil, "\(skipMessage)"),
          arguments: [("f32", false), ("f64", false), ("f32", true)])
    func sameParametersAsOneProcess(_ dtype: String, _ tcp: Bool) throws {
        let save = Self.temporary("ddp.safetensors")
        let r = try Self.mpirunTrain(Self.trainArguments(dtype: dtype, save: save), tcp: tcp)
        try #require(r.status == 0, "mpirun -np 2 backprop train\(tcp ? " over TCP" : ""): status \(r.status)\n\(r.stdout)\n\(r.stderr)")
        // Rank 0 alone prints: one JSON object.
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "stdout: \(r.stdout)")
        #expect(json["world_size"] as? Int == 2)
        #expect(json["steps"] as? Int == 20, "120 rows in batches of 24 for 4 epochs")

        let saved = try SafeTensors.read(save).tensors
        let reference = try Self.reference(dtype: dtype == "f64" ? .float64 : .float32)
        let expected = Dictionary(uniqueKeysWithValues: reference.stateDict().map { ($0.name, $0.tensor) })
        #expect(saved.count == expected.count)
        for (name, t) in saved {
            let e = try #require(expected[name], "parameter \(name)")
            let diff = zip(t.scalars, e.scalars).map { abs($0 - $1) }.max() ?? 0
            #expect(t.isIdentical(to: e), "\(name): max difference \(diff) from the one-process per-shard average")
        }

        // A plain one-process run with the same global batch: the same to rounding.
        let plainPath = Self.temporary("plain.safetensors")
        let plain = try CLI.run(Self.trainArguments(dtype: dtype, save: plainPath))
        try #require(plain.status == 0, "\(plain.stderr)")
        let one = Dictionary(uniqueKeysWithValues: try SafeTensors.read(plainPath).tensors.map { ($0.name, $0.tensor) })
        for (name, t) in saved {
            let diff = zip(t.scalars, one[name]!.scalars).map { abs($0 - $1) }.max() ?? 0
            #expect(diff <= 1e-6, "\(name): 2 ranks differ from one process by \(diff)")
        }
    }

    /// Runs this test binary's `MPIRankTests` on 2 ranks (its collectives and DDP between real
    /// processes), over shared memory and over TCP.
    @Test(.enabled(if: mpirun != nil, "\(skipMessage)"), arguments: [false, true])
    func collectivesBetweenRanks(_ tcp: Bool) throws {
        let me = try #require(Bundle.main.executablePath ?? CommandLine.arguments.first)
        let job = try BackgroundJob(Self.mpirun!, Self.launch(2, tcp: tcp) + [me, "--testing-library", "swift-testing", "--filter", "MPIRankTests"],
                                    environment: Self.rootAllowed)
        defer { job.stop() }
        try #require(job.wait(timeout: 120) { !job.isRunning }, "still running after 120 s: \(job.stdout)")
        #expect(job.status == 0, "\(job.stdout)\n\(job.stderr)")
        // Swift Testing reports on standard error when standard output is not a terminal.
        let passed = (job.stdout + job.stderr).components(separatedBy: "collectivesAndDataParallelism() passed").count - 1
        #expect(passed == 2, "both ranks pass: \(job.stdout)\n\(job.stderr)")
    }

    /// MPICH's launcher (Hydra), where installed beside Open MPI (`apt-get install mpich`): the
    /// other handle ABI (integer constants), found from the launcher's PMI variables.
    static let mpich = ExternalTool.find("mpiexec.mpich") ?? ExternalTool.find("mpiexec.hydra")

    @Test(.enabled(if: mpich != nil, "MPICH is not installed (apt-get install mpich): its launcher and library not checked"))
    func mpichRanksTrainAsOpenMPIRanksDo() throws {
        let exe = try #require(CLI.executable, "the backprop executable")
        let me = try #require(Bundle.main.executablePath ?? CommandLine.arguments.first)
        func hydra(_ args: [String], _ env: [String: String] = [:]) throws -> BackgroundJob {
            let job = try BackgroundJob(Self.mpich!, ["-n", "2"] + args, environment: env)
            _ = job.wait(timeout: 120) { !job.isRunning }
            return job
        }
        let ranks = try hydra([me, "--testing-library", "swift-testing", "--filter", "MPIRankTests"])
        defer { ranks.stop() }
        #expect(ranks.status == 0 && (ranks.stdout + ranks.stderr).components(separatedBy: "collectivesAndDataParallelism() passed").count == 3,
                "\(ranks.stdout)\n\(ranks.stderr)")

        let save = Self.temporary("mpich.safetensors")
        let train = try hydra([exe.path] + Self.trainArguments(dtype: "f32", save: save))
        defer { train.stop() }
        try #require(train.status == 0, "\(train.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(train.stdout.utf8)) as? [String: Any]
        #expect(json?["world_size"] as? Int == 2, "\(train.stdout)")
        let expected = Dictionary(uniqueKeysWithValues: try Self.reference(dtype: .float32).stateDict().map { ($0.name, $0.tensor) })
        for (name, t) in try SafeTensors.read(save).tensors {
            #expect(t.isIdentical(to: try #require(expected[name])), "\(name) under MPICH")
        }

        // Open MPI's library under MPICH's launcher would start 2 trainings of size 1: refused.
        if ExternalTool.find("mpirun.openmpi") != nil {
            let wrong = try hydra([exe.path, "train", "--data", Repository.path("data/iris.csv"), "--epochs", "1"],
                                  ["BACKPROP_MPI_LIBRARY": "libmpi.so.40"])
            defer { wrong.stop() }
            #expect(wrong.status != 0)
            #expect(wrong.stderr.contains("started 2 processes (PMI_SIZE=2), but Open MPI's libmpi.so.40 sees rank 0 of 1"), "\(wrong.stderr)")
        }
    }

    @Test(.enabled(if: mpirun != nil, "\(skipMessage)"))
    func globalBatchMustSplitEvenly() throws {
        let r = try Self.mpirunTrain(["train", "--data", Repository.path("data/iris.csv"), "--batch-size", "25", "--epochs", "1"])
        #expect(r.status != 0)
        #expect((r.stdout + r.stderr).contains("--batch-size 25 is the global batch and must be a multiple of the 2 ranks"), "\(r.stderr)")
    }

    /// A rank killed with SIGKILL mid-training: mpirun ends the job within seconds, naming the rank;
    /// the checkpoint rank 0 wrote earlier is untouched.
    @Test(.enabled(if: mpirun != nil, "\(skipMessage)"), arguments: [1, 0])
    func killedRankEndsTheJob(_ victim: Int) throws {
        let exe = try #require(CLI.executable, "the backprop executable")
        let save = Self.temporary("fault.safetensors")
        let args = ["train", "--data", Repository.path("data/digits.csv"), "--batch-size", "32", "--save", save]
        let first = try Self.mpirunTrain(args + ["--epochs", "1"])
        try #require(first.status == 0, "\(first.stderr)")
        let before = try #require(FileManager.default.contents(atPath: save))

        let job = try BackgroundJob(Self.mpirun!, Self.launch(2) + [exe.path] + args + ["--epochs", "100000"],
                                    environment: Self.rootAllowed)
        defer { job.stop() }
        // Mid-training: once rank 0 has printed its first epoch.
        try #require(job.wait(timeout: 120) { job.stdout.contains("epoch 1/") }, "no epoch line: \(job.stdout) \(job.stderr)")
        let ranks = job.children()
        let pid = try #require(ranks[victim], "rank \(victim) among mpirun's children \(ranks)")
        kill(pid, SIGKILL)
        let killed = Date()
        let ended = job.wait(timeout: 30) { !job.isRunning }
        let seconds = Date().timeIntervalSince(killed)
        try #require(ended, "the job still runs 30 s after rank \(victim) was killed (a hang)")
        #expect(seconds < 10, "the job took \(seconds) s to end")
        #expect(job.status != 0)
        let text = (job.stdout + job.stderr).lowercased()
        #expect(text.contains("rank \(victim)"), "the error names the rank: \(job.stderr)")
        for (_, other) in ranks { #expect(!BackgroundJob.isAlive(other), "rank process \(other) outlived the job") }
        #expect(FileManager.default.contents(atPath: save) == before, "the checkpoint changed")
        #expect(try SavedModel.read(save).state.count == 4)
    }
}

struct ExternalToolResult { let status: Int32; let stdout: String; let stderr: String }

/// A process running in the background, its output going to files that the test reads while it runs.
final class BackgroundJob {
    let process = Process()
    let outPath: String, errPath: String

    init(_ exe: String, _ args: [String], environment: [String: String]) throws {
        let dir = FileManager.default.temporaryDirectory
        outPath = dir.appendingPathComponent("job-\(UUID().uuidString).out").path
        errPath = dir.appendingPathComponent("job-\(UUID().uuidString).err").path
        FileManager.default.createFile(atPath: outPath, contents: nil)
        FileManager.default.createFile(atPath: errPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: exe)
        process.arguments = args
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var stdout: String { String(decoding: FileManager.default.contents(atPath: outPath) ?? Data(), as: UTF8.self) }
    var stderr: String { String(decoding: FileManager.default.contents(atPath: errPath) ?? Data(), as: UTF8.self) }
    var isRunning: Bool { process.isRunning }
    var status: Int32 { process.terminationStatus }

    /// Polls `condition` every 50 ms for at most `timeout` seconds.
    func wait(timeout: TimeInterval, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }

    /// The launcher's children by rank (from their OMPI_COMM_WORLD_RANK or PMI_RANK variable).
    func children() -> [Int: pid_t] {
        var out: [Int: pid_t] = [:]
        let me = process.processIdentifier
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry),
                  let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
                  status.split(separator: "\n").contains(where: { $0.hasPrefix("PPid:") && $0.split(separator: "\t").last.map(String.init) == "\(me)" }),
                  let env = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { continue }
            for item in env.split(separator: 0) {
                let s = String(decoding: item, as: UTF8.self)
                for key in ["OMPI_COMM_WORLD_RANK=", "PMI_RANK="] where s.hasPrefix(key) {
                    if let r = Int(s.dropFirst(key.count)) { out[r] = pid }
                }
            }
        }
        return out
    }

    /// Whether `pid` runs (a zombie, dead but not yet reaped by its new parent, does not).
    static func isAlive(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).prefix(1)
        return state != "Z" && state != "X"
    }

    /// Ends the launcher (and so its ranks) if it still runs, and removes the output files.
    func stop() {
        if process.isRunning {
            for (_, pid) in children() { kill(pid, SIGKILL) }
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: outPath)
        try? FileManager.default.removeItem(atPath: errPath)
    }
}

/// The collectives and `DistributedDataParallel` between real ranks: this suite runs only inside
/// `mpirun -np 2` (`MPITrainingTests.collectivesBetweenRanks` launches this test binary so), and is
/// one test so that every rank calls the collectives in the same order.
@Suite struct MPIRankTests {
    static let underLauncher = ((try? LauncherEnvironment.detect(ProcessInfo.processInfo.environment))??.size ?? 1) > 1

    /// A parameter of each dtype and a buffer that forward counts up by the rank + 1.
    final class Counting: Module {
        let w: Parameter
        let v: Parameter
        let seen = Buffer(Tensor([0], shape: [1], dtype: .float64))
        let rank: Int
        init(rank: Int) {
            self.rank = rank
            w = Parameter(Tensor([Double(rank), 1, 2], shape: [3]))
            v = Parameter(Tensor([Double(rank) * 10, -1], shape: [2], dtype: .float64))
        }
        func forward(_ x: Tensor) -> Tensor {
            seen.assign(seen.value + Double(rank + 1))
            return (x * w.value).sum()
        }
    }

    @Test(.enabled(if: underLauncher, "runs only under mpirun (launched by MPITrainingTests.collectivesBetweenRanks)"))
    func collectivesAndDataParallelism() throws {
        let g = try ProcessGroup.world()
        let n = Double(g.size), r = Double(g.rank)
        #expect(g.isDistributed && g.mpi != nil)
        let ranks = (0..<g.size).map(Double.init)

        let total: Double = ranks.reduce(0, +), mean = total / n
        var t = Tensor([r + 1, -2 * (r + 1), 0.5], shape: [3])
        g.allReduce(&t, .sum)
        let sums: [Double] = [total + n, -2 * (total + n), 0.5 * n]
        #expect(t.scalars == sums)
        var m = Tensor([r, 1], shape: [2], dtype: .float64)
        g.allReduce(&m, .mean)
        #expect(m.scalars == [mean, 1])
        var hi: [Float] = [Float(r), -Float(r)]
        g.allReduce(&hi, .max)
        #expect(hi == [Float(n - 1), 0])
        var lo: [Double] = [r]
        g.allReduce(&lo, .min)
        #expect(lo == [0])

        var ints = Tensor([Double(g.rank * 7), 3], shape: [2], dtype: .int64)
        g.broadcast(&ints, from: g.size - 1)
        #expect(ints.integers == [(g.size - 1) * 7, 3])
        #expect(g.allGather([r, r * 10]) == ranks.map { [$0, $0 * 10] })
        g.barrier()

        // DDP: rank 0's values everywhere at the start; each parameter its own bucket.
        let model = Counting(rank: g.rank)
        let ddp = DistributedDataParallel(model, group: g, bucketCapMB: 1e-6)
        #expect(ddp.buckets == [[1], [0]])
        #expect(model.w.value.scalars == [0, 1, 2] && model.v.value.scalars == [0, -1])
        #expect(model.seen.value.scalars == [0])
        // Each rank's input: its gradients are the input itself; the mean over ranks comes back.
        let x = Tensor([r, 2 * r, 1], shape: [3])
        ddp(x).backward()
        (model.v.value * (3 * r + 1)).sum().backward()
        ddp.synchronizeGradients()
        let wGrad: [Double] = [mean, 2 * mean, 1], vGrad: [Double] = [3 * mean + 1, 3 * mean + 1]
        #expect(model.w.grad?.scalars == wGrad)
        #expect(model.v.grad?.scalars == vGrad)
        #expect(model.v.grad?.dtype == .float64)
        // Forward counted the buffer up by rank + 1 on each rank; the next forward starts from rank 0's.
        #expect(model.seen.value.scalars == [r + 1])
        _ = ddp(x)
        #expect(model.seen.value.scalars == [1 + r + 1])
    }
}
