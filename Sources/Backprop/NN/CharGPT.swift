import Foundation

/// The size of a `CharGPT`: nanoGPT's `GPTConfig` with dropout 0 and biases on.
public struct GPTConfig: Sendable, Equatable {
    /// The vocabulary size V (distinct characters).
    public var vocabSize: Int
    /// The context length T (`block_size`).
    public var blockSize: Int
    /// The number of blocks L.
    public var nLayer: Int
    /// The number of attention heads H (dividing `nEmbd`).
    public var nHead: Int
    /// The width C.
    public var nEmbd: Int

    /// A configuration; W10's is `GPTConfig(vocabSize: 65, blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 128)`.
    public init(vocabSize: Int, blockSize: Int, nLayer: Int, nHead: Int, nEmbd: Int) {
        precondition(vocabSize > 0 && blockSize > 0 && nLayer > 0 && nHead > 0 && nEmbd > 0 && nEmbd % nHead == 0,
                     "GPTConfig: sizes must be positive and n_embd \(nEmbd) divisible by n_head \(nHead)")
        self.vocabSize = vocabSize; self.blockSize = blockSize; self.nLayer = nLayer; self.nHead = nHead; self.nEmbd = nEmbd
    }
}

/// nanoGPT's `CausalSelfAttention`: `c_attn` (C -> 3C) gives q, k, v, split into heads, causal
/// scaled dot-product attention, heads joined, then `c_proj` (C -> C).
public final class CausalSelfAttention: Module {
    /// C -> 3C: the queries, keys and values.
    public let cAttn: Linear
    /// C -> C: the output projection.
    public let cProj: Linear
    /// H.
    public let nHead: Int
    /// C.
    public let nEmbd: Int

    /// The attention of a block of `config`'s size, with nanoGPT's init drawn from `generator`.
    public init(_ config: GPTConfig, using generator: inout RandomGenerator) {
        let c = config.nEmbd
        cAttn = Linear(weight: Tensor.normal([3 * c, c], std: 0.02, using: &generator), bias: Tensor.zeros([3 * c]))
        cProj = Linear(weight: Tensor.normal([c, c], std: 0.02 / (2 * Double(config.nLayer)).squareRoot(), using: &generator),
                       bias: Tensor.zeros([c]))
        nHead = config.nHead; nEmbd = c
    }

    /// y = c_proj(attention(q, k, v)) for x [B, T, C]:
    ///
    ///     q, k, v = self.c_attn(x).split(self.n_embd, dim=2)     # each viewed [B, H, T, C/H]
    ///     y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    ///     y = y.transpose(1, 2).contiguous().view(B, T, C)
    ///     return self.c_proj(y)
    ///
    /// with the middle three lines done by `Tensor.causalSelfAttention(packed:heads:)`, which reads
    /// the heads of q, k and v where `c_attn` wrote them (`forwardUnfused` spells the lines out).
    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 3 && x.shape[2] == nEmbd, "CausalSelfAttention: input of shape \(x.shape), expected [B, T, \(nEmbd)]")
        return cProj(Tensor.causalSelfAttention(packed: cAttn(x), heads: nHead))
    }

    /// The same as `forward`, nanoGPT's lines one by one: split, view, transpose, attention, transpose back.
    public func forwardUnfused(_ x: Tensor) -> Tensor {
        let (b, t, c) = (x.shape[0], x.shape[1], x.shape[2])
        let qkv = cAttn(x).split(nEmbd, dim: 2)
        let (q, k, v) = (qkv[0], qkv[1], qkv[2])
        func heads(_ z: Tensor) -> Tensor { z.reshape([b, t, nHead, c / nHead]).transpose(1, 2) }   // [B, H, T, D]
        let y = Tensor.scaledDotProductAttention(heads(q), heads(k), heads(v), isCausal: true)
        return cProj(y.transpose(1, 2).reshape([b, t, c]))
    }

    /// `c_attn`, `c_proj` (nanoGPT's names).
    public var children: [(name: String, module: any Module)] { [("c_attn", cAttn), ("c_proj", cProj)] }
}

