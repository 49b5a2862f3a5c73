import Crypto
import Foundation

/// Everything Koppel remembers between runs, behind one protocol so that the SQLite file
/// (the default) and PostgreSQL (for several `koppel run` processes) are interchangeable.
/// Every method is synchronous and safe to call from any thread; each is atomic.
public protocol StateStore: Sendable {
    // MARK: Vault

    /// Every sealed secret, for listing and key rotation.
    func sealedSecrets() throws -> [SealedSecret]
    /// One sealed secret, or nil.
    func sealedSecret(connection: String, name: String) throws -> SealedSecret?
    /// Stores or replaces a sealed secret.
    func putSealedSecret(_ secret: SealedSecret) throws
    /// Removes a secret; true when it existed.
    @discardableResult func deleteSecret(connection: String, name: String) throws -> Bool
    /// Replaces every sealed secret at once (key rotation): all or nothing.
    func replaceSealedSecrets(_ secrets: [SealedSecret]) throws

    // MARK: Plugin key/value state (a connector's identity map: email -> account, SKU -> item)

    /// The value a connection's plugin stored under `key`, or nil.
    func pluginValue(connection: String, key: String) throws -> String?
    /// Stores a value for a connection's plugin.
    func setPluginValue(_ value: String, connection: String, key: String) throws
    /// Removes a value of a connection's plugin.
    func removePluginValue(connection: String, key: String) throws

    // MARK: Cursors and ledger

    /// Where a flow's read of `stream` continues, or nil before its first read.
    func cursor(flow: String, stream: String) throws -> Data?
    /// Stores where a flow's read continues.
    func setCursor(_ cursor: Data, flow: String, stream: String) throws
    /// A source record's ledger entry in a flow, or nil when it was never handled.
    func ledgerEntry(flow: String, sourceKey: String) throws -> LedgerEntry?
    /// Stores or replaces a ledger entry. With a fence, only while that lease is still
    /// held under the same fencing token (checked in the same transaction); otherwise it
    /// throws `StateStoreError.leaseLost` and stores nothing.
    func putLedgerEntry(_ entry: LedgerEntry, fence: LeaseFence?) throws
    /// Stores a ledger entry and, in the same transaction, the stream's cursor; fenced
    /// as `putLedgerEntry`.
    func commitDelivery(_ entry: LedgerEntry, cursor: CursorUpdate?, fence: LeaseFence?) throws
    /// Ledger entries of a flow in the given states, oldest first.
    func ledgerEntries(flow: String, states: Set<LedgerEntry.State>, limit: Int) throws -> [LedgerEntry]
    /// When the flow's earliest waiting (`uncertain`) record is due for its retry (one
    /// without a time, left by a crash, is due now); nil when none waits.
    func earliestRetry(flow: String) throws -> Date?
    /// After a crash: every `pending` entry of the flow becomes `uncertain`. Returns how many.
    @discardableResult func markPendingUncertain(flow: String) throws -> Int
    /// How many ledger entries a flow has in each state.
    func ledgerCounts(flow: String) throws -> [LedgerEntry.State: Int]

    // MARK: Activity log and runs

    /// Appends one line to the activity log; returns its id.
    @discardableResult func appendActivity(_ entry: ActivityEntry) throws -> Int64
    /// The newest entries first, filtered.
    func activities(_ query: ActivityQuery) throws -> [ActivityEntry]
    /// Deletes entries older than `date`; returns how many.
    @discardableResult func pruneActivities(before date: Date) throws -> Int
    /// Records the start of a flow run; returns its id.
    func startRun(flow: String, at: Date) throws -> Int64
    /// Records the end of a run.
    func finishRun(_ run: RunRecord) throws
    /// Closes the flow's runs still marked running as `interrupted` (their process was
    /// killed or crashed); called by the flow's next run, under its lease. Returns how many.
    @discardableResult func closeInterruptedRuns(flow: String, at: Date) throws -> Int
    /// The newest runs of a flow first.
    func runs(flow: String, limit: Int) throws -> [RunRecord]

    // MARK: Webhook inbox

    /// Stores a verified webhook delivery once for each of `flows`, durably, before the
    /// sender is answered. False (and nothing stored) when a delivery with the same id
    /// came from this connection before: a redelivery.
    func enqueueWebhook(_ delivery: WebhookInboxEntry, flows: [String]) throws -> Bool
    /// A flow's waiting deliveries, oldest first.
    func webhookInbox(flow: String, limit: Int) throws -> [WebhookInboxEntry]
    /// Removes a delivery its flow has handled.
    func removeWebhookInboxEntry(id: Int64) throws

