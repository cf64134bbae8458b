import Foundation
import CBackpropKernels

/// Updates parameters from their gradients (PyTorch's `torch.optim.Optimizer`).
///
/// An optimizer holds the same `Parameter` objects as the model, so `step()` changes the model's
/// weights in place (keeping each leaf's autograd identity). Parameters whose `grad` is nil are
/// skipped, as PyTorch does. Updates run elementwise in the parameter's dtype with PyTorch's
/// order of operations, so float32 results agree with PyTorch's to rounding.
public protocol Optimizer: AnyObject {
    /// The parameters updated by `step()`, in order (their index names the optimizer state).
    var parameters: [Parameter] { get }
    /// The learning rate of the next `step()` (schedules change it).
    var lr: Double { get set }
    /// One update of every parameter that has a gradient.
    func step()
    /// The optimizer's state as named tensors, with PyTorch's names: `state.0.momentum_buffer`,
    /// `state.1.exp_avg`, ... (the index is the parameter's position in `parameters`).
    func stateDict() -> [(name: String, tensor: Tensor)]
    /// Restores a state written by `stateDict()`; throws when names or shapes do not fit.
    func load(stateDict: [String: Tensor]) throws
    /// The hyperparameters of PyTorch's `param_groups[0]` without `params`, as (key, JSON text)
    /// pairs in PyTorch's order: `[("lr", "0.001"), ("betas", "[0.9, 0.999]"), ...]`.
    var pytorchHyperparameters: [(key: String, json: String)] { get }
}

extension Optimizer {
    /// Forgets every parameter's gradient (PyTorch's `zero_grad()`, which sets them to None).
    public func zeroGrad() { for p in parameters { p.zeroGrad() } }

    /// PyTorch's `optimizer.state_dict()["param_groups"]` as JSON: one group holding every
    /// parameter, with the keys and values PyTorch 2.x writes (so that
    /// `opt.load_state_dict({"state": ..., "param_groups": json.loads(text)})` accepts it), and
    /// `initial_lr`, the learning rate before any schedule, as PyTorch's schedulers add it.
    public func pytorchParamGroupsJSON(initialLR: Double? = nil) -> String {
        var items = pytorchHyperparameters.map { "\"\($0.key)\": \($0.json)" }
        if let initialLR { items.append("\"initial_lr\": \(initialLR)") }
        items.append("\"params\": [\(parameters.indices.map(String.init).joined(separator: ", "))]")
        return "[{\(items.joined(separator: ", "))}]"
    }
}

/// A saved optimizer state that does not fit the optimizer.
public struct OptimizerStateError: Error, CustomStringConvertible, Equatable {
    /// What does not fit: a missing name, another shape, an invalid step count.
    public let message: String
    /// The message in one line: `optimizer state does not fit: ...`.
    public var description: String { "optimizer state does not fit: \(message)" }
}

/// Runs `body` with typed pointers to a parameter's values (mutable, unique) and its gradient,
/// for a kernel that `body` launches (see `KernelTape.launch`).
@inline(__always)
func withParameterBuffers(_ p: Parameter, _ grad: Tensor,
                          _ f32: (UnsafeMutablePointer<Float>, UnsafePointer<Float>, Int) -> Void,
                          _ f64: (UnsafeMutablePointer<Double>, UnsafePointer<Double>, Int) -> Void) {
    let n = p.value.count
    let g = grad.dtype == p.value.dtype ? grad : grad.converted(to: p.value.dtype)
    switch p.value.dtype {
    case .float32: f32(p.value.kernelUpdate(Float.self), g.kernelRead(Float.self), n)
    case .float64: f64(p.value.kernelUpdate(Double.self), g.kernelRead(Double.self), n)
    case .int64, .bool: preconditionFailure("optimizer: parameter of dtype \(p.value.dtype)")
    }
}

