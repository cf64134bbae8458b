import Foundation
import Testing
@testable import Backprop

/// CSV reading and its errors, split, standardization, batches.
@Suite struct CSVTests {
    func error(_ text: String, label: LabelColumn = .last, header: Bool = true) -> String? {
        do { _ = try CSVReader.parse(text, file: "t.csv", labelColumn: label, hasHeader: header); return nil }
        catch let e as DataError { return e.description } catch { return "\(error)" }
    }

    @Test func readsHeaderFeaturesAndLabels() throws {
        let d = try CSVReader.parse("a,b,label\n1,2,0\n3.5, -4e1 ,2\r\n\n5,6,0\n", file: "t.csv")
        #expect(d.features.shape == [3, 2] && d.features.scalars == [1, 2, 3.5, -40, 5, 6])
        #expect(d.labels.integers == [0, 1, 0] && d.classNames == ["0", "2"])
        #expect(d.featureNames == ["a", "b"])
        let named = try CSVReader.parse("species,x\nsetosa,1\nvirginica,2\nsetosa,3\n", labelColumn: .name("species"))
        #expect(named.classNames == ["setosa", "virginica"] && named.labels.integers == [0, 1, 0])
        #expect(named.features.scalars == [1, 2, 3] && named.featureNames == ["x"])
        let first = try CSVReader.parse("9,1,2\n8,3,4\n", labelColumn: .index(0), hasHeader: false)
        #expect(first.classNames == ["8", "9"] && first.labels.integers == [1, 0] && first.featureNames == ["x1", "x2"])
        let quoted = try CSVReader.parse("\"a, b\",y\n\"1.5\",\"cat\"\n")
        #expect(quoted.featureNames == ["a, b"] && quoted.features.scalars == [1.5] && quoted.classNames == ["cat"])
    }

    @Test func errorsSayWhereAndWhat() {
        #expect(error("") == "t.csv: the file is empty: no header and no rows")
        #expect(error("\n  \n") == "t.csv: the file is empty: no header and no rows")
        #expect(error("a,b,c\n") == "t.csv: no data rows after the header")
        #expect(error("a,b,c\n1,2,0\n1,2\n") == "t.csv:3:3: row has 2 fields, expected 3 as in the header")
        #expect(error("a,b,c\n1,2,0\n1,2,0,4\n") == "t.csv:3:4: row has 4 fields, expected 3 as in the header")
        #expect(error("a,b,c\n1,2,0\n1,x,0\n") == "t.csv:3:2: 'x' is not a finite number in feature column 2 (b)")
        #expect(error("a,b,c\n1,,0\n") == "t.csv:2:2: empty field in feature column 2 (b)")
        #expect(error("a,b,c\n1,nan,0\n") == "t.csv:2:2: 'nan' is not a finite number in feature column 2 (b)")
        #expect(error("a,b,c\n1,2,0.5\n") == "t.csv:2:3: label '0.5' is not a whole number (labels are class ids or names)")
        #expect(error("a,b,c\n1,2,\n") == "t.csv:2:3: empty label")
        #expect(error("a,b,c\n1,2,0\n", label: .name("z")) == "t.csv:1: no column named 'z' in the header (columns: a, b, c)")
        #expect(error("a,b,c\n1,2,0\n", label: .index(3)) == "t.csv: label column 3 is out of range for 3 columns (0...2)")
        #expect(error("a\n1\n") == "t.csv:1: need at least 2 columns (features and a label), found 1")
        #expect(error("a,b\n\"1,0\n") == "t.csv:2:1: unterminated quoted field")
        #expect(throws: DataError(file: "/no/such.csv", "no such file")) { try CSVReader.read("/no/such.csv") }
    }

    @Test func readsTheShippedIris() throws {
        let d = try CSVReader.read(Fixtures.path("iris.csv"))
        #expect(d.count == 150 && d.featureCount == 4 && d.classCount == 3)
        #expect(d.featureNames == ["sepal_length", "sepal_width", "petal_length", "petal_width"])
        #expect(d.features.element(0, 0) == Double(Float(5.1)))
    }