    // MARK: Flow state (webhook or polling mode, open alert incidents)

    /// A value the host keeps for a flow, or nil.
    func flowValue(flow: String, key: String) throws -> String?
    /// Stores (or, with nil, removes) a value the host keeps for a flow.
    func setFlowValue(_ value: String?, flow: String, key: String) throws

    // MARK: Leases

    /// Takes the named lease for `holder` until `ttl` from now, if it is free, expired or
    /// already held by `holder`. Works across processes sharing the store. Returns the
    /// fencing token: it grows each time the lease passes to another holder and stays
    /// the same while one holder renews it. Nil when someone else holds it.
    func acquireLease(_ name: String, holder: String, ttl: TimeInterval) throws -> Int64?
    /// Extends the lease by `ttl` from now if `fence` still holds it (even when it
    /// expired, as long as nobody took it since). False when it passed to someone else.
    func renewLease(_ fence: LeaseFence, ttl: TimeInterval) throws -> Bool
    /// Gives the lease up if `holder` has it.
    func releaseLease(_ name: String, holder: String) throws
    /// Who holds the lease now, if anyone.
    func leaseHolder(_ name: String) throws -> String?
    /// Takes the lease over from `previous` (a holder known to be gone); the new
    /// fencing token, or nil when `previous` no longer holds it.
    func takeOverLease(_ name: String, from previous: String, holder: String, ttl: TimeInterval) throws -> Int64?
}

extension StateStore {
    /// Stores or replaces a ledger entry without a lease (tools, tests).
    public func putLedgerEntry(_ entry: LedgerEntry) throws { try putLedgerEntry(entry, fence: nil) }
}

/// A lease as one holder took it: writes made under it are refused once the lease
/// has passed to another holder (another process took the flow over).
public struct LeaseFence: Sendable, Equatable {
    public var name: String
    public var holder: String
    public var token: Int64

    public init(name: String, holder: String, token: Int64) {
        self.name = name
        self.holder = holder
        self.token = token
    }
}

/// Why the state store refused or failed an operation, naming the state file.
public enum StateStoreError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A fenced write came after the lease passed to another holder.
    case leaseLost(lease: String, holder: String, now: String?)
    /// The state file is missing or empty where one was expected.
    case missing(path: String)
    /// The file exists but is not a Koppel state file, or is damaged.
    case damaged(path: String, reason: String)
    /// SQLite (or the server) failed: I/O, disk full, corruption found during use.
    case failed(path: String, reason: String)

    public var description: String {
        switch self {
        case .leaseLost(let lease, let holder, let now):
            "the lease \(lease) of \(holder) passed to \(now ?? "another process") before this write; stopped without writing"
        case .missing(let path):
            "no state file at \(path). If it was lost, restore its backup and run each flow once with `koppel sync FLOW --reconcile`; to start fresh, create a new one with `koppel init`: the first run of each flow then looks every record up in its target, so nothing already delivered is sent twice"
        case .damaged(let path, let reason):
            "the state file \(path) is damaged: \(reason). Restore its backup and run each flow once with `koppel sync FLOW --reconcile`; nothing was written"
        case .failed(let path, let reason):
            "the state file \(path) failed: \(reason)"
        }
    }
}

/// A verified webhook delivery waiting for its flow.
public struct WebhookInboxEntry: Sendable, Equatable {
    public var id: Int64?
    public var flow: String?
    public var connection: String
    /// The sender's id for this delivery, when it gives one (redeliveries share it).
    public var deliveryID: String?
    public var receivedAt: Date
    /// The delivery's headers, names in lowercase.
    public var headers: [String: String]
    public var body: Data

    public init(id: Int64? = nil, flow: String? = nil, connection: String, deliveryID: String?, receivedAt: Date, headers: [String: String], body: Data) {
        self.id = id
        self.flow = flow
        self.connection = connection
        self.deliveryID = deliveryID
        self.receivedAt = receivedAt
        self.headers = headers
        self.body = body
    }
}

/// A cursor to store together with a ledger entry.
public struct CursorUpdate: Sendable, Equatable {
    public var flow: String
    public var stream: String
    public var cursor: Data

    public init(flow: String, stream: String, cursor: Data) {
        self.flow = flow
        self.stream = stream
        self.cursor = cursor
    }
}

/// A secret as stored: encrypted, never in clear text.
public struct SealedSecret: Sendable, Equatable {
    public var connection: String
    public var name: String
    /// Identifies the master key that sealed it (not the key itself).
    public var keyID: String
    /// AES-256-GCM nonce, ciphertext and tag.
    public var sealed: Data
    public var updatedAt: Date