/// Checks that a loaded state tensor exists with the expected shape and returns it in `dtype`.
func stateTensor(_ dict: [String: Tensor], _ name: String, shape: [Int], dtype: DType) throws -> Tensor {
    guard let t = dict[name] else { throw OptimizerStateError(message: "missing \(name)") }
    guard t.shape == shape else {
        throw OptimizerStateError(message: "\(name) has shape \(t.shape), the parameter has \(shape)")
    }
    return t.converted(to: dtype)
}

/// Stochastic gradient descent with PyTorch's momentum, dampening, Nesterov and weight decay
/// (`torch.optim.SGD`). For each parameter p with gradient g:
///
///     g = g + weightDecay * p                          (when weightDecay != 0)
///     buf = g                                          (first step)
///     buf = momentum * buf + (1 - dampening) * g      (later steps; when momentum != 0)
///     g = nesterov ? g + momentum * buf : buf
///     p = p - lr * g
public final class SGD: Optimizer {
    /// The parameters updated by `step()`; their positions name the state (`state.0.momentum_buffer`).
    public let parameters: [Parameter]
    /// The learning rate of the next `step()` (a schedule may change it).
    public var lr: Double
    /// The momentum factor (0: plain SGD, no buffers).
    public let momentum: Double
    /// Scales the gradient's share of the momentum buffer by (1 - dampening).
    public let dampening: Double
    /// The L2 penalty: `weightDecay * p` is added to the gradient.
    public let weightDecay: Double
    /// Whether to use Nesterov momentum (needs a momentum and zero dampening).
    public let nesterov: Bool
    /// Whether to maximize the objective (step along the gradient) instead of minimizing it.
    public let maximize: Bool
    /// One momentum buffer per parameter, nil until its first step.
    public private(set) var momentumBuffers: [Tensor?]

    /// An SGD optimizer over `parameters` with PyTorch's defaults (`torch.optim.SGD`).
    ///
    /// ```swift
    /// let opt = SGD(model.parameters(), lr: 0.05, momentum: 0.9)
    /// ```
    public init(_ parameters: [Parameter], lr: Double = 1e-3, momentum: Double = 0, dampening: Double = 0,
                weightDecay: Double = 0, nesterov: Bool = false, maximize: Bool = false) {
        precondition(lr >= 0, "SGD: invalid learning rate: \(lr)")
        precondition(momentum >= 0, "SGD: invalid momentum value: \(momentum)")
        precondition(weightDecay >= 0, "SGD: invalid weight_decay value: \(weightDecay)")
        precondition(!nesterov || (momentum > 0 && dampening == 0),
                     "SGD: Nesterov momentum requires a momentum and zero dampening")
        let parameters = uniqueParameters(parameters, optimizer: "SGD")
        self.parameters = parameters
        self.lr = lr; self.momentum = momentum; self.dampening = dampening
        self.weightDecay = weightDecay; self.nesterov = nesterov; self.maximize = maximize
        momentumBuffers = Array(repeating: nil, count: parameters.count)
    }

    /// One SGD update of every parameter that has a gradient, by the formulas above.
    public func step() {
        for (i, p) in parameters.enumerated() {
            guard let grad = p.grad else { continue }
            let first = momentumBuffers[i] == nil
            if momentum != 0 && first { momentumBuffers[i] = Tensor.zeros(like: p.value) }
            var buf = momentumBuffers[i] ?? Tensor.zeros([0], dtype: p.value.dtype)
            momentumBuffers[i] = nil   // keep the buffer uniquely referenced while it is written
            let common = weightDecay == 0 && !maximize && !nesterov
            withParameterBuffers(p, grad, { w, g, n in
                let b = buf.kernelUpdate(Float.self)
                KernelTape.launch((self, w, g, n, b, first, common)) { a in a.0.update(a.1, a.2, a.3, a.4, first: a.5, common: a.6) }
            }, { w, g, n in
                let b = buf.kernelUpdate(Double.self)
                KernelTape.launch((self, w, g, n, b, first)) { a in a.0.update(a.1, a.2, a.3, a.4, first: a.5, common: false) }
            })
            if momentum != 0 { momentumBuffers[i] = buf }
        }
    }

