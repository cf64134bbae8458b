/// The notebook exercise, "Backpropagation Again": one SGD step of a single-layer softmax classifier,
/// with the gradients derived by hand beside those of autograd.
///
/// ```swift
/// let step = NotebookStep(W: [[1, 2], [2, 1]], b: [[0, 0]], x: [[8, -2]], target: Tensor(indices: [0]))
/// step.gradWManual   // tensor([[-7.9996,  7.9996], [ 1.9999, -1.9999]])
/// ```
public struct NotebookStep {
    /// The inputs: the weights `W` [F, C] and the bias `b` (leaves that require grad, named "W" and
    /// "b"), the features `x` [N, F], the class indices `target` [N], their one-hot rows `oneHot`
    /// [N, C] in x's dtype, and the learning rate `lr`.
    public let W: Tensor, b: Tensor, x: Tensor, target: Tensor, oneHot: Tensor, lr: Double
    /// The forward pass, the notebook's cells: `c = x.mm(W) + b`, `softmax` and `logSoftmax` of c
    /// along dim 1, `nllLoss` of the log-softmax, and `crossEntropy` of c (the loss; equal to nllLoss).
    public let c: Tensor, softmax: Tensor, logSoftmax: Tensor, nllLoss: Tensor, crossEntropy: Tensor
    /// The gradients derived by hand, with tensor ops and no autograd: `gradCManual` =
    /// (softmax - onehot) / N, `gradWManual` = x^T gradCManual, `gradBManual` = gradCManual summed over
    /// the rows.
    public let gradCManual: Tensor, gradWManual: Tensor, gradBManual: Tensor
    /// The gradients from autograd (`crossEntropy(...).backward(retainGraph: true)`): `c.grad`,
    /// `W.grad` and `b.grad`.
    public let gradCAutograd: Tensor, gradWAutograd: Tensor, gradBAutograd: Tensor
    /// The largest |manual - autograd| over grad_c, grad_W and grad_b.
    public let maxAbsDiff: Double
    /// The SGD update: `WNew` = W - lr * W.grad, `bNew` = b - lr * b.grad.
    public let WNew: Tensor, bNew: Tensor
    /// The record of the backward pass (with every node's value), when made with `explain: true`.
    public let trace: BackwardTrace?
    /// The number of rows of x in this step (the mean reduction divides by it).
    public var batchSize: Int { x.shape[0] }

    /// Runs the exercise on `x` [N, F], `W` [F, C], `b` [1, C] and class indices `target` [N].
    ///
    /// With `explain`, the forward pass keeps every node's value and the backward pass is recorded
    /// in `trace` (the gradients are the same: the trace is the autograd pass).
    public init(W: Tensor, b: Tensor, x: Tensor, target: Tensor, lr: Double = 0.01, explain: Bool = false) {
        precondition(x.rank == 2 && W.rank == 2 && x.shape[1] == W.shape[0],
                     "NotebookStep: x \(x.shape) and W \(W.shape) do not multiply")
        precondition(b.shape == [1, W.shape[1]] || b.shape == [W.shape[1]],
                     "NotebookStep: b of shape \(b.shape) for \(W.shape[1]) classes")
        precondition(target.shape == [x.shape[0]], "NotebookStep: target \(target.shape) for \(x.shape[0]) rows")
        let n = x.shape[0], classes = W.shape[1]
        let Wl = W.detached().requiringGrad().named("W")
        let bl = b.detached().requiringGrad().named("b")
        self.W = Wl; self.b = bl; self.x = x; self.target = target; self.lr = lr
        let onehot = target.oneHot(numClasses: classes).to(x.dtype)
        oneHot = onehot

        // Forward: the notebook's cells.
        let wasRecording = Explain.recordingValues
        Explain.recordingValues = wasRecording || explain
        let c = (x.mm(Wl) + bl).named("c")
        c.retainGrad()
        self.c = c
        let p = c.softmax(dim: 1)
        softmax = p
        let lp = c.logSoftmax(dim: 1)
        logSoftmax = lp
        nllLoss = lp.nllLoss(target: target)
        let loss = c.crossEntropy(target: target).named("loss")
        crossEntropy = loss
        Explain.recordingValues = wasRecording

        // By hand: d loss / d c = (softmax - onehot) / N for the mean over N rows.
        let gc = withNoGrad { n == 1 ? p - onehot : (p - onehot) / Double(n) }
        gradCManual = gc
        let gW = withNoGrad { x.t().mm(gc) }
        gradWManual = gW
        let gb = withNoGrad { n == 1 ? gc.reshape(b.shape) : gc.sum(dim: 0, keepDim: true).reshape(b.shape) }
        gradBManual = gb

        // By autograd.
        if explain {
            trace = try! BackwardTrace.record(loss, retainGraph: true, names: [("x", x)])
        } else {
            trace = nil
            loss.backward(retainGraph: true)
        }
        gradCAutograd = c.grad!
        gradWAutograd = Wl.grad!
        gradBAutograd = bl.grad!
        maxAbsDiff = [(gc, c.grad!), (gW, Wl.grad!), (gb, bl.grad!)]
            .map { zip($0.0.scalars, $0.1.scalars).map { abs($0 - $1) }.max() ?? 0 }.max() ?? 0

        // SGD: W -= lr * W.grad, as two ops in the tensor's dtype (a product, then a difference).
        let (gWa, gba) = (Wl.grad!, bl.grad!)
        WNew = withNoGrad { Wl.detached() - lr * gWa }
        bNew = withNoGrad { bl.detached() - lr * gba }
    }

    /// Whether hand-derived and autograd gradients agree to the precision of the dtype.
    public var gradientsAgree: Bool { maxAbsDiff <= (W.dtype == .float64 ? 1e-12 : 1e-6) * Swift.max(1, gradWAutograd.scalars.map(abs).max() ?? 1) }
}

/// Repeated notebook steps: step k uses row (k - 1) mod N of the features (or all rows with `batch`).
public struct NotebookRun {
    /// The steps in order; each starts from the previous step's `WNew` and `bNew`.
    public let steps: [NotebookStep]

    /// Runs `count` steps from `W` and `b` at learning rate `lr`: step k on row (k - 1) mod N of `x`
    /// and `target`, or on all rows at once with `batch`.
    public init(W: Tensor, b: Tensor, x: Tensor, target: Tensor, lr: Double, steps count: Int, batch: Bool) {
        var W = W, b = b
        var out: [NotebookStep] = []
        let n = x.shape[0]
        let tgt = target.integers
        for k in 0..<count {
            let (xs, ts): (Tensor, Tensor)
            if batch || n == 1 {
                (xs, ts) = (x, target)
            } else {
                let r = k % n
                xs = x.detached().selectingRows([r])
                ts = Tensor(indices: [tgt[r]])
            }
            let step = NotebookStep(W: W, b: b, x: xs, target: ts, lr: lr)
            out.append(step)
            W = step.WNew; b = step.bNew
        }
        steps = out
    }
}