/// nanoGPT's `MLP` (named `mlp` in a block): `c_proj(gelu(c_fc(x)))`, C -> 4C -> C, the exact (erf) GELU.
public final class GPTMLP: Module {
    /// C -> 4C.
    public let cFc: Linear
    /// 4C -> C.
    public let cProj: Linear

    /// The MLP of a block of `config`'s size, with nanoGPT's init drawn from `generator`.
    public init(_ config: GPTConfig, using generator: inout RandomGenerator) {
        let c = config.nEmbd
        cFc = Linear(weight: Tensor.normal([4 * c, c], std: 0.02, using: &generator), bias: Tensor.zeros([4 * c]))
        cProj = Linear(weight: Tensor.normal([c, 4 * c], std: 0.02 / (2 * Double(config.nLayer)).squareRoot(), using: &generator),
                       bias: Tensor.zeros([c]))
    }

    /// `c_proj(gelu(c_fc(x)))`.
    public func forward(_ x: Tensor) -> Tensor { cProj(cFc(x).gelu()) }

    /// `c_fc`, `c_proj` (nanoGPT's names).
    public var children: [(name: String, module: any Module)] { [("c_fc", cFc), ("c_proj", cProj)] }
}

/// nanoGPT's `Block` (`transformer.h.i`): `x + attn(ln_1(x))`, then `x + mlp(ln_2(x))`.
public final class GPTBlock: Module {
    /// The first layer norm.
    public let ln1: LayerNorm
    /// The causal self-attention.
    public let attn: CausalSelfAttention
    /// The second layer norm.
    public let ln2: LayerNorm
    /// The MLP.
    public let mlp: GPTMLP

    /// A block of `config`'s size, its weights drawn from `generator`.
    public init(_ config: GPTConfig, using generator: inout RandomGenerator) {
        ln1 = LayerNorm(config.nEmbd)
        attn = CausalSelfAttention(config, using: &generator)
        ln2 = LayerNorm(config.nEmbd)
        mlp = GPTMLP(config, using: &generator)
    }

    /// The two residual steps.
    public func forward(_ x: Tensor) -> Tensor {
        let h = x + attn(ln1(x))
        return h + mlp(ln2(h))
    }

    /// `ln_1`, `attn`, `ln_2`, `mlp` (nanoGPT's names).
    public var children: [(name: String, module: any Module)] { [("ln_1", ln1), ("attn", attn), ("ln_2", ln2), ("mlp", mlp)] }
}

/// nanoGPT's GPT at character level (../shared/MODELS.md's CharGPT): token and position
/// embeddings, `nLayer` blocks, a final layer norm and a head tied to the token embedding.
///
/// Parameters have nanoGPT's names: `transformer.wte.weight`, `transformer.wpe.weight`,
/// `transformer.h.0.ln_1.weight`, ..., `transformer.ln_f.bias`; `lm_head.weight` is the same
/// `Parameter` as `transformer.wte.weight` (listed, counted and stored once, under that name).
/// Init as nanoGPT's: Linear weights and embeddings N(0, 0.02), the `c_proj` weights
/// N(0, 0.02 / sqrt(2 L)), biases 0, LayerNorm 1 and 0.
///
/// ```swift
/// var g = RandomGenerator(seed: 0)
/// let model = CharGPT(GPTConfig(vocabSize: 65, blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 128), using: &g)
/// let (logits, loss) = model.forward(idx, targets: targets)    // [B, T, V] and the mean cross-entropy
/// ```
public final class CharGPT: Module {
    /// The sizes.
    public let config: GPTConfig
    /// `wte`, `wpe`, `h` (the blocks) and `ln_f`, as nanoGPT's `transformer` ModuleDict.
    public let transformer: ModuleDict
    /// Token embedding [V, C].
    public let wte: Embedding
    /// Position embedding [T, C].
    public let wpe: Embedding
    /// The blocks.
    public let h: ModuleList
    /// The final layer norm.
    public let lnF: LayerNorm
    /// C -> V without bias; its weight is `wte`'s.
    public let lmHead: Linear

