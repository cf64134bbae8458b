import CBackpropKernels
import Foundation

/// Whether ops record autograd history on this thread (PyTorch's grad mode).
public enum GradMode {
    /// True unless inside `withNoGrad` on this thread.
    public static var isEnabled: Bool {
        @inline(__always) get { bp_grad_disabled() == 0 }
    }

    static func set(enabled: Bool) {
        bp_set_grad_disabled(enabled ? 0 : 1)
    }
}

/// Runs `body` without recording autograd history (PyTorch's `with torch.no_grad():`).
///
/// Results computed inside do not require grad; leaves keep `requiresGrad`.
/// ```swift
/// withNoGrad { W -= lr * W.grad! }
/// ```
@discardableResult
public func withNoGrad<R>(_ body: () throws -> R) rethrows -> R {
    let was = GradMode.isEnabled
    GradMode.set(enabled: false)
    defer { GradMode.set(enabled: was) }
    return try body()
}

/// Runs `body` with autograd recording on, even inside `withNoGrad`.
@discardableResult
public func withGrad<R>(_ body: () throws -> R) rethrows -> R {
    let was = GradMode.isEnabled
    GradMode.set(enabled: true)
    defer { GradMode.set(enabled: was) }
    return try body()
}
