import Foundation
import Testing
@testable import Backprop

/// The dtypes of the safetensors format against files that Python's `safetensors` library wrote with
/// PyTorch's own conversions (Fixtures/python_dtypes.safetensors, made by scripts/make_dtype_fixtures.py),
/// and files written here read back by PyTorch where it is installed.
@Suite struct SafeTensorsDTypeTests {
    static let file = Fixtures.path("python_dtypes.safetensors")

    /// The raw 16-bit patterns of a half-precision tensor in the fixture, as the file holds them.
    static func rawBits(_ name: String) throws -> [UInt16] {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        var n = 0
        for i in 0..<8 { n |= Int(bytes[i]) << (8 * i) }
        let header = try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + n)])) as! [String: Any]
        let off = (header[name] as! [String: Any])["data_offsets"] as! [Int]
        return stride(from: 8 + n + off[0], to: 8 + n + off[1], by: 2).map { UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8 }
    }

    /// The bits a tensor encodes to as `type` (F16 or BF16), read from `SafeTensors.encode`'s bytes.
    static func encodedBits(_ t: Tensor, as type: SafeTensors.StorageType) -> [UInt16] {
        let bytes = [UInt8](SafeTensors.encode([("t", t)], floatsAs: type))
        var n = 0
        for i in 0..<8 { n |= Int(bytes[i]) << (8 * i) }
        return stride(from: 8 + n, to: bytes.count, by: 2).map { UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8 }
    }

    static func hex(_ v: [UInt16]) -> String { v.map { String($0, radix: 16) }.joined(separator: " ") }

    @Test func halfPrecisionReadsAsPyTorchWidensIt() throws {
        let c = try SafeTensors.read(Self.file)
        #expect(c.storedTypes["as_f16"] == .float16 && c.storedTypes["as_bf16"] == .bfloat16 && c.storedTypes["u64"] == .uint64)
        let f16 = c["as_f16"]!, bf16 = c["as_bf16"]!
        #expect(f16.dtype == .float32 && bf16.dtype == .float32)
        // Widening is exact: each value is the one its bits stand for (compared bit by bit, NaN included).
        let bits16 = try Self.rawBits("as_f16"), bitsB = try Self.rawBits("as_bf16")
        for (k, v) in f16.scalars.enumerated() {
            #expect(Float(v).bitPattern == HalfPrecision.float(float16Bits: bits16[k]).bitPattern, "F16 element \(k)")
        }
        for (k, v) in bf16.scalars.enumerated() { #expect(Float(v).bitPattern == UInt32(bitsB[k]) << 16, "BF16 element \(k)") }
        // Known values: 1 + 2^-11 is a tie and goes to 1 (even); 65520 overflows to infinity.
        let source = c["source_f32"]!.scalars
        for (x, want) in [(1 + 0x1p-11, 1.0), (1 + 3 * 0x1p-11, 1 + 0x1p-9), (65520.0, Double.infinity), (0x1p-24, 0x1p-24),
                          (0x1p-25, 0.0)] {
            let k = source.firstIndex(of: x)!
            #expect(f16.scalars[k] == want, "half(\(x)) is \(f16.scalars[k]), PyTorch's \(want)")
        }
        let wide = try SafeTensors.read(Self.file, halfAs: .float64)
        #expect(wide["as_f16"]!.dtype == .float64 && wide["as_f16"]!.scalars.map(\.bitPattern) == f16.scalars.map(\.bitPattern))
        #expect(wide["source_f32"]!.dtype == .float32, "halfAs changes F16 and BF16 only")
    }

    @Test func floatsEncodeToPyTorchsHalfAndBFloat16Bits() throws {
        let c = try SafeTensors.read(Self.file)
        for (source, type, name) in [("source_f32", SafeTensors.StorageType.float16, "as_f16"), ("source_f32", .bfloat16, "as_bf16"),
                                     ("source_f64", .float16, "f64_as_f16"), ("source_f64", .bfloat16, "f64_as_bf16")] {
            // A NaN may come out as any NaN pattern: PyTorch's own vectorized and scalar bfloat16
            // conversions write different ones (0xFFFF and 0x7FC0).
            func isNaN(_ h: UInt16) -> Bool {
                type == .float16 ? HalfPrecision.float(float16Bits: h).isNaN : HalfPrecision.float(bfloat16Bits: h).isNaN
            }
            let mine = Self.encodedBits(c[source]!, as: type).map { isNaN($0) ? 0x7FFF : $0 }
            let torch = try Self.rawBits(name).map { isNaN($0) ? 0x7FFF : $0 }
            #expect(mine == torch, "\(source) as \(type.rawValue): \(Self.hex(mine)) vs PyTorch \(Self.hex(torch))")
        }
        // Every one of the 65,536 half-precision patterns that is not a NaN widens and narrows back to itself.
        for h in 0...UInt16.max {
            let x = HalfPrecision.float(float16Bits: h)
            if x.isNaN { continue }
            #expect(HalfPrecision.float16Bits(x) == h, "half \(String(h, radix: 16)) -> \(x)")
        }
    }

    @Test func integerTypesReadAsInt64AndBoolAsBool() throws {
        let c = try SafeTensors.read(Self.file)
        let want: [(String, [Int])] = [
            ("i8", [-128, -1, 0, 127]), ("i16", [-32768, -1, 0, 32767]), ("i32", [Int(Int32.min), -1, 0, Int(Int32.max)]),
            ("u8", [0, 1, 255]), ("u16", [0, 1, 65535]), ("u32", [0, 1, Int(UInt32.max)]), ("u64", [0, 1, Int.max]),
        ]
        for (name, values) in want {
            let t = c[name]!
            #expect(t.dtype == .int64 && t.integers == values, "\(name): \(t.integers)")
        }
        #expect(c["bool"]!.dtype == .bool && c["bool"]!.bools == [true, false, false, true])
        #expect(c["bool"]!.shape == [2, 2] && c.storedTypes["bool"] == .bool)
    }

    @Test func halfPrecisionFilesRoundTrip() throws {
        let x = Tensor([0.1, -2.5, 65504, 1e-6, 3.0e38], shape: [5])
        for type in [SafeTensors.StorageType.float16, .bfloat16, .float64] {
            let back = try SafeTensors.decode(SafeTensors.encode([("x", x), ("i", Tensor(indices: [3]))], floatsAs: type))
            #expect(back.storedTypes == ["x": type, "i": .int64])
            let want = x.scalars.map { v -> Double in
                switch type {
                case .float16: return Double(HalfPrecision.float(float16Bits: HalfPrecision.float16Bits(Float(v))))
                case .bfloat16: return Double(HalfPrecision.float(bfloat16Bits: HalfPrecision.bfloat16Bits(Float(v))))
                default: return v
                }
            }
            #expect(back["x"]!.scalars == want, "\(type.rawValue)")
            #expect(back["i"]!.integers == [3], "int64 tensors stay I64")
        }
    }

    /// Needs a Python with `safetensors` and torch (see `PythonForTests`); skipped otherwise.
    @Test(.enabled(if: SafeTensorsTests.python != nil, PythonForTests.skipMessage))
    func halfPrecisionFilesWrittenHereLoadInPyTorch() throws {
        let path = FileManager.default.temporaryDirectory.path + "/backprop-half-\(getpid()).safetensors"
        defer { unlink(path) }
        let c = try SafeTensors.read(Self.file)
        for (type, torchName, name) in [(SafeTensors.StorageType.float16, "float16", "as_f16"), (.bfloat16, "bfloat16", "as_bf16")] {
            try SafeTensors.write([("w", c["source_f32"]!)], floatsAs: type, to: path)
            let o = try runPython(SafeTensorsTests.python!, [Repository.path("scripts/check_safetensors_from_swift.py"), path])
            let t = (o["tensors"] as! [String: [String: Any]])["w"]!
            #expect(t["dtype"] as? String == torchName)
            let values = (t["values"] as! [Any]).map { ($0 as? NSNumber)?.doubleValue ?? Double($0 as! String)! }
            let want = c[name]!.scalars
            #expect(values.count == want.count)
            // Compared as Float: every value is a float32, and Foundation's JSON parser may miss
            // the last bit of a double that Python printed exactly.
            for (a, b) in zip(values, want) where !(a.isNaN && b.isNaN) {
                #expect(Float(a) == Float(b), "\(torchName): PyTorch reads \(a), expected \(b)")
            }
        }
    }
}

/// Runs `python` with `arguments` and parses its standard output as one JSON object; records a
/// failure naming the standard error when it exits non-zero.
func runPython(_ python: String, _ arguments: [String]) throws -> [String: Any] {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: python)
    p.arguments = arguments
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    #expect(p.terminationStatus == 0, "\(arguments.first ?? "python") failed: \(errors.suffix(2000))")
    guard p.terminationStatus == 0 else { return [:] }
    return (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
}