    /// A model of `config`'s size, its weights drawn from `generator` in nanoGPT's order of modules.
    public init(_ config: GPTConfig, using generator: inout RandomGenerator) {
        self.config = config
        let (v, t, c) = (config.vocabSize, config.blockSize, config.nEmbd)
        wte = Embedding(v, c, using: &generator)
        wpe = Embedding(t, c, using: &generator)
        wte.weight.assign(Tensor.normal([v, c], std: 0.02, using: &generator))
        wpe.weight.assign(Tensor.normal([t, c], std: 0.02, using: &generator))
        var blocks: [any Module] = []
        for _ in 0..<config.nLayer { blocks.append(GPTBlock(config, using: &generator)) }
        h = ModuleList(blocks)
        lnF = LayerNorm(c)
        lmHead = Linear(weight: wte.weight.value, bias: nil)
        wte.weight = lmHead.weight   // tied: one Parameter
        transformer = ModuleDict([("wte", wte), ("wpe", wpe), ("h", h), ("ln_f", lnF)])
    }

    /// The logits [B, t, V] for int64 tokens `idx` [B, t] (t <= blockSize).
    public func forward(_ idx: Tensor) -> Tensor {
        precondition(idx.rank == 2 && idx.dtype == .int64,
                     "CharGPT: expected int64 tokens [B, t], got \(idx.dtype) of shape \(idx.shape)")
        let t = idx.shape[1]
        precondition(t <= config.blockSize, "CharGPT: Cannot forward sequence of length \(t), block size is only \(config.blockSize)")
        let pos = Tensor(indices: Array(0..<t))
        var x = wte(idx) + wpe(pos)
        for block in h { x = block(x) }
        return lmHead(lnF(x))
    }

    /// The logits and the mean cross-entropy against `targets` [B, t] (nanoGPT's `forward(idx, targets)`).
    public func forward(_ idx: Tensor, targets: Tensor) -> (logits: Tensor, loss: Tensor) {
        let logits = forward(idx)
        let v = logits.shape[2]
        return (logits, logits.reshape([-1, v]).crossEntropy(target: targets.reshape([-1])))
    }

    /// `maxNewTokens` tokens appended to `idx` [B, t], each drawn from softmax(logits / temperature)
    /// of the last `blockSize` tokens, only among the `topK` most likely when given (nanoGPT's `generate`).
    public func generate(_ idx: Tensor, maxNewTokens: Int, temperature: Double = 1, topK: Int? = nil,
                         using generator: inout RandomGenerator) -> Tensor {
        precondition(temperature > 0, "generate: temperature must be positive, got \(temperature)")
        var tokens = idx.integers
        let b = idx.shape[0]
        var t = idx.shape[1]
        withNoGrad {
            for _ in 0..<maxNewTokens {
                let start = Swift.max(0, t - config.blockSize)
                var context: [Int] = []
                for r in 0..<b { context += tokens[(r * t + start)..<(r * t + t)] }
                let logits = forward(Tensor(indices: context, shape: [b, t - start]))
                var last = logits.narrow(dim: 1, start: t - start - 1, length: 1).reshape([b, config.vocabSize]) / temperature
                if let topK {
                    let k = Swift.min(topK, config.vocabSize)
                    let kth = last.topk(k, dim: -1).values.narrow(dim: 1, start: k - 1, length: 1)
                    // Logits below the k-th largest: -inf.
                    let keep = Tensor.zip(last, kth.expand([b, config.vocabSize]), NotBelowF.self, op: "generate")
                    last = last + keep
                }
                let next = last.softmax(dim: -1).multinomial(1, using: &generator).integers
                var grown: [Int] = []
                for r in 0..<b { grown += tokens[(r * t)..<((r + 1) * t)] + [next[r]] }
                tokens = grown
                t += 1
            }
        }
        return Tensor(indices: tokens, shape: [b, t])
    }

    /// `transformer`, `lm_head` (nanoGPT's names).
    public var children: [(name: String, module: any Module)] { [("transformer", transformer), ("lm_head", lmHead)] }
}

/// 0 where a >= b, -inf where a < b (the top-k filter of `generate`).
struct NotBelowF: BinaryFunction {
    @inline(__always) static func apply<T: FloatElement>(_ a: T, _ b: T) -> T { a >= b ? 0 : -T.infinity }
}
