import Foundation
import Testing
@testable import Backprop

/// Subscripts, comparisons and bool tensors, against what PyTorch 2.15 gives for the same expressions.
@Suite struct IndexingTests {
    let x = Tensor((0..<24).map(Double.init), shape: [2, 3, 4])

    @Test func basicIndexingAsPyTorch() {
        #expect(x[1].shape == [3, 4] && x[1].scalars == (12..<24).map(Double.init))
        #expect(x[-1, 1..<3].scalars == (16..<24).map(Double.init))
        #expect(x[..., -1].shape == [2, 3] && x[..., -1].scalars == [3, 7, 11, 15, 19, 23])
        #expect(x[.newAxis, 0].shape == [1, 3, 4])
        #expect(x[0, .all, .every(2)].scalars == [0, 2, 4, 6, 8, 10])
        #expect(x[1, 1...].shape == [2, 4] && x[0, ..<1, 2...3].scalars == [2, 3])
        #expect(x[0, 0, .slice(1..., by: 2)].scalars == [1, 3])
        #expect(x[...].scalars == x.scalars && x[0, 2, ...].scalars == [8, 9, 10, 11])
        #expect(x[1, 2, 3].shape == [] && x[1, 2, 3].item == 23)
        #expect(x[0, 5..<9].shape == [0, 4], "slices past the end are clamped, as in Python")
    }

    @Test func tensorAndMaskIndexingAsPyTorch() {
        let i = Tensor(indices: [0, 1])
        #expect(x[0, .all, i].shape == [3, 2] && x[0, .all, i].scalars == [0, 1, 4, 5, 8, 9])
        #expect(x[i, .all, i].shape == [2, 3], "non-adjacent index tensors put their dims first")
        #expect(x[.all, .newAxis, i].shape == [2, 1, 2, 4])
        #expect(x[..., i, .newAxis].shape == [2, 3, 2, 1])
        #expect(x[1, i, i.reshape(2, 1)].scalars == [12, 16, 13, 17])
        #expect(x[0][x[0] > 5].scalars == [6, 7, 8, 9, 10, 11])
        #expect(x[.all, Tensor(bools: [true, false, true])].shape == [2, 2, 4])
        #expect(x[Tensor(indices: [-1])].scalars == (12..<24).map(Double.init), "negative tensor indices count from the end")
    }

    @Test func indexingIsDifferentiableWithRepeatsAccumulating() {
        let w = Tensor([1.0, 2, 3, 4], shape: [2, 2]).requiringGrad()
        let picked = w[Tensor(indices: [1, 1, 0])]
        (picked * Tensor([1.0, 10, 100], shape: [3, 1])).sum().backward()
        #expect(w.grad!.scalars == [100, 100, 11, 11])
        #expect(picked.gradFn == "IndexBackward0")
    }

    @Test func assignmentWritesIntoSlicesAndMasks() {
        var y = Tensor.zeros([3, 4])
        y[0..<2, ...] = Tensor.ones([4])
        #expect(y.scalars == [1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0])
        y[..., -1] = Tensor(scalar: 7)
        #expect(y.scalars == [1, 1, 1, 7, 1, 1, 1, 7, 0, 0, 0, 7])
        y[y > 5] = Tensor(scalar: -1)
        #expect(y.scalars.filter { $0 == -1 }.count == 3)
        let acc = Tensor.zeros([3]).indexPut([Tensor(indices: [0, 0, 2])], Tensor([1.0, 2, 3]), accumulate: true)
        #expect(acc.scalars == [3, 0, 3])
    }

    @Test func assignmentIsDifferentiableThroughBothSides() {
        let a = Tensor([1.0, 2, 3], shape: [3]).requiringGrad()
        let v = Tensor(scalar: 5).requiringGrad()
        var b = a * 2
        b[1] = v * 3
        b.sum().backward()
        #expect(a.grad!.scalars == [2, 0, 2] && v.grad!.item == 3)
    }

    @Test func comparisonsGiveBoolTensorsAndAccuracyReadsAsInPyTorch() {
        let pred = Tensor(indices: [0, 2, 1, 1]), labels = Tensor(indices: [0, 1, 1, 1])
        let correct = pred == labels
        #expect(correct.dtype == .bool && correct.bools == [true, false, true, true])
        #expect((pred == labels).float().mean().item == 0.75)
        #expect("\(correct)" == "tensor([ True, False,  True,  True])")
        #expect((x[0] >= 10).bools.filter { $0 }.count == 2 && (x[0] != 0).long().sum().item == 11)
        #expect(Tensor([1.0, 2], shape: [2]).isclose(Tensor([1.0, 2.1], shape: [2]), rtol: 0, atol: 0.05).bools == [true, false])
        #expect(Tensor([1.0, 2]).allclose(Tensor([1.0, 2.000001])) && !Tensor([1.0]).equal(Tensor([1.0, 1])))
        #expect(correct.any().bools == [true] && !correct.all().bools[0])
        #expect(Tensor.where(x[0] > 5, x[0], -1).scalars.prefix(7) == [-1, -1, -1, -1, -1, -1, 6])
        #expect(x[0].maskedFill(Tensor(bools: [true, false, false, true]), 0).scalars.prefix(4) == [0, 1, 2, 0])
    }

    @Test func sortMinUniqueNonzero() {
        let t = Tensor([3.0, 1, 2, 1], shape: [4])
        let s = t.sort()
        #expect(s.values.scalars == [1, 1, 2, 3] && s.indices.integers == [1, 3, 2, 0], "stable")
        #expect(t.sort(descending: true).indices.integers == [0, 2, 1, 3])
        #expect(t.min().item == 1 && t.argmin().item == 1 && t.min(dim: 0).indices.item == 1)
        let u = t.unique(returnInverse: true, returnCounts: true)
        #expect(u.values.scalars == [1, 2, 3] && u.inverse!.integers == [2, 0, 1, 0] && u.counts!.integers == [2, 1, 1])
        #expect(Tensor([0.0, 1, 0, 2], shape: [2, 2]).nonzero().integers == [0, 1, 1, 1])
        #expect(Tensor.where(Tensor(bools: [false, true, true])).map(\.integers) == [[1, 2]])
    }

    @Test func boolTensorsTravelThroughFiles() throws {
        let mask = Tensor(bools: [true, false, true, true], shape: [2, 2])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bool-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("m.safetensors").path
        try SafeTensors.write([("mask", mask)], to: path)
        let back = try SafeTensors.read(path).dictionary["mask"]!
        #expect(back.dtype == .bool && back.bools == mask.bools && back.shape == [2, 2])
    }
}