    /// One parameter's update (a recorded kernel: `lr` is read when it runs, so that a schedule
    /// that changes it between replays of a compiled step takes effect).
    private func update<T: FloatElement>(_ w: UnsafeMutablePointer<T>, _ g: UnsafePointer<T>, _ n: Int,
                                         _ b: UnsafeMutablePointer<T>, first: Bool, common: Bool) {
        if common && T.self == Float.self {
            // The common case in C, vectorized and split over the threads for large
            // parameters: the same operations in the same order as the loop below.
            let w = UnsafeMutableRawPointer(w).assumingMemoryBound(to: Float.self)
            let g = UnsafeRawPointer(g).assumingMemoryBound(to: Float.self)
            let b = UnsafeMutableRawPointer(b).assumingMemoryBound(to: Float.self)
            let nlr = -Float(self.lr), m = Float(momentum), damp = Float(1 - dampening)
            let hasMomentum: Int32 = momentum != 0 ? 1 : 0, isFirst: Int32 = first ? 1 : 0
            Parallelism.chunked(n) { lo, hi in
                bp_sgd_f32(w + lo, g + lo, hasMomentum != 0 ? b + lo : b, hi - lo,
                           nlr, hasMomentum, m, damp, isFirst)
            }
            return
        }
        let lr = T(self.lr), m = T(momentum), damp = T(1 - dampening), wd = T(weightDecay)
        for j in 0..<n {
            var d = maximize ? -g[j] : g[j]
            if weightDecay != 0 { d = d + wd * w[j] }
            if momentum != 0 {
                b[j] = first ? d : b[j] * m + damp * d
                d = nesterov ? d + m * b[j] : b[j]
            }
            w[j] = w[j] + (-lr) * d
        }
    }

    /// `lr`, `momentum`, `dampening`, `weight_decay`, `nesterov`, `maximize`, and PyTorch's
    /// implementation switches (`foreach`, `differentiable`, `fused`) at their defaults.
    public var pytorchHyperparameters: [(key: String, json: String)] {
        [("lr", "\(lr)"), ("momentum", "\(momentum)"), ("dampening", "\(dampening)"), ("weight_decay", "\(weightDecay)"),
         ("nesterov", "\(nesterov)"), ("maximize", "\(maximize)"), ("foreach", "null"), ("differentiable", "false"),
         ("fused", "null")]
    }

    /// The momentum buffers with PyTorch's names (`state.0.momentum_buffer`), for the parameters that have one.
    public func stateDict() -> [(name: String, tensor: Tensor)] {
        momentumBuffers.enumerated().compactMap { i, b in b.map { ("state.\(i).momentum_buffer", $0) } }
    }

    /// Restores the momentum buffers that `stateDict()` wrote (with momentum; a missing one starts
    /// afresh). Throws `OptimizerStateError` when a buffer's shape differs; nothing changes on error.
    public func load(stateDict: [String: Tensor]) throws {
        var buffers: [Tensor?] = []
        for (i, p) in parameters.enumerated() {
            let name = "state.\(i).momentum_buffer"
            if momentum != 0, stateDict[name] != nil {
                buffers.append(try stateTensor(stateDict, name, shape: p.shape, dtype: p.value.dtype))
            } else {
                buffers.append(nil)
            }
        }
        momentumBuffers = buffers
    }
}

/// `parameters` without repeats (a parameter listed twice is updated once, as PyTorch does after its
/// warning); stops on an empty list with PyTorch's message.
func uniqueParameters(_ parameters: [Parameter], optimizer: String) -> [Parameter] {
    precondition(!parameters.isEmpty, "\(optimizer): optimizer got an empty parameter list")
    var seen = Set<ObjectIdentifier>()
    return parameters.filter { seen.insert(ObjectIdentifier($0)).inserted }
}
