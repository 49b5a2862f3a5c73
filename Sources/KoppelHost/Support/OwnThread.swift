import Foundation

/// Runs blocking work (plugin calls, synchronous HTTP, child processes) on a thread of
/// its own, so that it never holds up the threads Swift's concurrency and the HTTP
/// servers answer on. Wrap throwing work in a `Result`.
public func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { (done: CheckedContinuation<T, Never>) in
        Thread { done.resume(returning: body()) }.start()
    }
}
