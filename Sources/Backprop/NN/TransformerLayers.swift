import Foundation

/// A lookup table of `numEmbeddings` vectors of size `embeddingDim` (PyTorch's `nn.Embedding`):
/// `forward` takes int64 indices of any shape and gives `indices.shape + [embeddingDim]`.
///
/// Initialized as PyTorch does: N(0, 1), the `paddingIdx` row zero (and it gets no gradient).
public final class Embedding: Module {
    /// [numEmbeddings, embeddingDim]. A `var`, so that another module may share it (weight tying).
    public var weight: Parameter
    /// The number of rows.
    public let numEmbeddings: Int
    /// The size of each row.
    public let embeddingDim: Int
    /// The row that stays as it is (no gradient), or nil.
    public let paddingIdx: Int?

    /// A table with rows drawn from N(0, 1) by `generator`; the `paddingIdx` row zero.
    ///
    /// ```swift
    /// let wte = Embedding(65, 128, using: &g)   // weight [65, 128]
    /// ```
    public init(_ numEmbeddings: Int, _ embeddingDim: Int, paddingIdx: Int? = nil, dtype: DType = .float32,
                using generator: inout RandomGenerator) {
        precondition(numEmbeddings > 0 && embeddingDim > 0,
                     "Embedding: sizes must be positive, got \(numEmbeddings), \(embeddingDim)")
        let pad = paddingIdx.map { $0 < 0 ? $0 + numEmbeddings : $0 }
        if let pad { precondition(pad >= 0 && pad < numEmbeddings, "Embedding: Padding_idx must be within num_embeddings") }
        self.numEmbeddings = numEmbeddings; self.embeddingDim = embeddingDim; self.paddingIdx = pad
        var w = Tensor.randn([numEmbeddings, embeddingDim], dtype: dtype, using: &generator)
        if let pad {
            var values = w.scalars
            for k in 0..<embeddingDim { values[pad * embeddingDim + k] = 0 }
            w = Tensor(values, shape: w.shape, dtype: dtype)
        }
        weight = Parameter(w)
    }

    /// `weight.embedding(indices, paddingIdx:)`.
    public func forward(_ indices: Tensor) -> Tensor { weight.value.embedding(indices, paddingIdx: paddingIdx) }

    /// `weight`.
    public var directParameters: [(name: String, parameter: Parameter)] { [("weight", weight)] }

    /// `65, 128` (PyTorch's summary of the layer).
    public var extraRepr: String { "\(numEmbeddings), \(embeddingDim)" + (paddingIdx.map { ", padding_idx=\($0)" } ?? "") }
}

/// Layer normalization over the last dims `normalizedShape` (PyTorch's `nn.LayerNorm`): weight 1
/// and bias 0 at first, eps 1e-5.
public final class LayerNorm: Module {
    /// The normalized trailing dims.
    public let normalizedShape: [Int]
    /// Added to the variance.
    public let eps: Double
    /// The scale, or nil without `elementwiseAffine`.
    public let weight: Parameter?
    /// The shift, or nil without `elementwiseAffine` or `bias`.
    public let bias: Parameter?

    /// A layer norm over the trailing dims `normalizedShape`, with a learned scale (and shift, unless
    /// `bias` is false) when `elementwiseAffine`.
    public init(_ normalizedShape: [Int], eps: Double = 1e-5, elementwiseAffine: Bool = true, bias: Bool = true,
                dtype: DType = .float32) {
        precondition(!normalizedShape.isEmpty && normalizedShape.allSatisfy { $0 > 0 },
                     "LayerNorm: normalized_shape must be non-empty and positive, got \(normalizedShape)")
        self.normalizedShape = normalizedShape; self.eps = eps
        weight = elementwiseAffine ? Parameter(Tensor.ones(normalizedShape, dtype: dtype)) : nil
        self.bias = elementwiseAffine && bias ? Parameter(Tensor.zeros(normalizedShape, dtype: dtype)) : nil
    }

    /// A layer norm over the last dim of size `size`.
    public convenience init(_ size: Int, eps: Double = 1e-5, elementwiseAffine: Bool = true, bias: Bool = true,
                            dtype: DType = .float32) {
        self.init([size], eps: eps, elementwiseAffine: elementwiseAffine, bias: bias, dtype: dtype)
    }

    /// `x.layerNorm(normalizedShape:weight:bias:eps:)`.
    public func forward(_ x: Tensor) -> Tensor {
        x.layerNorm(normalizedShape: normalizedShape, weight: weight?.value, bias: bias?.value, eps: eps)
    }

    /// `weight`, then `bias` (PyTorch's names), those the layer has.
    public var directParameters: [(name: String, parameter: Parameter)] {
        [("weight", weight), ("bias", bias)].compactMap { n, p in p.map { (n, $0) } }
    }

    /// `(128,), eps=1e-05, elementwise_affine=True` (PyTorch's summary of the layer).
    public var extraRepr: String {
        let shape = "(" + normalizedShape.map(String.init).joined(separator: ", ") + (normalizedShape.count == 1 ? ",)" : ")")
        return "\(shape), eps=\(pythonFloat(eps)), elementwise_affine=\(weight != nil ? "True" : "False")"
    }
}

/// 1e-05 as Python prints it.
func pythonFloat(_ x: Double) -> String {
    if x != 0 && Swift.abs(x) < 1e-4 {
        let e = Int(Foundation.floor(Foundation.log10(Swift.abs(x))))
        let m = x / Foundation.pow(10, Double(e))
        let ms = m == m.rounded() ? String(Int(m)) : String(m)
        return "\(ms)e-\(String(format: "%02d", -e))"
    }
    return String(x)
}

