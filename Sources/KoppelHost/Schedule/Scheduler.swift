import Foundation
import Logging
import ServiceLifecycle

/// Runs every flow of a deployment on its schedule (`every ...` and cron; webhook and
/// manual flows wait to be asked), one run at a time per flow in this process and, through
/// the flow's lease, across processes. On graceful shutdown it stops starting runs and asks
/// the runs in flight to stop after the record they are delivering.
public final class Scheduler: Service, @unchecked Sendable {
    let runtime: Runtime
    let logger: Logger
    private let lock = NSLock()
    private var inFlight: [String: CancellationFlag] = [:]
    private var stopping = false

    public init(runtime: Runtime, logger: Logger) {
        self.runtime = runtime
        self.logger = logger
    }

    /// The flows this scheduler starts by itself.
    public var scheduledFlows: [FlowConfig] {
        runtime.deployment.flows.filter {
            switch $0.schedule {
            case .every, .cron: true
            case .webhook, .manual: false
            }
        }
    }

    /// When a flow runs next after `date`.
    static func next(_ schedule: FlowSchedule, after date: Date) -> Date? {
        switch schedule {
        case .every(let interval): date.addingTimeInterval(interval)
        case .cron(let expression): expression.next(after: date)
        case .webhook, .manual: nil
        }
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                for flow in scheduledFlows {
                    group.addTask { await self.loop(flow) }
                }
            }
        } onGracefulShutdown: {
            self.stop()
        }
    }

    /// Stops starting runs and asks the runs in flight to stop.
    public func stop() {
        let flags = lock.withLock { () -> [CancellationFlag] in
            stopping = true
            return Array(inFlight.values)
        }
        flags.forEach { $0.cancel() }
    }

    private var isStopping: Bool { lock.withLock { stopping } }

    private func loop(_ flow: FlowConfig) async {
        // Interval flows run at once on start; cron flows wait for their time.
        var due: Date = if case .every = flow.schedule { Date() } else { Self.next(flow.schedule, after: Date()) ?? .distantFuture }
        while !isStopping {
            while Date() < due && !isStopping {
                try? await Task.sleep(for: .milliseconds(Int(min(1, max(0.01, due.timeIntervalSinceNow)) * 1000)))
            }
            guard !isStopping else { return }
            await runOnce(flow)
            due = Self.next(flow.schedule, after: Date()) ?? .distantFuture
        }
    }

    /// One run on its own thread: plugin calls block, and must not hold up the async pool.
    private func runOnce(_ flow: FlowConfig) async {
        let cancellation = CancellationFlag()
        lock.withLock { inFlight[flow.name] = cancellation }
        defer { lock.withLock { inFlight[flow.name] = nil } }
        let runtime = self.runtime, logger = self.logger
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread {
                do {
                    let report = try FlowRunner(runtime: runtime, flow: flow, cancellation: cancellation).run()
                    if report.read > 0 || report.retried > 0 {
                        logger.info("\(flow.name): read \(report.read), written \(report.written + report.updated), skipped \(report.skipped + report.unchanged), failed \(report.failed)")
                    }
                } catch EngineError.flowBusy {
                    logger.debug("\(flow.name) is running in another process")
                } catch EngineError.cancelled {
                    logger.info("\(flow.name): stopped; the next run continues where it stopped")
                } catch {
                    logger.error("\(runtime.redactor.redact("\(error)"))")
                }
                done.resume()
            }.start()
        }
    }
}
