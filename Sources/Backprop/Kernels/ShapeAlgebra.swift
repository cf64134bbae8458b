/// Shape arithmetic shared by kernels and ops: broadcasting, strides, dim normalization.
public enum Shapes {
    /// Row-major strides of a shape.
    @inlinable public static func strides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) { s[i] = acc; acc *= shape[i] }
        return s
    }

    /// The NumPy broadcast of two shapes, or nil when they do not broadcast.
    public static func broadcast(_ a: [Int], _ b: [Int]) -> [Int]? {
        if a == b { return a }
        let n = max(a.count, b.count)
        var out = [Int](repeating: 1, count: n)
        for i in 0..<n {
            let da = i < n - a.count ? 1 : a[i - (n - a.count)]
            let db = i < n - b.count ? 1 : b[i - (n - b.count)]
            if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else { return nil }
        }
        return out
    }

    /// Strides of `shape` seen through the broadcast `outShape` (0 on broadcast dims).
    static func broadcastStrides(_ shape: [Int], to outShape: [Int]) -> [Int] {
        let own = strides(shape)
        let offset = outShape.count - shape.count
        return (0..<outShape.count).map { i in
            i < offset ? 0 : (shape[i - offset] == 1 && outShape[i] != 1 ? 0 : own[i - offset])
        }
    }

    /// A dim in `-rank..<rank` made non-negative; stops with a message naming the op otherwise.
    public static func normalize(_ dim: Int, rank: Int, op: String) -> Int {
        let r = max(rank, 1)
        precondition(dim >= -r && dim < r,
                     "\(op): dimension out of range (expected to be in range of [\(-r), \(r - 1)], but got \(dim))")
        return dim < 0 ? dim + r : dim
    }
}

/// A counter over a multi-index, for kernels that walk tensors of any rank.
struct Odometer {
    var index: [Int]
    let shape: [Int]
    init(shape: [Int]) { self.shape = shape; index = [Int](repeating: 0, count: shape.count) }
    /// Advances to the next index; returns the dim that was incremented, or -1 at the end.
    @inline(__always) mutating func next() -> Int {
        var d = shape.count - 1
        while d >= 0 {
            index[d] += 1
            if index[d] < shape[d] { return d }
            index[d] = 0
            d -= 1
        }
        return -1
    }
}
