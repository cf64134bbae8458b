// Gradients of gradients, as PyTorch's torch.autograd.gradgradcheck and torch.autograd.functional
// compose them: every rule records its gradient when `createGraph` is on, so a gradient can be
// differentiated again.

/// Checks the second derivatives of `function` against finite differences, as PyTorch's
/// `torch.autograd.gradgradcheck`: the first-order gradients (a vector-Jacobian product with a
/// random cotangent, recorded with `createGraph`) are themselves checked with `gradcheck`.
///
/// ```swift
/// let r = gradgradcheck({ ($0[0] * $0[0] * $0[1]).sum() }, inputs: [Tensor([1, 2]), Tensor([3, 4])])
/// r.passed   // true
/// ```
/// - Parameters:
///   - function: the computation; it must return a floating point tensor.
///   - inputs: its arguments.
///   - wrt: the positions of the inputs to check (default: every floating point input).
///   - eps: the finite-difference step (PyTorch's default 1e-6).
///   - atol: the absolute tolerance (PyTorch's default 1e-5).
///   - rtol: the relative tolerance (PyTorch's default 1e-3).
///   - seed: the seed of the random cotangents.
public func gradgradcheck(_ function: @escaping ([Tensor]) -> Tensor, inputs: [Tensor], wrt: [Int]? = nil,
                          eps: Double = 1e-6, atol: Double = 1e-5, rtol: Double = 1e-3,
                          seed: UInt64 = 0) -> GradcheckReport {
    let xs = inputs.map { $0.dtype.isFloatingPoint ? $0.detached().to(.float64) : $0.detached() }
    let order = (wrt ?? xs.indices.filter { xs[$0].dtype.isFloatingPoint }).sorted()
    let outShape = withNoGrad { function(xs) }.shape
    var gen = RandomGenerator(seed: seed ^ 0x9E37_79B9_7F4A_7C15)
    let v = Tensor.randn(outShape, dtype: .float64, using: &gen)
    // The first-order gradients of <function(x), v>, flattened and joined: a function of the inputs.
    let firstOrder: ([Tensor]) -> Tensor = { args in
        withGrad {
            let ins = args.enumerated().map { i, x in order.contains(i) && !x.requiresGrad ? x.requiringGrad() : x }
            let y = function(ins)
            let gs = (try? gradients(of: y, wrt: order.map { ins[$0] }, gradOutputs: v, createGraph: true))
                ?? order.map { _ in nil }
            return Tensor.cat(zip(order, gs).map { i, g in (g ?? Tensor.zeros(ins[i].shape, dtype: .float64)).reshape([-1]) }
                              + [Tensor.zeros([0], dtype: .float64)])
        }
    }
    return gradcheck(firstOrder, inputs: xs, wrt: order, eps: eps, atol: atol, rtol: rtol, seed: seed)
}

/// The output of `function` and the vector-Jacobian product vᵀJ with each input
/// (PyTorch's `torch.autograd.functional.vjp`); `v` may be left out for a one-element output.
public func vjp(_ function: ([Tensor]) -> Tensor, inputs: [Tensor], v: Tensor? = nil,
                createGraph: Bool = false) throws -> (output: Tensor, vjp: [Tensor]) {
    let leaves = inputs.map { $0.requiresGrad ? $0 : $0.detached().requiringGrad() }
    let y = withGrad { function(leaves) }
    guard y.requiresGrad else { return (y, leaves.map { Tensor.zeros(like: $0) }) }
    let gs = try gradients(of: y, wrt: leaves, gradOutputs: v, createGraph: createGraph)
    return (createGraph ? y : y.detached(), zip(gs, leaves).map { $0 ?? Tensor.zeros(like: $1) })
}

/// The output of `function` and the Jacobian-vector products J v (PyTorch's
/// `torch.autograd.functional.jvp`, computed by the double-backward trick: the vector-Jacobian
/// product with a dummy cotangent u is linear in u, and its gradient with respect to u is J v).
public func jvp(_ function: ([Tensor]) -> Tensor, inputs: [Tensor], v: [Tensor],
                createGraph: Bool = false) throws -> (output: Tensor, jvp: Tensor) {
    precondition(v.count == inputs.count, "jvp: \(v.count) tangents for \(inputs.count) inputs")
    for (x, t) in zip(inputs, v) {
        precondition(x.shape == t.shape, "jvp: tangent of shape \(t.shape) for an input of shape \(x.shape)")
    }
    let leaves = inputs.map { $0.requiresGrad ? $0 : $0.detached().requiringGrad() }
    let y = withGrad { function(leaves) }
    guard y.requiresGrad else { return (y, Tensor.zeros(like: y)) }
    let u = Tensor.zeros(like: y).requiringGrad()
    let gs = try gradients(of: y, wrt: leaves, gradOutputs: u, createGraph: true)
    let s = innerProduct(zip(gs, v).map { ($0, $1) })
    guard let s, s.requiresGrad, let j = try gradients(of: s, wrt: [u], createGraph: createGraph)[0] else {
        return (y.detached(), Tensor.zeros(like: y))
    }
    return (createGraph ? y : y.detached(), j)
}