    @Test func splitIsSeededAndDisjoint() throws {
        let d = try CSVReader.read(Fixtures.path("iris.csv"))
        let (a, b) = d.split(testFraction: 0.2, seed: 7)
        #expect(a.count == 120 && b.count == 30)
        let (a2, b2) = d.split(testFraction: 0.2, seed: 7)
        #expect(a.features.isIdentical(to: a2.features) && b.labels.isIdentical(to: b2.labels))
        let (_, b3) = d.split(testFraction: 0.2, seed: 8)
        #expect(!b.features.isIdentical(to: b3.features))
        // Every row lands in exactly one part: the multiset of rows is unchanged.
        func rows(_ x: Dataset) -> [[Double]] {
            let v = x.features.scalars
            return (0..<x.count).map { Array(v[($0 * 4)..<($0 * 4 + 4)]) + [Double(x.labels.integers[$0])] }
        }
        #expect((rows(a) + rows(b)).map { "\($0)" }.sorted() == rows(d).map { "\($0)" }.sorted())
    }

    @Test func standardizationUsesTrainingStatisticsOnly() {
        let train = Tensor([1, 10, 3, 10, 5, 10] as [Double], shape: [3, 2], dtype: .float64)
        let s = Standardizer(fitting: train)
        #expect(s.mean.scalars == [3, 10])
        #expect(abs(s.std.scalars[0] - (8.0 / 3).squareRoot()) < 1e-12 && s.std.scalars[1] == 1, "constant column gets std 1")
        let test = Tensor([3, 12] as [Double], shape: [1, 2], dtype: .float64)
        #expect(s.transform(test).scalars == [0, 2])
    }

    @Test func batchesCoverEveryRowOnce() {
        let x = Tensor((0..<10).map(Double.init), shape: [10, 1])
        let d = Dataset(features: x, labels: Tensor(indices: Array(0..<10)), featureNames: ["x"], classNames: (0..<10).map(String.init))
        var g = RandomGenerator(seed: 1)
        let b = d.batches(size: 4, shuffle: true, using: &g)
        #expect(b.map { $0.y.count } == [4, 4, 2])
        #expect(b.flatMap { $0.y.integers }.sorted() == Array(0..<10))
        #expect(b.flatMap { $0.y.integers } != Array(0..<10), "shuffled")
        for (bx, by) in b { #expect(bx.scalars.map { Int($0) } == by.integers, "features stay with their labels") }
        let ordered = d.batches(size: 0, shuffle: false, using: &g)
        #expect(ordered.count == 1 && ordered[0].y.integers == Array(0..<10))
    }
}

/// safetensors and .npy reading, writing and validation.
@Suite struct SafeTensorsTests {
    static func header(_ json: String, data: [UInt8] = []) -> Data {
        var out = Data()
        var n = UInt64(json.utf8.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(contentsOf: Array(json.utf8))
        out.append(contentsOf: data)
        return out
    }

    func error(_ data: Data) -> String? {
        do { _ = try SafeTensors.decode(data, file: "m.safetensors"); return nil }
        catch { return "\(error)" }
    }

    @Test func readsAFileWrittenByPythonSafetensors() throws {
        let c = try SafeTensors.read(Fixtures.path("python_written.safetensors"))
        #expect(c.metadata == ["source": "python safetensors", "note": "quote \" and backslash \\"])
        #expect(Set(c.tensors.map(\.name)) == ["matrix_f32", "vector_f64", "ids_i64", "scalar_f32", "empty_f32", "cube_f64"])
        let m = c["matrix_f32"]!
        #expect(m.dtype == .float32 && m.shape == [2, 3] && m.scalars == (0..<6).map { Double($0) / 4 - 0.5 })
        let v = c["vector_f64"]!
        #expect(v.dtype == .float64 && v.scalars == [1.5, -2.25, 1e-300, 3.141592653589793])
        let i = c["ids_i64"]!
        #expect(i.dtype == .int64 && i.integers == [-3, 0, 1 << 40])
        #expect(c["scalar_f32"]!.shape == [] && c["scalar_f32"]!.item == 3.5)
        #expect(c["empty_f32"]!.shape == [0, 3])
        #expect(c["cube_f64"]!.shape == [2, 3, 4] && c["cube_f64"]!.scalars == (0..<24).map { Double($0) * -0.125 })
    }

    @Test func roundTripsThroughAFile() throws {
        let dir = FileManager.default.temporaryDirectory.path
        let path = dir + "/backprop-rt-\(getpid()).safetensors"
        defer { unlink(path) }
        let tensors: [(name: String, tensor: Tensor)] = [
            ("w", Tensor([1.25, -2, 3e-8, 4, 5, 6], shape: [3, 2])),
            ("b", Tensor([0.1, 0.2] as [Double], dtype: .float64)),
            ("i", Tensor(indices: [7, -1, 1 << 50])),
            ("s", Tensor(scalar: -0.5)),
            ("weird \"name\"\n", Tensor.zeros([0])),
        ]
        try SafeTensors.write(tensors, metadata: ["epoch": "3", "k\"ey": "v\\al"], to: path)
        let c = try SafeTensors.read(path)
        #expect(c.tensors.map(\.name) == tensors.map(\.name))
        for (a, b) in zip(c.tensors, tensors) { #expect(a.tensor.isIdentical(to: b.tensor), "\(a.name)") }
        #expect(c.metadata == ["epoch": "3", "k\"ey": "v\\al"])
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect((8 + Int(bytes[0])) % 8 == 0, "the header is padded to 8 bytes as the Rust library writes it")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains("backprop-rt-\(getpid()).safetensors.tmp") }
        #expect(leftovers.isEmpty, "no temporary file left behind")
    }

    static let python: String? = PythonForTests.interpreter

    /// Needs a Python with `safetensors` and torch (see `PythonForTests`); skipped otherwise.
    @Test(.enabled(if: python != nil, PythonForTests.skipMessage))
    func filesWrittenHereLoadInPython() throws {
        let path = FileManager.default.temporaryDirectory.path + "/backprop-py-\(getpid()).safetensors"
        defer { unlink(path) }
        try SafeTensors.write([("a.weight", Tensor([1.5, -2, 3, 4.25, 5, 6], shape: [2, 3])),
                               ("b", Tensor([1e-300, -7] as [Double], dtype: .float64)),
                               ("c", Tensor(indices: [-3, 1 << 40]))], metadata: ["who": "swift"], to: path)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/check_safetensors_from_swift.py").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.python!)
        p.arguments = [script, path]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "python could not load the file")
        guard p.terminationStatus == 0 else { return }
        let o = try JSONSerialization.jsonObject(with: out) as! [String: Any]
        #expect(o["metadata"] as? [String: String] == ["who": "swift"])
        let t = o["tensors"] as! [String: [String: Any]]
        #expect(t["a.weight"]!["dtype"] as? String == "float32" && t["a.weight"]!["shape"] as? [Int] == [2, 3])
        #expect((t["a.weight"]!["values"] as! [NSNumber]).map(\.doubleValue) == [1.5, -2, 3, 4.25, 5, 6])
        #expect(t["b"]!["dtype"] as? String == "float64" && (t["b"]!["values"] as! [NSNumber]).map(\.doubleValue) == [1e-300, -7])
        #expect(t["c"]!["dtype"] as? String == "int64" && (t["c"]!["values"] as! [NSNumber]).map(\.int64Value) == [-3, 1 << 40])
    }

