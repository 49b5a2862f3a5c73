import Crypto
import Foundation
import Logging

/// Runs one flow: reads the source stream from its cursor, filters and maps each record,
/// and delivers it to the target exactly once.
///
/// The delivery protocol: before writing, the record's ledger row is committed as
/// `pending`; after the target confirms, it becomes `done` with the target's key, in the
/// same transaction that stores the cursor reached so far. A row found `pending` at the
/// start of a run was interrupted by a crash and becomes `uncertain`; an uncertain row is
/// written only with the reconcile flag, so the target looks it up by its idempotency key
/// first. An unchanged record (same content hash) is skipped; a changed one becomes an
/// update where the target stream supports updates. A record the target declines by
/// design (`skipped`, with its reason) is offered again only once it changes.
public final class FlowRunner {
    /// What a run is asked to do.
    public struct Options {
        /// Backfill: read records updated from this moment (the stored cursor is neither
        /// used nor moved).
        public var since: Date?
        public var until: Date?
        /// Read, filter and map, but write nothing anywhere.
        public var dryRun = false
        /// Retry records waiting for a later attempt now, not at their next attempt time.
        public var retryNow = false
        /// Have the target look up every record the ledger does not know before writing
        /// it (by its idempotency key), as for a crashed write: after restoring an older
        /// state file, what was delivered since the copy is found instead of sent twice.
        public var reconcileUnknown = false
        /// Called after every record.
        public var progress: ((Report) -> Void)?
        /// Called for every record a dry run would write.
        public var wouldWrite: ((String, Data) -> Void)?
        /// For the safety poll of a webhook flow: a record written now that changed more
        /// than this many seconds before the run started is counted as `late` (its
        /// webhook never came).
        public var lateAfter: TimeInterval?

        public init(since: Date? = nil, until: Date? = nil, dryRun: Bool = false) {
            self.since = since
            self.until = until
            self.dryRun = dryRun
        }
    }

    /// What a run did.
    public struct Report: Sendable, Equatable {
        public var run: Int64?
        public var read = 0
        public var written = 0
        public var updated = 0
        public var unchanged = 0
        public var skipped = 0
        public var failed = 0
        public var retried = 0
        public var recovered = 0
        /// Deletions at the source a target took (removed or retired what it wrote).
        public var deleted = 0
        /// Records a safety poll wrote that a webhook should have brought.
        public var late = 0
    }

    let runtime: Runtime
    public let flow: FlowConfig
    let cancellation: CancellationFlag
    private let filter: RecordFilter
    private let mapping: RecordMapping
    private var store: any StateStore { runtime.store }
    private var report = Report()
    private var pendingCursor: Data?
    /// The flow's lease as this run took it; every ledger write is fenced by it.
    private var fence: LeaseFence?
    private var heartbeat: LeaseHeartbeat?
    private var options = Options()
    private var runStarted = Date()
    /// No regular run has read the whole source yet: what it finds was there before any
    /// webhook could bring it, and is never `late`.
    private var isFirstRead = false
    private var target: PluginConnection?
    private var targetUpdates = false
    private var targetRefunds = false
    /// The target's stream takes deletions (ABI 1.5).
    private var targetDeletes = false

    public init(runtime: Runtime, flow: FlowConfig, cancellation: CancellationFlag = CancellationFlag()) {
        self.runtime = runtime
        self.flow = flow
        self.cancellation = cancellation
        filter = RecordFilter(flow.filter)
        mapping = RecordMapping(flow.mapping)
    }

    private lazy var lease = Lease(name: "flow:\(flow.name)", store: store)

    /// How long the flow's lease lasts without renewal; the heartbeat renews it four
    /// times in that span for as long as the run goes on, however slow its calls are.
    private var leaseTTL: TimeInterval { runtime.deployment.state.leaseSeconds }

    /// Takes the flow's lease and keeps it alive until `body` returns.
    private func underLease<T>(_ body: () throws -> T) throws -> T {
        guard try lease.acquire(ttl: leaseTTL), let fence = lease.fence else { throw EngineError.flowBusy(flow: flow.name) }
        self.fence = fence
        let heartbeat = LeaseHeartbeat(lease: lease, ttl: leaseTTL)
        self.heartbeat = heartbeat
        defer {
            heartbeat.stop()
            self.heartbeat = nil
            self.fence = nil
            lease.release()
        }
        return try body()
    }

