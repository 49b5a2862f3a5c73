import Foundation
import Logging
import ServiceLifecycle

/// Runs every flow of a deployment on its schedule, one run at a time per flow in this
/// process and, through the flow's lease, across processes.
///
/// - `every ...` and cron flows run at their times.
/// - Webhook flows deliver what the webhook intake stored as soon as it wakes them, and
///   poll as a safety net. With `server.public_url` set, each safety poll first keeps the
///   source's webhook subscriptions (`WebhookRegistry`): it makes what is missing and
///   enables what the sender disabled, and the poll then reads the gap. As the last
///   resort, a poll that writes records the webhook should have brought (changed before
///   the previous moment a delivery could have come) switches the flow to polling every
///   minute, until deliveries come again. A record held up by a passing
///   failure is retried at its own retry time, not at the next poll.
/// - Manual flows wait for `koppel sync`.
///
/// On graceful shutdown it stops starting runs and asks the runs in flight to stop after
/// the record they are delivering.
public final class Scheduler: Service, @unchecked Sendable {
    let runtime: Runtime
    let logger: Logger
    let alerts: AlertNotifier?
    private let lock = NSLock()
    private var inFlight: [String: CancellationFlag] = [:]
    private var stopping = false
    private var wakeups: [String: Wakeup] = [:]
    private var webhooksWaiting: Set<String> = []
    private let stopped = Wakeup()
    private let keepAliveTimer = Wakeup()
    /// One keeping of subscriptions at a time: flows of one source must not both create
    /// the subscription that is missing.
    private let keeping = NSLock()

    public init(runtime: Runtime, logger: Logger, alerts: AlertNotifier? = nil) {
        self.runtime = runtime
        self.logger = logger
        self.alerts = alerts
        for flow in runtime.deployment.flows { wakeups[flow.name] = Wakeup() }
    }

    /// The flows this scheduler starts by itself.
    public var scheduledFlows: [FlowConfig] {
        runtime.deployment.flows.filter {
            if case .manual = $0.schedule { return false }
            return true
        }
    }

    /// Tells a webhook flow that deliveries are waiting for it.
    public func wake(flow: String) {
        lock.withLock { _ = webhooksWaiting.insert(flow) }
        wakeups[flow]?.signal()
    }

    /// When a flow polls next after `date`.
    func next(_ flow: FlowConfig, after date: Date) -> Date? {
        switch flow.schedule {
        case .every(let interval): date.addingTimeInterval(interval)
        case .cron(let expression): expression.next(after: date)
        case .webhook(let poll): date.addingTimeInterval(WebhookMode(store: runtime.store).pollInterval(flow: flow.name, safety: poll))
        case .manual: nil
        }
    }