    @Test func rejectsMalformedFiles() {
        #expect(error(Data([1, 2, 3])) == "m.safetensors: safetensors: file of 3 bytes is too short for the 8-byte header length")
        var big = Self.header("{}"); big[0] = 200
        #expect(error(big) == "m.safetensors: safetensors: header length 200 runs past the end of the file (10 bytes); is it a safetensors file?")
        #expect(error(Self.header("[1, 2]")) == "m.safetensors: safetensors: header is not a JSON object")
        #expect(error(Self.header("{\"a\": ")) == "m.safetensors: safetensors: header is not a JSON object")
        #expect(error(Self.header(#"{"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}"#, data: [0]))
                == "m.safetensors: safetensors: tensor 'a' has dtype F8_E4M3, which Backprop does not read; supported: F16, BF16, F32, F64, I8, I16, I32, I64, U8, U16, U32, U64, BOOL")
        #expect(error(Self.header(#"{"a":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}}"#, data: [0]))?.contains("has dtype F4, which Backprop does not read") == true)
        #expect(error(Self.header(#"{"a":{"dtype":"U64","shape":[1],"data_offsets":[0,8]}}"#, data: [0, 0, 0, 0, 0, 0, 0, 0x80]))
                == "m.safetensors: safetensors: tensor 'a' (U64) holds a value past 9223372036854775807, the largest int64")
        #expect(error(Self.header(#"{"a":{"dtype":"F16","shape":[3],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
                == "m.safetensors: safetensors: tensor 'a' of shape [3] and dtype F16 needs 6 bytes but data_offsets [0, 4] hold 4")
        #expect(error(Self.header(#"{"a":{"dtype":"Q9","shape":[1],"data_offsets":[0,2]}}"#, data: [0, 0]))
                == "m.safetensors: safetensors: tensor 'a' has unknown dtype 'Q9'")
        #expect(error(Self.header(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: [0, 0, 0, 0]))
                == "m.safetensors: safetensors: tensor 'a' has data_offsets [0, 8] past the end of the data (4 bytes)")
        #expect(error(Self.header(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8)))
                == "m.safetensors: safetensors: tensor 'a' of shape [3] and dtype F32 needs 12 bytes but data_offsets [0, 8] hold 8")
        #expect(error(Self.header(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                                  data: Array(repeating: 0, count: 12)))
                == "m.safetensors: safetensors: tensors 'a' [0, 8) and 'b' [4, 12) overlap")
        #expect(error(Self.header(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
                == "m.safetensors: safetensors: tensor 'a' has no valid shape (a list of non-negative integers)")
        #expect(error(Self.header(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#, data: [0, 0, 0, 0]))
                == "m.safetensors: safetensors: tensor 'a' has no valid data_offsets (two integers begin <= end)")
        #expect(error(Self.header(#"{"__metadata__":{"a":1}}"#)) == "m.safetensors: safetensors: __metadata__ value of 'a' is not a string")
    }

    @Test func npyRoundTripAndNumPyLayout() throws {
        for t in [Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3]), Tensor([0.5, -1] as [Double], dtype: .float64),
                  Tensor(indices: [3, -4, 5], shape: [3, 1]), Tensor(scalar: 2)] {
            let back = try NPY.decode(NPY.encode(t))
            #expect(back.isIdentical(to: t), "\(t.shape) \(t.dtype)")
        }
        let bytes = [UInt8](NPY.encode(Tensor([1, 2, 3], shape: [3])))
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        let header = String(decoding: bytes[10..<(10 + headerLength)], as: UTF8.self)
        #expect(header.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }") && header.hasSuffix("\n"))
        #expect((10 + headerLength) % 64 == 0)
        // A Fortran-order [2, 3] float64 array as NumPy writes it: columns stored one after the other.
        var f = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
        var h = "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }"
        while (10 + h.utf8.count + 1) % 64 != 0 { h += " " }
        h += "\n"
        f.append(contentsOf: [UInt8(h.utf8.count), 0]); f.append(contentsOf: Array(h.utf8))
        for v in [1.0, 4, 2, 5, 3, 6] { var x = v; withUnsafeBytes(of: &x) { f.append(contentsOf: $0) } }
        let m = try NPY.decode(f)
        #expect(m.shape == [2, 3] && m.scalars == [1, 2, 3, 4, 5, 6])
        #expect(throws: DataError.self) { try NPY.decode(Data("not numpy".utf8)) }
    }
}