/// The Jacobian of `function` with respect to each input, of shape `output.shape + input.shape`
/// (PyTorch's `torch.autograd.functional.jacobian`): one vector-Jacobian product per output element.
public func jacobian(_ function: ([Tensor]) -> Tensor, inputs: [Tensor], createGraph: Bool = false) throws -> [Tensor] {
    let leaves = inputs.map { $0.requiresGrad ? $0 : $0.detached().requiringGrad() }
    let y = withGrad { function(leaves) }
    let n = y.count
    var rows: [[Tensor]] = leaves.map { _ in [] }
    for k in 0..<n {
        var e = [Double](repeating: 0, count: n)
        e[k] = 1
        let seed = Tensor(e, shape: y.shape, dtype: y.dtype)
        let gs: [Tensor?] = y.requiresGrad
            ? try gradients(of: y, wrt: leaves, gradOutputs: seed, createGraph: createGraph, retainGraph: true)
            : leaves.map { _ in nil }
        for (i, g) in gs.enumerated() { rows[i].append((g ?? Tensor.zeros(like: leaves[i])).reshape([1, leaves[i].count])) }
    }
    return rows.enumerated().map { i, r in
        (r.isEmpty ? Tensor.zeros([0], dtype: y.dtype) : Tensor.cat(r, dim: 0)).reshape(y.shape + leaves[i].shape)
    }
}

/// The Hessian of a function with one output element, for each pair of inputs: `hessian[i][j]` has
/// shape `inputs[i].shape + inputs[j].shape` (PyTorch's `torch.autograd.functional.hessian`).
public func hessian(_ function: ([Tensor]) -> Tensor, inputs: [Tensor]) throws -> [[Tensor]] {
    let leaves = inputs.map { $0.requiresGrad ? $0 : $0.detached().requiringGrad() }
    let y = withGrad { function(leaves) }
    precondition(y.count == 1, "hessian: the function must return one element, got shape \(y.shape)")
    guard y.requiresGrad else {
        return leaves.map { a in leaves.map { b in Tensor.zeros(a.shape + b.shape, dtype: y.dtype) } }
    }
    let gs = try gradients(of: y, wrt: leaves, createGraph: true)
    return try leaves.indices.map { i in
        let gi = gs[i] ?? Tensor.zeros(like: leaves[i])
        // Each row of the Hessian block: the gradient of one element of the gradient.
        return try jacobian({ _ in gi }, inputs: leaves).enumerated().map { j, block in
            block.reshape(leaves[i].shape + leaves[j].shape)
        }
    }
}

/// The output of a one-element `function` and the Hessian-vector products H v, without forming H
/// (PyTorch's `torch.autograd.functional.hvp`): the gradient of <grad f, v>.
public func hvp(_ function: ([Tensor]) -> Tensor, inputs: [Tensor], v: [Tensor],
                createGraph: Bool = false) throws -> (output: Tensor, hvp: [Tensor]) {
    precondition(v.count == inputs.count, "hvp: \(v.count) vectors for \(inputs.count) inputs")
    let leaves = inputs.map { $0.requiresGrad ? $0 : $0.detached().requiringGrad() }
    let y = withGrad { function(leaves) }
    precondition(y.count == 1, "hvp: the function must return one element, got shape \(y.shape)")
    guard y.requiresGrad else { return (y, leaves.map { Tensor.zeros(like: $0) }) }
    let gs = try gradients(of: y, wrt: leaves, createGraph: true)
    let s = innerProduct(zip(gs, v).map { ($0, $1) })
    guard let s, s.requiresGrad else { return (y.detached(), leaves.map { Tensor.zeros(like: $0) }) }
    let h = try gradients(of: s, wrt: leaves, createGraph: createGraph)
    return (createGraph ? y : y.detached(), zip(h, leaves).map { $0 ?? Tensor.zeros(like: $1) })
}

/// sum_i sum(a_i * b_i) over the pairs whose `a_i` is present, recorded and summed left to right (nil
/// when none is): the one-element tensor whose gradient is the vector-Jacobian product of the pairs
/// (jvp's and hvp's double backward, verify's several outputs and second-order cases).
func innerProduct(_ pairs: [(Tensor?, Tensor)]) -> Tensor? {
    withGrad {
        var s: Tensor?
        for case (let a?, let b) in pairs {
            let term = (a * b).sum()
            s = s.map { $0 + term } ?? term
        }
        return s
    }
}