    /// Runs until graceful shutdown (or cancellation), even when no flow is scheduled:
    /// the server still takes webhooks and serves the dashboard.
    public func run() async throws {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withTaskGroup(of: Void.self) { group in
                    for flow in scheduledFlows {
                        group.addTask { await self.loop(flow) }
                    }
                    group.addTask { await self.keepSignInsAlive() }
                }
                while !isStopping { await stopped.wait(seconds: 3600) }
            } onGracefulShutdown: {
                self.stop()
            }
        } onCancel: {
            self.stop()
        }
    }

    /// Every six hours, refreshes the tokens of OAuth connections whose provider lets an
    /// unused refresh token expire (Exact: after 30 days), once they have been quiet for
    /// half that time: a shop that sells nothing for weeks stays signed in.
    private func keepSignInsAlive() async {
        // A connection that uses another's sign-in is kept alive with it.
        let connections = runtime.deployment.connections.filter { $0.signInWith == nil }.map(\.name).filter { name in
            (try? runtime.connection(name).plugin.manifest.auth.refreshTokenIdleDays) != nil
        }
        guard !connections.isEmpty else { return }
        while !isStopping {
            for name in connections {
                do {
                    try runtime.tokenManager(name).keepAlive()
                } catch {
                    logger.warning("the sign-in of \(name) could not be kept alive: \(error)")
                }
            }
            await keepAliveTimer.wait(seconds: 6 * 3600)
        }
    }

    /// Stops starting runs and asks the runs in flight to stop.
    public func stop() {
        let flags = lock.withLock { () -> [CancellationFlag] in
            stopping = true
            return Array(inFlight.values)
        }
        flags.forEach { $0.cancel() }
        wakeups.values.forEach { $0.signal() }
        keepAliveTimer.signal()
        stopped.signal()
    }

    private var isStopping: Bool { lock.withLock { stopping } }

    private func takeWaitingWebhooks(_ flow: String) -> Bool {
        lock.withLock { webhooksWaiting.remove(flow) != nil }
    }

    private func loop(_ flow: FlowConfig) async {
        // Interval and webhook flows poll at once on start (a webhook flow also delivers
        // what was stored before a restart); cron flows wait for their time.
        var due: Date = switch flow.schedule {
        case .every, .webhook: Date()
        default: next(flow, after: Date()) ?? .distantFuture
        }
        if case .webhook = flow.schedule { lock.withLock { _ = webhooksWaiting.insert(flow.name) } }
        let wakeup = wakeups[flow.name] ?? Wakeup()
        var retryDue = Date.distantFuture
        while !isStopping {
            if takeWaitingWebhooks(flow.name) {
                if await !perform(flow, { try $0.deliverWebhooks() }).ran {
                    // The flow is busy in another process: try again shortly.
                    lock.withLock { _ = webhooksWaiting.insert(flow.name) }
                    await wakeup.wait(seconds: 1)
                }
                retryDue = nextRetry(flow)
                continue
            }
            if Date() >= due {
                await poll(flow)
                due = next(flow, after: Date()) ?? .distantFuture
                retryDue = nextRetry(flow)
                continue
            }
            if Date() >= retryDue {
                await perform(flow) { try $0.retryWaiting() }
                // Not sooner than a few seconds from now, whatever is still waiting.
                retryDue = max(nextRetry(flow), Date().addingTimeInterval(5))
                continue
            }
            await wakeup.wait(seconds: min(max(min(due, retryDue).timeIntervalSinceNow, 0.001), 3600))
        }
    }

    /// When a webhook flow should retry its waiting records (between polls, which retry
    /// them anyway); never for other flows.
    private func nextRetry(_ flow: FlowConfig) -> Date {
        guard case .webhook = flow.schedule else { return .distantFuture }
        return (try? runtime.store.earliestRetry(flow: flow.name)) ?? .distantFuture
    }

    /// One scheduled run; for a webhook flow, also the check that its webhook still works.
    private func poll(_ flow: FlowConfig) async {
        guard case .webhook(let safety) = flow.schedule else {
            await perform(flow) { try $0.run() }
            return
        }
        let reenabled = await keepSubscriptions(of: flow)
        // Late: a record changed before the last moment its delivery could have arrived.
        let lateAfter = min(60, safety / 2)
        let ran = await perform(flow) { runner in
            var options = FlowRunner.Options()
            options.lateAfter = lateAfter
            return try runner.run(options)
        }
        // Deliveries a passing failure left waiting are tried again after every poll.
        lock.withLock { _ = webhooksWaiting.insert(flow.name) }
        // The gap a disabled subscription left is read by this poll, and is no sign of a
        // silent webhook.
        guard !reenabled, let late = ran.report?.late, late > 0 else { return }
        let mode = WebhookMode(store: runtime.store)
        if (try? mode.switchToPolling(flow: flow.name)) == true {
            let interval = FlowSchedule.every(mode.pollInterval(flow: flow.name, safety: safety))
            let message = "\(late) record(s) arrived by polling that no webhook delivery brought: the webhook of \(flow.source.connection) seems disabled; \(flow.name) now polls \(interval) until deliveries come again"
            logger.warning("\(flow.name): \(message)")
            runtime.activity.record(ActivityEntry(at: Date(), kind: .warning, flow: flow.name, connection: flow.source.connection, message: message))
        }
    }

    /// Before each poll of a webhook flow, when the server's public URL is set: makes
    /// the source's missing subscriptions and re-enables the ones the sender disabled
    /// (`WebhookRegistry`), saying so in the log and the activity. True when one was
    /// re-enabled: the poll that follows reads the gap it left.
    private func keepSubscriptions(of flow: FlowConfig) async -> Bool {
        let connection = flow.source.connection
        guard let publicURL = runtime.deployment.server.publicURL,
            (try? runtime.connection(connection).plugin.manifest.subscribesWebhooks) == true
        else { return false }
        let runtime = self.runtime, logger = self.logger, keeping = self.keeping
        return await onOwnThread {
            keeping.withLock {
                func note(_ kind: ActivityEntry.Kind, _ message: String) {
                    if kind == .warning { logger.warning("\(flow.name): \(message)") } else { logger.notice("\(flow.name): \(message)") }
                    runtime.activity.record(ActivityEntry(at: Date(), kind: kind, flow: flow.name, connection: connection, message: message))
                }
                let outcome: WebhookRegistry.Outcome
                do {
                    outcome = try WebhookRegistry(runtime: runtime, baseURL: publicURL).register(connection: connection)
                } catch {
                    outcome = WebhookRegistry.Outcome(failures: [(connection, runtime.redactor.redact("\(error)"))])
                }
                for change in outcome.changes {
                    if change.action == .enabled {
                        note(.warning, "the webhook subscription to \(change.topic) of \(connection) was disabled by the sender; enabled it again, and \(flow.name) reads what it missed")
                    } else {
                        note(.info, "\(change.action.rawValue) the webhook subscription to \(change.topic) of \(connection)")
                    }
                }
                for failure in outcome.failures {
                    note(.warning, "the webhook subscriptions of \(connection) could not be kept: \(failure.reason); its flows go on by polling")
                }
                return outcome.changes.contains { $0.action == .enabled }
            }
        }
    }

    /// Runs `work` on its own thread (plugin calls block and must not hold up the async
    /// pool). `ran` is false when the flow was busy in another process; `report` is nil
    /// when the run did not finish.
    @discardableResult
    private func perform(
        _ flow: FlowConfig, _ work: @escaping @Sendable (FlowRunner) throws -> FlowRunner.Report
    ) async -> (ran: Bool, report: FlowRunner.Report?) {
        let cancellation = CancellationFlag()
        lock.withLock { inFlight[flow.name] = cancellation }
        defer { lock.withLock { inFlight[flow.name] = nil } }
        let runtime = self.runtime, logger = self.logger, alerts = self.alerts
        return await onOwnThread {
            var ran = true
            var finished: FlowRunner.Report?
            do {
                let report = try work(FlowRunner(runtime: runtime, flow: flow, cancellation: cancellation))
                finished = report
                if report.read > 0 || report.retried > 0 {
                    logger.info("\(flow.name): read \(report.read), written \(report.written + report.updated), skipped \(report.skipped + report.unchanged), failed \(report.failed)")
                }
                alerts?.runEnded(flow: flow, report: report, error: nil)
            } catch EngineError.flowBusy {
                logger.debug("\(flow.name) is running in another process")
                ran = false
            } catch EngineError.cancelled {
                logger.info("\(flow.name): stopped; the next run continues where it stopped")
            } catch {
                let message = runtime.redactor.redact("\(error)")
                logger.error("\(message)")
                alerts?.runEnded(flow: flow, report: nil, error: message)
            }
            return (ran, finished)
        }
    }
}

/// Wakes one waiting task early: a flow's loop waits for its next poll or a signal.
final class Wakeup: @unchecked Sendable {
    private let lock = NSLock()
    private var signalled = false
    private var waiter: CheckedContinuation<Void, Never>?

    /// Ends the current wait, or the next one at once.
    func signal() {
        let waiter = lock.withLock { () -> CheckedContinuation<Void, Never>? in
            if let waiter = self.waiter {
                self.waiter = nil
                return waiter
            }
            signalled = true
            return nil
        }
        waiter?.resume()
    }

    /// Waits until signalled or `seconds` passed.
    func wait(seconds: TimeInterval) async {
        let timer = Task {
            try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
            if !Task.isCancelled { self.signal() }
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = lock.withLock { () -> Bool in
                if signalled {
                    signalled = false
                    return true
                }
                waiter = continuation
                return false
            }
            if now { continuation.resume() }
        }
        timer.cancel()
    }
}