/// .npy files written by NumPy (scripts/make_npy_fixtures.py), and files written here read by NumPy.
@Suite struct NumPyFilesTests {
    @Test func readsFilesWrittenByNumPy() throws {
        let a = try NPY.read(Fixtures.path("numpy_f4_2x3.npy"))
        #expect(a.dtype == .float32 && a.shape == [2, 3] && a.scalars == (0..<6).map { Double($0) / 4 - 0.5 })
        let f = try NPY.read(Fixtures.path("numpy_f8_fortran_3x4.npy"))
        #expect(f.dtype == .float64 && f.shape == [3, 4] && f.scalars == (0..<12).map { Double($0) * 1.5 })
        let i = try NPY.read(Fixtures.path("numpy_i8_5.npy"))
        #expect(i.dtype == .int64 && i.integers == [-2, 0, 7, 1 << 40, -(1 << 33)])
        let s = try NPY.read(Fixtures.path("numpy_f8_scalar.npy"))
        #expect(s.shape == [] && s.item == 2.5)
    }

    @Test(.enabled(if: SafeTensorsTests.python != nil, PythonForTests.skipMessage))
    func filesWrittenHereLoadInNumPy() throws {
        let path = FileManager.default.temporaryDirectory.path + "/backprop-np-\(getpid()).npy"
        defer { unlink(path) }
        try NPY.write(Tensor([1.5, -2, 3, 4.25, 5, 6], shape: [3, 2]), to: path)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: SafeTensorsTests.python!)
        p.arguments = ["-c", "import numpy as np, sys; a = np.load(sys.argv[1]); print(a.dtype, a.shape, a.ravel().tolist())", path]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(out == "float32 (3, 2) [1.5, -2.0, 3.0, 4.25, 5.0, 6.0]\n")
    }
}
