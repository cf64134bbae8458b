import Foundation

/// PyTorch's tensor printing: `tensor([[ 4., 14.]], requires_grad=True)`.
///
/// Follows `torch._tensor_str` with its default options: precision 4, line width 80, summarization
/// of tensors over 1000 elements with 3 edge items, integer mode (`4.`) when every value is whole,
/// and scientific notation when the values span more than three orders of magnitude, exceed 1e8, or
/// go below 1e-4.
extension Tensor: CustomStringConvertible {
    /// The tensor as PyTorch's `repr` shows it, e.g. `tensor([[ 4., 14.]], grad_fn=<AddBackward0>)`.
    public var description: String {
        let prefix = "tensor("
        let indent = prefix.count
        var suffixes: [String] = []
        let summarize = count > 1000
        var body: String
        if count == 0 && rank != 1 {
            body = "[]"
            suffixes.append("size=(\(shape.map(String.init).joined(separator: ", "))\(rank == 1 ? "," : ""))")
        } else {
            let values = scalars
            let formatter = TensorFormatter(values: summarize ? summarizedValues(values) : values, dtype: dtype)
            body = TensorFormatter.render(values, shape: shape, indent: indent, summarize: summarize, formatter: formatter)
        }
        if dtype == .float64 { suffixes.append("dtype=torch.float64") }
        if let gradFn { suffixes.append("grad_fn=<\(gradFn)>") } else if requiresGrad { suffixes.append("requires_grad=True") }
        var out = prefix + body
        // As torch._tensor_str._add_suffixes measures it.
        let lastNewline = out.lastIndex(of: "\n").map { out.distance(from: out.startIndex, to: $0) } ?? -1
        var lastLineLength = out.count - lastNewline + 1
        for s in suffixes {
            if lastLineLength + s.count + 2 > 80 {
                out += ",\n" + String(repeating: " ", count: indent) + s
                lastLineLength = indent + s.count
            } else {
                out += ", " + s
                lastLineLength += s.count + 2
            }
        }
        return out + ")"
    }

    /// The values PyTorch looks at to choose a format when it summarizes (edge items only).
    private func summarizedValues(_ values: [Double]) -> [Double] {
        var picked: [Double] = []
        func walk(_ dim: Int, _ offset: Int) {
            if dim == rank { picked.append(values[offset]); return }
            let stride = shape[(dim + 1)...].reduce(1, *)
            let n = shape[dim]
            let idx = n > 6 ? Array(0..<3) + Array((n - 3)..<n) : Array(0..<n)
            for i in idx { walk(dim + 1, offset + i * stride) }
        }
        walk(0, 0)
        return picked
    }
}

struct TensorFormatter {
    let isFloat: Bool
    let isBool: Bool
    var intMode = true
    var sciMode = false
    var maxWidth = 1

    init(values: [Double], dtype: DType) {
        isFloat = dtype.isFloatingPoint
        isBool = dtype == .bool
        if isBool {
            maxWidth = values.contains(0) ? 5 : 4
            return
        }
        if !isFloat {
            for v in values { maxWidth = Swift.max(maxWidth, String(Int64(v)).count) }
            return
        }
        let nz = values.filter { $0.isFinite && $0 != 0 }
        guard !nz.isEmpty else { return }
        let absMin = nz.map(abs).min()!, absMax = nz.map(abs).max()!
        intMode = nz.allSatisfy { $0 == $0.rounded(.up) }
        if intMode {
            if absMax / absMin > 1000 || absMax > 1e8 {
                sciMode = true
                for v in nz { maxWidth = Swift.max(maxWidth, Self.sci(v).count) }
            } else {
                for v in nz { maxWidth = Swift.max(maxWidth, String(format: "%.0f", v).count + 1) }
            }
        } else if absMax / absMin > 1000 || absMax > 1e8 || absMin < 1e-4 {
            sciMode = true
            for v in nz { maxWidth = Swift.max(maxWidth, Self.sci(v).count) }
        } else {
            for v in nz { maxWidth = Swift.max(maxWidth, String(format: "%.4f", v).count) }
        }
    }

    static func sci(_ v: Double) -> String { String(format: "%.4e", v) }

    func format(_ v: Double) -> String {
        var s: String
        if isBool {
            s = v != 0 ? "True" : "False"
        } else if !isFloat {
            s = String(Int64(v))
        } else if v.isNaN {
            s = "nan"
        } else if v.isInfinite {
            s = v > 0 ? "inf" : "-inf"
        } else if sciMode {
            s = Self.sci(v)
        } else if intMode {
            s = String(format: "%.0f", v) + "."
            if s == "-0." { s = "-0." }
        } else {
            s = String(format: "%.4f", v)
        }
        return String(repeating: " ", count: Swift.max(0, maxWidth - s.count)) + s
    }

    static func render(_ values: [Double], shape: [Int], indent: Int, summarize: Bool, formatter: TensorFormatter) -> String {
        func vector(_ offset: Int, _ n: Int, _ indent: Int) -> String {
            let elementLength = formatter.maxWidth + 2
            let perLine = Swift.max(1, (80 - indent) / elementLength)
            var items: [String]
            if summarize && n > 6 {
                items = (0..<3).map { formatter.format(values[offset + $0]) } + [" ..."]
                    + ((n - 3)..<n).map { formatter.format(values[offset + $0]) }
            } else {
                items = (0..<n).map { formatter.format(values[offset + $0]) }
            }
            var lines: [String] = []
            var i = 0
            while i < items.count {
                lines.append(items[i..<Swift.min(i + perLine, items.count)].joined(separator: ", "))
                i += perLine
            }
            return "[" + lines.joined(separator: ",\n" + String(repeating: " ", count: indent + 1)) + "]"
        }
        func tensor(_ dim: Int, _ offset: Int, _ indent: Int) -> String {
            let rest = shape.count - dim
            if rest == 0 { return formatter.format(values[offset]) }
            if rest == 1 { return vector(offset, shape[dim], indent) }
            let stride = shape[(dim + 1)...].reduce(1, *)
            let n = shape[dim]
            var slices: [String]
            if summarize && n > 6 {
                slices = (0..<3).map { tensor(dim + 1, offset + $0 * stride, indent + 1) } + ["..."]
                    + ((n - 3)..<n).map { tensor(dim + 1, offset + $0 * stride, indent + 1) }
            } else {
                slices = (0..<n).map { tensor(dim + 1, offset + $0 * stride, indent + 1) }
            }
            let sep = "," + String(repeating: "\n", count: rest - 1) + String(repeating: " ", count: indent + 1)
            return "[" + slices.joined(separator: sep) + "]"
        }
        if shape.isEmpty {
            return formatter.format(values[0]).trimmingCharacters(in: .whitespaces)
        }
        return tensor(0, 0, indent)
    }
}