    public init(connection: String, name: String, keyID: String, sealed: Data, updatedAt: Date) {
        self.connection = connection
        self.name = name
        self.keyID = keyID
        self.sealed = sealed
        self.updatedAt = updatedAt
    }
}

/// Where one source record stands in a flow.
public struct LedgerEntry: Sendable, Equatable {
    /// The delivery state of a record.
    public enum State: String, Sendable {
        /// About to be written; found like this after a crash, it becomes uncertain.
        case pending
        /// Written; `targetKey` holds the remote id.
        case done
        /// Refused or unmappable; parked with `lastError` until replayed.
        case failed
        /// May or may not have reached the target; reconcile before writing again.
        case uncertain
    }

    public var flow: String
    public var sourceKey: String
    public var contentHash: String
    public var targetKey: String?
    public var state: State
    public var attempts: Int
    public var nextRetryAt: Date?
    public var lastError: String?
    /// The record as read, kept for failed records so they can be replayed.
    public var record: Data?
    public var updatedAt: Date

    /// The content hash that marks a record the source could not read: there is no
    /// record to keep, only the reason (a replay reads the source again).
    public static func unreadableHash(reason: String) -> String {
        "unreadable:" + SHA256.hash(data: Data(reason.utf8)).hexString
    }

    /// Whether the source could not read this record (see `unreadableHash`).
    public var isUnreadable: Bool { contentHash.hasPrefix("unreadable:") }

    /// Whether the kept record is a refund (an order with `refund_of`).
    public var isRefund: Bool {
        guard let record, let object = try? JSONSerialization.jsonObject(with: record) as? [String: Any] else { return false }
        return object["refund_of"] is [String: Any]
    }

    public init(
        flow: String, sourceKey: String, contentHash: String, targetKey: String? = nil, state: State,
        attempts: Int = 0, nextRetryAt: Date? = nil, lastError: String? = nil, record: Data? = nil, updatedAt: Date
    ) {
        self.flow = flow
        self.sourceKey = sourceKey
        self.contentHash = contentHash
        self.targetKey = targetKey
        self.state = state
        self.attempts = attempts
        self.nextRetryAt = nextRetryAt
        self.lastError = lastError
        self.record = record
        self.updatedAt = updatedAt
    }
}

/// One line of the activity log: what was read, written, refused, called.
public struct ActivityEntry: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case read, written, skipped, failed, http, auth, info, warning, webhook
    }

    public var id: Int64?
    public var at: Date
    public var kind: Kind
    public var flow: String?
    public var connection: String?
    public var run: Int64?
    /// The source key of the record concerned.
    public var record: String?
    /// One sentence, already free of secrets.
    public var message: String
    /// Remote id, HTTP method/path/status/duration and the like, as JSON text.
    public var detail: String?

    public init(
        id: Int64? = nil, at: Date, kind: Kind, flow: String? = nil, connection: String? = nil, run: Int64? = nil,
        record: String? = nil, message: String, detail: String? = nil
    ) {
        self.id = id
        self.at = at
        self.kind = kind
        self.flow = flow
        self.connection = connection
        self.run = run
        self.record = record
        self.message = message
        self.detail = detail
    }
}

/// Which activity entries to fetch.
public struct ActivityQuery: Sendable {
    public var flow: String?
    public var connection: String?
    public var record: String?
    public var kinds: Set<ActivityEntry.Kind>?
    public var limit: Int

    public init(flow: String? = nil, connection: String? = nil, record: String? = nil, kinds: Set<ActivityEntry.Kind>? = nil, limit: Int = 100) {
        self.flow = flow
        self.connection = connection
        self.record = record
        self.kinds = kinds
        self.limit = limit
    }
}

/// One run of a flow.
public struct RunRecord: Sendable, Equatable {
    public enum Status: String, Sendable {
        case running, succeeded, failed, cancelled
        /// Its process ended without finishing it (killed, crashed); closed by the next run.
        case interrupted
    }

    public var id: Int64
    public var flow: String
    public var startedAt: Date
    public var finishedAt: Date?
    public var status: Status
    public var read: Int
    public var written: Int
    public var skipped: Int
    public var failed: Int
    public var error: String?

    public init(
        id: Int64, flow: String, startedAt: Date, finishedAt: Date? = nil, status: Status, read: Int = 0,
        written: Int = 0, skipped: Int = 0, failed: Int = 0, error: String? = nil
    ) {
        self.id = id
        self.flow = flow
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.status = status
        self.read = read
        self.written = written
        self.skipped = skipped
        self.failed = failed
        self.error = error
    }
}