/// Multi-head attention (PyTorch's `nn.MultiheadAttention(embed_dim, num_heads, bias=True,
/// batch_first=...)`, dropout 0): the inputs projected by `in_proj_weight` [3E, E] and
/// `in_proj_bias` into queries, keys and values, `numHeads` heads of scaled dot-product attention,
/// then `out_proj`. Inputs are [L, N, E] (or [N, L, E] with `batchFirst`), or unbatched [L, E].
///
/// Initialized as PyTorch does: `in_proj_weight` Xavier-uniform, `in_proj_bias` and `out_proj.bias`
/// zero, `out_proj.weight` as a `Linear`'s.
public final class MultiheadAttention: Module {
    /// The model width E.
    public let embedDim: Int
    /// The number of heads (dividing E).
    public let numHeads: Int
    /// Whether inputs are [batch, sequence, E].
    public let batchFirst: Bool
    /// [3E, E]: the query, key and value projections stacked.
    public let inProjWeight: Parameter
    /// [3E], or nil without bias.
    public let inProjBias: Parameter?
    /// The output projection E -> E.
    public let outProj: Linear

    /// Attention of width `embedDim` over `numHeads` heads, its weights drawn from `generator`.
    public init(embedDim: Int, numHeads: Int, bias: Bool = true, batchFirst: Bool = false, dtype: DType = .float32,
                using generator: inout RandomGenerator) {
        precondition(embedDim > 0 && numHeads > 0 && embedDim % numHeads == 0,
                     "MultiheadAttention: embed_dim \(embedDim) must be divisible by num_heads \(numHeads)")
        self.embedDim = embedDim; self.numHeads = numHeads; self.batchFirst = batchFirst
        // PyTorch's order: the out_proj Linear is made (and drawn) before the in-projection is reset.
        outProj = Linear(embedDim, embedDim, bias: bias, dtype: dtype, using: &generator)
        inProjWeight = Parameter(Init.xavierUniform([3 * embedDim, embedDim], dtype: dtype, using: &generator))
        inProjBias = bias ? Parameter(Tensor.zeros([3 * embedDim], dtype: dtype)) : nil
        if let b = outProj.bias { b.assign(Tensor.zeros([embedDim], dtype: dtype)) }
    }

    /// Self-attention: `attention(query: x, key: x, value: x)`.
    public func forward(_ x: Tensor) -> Tensor { attention(query: x, key: x, value: x) }

    /// The attention output for `query` [L, N, E] and `key`, `value` [S, N, E] ([N, L, E] and
    /// [N, S, E] with `batchFirst`; [L, E] and [S, E] unbatched). `attnMask` [L, S] (or
    /// [N * numHeads, L, S]) is a float mask added to the scores, or a bool mask true where a query
    /// may NOT attend to a key (PyTorch's MultiheadAttention convention, the opposite of
    /// `scaledDotProductAttention`'s); `isCausal` masks out later keys (then give no mask).
    public func attention(query: Tensor, key: Tensor, value: Tensor, attnMask: Tensor? = nil, isCausal: Bool = false) -> Tensor {
        let unbatched = query.rank == 2
        func batched(_ t: Tensor) -> Tensor {
            if unbatched { return t.unsqueeze(0) }
            return batchFirst ? t : t.transpose(0, 1)
        }
        let (q0, k0, v0) = (batched(query), batched(key), batched(value))
        precondition(q0.rank == 3 && q0.shape[2] == embedDim && k0.shape[2] == embedDim && v0.shape[2] == embedDim,
                     "MultiheadAttention: inputs of shapes \(query.shape), \(key.shape), \(value.shape) for embed_dim \(embedDim)")
        let (n, l, s, e, h) = (q0.shape[0], q0.shape[1], k0.shape[1], embedDim, numHeads)
        let w = inProjWeight.value.chunk(3, dim: 0)
        let b = inProjBias.map { $0.value.chunk(3, dim: 0) }
        let q = q0.linear(weight: w[0], bias: b?[0]), k = k0.linear(weight: w[1], bias: b?[1]), v = v0.linear(weight: w[2], bias: b?[2])
        func heads(_ t: Tensor, _ len: Int) -> Tensor { t.reshape([n, len, h, e / h]).transpose(1, 2) }
        // PyTorch's MultiheadAttention: a bool mask is true where attending is NOT allowed.
        var mask = attnMask.map { m in m.dtype == .bool ? withNoGrad { Tensor.where(m, -Double.infinity, Tensor.zeros(m.shape, dtype: q0.dtype)) } : m }
        if let m = mask, m.rank == 3 { mask = m.reshape([n, h, l, s]) }
        let y = Tensor.scaledDotProductAttention(heads(q, l), heads(k, s), heads(v, s), attnMask: mask, isCausal: isCausal)
        let out = outProj(y.transpose(1, 2).reshape([n, l, e]))
        if unbatched { return out.squeeze(0) }
        return batchFirst ? out : out.transpose(0, 1)
    }

    /// `in_proj_weight`, `in_proj_bias` (PyTorch's names).
    public var directParameters: [(name: String, parameter: Parameter)] {
        [("in_proj_weight", inProjWeight)] + (inProjBias.map { [("in_proj_bias", $0)] } ?? [])
    }

    /// `out_proj`.
    public var children: [(name: String, module: any Module)] { [("out_proj", outProj)] }
}