    /// Runs a state-store operation of the run; the store's own failures become the
    /// run's, naming the state file.
    private func state<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as StateStoreError {
            if case .leaseLost = error { throw EngineError.leaseLost(flow: flow.name, reason: error.description) }
            throw EngineError.stateFailed(flow: flow.name, reason: error.description)
        }
    }

    /// Runs the flow once. Throws when the run could not start or had to stop; records
    /// that fail are parked and do not stop it.
    @discardableResult
    public func run(_ options: Options = Options()) throws -> Report {
        try recordedRun(options) { try deliverAll() }
    }

    /// Delivers the flow's waiting webhook deliveries, as one run: the source plugin
    /// turns each into the records it concerns (fetching them where the delivery only
    /// names them), and every record takes the same path as a polled one, so the ledger
    /// absorbs whatever a poll or an earlier delivery already brought. A delivery that
    /// could not be handled for a passing reason stays for the next run.
    @discardableResult
    public func deliverWebhooks() throws -> Report {
        // Nothing waiting (a wake-up whose delivery another process took): no run to record.
        guard try !store.webhookInbox(flow: flow.name, limit: 1).isEmpty else { return Report() }
        return try recordedRun(Options()) {
            let source = try runtime.open(connection: flow.source.connection, cancellation: cancellation)
            try openTarget()
            report.recovered = try store.markPendingUncertain(flow: flow.name)
            try reconcileIfFirstRun()
            while true {
                let waiting = try store.webhookInbox(flow: flow.name, limit: 100)
                if waiting.isEmpty { return }
                for delivery in waiting {
                    try checkStop()
                    do {
                        try source.webhook(
                            stream: flow.source.stream, headers: delivery.headers, body: delivery.body,
                            options: flow.readOptions == .object([:]) ? nil : flow.readOptions.json,
                            onRecord: { [self] data in try stopping { try process(data) } },
                            onUnreadable: { [self] record in try stopping { try parkUnreadable(record) } })
                    } catch {
                        if let stop = stopReason { throw stop }
                        let error = error as? PluginCallError ?? PluginCallError(.internal, "\(error)")
                        // A delivery the plugin cannot read will not read better later; the
                        // safety poll still finds its record. Anything passing keeps it.
                        guard error.status.reaction == .park else { throw sourceFailure(error, "webhook delivery") }
                        activity(.warning, delivery.deliveryID ?? "", "webhook delivery not usable: \(error.message)")
                    }
                    if let id = delivery.id { try store.removeWebhookInboxEntry(id: id) }
                }
            }
        }
    }

    /// Runs `body` as one recorded run under the flow's lease.
    private func recordedRun(_ options: Options, _ body: () throws -> Void) throws -> Report {
        self.options = options
        report = Report()
        return try underLease { try recordedRunUnderLease(body) }
    }

    private func recordedRunUnderLease(_ body: () throws -> Void) throws -> Report {
        let started = Date()
        runStarted = started
        if !options.dryRun {
            // Holding the lease, any run still marked running belongs to a dead process.
            try store.closeInterruptedRuns(flow: flow.name, at: started)
            report.run = try store.startRun(flow: flow.name, at: started)
        }
        var outcome: Error?
        do {
            try state(body)
        } catch {
            outcome = error
        }
        let status: RunRecord.Status = outcome == nil ? .succeeded : (outcome as? EngineError).map { if case .cancelled = $0 { return .cancelled }; return .failed } ?? .failed
        if let run = report.run {
            try store.finishRun(RunRecord(
                id: run, flow: flow.name, startedAt: started, finishedAt: Date(), status: status, read: report.read,
                written: report.written + report.updated, skipped: report.skipped + report.unchanged, failed: report.failed,
                error: outcome.map { runtime.redactor.redact("\($0)") }))
        }
        if !options.dryRun {
            let metrics = runtime.metrics
            metrics.count(.read, flow: flow.name, by: report.read)
            metrics.count(.written, flow: flow.name, by: report.written + report.updated)
            metrics.count(.failed, flow: flow.name, by: report.failed)
            metrics.count(.skipped, flow: flow.name, by: report.skipped)
            metrics.run(flow: flow.name, duration: Date().timeIntervalSince(started), status: status.rawValue)
            try runtime.pruneActivity()
        }
        if let outcome { throw outcome }
        return report
    }

    private func deliverAll() throws {
        let source = try runtime.open(connection: flow.source.connection, cancellation: cancellation)
        try openTarget()
        if !options.dryRun {
            report.recovered = try store.markPendingUncertain(flow: flow.name)
            try retryDue()
            try reconcileIfFirstRun()
        }
        let cursor = options.since == nil ? try store.cursor(flow: flow.name, stream: flow.source.stream) : nil
        try read(source, from: cursor, since: options.since ?? (cursor == nil ? flow.startDate : nil), keepCursor: options.since == nil)
        if let pendingCursor, !options.dryRun {
            try checkLease()
            try state { try store.setCursor(pendingCursor, flow: flow.name, stream: flow.source.stream) }
            self.pendingCursor = nil
        }
        if options.since == nil && !options.dryRun {
            try store.setFlowValue("yes", flow: flow.name, key: Self.firstReadCompleteKey)
        }
    }

    /// The cursor the current read started from, or the last one it checkpointed: where
    /// a read that should see a record reported now again starts.
    private var readPosition: Data?

    /// Reads the source from `cursor` (or `since`), handing every record to `process`
    /// and every unreadable one to `parkUnreadable`; `keepCursor`: the checkpoints become
    /// the flow's cursor as the records they cover are delivered.
    private func read(_ source: PluginConnection, from cursor: Data?, since: Date?, keepCursor: Bool) throws {
        readPosition = cursor
        do {
            try source.read(
                stream: flow.source.stream, cursor: cursor, since: since, until: options.until,
                options: flow.readOptions == .object([:]) ? nil : flow.readOptions.json,
                onRecord: { [self] data in try stopping { try process(data) } },
                onCheckpoint: { [self] data in
                    readPosition = data
                    if keepCursor && !options.dryRun { pendingCursor = data }
                },
                onUnreadable: { [self] record in try stopping { try parkUnreadable(record) } })
        } catch {
            // A handler's own error (auth, rate limit, a lost lease, the state file) says
            // more than the read's.
            if let stop = stopReason { throw stop }
            if cancellation.isCancelled { throw EngineError.cancelled(flow: flow.name) }
            throw sourceFailure(error, nil)
        }
    }

    /// How a run ends when its source failed, a read or a webhook delivery alike (the
    /// status's reaction: sign in, wait for the limit, stopped, or a failed read).
    private func sourceFailure(_ error: PluginCallError, _ what: String?) -> EngineError {
        let connection = flow.source.connection
        return switch error.status.reaction {
        case .stopped: .cancelled(flow: flow.name)
        case .signInNeeded: .authRequired(flow: flow.name, connection: connection, reason: error.message)
        case .waitForLimit: .rateLimited(flow: flow.name, connection: connection, reason: error.message)
        default: .readFailed(flow: flow.name, reason: (what.map { "\($0): " } ?? "") + error.message)
        }
    }

    /// The flow value set once a regular run read its source to the end.
    static let firstReadCompleteKey = "first_read_complete"

    /// Until a regular run has read the whole source once with this state file, every
    /// record the ledger does not know is looked up in the target before it is written:
    /// with a lost or new state file, or after a switch from another connector, what the
    /// target already has is found instead of written twice.
    private func reconcileIfFirstRun() throws {
        isFirstRead = try store.flowValue(flow: flow.name, key: Self.firstReadCompleteKey) == nil
        guard !options.reconcileUnknown, isFirstRead else { return }
        options.reconcileUnknown = true
        runtime.activity.record(ActivityEntry(
            at: Date(), kind: .info, flow: flow.name, run: report.run,
            message: "first run with this state file: every record is looked up in \(flow.target) before it is written, so nothing it already has is sent twice"))
    }

    /// Set when a record's handling must stop the whole read.
    private var stopReason: EngineError?

    /// Runs a record handler inside a plugin's read: an error that must end the run
    /// (the state file failed, the lease was lost) is kept as the stop reason, so that
    /// it is reported as itself rather than as the read having been stopped.
    private func stopping(_ body: () throws -> Void) throws {
        do {
            try state(body)
        } catch let error as EngineError {
            if stopReason == nil { stopReason = error }
            throw error
        }
    }

    /// Retries the flow's waiting records whose time has come (reconciling each first),
    /// as one run. A webhook flow calls it between its safety polls, so that a record a
    /// passing failure held up is not left waiting for the next poll.
    @discardableResult
    public func retryWaiting() throws -> Report {
        try recordedRun(Options()) {
            try openTarget()
            report.recovered = try store.markPendingUncertain(flow: flow.name)
            try retryDue()
        }
    }

    /// Re-delivers uncertain records whose retry time has come, reconciling first.
    private func retryDue() throws {
        let now = Date()
        for entry in try store.ledgerEntries(flow: flow.name, states: [.uncertain], limit: 10_000) {
            guard options.retryNow || entry.nextRetryAt.map({ $0 <= now }) ?? true, let raw = entry.record else { continue }
            try checkStop()
            report.retried += 1
            try handle(raw, existing: entry, reconcile: true)
        }
    }

    /// Opens the target connection and learns whether its stream takes updates, refunds
    /// and deletions.
    private func openTarget() throws {
        let target = try runtime.open(connection: flow.target.connection, cancellation: cancellation)
        self.target = target
        let stream = target.plugin.manifest.writeStreams.first { $0.name == flow.target.stream }
        targetUpdates = stream?.update ?? false
        targetRefunds = stream?.refunds ?? false
        targetDeletes = stream?.deletes ?? false
    }

    /// Replays parked records (after the mapping or the target was fixed): each is mapped
    /// and delivered again, reconciling first. A record the source could not read has
    /// nothing kept to replay: the source is read again from the cursor that was current
    /// when it was reported (the ledger absorbs what was delivered since).
    public func replay(keys: [String]?) throws -> Report {
        report = Report()
        return try underLease { try state { try replayUnderLease(keys: keys) } }
    }

    private func replayUnderLease(keys: [String]?) throws -> Report {
        try openTarget()
        var entries = try store.ledgerEntries(flow: flow.name, states: [.failed], limit: 100_000)
        if let keys {
            for key in keys where !entries.contains(where: { $0.sourceKey == key }) {
                throw EngineError.unknownRecord(flow: flow.name, key: key)
            }
            entries = entries.filter { keys.contains($0.sourceKey) }
        }
        // A refund after the order it refunds.
        let refunds = Set(entries.filter(\.isRefund).map(\.sourceKey))
        entries = entries.filter { !refunds.contains($0.sourceKey) } + entries.filter { refunds.contains($0.sourceKey) }
        var rereads: [String: Data?] = [:]
        for entry in entries {
            if entry.isUnreadable {
                // Not readable when it was read: read the source again from where it was.
                report.retried += 1
                let from = try store.flowValue(flow: flow.name, key: Self.unreadableFromKey(entry.sourceKey)) ?? ""
                rereads[from] = from.isEmpty ? nil : Data(from.utf8)
                continue
            }
            guard let raw = entry.record else { continue }
            report.retried += 1
            try handle(raw, existing: entry, reconcile: true)
        }
        guard !rereads.isEmpty else { return report }
        replaying = true
        defer { replaying = false }
        let source = try runtime.open(connection: flow.source.connection, cancellation: cancellation)
        for cursor in rereads.values {
            let before = report
            try read(source, from: cursor, since: cursor == nil ? flow.startDate : nil, keepCursor: false)
            // Records read again that were delivered already are not news.
            report.read = before.read
            report.unchanged = before.unchanged
        }
        return report
    }

    /// Set while a replay reads the source again for records that were not readable.
    private var replaying = false

    /// The flow value holding the cursor to read from again for an unreadable record.
    static func unreadableFromKey(_ sourceKey: String) -> String { "unreadable_from:\(sourceKey)" }

    /// Parks a record the source could not read, with its reason and the cursor from
    /// which a replay reads it again; the read goes on. Reported again unchanged, it is
    /// counted once.
    private func parkUnreadable(_ record: UnreadableRecord) throws {
        try checkStop()
        report.read += 1
        let reason = runtime.redactor.redact(record.reason)
        let hash = LedgerEntry.unreadableHash(reason: reason)
        let existing = try store.ledgerEntry(flow: flow.name, sourceKey: record.sourceKey)
        if existing?.state == .failed && existing?.contentHash == hash {
            // Parked already: news only to a replay, which hoped it would read now.
            if replaying { report.failed += 1 } else { report.skipped += 1 }
            return
        }
        report.failed += 1
        guard !options.dryRun else { return }
        if existing?.state == .done {
            // Delivered before and this later version does not read: what was delivered
            // stands, and the next version that reads is delivered as any change is.
            activity(.failed, record.sourceKey, "a later version could not be read from \(flow.source.connection): \(reason); \(flow.target) keeps the one delivered before")
            return
        }
        let position = readPosition.map { String(decoding: $0, as: UTF8.self) } ?? ""
        try store.setFlowValue(position, flow: flow.name, key: Self.unreadableFromKey(record.sourceKey))
        try store.putLedgerEntry(LedgerEntry(
            flow: flow.name, sourceKey: record.sourceKey, contentHash: hash, targetKey: existing?.targetKey, state: .failed,
            attempts: (existing?.attempts ?? 0) + 1, lastError: "not readable: \(reason)", updatedAt: Date()), fence: fence)
        activity(.failed, record.sourceKey, "not readable: \(reason)")
        options.progress?(report)
    }

    private func checkStop() throws {
        if let stopReason { throw stopReason }
        if cancellation.isCancelled { throw EngineError.cancelled(flow: flow.name) }
        try checkLease()
    }

    /// Stops the run when the heartbeat found the lease in other hands.
    private func checkLease() throws {
        if heartbeat?.lost == true {
            throw EngineError.leaseLost(flow: flow.name, reason: "another process took the flow's lease while this run was busy")
        }
    }

    /// One record from the source.
    private func process(_ data: Data) throws {
        try checkStop()
        report.read += 1
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let key = object["source_key"] as? String else { return }
        if object["deleted"] as? Bool == true {
            try takeDeletion(data, object: object, key: key)
            options.progress?(report)
            return
        }
        if let reason = filter.rejection(of: object) {
            report.skipped += 1
            activity(.skipped, key, "skipped: \(reason)")
            options.progress?(report)
            return
        }
        let existing = try store.ledgerEntry(flow: flow.name, sourceKey: key)
        let hash = Self.hash(data)
        if existing?.state != .done, let refunded = object["refund_of"] as? [String: Any],
           try tookRefund(refunded, data: data, object: object, key: key, hash: hash, existing: existing) {
            options.progress?(report)
            return
        }
        switch existing?.state {
        case .done? where existing?.contentHash == hash:
            report.unchanged += 1
        case .done?:
            if targetUpdates {
                try handle(data, object: object, hash: hash, existing: existing, reconcile: false)
            } else {
                report.unchanged += 1
                if targetRefunds {
                    // A booking stands; what changed after it (often only the status, as an
                    // order ships) is the bookkeeper's to judge.
                    activity(.info, key, "changed at the source after it was booked in \(flow.target.connection); the booking stands. "
                        + "A refund in the shop becomes a credit note; a change of amounts must be booked by hand")
                } else {
                    activity(.info, key, "changed at the source, but \(flow.target) cannot update records; left as it was")
                }
            }
        case .failed? where existing?.contentHash == hash:
            report.skipped += 1
        case .pending?, .uncertain?:
            try handle(data, object: object, hash: hash, existing: existing, reconcile: true)
        default:
            try handle(data, object: object, hash: hash, existing: existing, reconcile: options.reconcileUnknown)
        }
        options.progress?(report)
    }

    /// A deletion at the source (ABI 1.5): handed to a target that takes deletions, with
    /// the target key of what this flow delivered; noted once, and the target's record
    /// left, for any other target; dropped for a record the flow never delivered.
    private func takeDeletion(_ data: Data, object: [String: Any], key: String) throws {
        guard let existing = try store.ledgerEntry(flow: flow.name, sourceKey: key), existing.state == .done,
            let targetKey = existing.targetKey
        else { return }
        // One hash for every report of this deletion (a webhook's and the next poll's
        // carry different times), so it is taken once.
        let hash = Self.hash(Data("deleted \(key)".utf8))
        if existing.contentHash == hash {
            report.unchanged += 1
        } else if targetDeletes {
            try handle(data, object: object, hash: hash, existing: existing, reconcile: false)
        } else {
            report.skipped += 1
            if !options.dryRun {
                var noted = existing
                noted.contentHash = hash
                noted.updatedAt = Date()
                try store.putLedgerEntry(noted, fence: fence)
            }
            activity(.info, key, "deleted in \(flow.source.connection); \(flow.target) keeps \(targetKey), as it does not take deletions")
        }
    }

    /// Handles a refund that must wait or be skipped, or one that waited for its order
    /// and may go now; false when it takes the ordinary path.
    private func tookRefund(
        _ refunded: [String: Any], data: Data, object: [String: Any], key: String, hash: String, existing: LedgerEntry?
    ) throws -> Bool {
        switch try refundHold(refunded) {
        case .deliver:
            // Parked only to wait for its order, which is delivered now.
            guard existing?.state == .failed, existing?.lastError?.hasPrefix(Self.refundWaits) == true else { return false }
            try handle(data, object: object, hash: hash, existing: existing, reconcile: true)
        case .skip(let reason):
            report.skipped += 1
            activity(.skipped, key, "skipped: \(reason)")
        case .park(let reason):
            if existing?.state == .failed && existing?.contentHash == hash {
                report.skipped += 1
                return true
            }
            report.failed += 1
            if !options.dryRun {
                try store.putLedgerEntry(LedgerEntry(
                    flow: flow.name, sourceKey: key, contentHash: hash, state: .failed, attempts: existing?.attempts ?? 0,
                    lastError: reason, record: data, updatedAt: Date()), fence: fence)
            }
            activity(.failed, key, reason)
        }
        return true
    }

    /// Whether a refund is delivered: only a target that books refunds gets one, and only
    /// once the order it refunds was delivered by this flow (an order the flow never took
    /// has nothing to credit). A refund whose order is still parked or waiting is parked
    /// itself, and follows once the order is delivered (at the next read, or a replay).
    private func refundHold(_ refunded: [String: Any]) throws -> RefundHold {
        let number = refunded["number"] as? String ?? "?"
        guard targetRefunds else { return .skip("a refund of order \(number); \(flow.target) does not book refunds") }
        guard let order = refunded["source_key"] as? String else { return .skip("a refund that names no order") }
        switch try store.ledgerEntry(flow: flow.name, sourceKey: order)?.state {
        case .done?: return .deliver
        case nil: return .skip("a refund of order \(number), which this flow did not deliver")
        default: return .park("\(Self.refundWaits) \(number), which is not delivered yet (see `koppel failed \(flow.name)`); it follows once that order is delivered")
        }
    }

    /// How the reason of a refund parked to wait for its order begins.
    static let refundWaits = "waits for order"

    private enum RefundHold {
        case deliver, skip(String), park(String)
    }

    /// Maps and delivers one record, recording each step in the ledger.
    private func handle(_ data: Data, existing: LedgerEntry?, reconcile: Bool) throws {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return }
        try handle(data, object: object, hash: Self.hash(data), existing: existing, reconcile: reconcile)
    }

    private func handle(_ data: Data, object: [String: Any], hash: String, existing: LedgerEntry?, reconcile: Bool) throws {
        guard let key = object["source_key"] as? String else { return }
        var object = object
        var entry = LedgerEntry(
            flow: flow.name, sourceKey: key, contentHash: hash, targetKey: existing?.targetKey, state: .pending,
            attempts: (existing?.attempts ?? 0) + 1, record: data, updatedAt: Date())
        let isDeletion = object["deleted"] as? Bool == true
        do {
            if !isDeletion { try mapping.apply(to: &object) }
        } catch {
            entry.state = .failed
            entry.lastError = "not mapped: \(error.description)"
            if !options.dryRun { try store.putLedgerEntry(entry, fence: fence) }
            report.failed += 1
            activity(.failed, key, "not mapped: \(error.description)")
            return
        }
        let mapped = mapping.isIdentity || isDeletion ? data : (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? data
        if options.dryRun {
            report.written += 1
            options.wouldWrite?(key, mapped)
            return
        }
        // The last moment before the write: the lease must still be ours (fenced in the
        // same transaction that marks the record pending).
        try checkLease()
        try store.putLedgerEntry(entry, fence: fence)
        guard let target else { return }
        let outcome: WriteOutcome
        do {
            outcome = try target.write(
                stream: flow.target.stream, record: mapped, idempotencyKey: key,
                targetKey: existing?.state == .done ? existing?.targetKey : nil, reconcile: reconcile)
        } catch {
            try park(&entry, key: key, after: error)
            return
        }
        entry.state = .done
        if outcome.action != .skipped { entry.targetKey = outcome.targetKey }
        entry.record = nil
        entry.lastError = nil
        entry.nextRetryAt = nil
        entry.updatedAt = Date()
        let cursor = pendingCursor.map { CursorUpdate(flow: flow.name, stream: flow.source.stream, cursor: $0) }
        try store.commitDelivery(entry, cursor: cursor, fence: fence)
        pendingCursor = nil
        if existing?.isUnreadable == true {
            try store.setFlowValue(nil, flow: flow.name, key: Self.unreadableFromKey(key))
        }
        switch outcome.action {
        case .updated: report.updated += 1
        case .deleted: report.deleted += 1
        case .unchanged: report.unchanged += 1
        case .created, .found: report.written += 1
        case .skipped:
            report.skipped += 1
            activity(.skipped, key, "skipped by \(flow.target): \(outcome.reason ?? "no reason given")")
            return
        }
        if outcome.action == .created, !isFirstRead, let lateAfter = options.lateAfter,
           let changed = (object["updated_at"] as? String).flatMap(RFC3339.date), changed < runStarted.addingTimeInterval(-lateAfter) {
            report.late += 1
        }
        var detail = ["target_key": outcome.targetKey, "action": outcome.action.rawValue]
        // A refund's link to the order it refunds.
        if let refunded = (object["refund_of"] as? [String: Any])?["source_key"] as? String { detail["refund_of"] = refunded }
        activity(.written, key, "\(outcome.action.rawValue) \(outcome.targetKey) in \(flow.target)", detail: detail)
    }

    /// Records a failed write: retried later (reconciling first) when it may have
    /// arrived or may succeed later, parked when the target refused it.
    private func park(_ entry: inout LedgerEntry, key: String, after error: PluginCallError) throws {
        entry.lastError = runtime.redactor.redact(error.message)
        entry.updatedAt = Date()
        switch error.status.reaction {
        case .retryLater, .waitForLimit, .signInNeeded, .stopped:
            // It may or may not have arrived: the next attempt reconciles first.
            entry.state = .uncertain
            entry.nextRetryAt = Date().addingTimeInterval(RetryPolicy.heldRecord.backoff(after: entry.attempts))
            try store.putLedgerEntry(entry, fence: fence)
            activity(.warning, key, "not delivered yet (\(error.status)): \(error.message); retried on a later run")
            switch error.status.reaction {
            case .signInNeeded: stopReason = .authRequired(flow: flow.name, connection: flow.target.connection, reason: error.message)
            case .waitForLimit: stopReason = .rateLimited(flow: flow.name, connection: flow.target.connection, reason: error.message)
            case .stopped: stopReason = .cancelled(flow: flow.name)
            default: break
            }
            if let stopReason { throw stopReason }
        case .park, .done:
            entry.state = .failed
            entry.nextRetryAt = nil
            entry.lastError = runtime.redactor.redact("refused by \(flow.target): \(error.message)")
            try store.putLedgerEntry(entry, fence: fence)
            report.failed += 1
            activity(.failed, key, entry.lastError ?? "")
        }
    }

    private func activity(_ kind: ActivityEntry.Kind, _ key: String, _ message: String, detail: [String: String]? = nil) {
        guard !options.dryRun else { return }
        let detailJSON = detail.flatMap { try? JSONSerialization.data(withJSONObject: $0, options: .sortedKeys) }.map { String(decoding: $0, as: UTF8.self) }
        runtime.activity.record(ActivityEntry(at: Date(), kind: kind, flow: flow.name, run: report.run, record: key, message: message, detail: detailJSON))
    }

    static func hash(_ data: Data) -> String {
        SHA256.hash(data: data).hexString
    }
}
