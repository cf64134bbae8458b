import Foundation
import Testing
@testable import Backprop

/// Numbers from files that once stopped the program (an integer conversion or product that traps)
/// now give an error that says what is wrong and where.
@Suite struct BadFileInputTests {
    func csvError(_ text: String) -> String? {
        do { _ = try CSVReader.parse(text, file: "t.csv"); return nil } catch { return "\(error)" }
    }

    @Test("CSV labels that are numbers but no class id", arguments: [
        ("99999999999999999999", "is past 2^53 = 9007199254740992, the largest class id"),
        ("-1e300", "is past 2^53 = 9007199254740992, the largest class id"),
        ("9007199254740994", "is past 2^53 = 9007199254740992, the largest class id"),
        ("nan", "is not a finite number"),
        ("inf", "is not a finite number"),
        ("-inf", "is not a finite number"),
        ("1e400", "is not a finite number"),
    ])
    func hugeAndNonFiniteLabels(_ label: String, _ why: String) {
        #expect(csvError("a,b,label\n1,2,0\n3,4,\(label)\n5,6,1\n")
                == "t.csv:3:3: label '\(label)' \(why) (labels are class ids or names)")
    }

    @Test func largestClassIDsStillRead() throws {
        let d = try CSVReader.parse("a,label\n1,9007199254740992\n2,-9007199254740992\n3,-3\n")
        #expect(d.classNames == ["-9007199254740992", "-3", "9007199254740992"] && d.labels.integers == [2, 0, 1])
    }

    // MARK: safetensors

    func safetensorsError(_ json: String, data: [UInt8] = []) -> String? {
        do { _ = try SafeTensors.decode(SafeTensorsTests.header(json, data: data), file: "m.safetensors"); return nil }
        catch { return "\(error)" }
    }

    @Test func safetensorsShapesTooLargeForAnInt() {
        // 2^30 * 2^31 elements fit in an Int; their 2^64 bytes do not.
        #expect(safetensorsError(#"{"a":{"dtype":"F64","shape":[1073741824,2147483648],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8))
                == "m.safetensors: safetensors: tensor 'a' has shape [1073741824, 2147483648], too large: its size in bytes does not fit in a 64-bit integer")
        // No elements, but the strides of [0, 2^40, 2^40] overflow.
        #expect(safetensorsError(#"{"a":{"dtype":"F32","shape":[0,1099511627776,1099511627776],"data_offsets":[0,0]}}"#)
                == "m.safetensors: safetensors: tensor 'a' has shape [0, 1099511627776, 1099511627776], too large: its size in bytes does not fit in a 64-bit integer")
        #expect(safetensorsError(#"{"a":{"dtype":"F32","shape":[1e300],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0])
                == "m.safetensors: safetensors: tensor 'a' has no valid shape (a list of non-negative integers)")
        #expect(safetensorsError(#"{"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0])
                == "m.safetensors: safetensors: tensor 'a' has no valid shape (a list of non-negative integers)")
    }

    @Test func safetensorsOffsetsAndHeaderLengthsPastAnyFile() {
        #expect(safetensorsError(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,99999999999999999999]}}"#, data: [0, 0, 0, 0])
                == "m.safetensors: safetensors: tensor 'a' has no valid data_offsets (two integers begin <= end)")
        #expect(safetensorsError(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[8999999999999992,8999999999999996]}}"#, data: [0, 0, 0, 0])
                == "m.safetensors: safetensors: tensor 'a' has data_offsets [8999999999999992, 8999999999999996] past the end of the data (4 bytes)")
        var longest = SafeTensorsTests.header("{}")
        for i in 0..<8 { longest[i] = 0xFF }
        do { _ = try SafeTensors.decode(longest, file: "m.safetensors"); Issue.record("no error") } catch {
            #expect("\(error)" == "m.safetensors: safetensors: header length 18446744073709551615 runs past the end of the file (10 bytes); is it a safetensors file?")
        }
    }

    // MARK: NPY

    /// The bytes of a version `major` .npy file with this header text and data.
    static func npy(_ header: String, major: UInt8 = 1, data: [UInt8] = []) -> Data {
        var f = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, major, 0])
        let n = header.utf8.count
        f.append(contentsOf: major == 1 ? [UInt8(n & 0xFF), UInt8(n >> 8)] : [UInt8(n & 0xFF), UInt8(n >> 8), 0, 0])
        f.append(contentsOf: Array(header.utf8))
        f.append(contentsOf: data)
        return f
    }

    func npyError(_ data: Data) -> String? {
        do { _ = try NPY.decode(data, file: "a.npy"); return nil } catch { return "\(error)" }
    }

    @Test("NPY headers whose shapes overflow an Int", arguments: [
        "4611686018427387904, 4",              // 2^64 elements
        "2305843009213693952,",                // 2^61 elements fit, 2^64 bytes do not
        "0, 3037000500, 3037000500, 8",        // no elements, but the strides overflow
    ])
    func npyHugeShapes(_ shape: String) {
        #expect(npyError(Self.npy("{'descr': '<f8', 'fortran_order': False, 'shape': (\(shape)), }\n", data: Array(repeating: 0, count: 8)))
                == "a.npy: npy: shape (\(shape)) is too large: its size in bytes does not fit in a 64-bit integer")
    }

    @Test func npyDimensionsAndHeaderLengthsFromOutside() {
        #expect(npyError(Self.npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }\n"))
                == "a.npy: npy: bad dimension '99999999999999999999' in shape (99999999999999999999,)")
        #expect(npyError(Self.npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }\n"))
                == "a.npy: npy: bad dimension '-2' in shape (-2, 3)")
        var long = Self.npy("{}", major: 2)
        for i in 8..<12 { long[i] = 0xFF }
        #expect(npyError(long) == "a.npy: npy: header length 4294967295 runs past the end of the file")
        #expect(npyError(Self.npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }\n", data: [0, 0, 0, 0]))
                == "a.npy: npy: shape [1000000, 1000000] needs 4000000000000 bytes of <f4 data, the file has 4")
    }

    // MARK: tensor literals, checkpoints, optimizer state

    @Test func tensorTextNestedTooDeep() throws {
        let deep = String(repeating: "[", count: 100_000) + "1" + String(repeating: "]", count: 100_000)
        #expect(throws: TensorParseError.self) { try TensorTextParser.parse(deep) }
        do { _ = try TensorTextParser.parse(deep) } catch let e as TensorParseError {
            #expect(e.message == "lists nested deeper than 32 levels at character 33")
        }
        let deepest = String(repeating: "[", count: 32) + "1" + String(repeating: "]", count: 32)
        #expect(try TensorTextParser.parse(deepest).shape == Array(repeating: 1, count: 32))
    }

    @Test("Adam state whose step count no Int holds", arguments: [1e30, Double.infinity, 1e17])
    func adamStepsPastAnInt(_ step: Double) {
        let p = Parameter(Tensor([1, 2], shape: [2]))
        let opt = Adam([p], lr: 0.1)
        let state = ["state.0.step": Tensor(scalar: step), "state.0.exp_avg": Tensor.zeros([2]), "state.0.exp_avg_sq": Tensor.zeros([2])]
        #expect(throws: OptimizerStateError.self) { try opt.load(stateDict: state) }
    }

    @Test func plotOfADivergedLossEnds() {
        // Losses one double apart near 1e20: a tick step below their spacing used to loop forever.
        #expect(TrainingPlot.ticks(1e20, 1e20.nextUp).count <= 50)
        let history = [1e20, 1e20.nextUp].enumerated().map {
            EpochRecord(epoch: $0.offset + 1, trainLoss: $0.element, trainScore: 0.5, testLoss: nil, testScore: nil,
                        steps: 1, lr: 0.1, seconds: 0)
        }
        #expect(TrainingPlot.svg(history: history, title: "diverged").hasSuffix("</svg>\n"))
    }
}
