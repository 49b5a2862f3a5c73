import Foundation
import GRDB

/// The default state store: one SQLite file in WAL mode, shared safely by several
/// threads and processes. Schema changes are versioned migrations.
public final class SQLiteStateStore: StateStore, @unchecked Sendable {
    /// The database file.
    public let path: String
    private let pool: DatabasePool

    /// Opens the state file and brings its schema up to date. Without `create`, a missing
    /// or empty file is refused (`StateStoreError.missing`): a state file that silently
    /// starts anew would deliver everything again. Every open runs SQLite's
    /// `quick_check`, so a damaged file is named before anything is read from it.
    public init(path: String, create: Bool = false) throws {
        self.path = path
        if !create {
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue
            guard let size, size > 0 else { throw StateStoreError.missing(path: path) }
        }
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        configuration.label = "koppel-state"
        // WAL with synchronous=NORMAL survives a crashed or killed process; after a power
        // loss the last commits may be lost, which the ledger's reconcile covers.
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        let directory = (path as NSString).deletingLastPathComponent
        if create && !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        do {
            pool = try Self.open(path: path, configuration: configuration)
            let check = try pool.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check") }
            guard check == ["ok"] else {
                throw StateStoreError.damaged(path: path, reason: "SQLite's quick_check found: " + check.prefix(3).joined(separator: "; "))
            }
            if !create, try pool.read({ try Self.migrator.appliedIdentifiers($0).isEmpty }) {
                throw StateStoreError.missing(path: path)
            }
            try Self.migrate(pool)
        } catch let error as DatabaseError {
            throw Self.classify(error, path: path)
        }
        // The file holds customers' data and the sealed vault: owner only.
        for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: path + suffix) {
            chmod(path + suffix, 0o600)
        }
    }

    /// SQLite's error as a state-store error that names the file.
    static func classify(_ error: DatabaseError, path: String) -> StateStoreError {
        switch error.resultCode {
        case .SQLITE_CORRUPT, .SQLITE_NOTADB:
            .damaged(path: path, reason: error.message ?? "\(error.resultCode)")
        default:
            .failed(path: path, reason: "\(error.message ?? "\(error.resultCode)") (SQLite \(error.resultCode))")
        }
    }

    /// Reads in a transaction; SQLite's errors come out naming the file.
    private func reading<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try pool.read(body) } catch let error as DatabaseError { throw Self.classify(error, path: path) }
    }

    /// Writes in a transaction; SQLite's errors come out naming the file.
    private func writing<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try pool.write(body) } catch let error as DatabaseError { throw Self.classify(error, path: path) }
    }

    /// Applies the migrations. Two processes opening a new file at once may both try;
    /// the loser's transaction rolls back and it finds the schema the winner created.
    private static func migrate(_ pool: DatabasePool) throws {
        try RetryPolicy.stateFileMigration.run(retryable: { _ in true }) { attempt in
            if attempt > 1, try pool.read({ try migrator.hasCompletedMigrations($0) }) { return }
            try migrator.migrate(pool)
        }
    }

    /// Opens the pool, waiting out another process that is creating the same file: the
    /// switch to WAL mode does not honour the busy timeout.
    private static func open(path: String, configuration: Configuration) throws -> DatabasePool {
        try RetryPolicy.stateFileOpen.run(retryable: { ($0 as? DatabaseError)?.resultCode == .SQLITE_BUSY }) { _ in
            try DatabasePool(path: path, configuration: configuration)
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("1-initial") { db in
            try db.execute(sql: """
                CREATE TABLE vault (
                    connection TEXT NOT NULL, name TEXT NOT NULL, key_id TEXT NOT NULL,
                    sealed BLOB NOT NULL, updated_at INTEGER NOT NULL,
                    PRIMARY KEY (connection, name));
                CREATE TABLE plugin_state (
                    connection TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
                    PRIMARY KEY (connection, key));
                CREATE TABLE cursors (
                    flow TEXT NOT NULL, stream TEXT NOT NULL, cursor BLOB NOT NULL, updated_at INTEGER NOT NULL,
                    PRIMARY KEY (flow, stream));
                CREATE TABLE ledger (
                    flow TEXT NOT NULL, source_key TEXT NOT NULL, content_hash TEXT NOT NULL, target_key TEXT,
                    state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed', 'uncertain')),
                    attempts INTEGER NOT NULL DEFAULT 0, next_retry_at INTEGER, last_error TEXT, record BLOB,
                    updated_at INTEGER NOT NULL,
                    PRIMARY KEY (flow, source_key));
                CREATE INDEX ledger_state ON ledger (flow, state);
                CREATE TABLE activity (
                    id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, kind TEXT NOT NULL,
                    flow TEXT, connection TEXT, run INTEGER, record TEXT, message TEXT NOT NULL, detail TEXT);
                CREATE INDEX activity_at ON activity (at);
                CREATE INDEX activity_flow ON activity (flow, record);
                CREATE TABLE runs (
                    id INTEGER PRIMARY KEY AUTOINCREMENT, flow TEXT NOT NULL, started_at INTEGER NOT NULL,
                    finished_at INTEGER, status TEXT NOT NULL, read INTEGER NOT NULL DEFAULT 0,
                    written INTEGER NOT NULL DEFAULT 0, skipped INTEGER NOT NULL DEFAULT 0,
                    failed INTEGER NOT NULL DEFAULT 0, error TEXT);
                CREATE INDEX runs_flow ON runs (flow, id);
                CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at INTEGER NOT NULL);
                """)
        }
        migrator.registerMigration("2-webhooks") { db in
            try db.execute(sql: """
                CREATE TABLE webhook_inbox (
                    id INTEGER PRIMARY KEY AUTOINCREMENT, flow TEXT NOT NULL, connection TEXT NOT NULL,
                    delivery_id TEXT, received_at INTEGER NOT NULL, headers TEXT NOT NULL, body BLOB NOT NULL);
                CREATE UNIQUE INDEX webhook_inbox_delivery ON webhook_inbox (flow, delivery_id) WHERE delivery_id IS NOT NULL;
                CREATE INDEX webhook_inbox_flow ON webhook_inbox (flow, id);
                CREATE TABLE webhook_deliveries_seen (
                    connection TEXT NOT NULL, delivery_id TEXT NOT NULL, received_at INTEGER NOT NULL,
                    PRIMARY KEY (connection, delivery_id));
                CREATE TABLE flow_state (
                    flow TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (flow, key));
                """)
        }
        migrator.registerMigration("3-lease-fencing") { db in
            try db.execute(sql: "ALTER TABLE leases ADD COLUMN token INTEGER NOT NULL DEFAULT 0")
        }
        return migrator
    }

    // MARK: Vault

    public func sealedSecrets() throws -> [SealedSecret] {
        try reading { db in
            try Row.fetchAll(db, sql: "SELECT * FROM vault ORDER BY connection, name").map(Self.secret)
        }
    }

    public func sealedSecret(connection: String, name: String) throws -> SealedSecret? {
        try reading { db in
            try Row.fetchOne(db, sql: "SELECT * FROM vault WHERE connection = ? AND name = ?", arguments: [connection, name]).map(Self.secret)
        }
    }

    public func putSealedSecret(_ secret: SealedSecret) throws {
        try writing { db in try Self.insert(secret, db) }
    }

    public func deleteSecret(connection: String, name: String) throws -> Bool {
        try writing { db in
            try db.execute(sql: "DELETE FROM vault WHERE connection = ? AND name = ?", arguments: [connection, name])
            return db.changesCount > 0
        }
    }

    public func replaceSealedSecrets(_ secrets: [SealedSecret]) throws {
        try writing { db in
            try db.execute(sql: "DELETE FROM vault")
            for secret in secrets { try Self.insert(secret, db) }
        }
    }

    private static func insert(_ secret: SealedSecret, _ db: Database) throws {
        try db.execute(
            sql: "INSERT OR REPLACE INTO vault (connection, name, key_id, sealed, updated_at) VALUES (?, ?, ?, ?, ?)",
            arguments: [secret.connection, secret.name, secret.keyID, secret.sealed, millis(secret.updatedAt)])
    }

    private static func secret(_ row: Row) -> SealedSecret {
        SealedSecret(connection: row["connection"], name: row["name"], keyID: row["key_id"], sealed: row["sealed"], updatedAt: date(row["updated_at"]))
    }

    // MARK: Plugin state

    public func pluginValue(connection: String, key: String) throws -> String? {
        try reading { db in
            try String.fetchOne(db, sql: "SELECT value FROM plugin_state WHERE connection = ? AND key = ?", arguments: [connection, key])
        }
    }

    public func setPluginValue(_ value: String, connection: String, key: String) throws {
        try writing { db in
            try db.execute(sql: "INSERT OR REPLACE INTO plugin_state (connection, key, value) VALUES (?, ?, ?)", arguments: [connection, key, value])
        }
    }

    public func removePluginValue(connection: String, key: String) throws {
        try writing { db in
            try db.execute(sql: "DELETE FROM plugin_state WHERE connection = ? AND key = ?", arguments: [connection, key])
        }
    }

    // MARK: Cursors and ledger

    public func cursor(flow: String, stream: String) throws -> Data? {
        try reading { db in
            try Data.fetchOne(db, sql: "SELECT cursor FROM cursors WHERE flow = ? AND stream = ?", arguments: [flow, stream])
        }
    }

    public func setCursor(_ cursor: Data, flow: String, stream: String) throws {
        try writing { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO cursors (flow, stream, cursor, updated_at) VALUES (?, ?, ?, ?)",
                arguments: [flow, stream, cursor, Self.millis(Date())])
        }
    }

    public func ledgerEntry(flow: String, sourceKey: String) throws -> LedgerEntry? {
        try reading { db in
            try Row.fetchOne(
                db.cachedStatement(sql: "SELECT * FROM ledger WHERE flow = ? AND source_key = ?"), arguments: [flow, sourceKey]
            ).map(Self.ledger)
        }
    }

    private static func ledger(_ row: Row) -> LedgerEntry {
        LedgerEntry(
            flow: row["flow"], sourceKey: row["source_key"], contentHash: row["content_hash"], targetKey: row["target_key"],
            state: LedgerEntry.State(rawValue: row["state"]) ?? .uncertain, attempts: row["attempts"],
            nextRetryAt: (row["next_retry_at"] as Int64?).map(Self.date), lastError: row["last_error"],
            record: row["record"], updatedAt: Self.date(row["updated_at"]))
    }

    public func putLedgerEntry(_ entry: LedgerEntry, fence: LeaseFence?) throws {
        try writing { db in
            if let fence { try Self.check(fence, db) }
            try Self.insert(entry, db)
        }
    }

    /// Refuses the transaction unless `fence` still holds its lease.
    private static func check(_ fence: LeaseFence, _ db: Database) throws {
        let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT holder, token FROM leases WHERE name = ?"), arguments: [fence.name])
        let holder: String? = row?["holder"]
        let token: Int64? = row?["token"]
        guard holder == fence.holder, token == fence.token else {
            throw StateStoreError.leaseLost(lease: fence.name, holder: fence.holder, now: holder == fence.holder ? nil : holder)
        }
    }

    private static func insert(_ entry: LedgerEntry, _ db: Database) throws {
        try db.cachedStatement(
            sql: """
                INSERT OR REPLACE INTO ledger
                (flow, source_key, content_hash, target_key, state, attempts, next_retry_at, last_error, record, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(
            arguments: [
                entry.flow, entry.sourceKey, entry.contentHash, entry.targetKey, entry.state.rawValue, entry.attempts,
                entry.nextRetryAt.map(Self.millis), entry.lastError, entry.record, Self.millis(entry.updatedAt),
            ])
    }

    public func commitDelivery(_ entry: LedgerEntry, cursor: CursorUpdate?, fence: LeaseFence?) throws {
        try writing { db in
            if let fence { try Self.check(fence, db) }
            try Self.insert(entry, db)
            if let cursor {
                try db.cachedStatement(sql: "INSERT OR REPLACE INTO cursors (flow, stream, cursor, updated_at) VALUES (?, ?, ?, ?)").execute(
                    arguments: [cursor.flow, cursor.stream, cursor.cursor, Self.millis(Date())])
            }
        }
    }

    public func ledgerEntries(flow: String, states: Set<LedgerEntry.State>, limit: Int) throws -> [LedgerEntry] {
        guard !states.isEmpty else { return [] }
        let marks = states.map { _ in "?" }.joined(separator: ", ")
        var arguments: [(any DatabaseValueConvertible)?] = [flow]
        arguments += states.map(\.rawValue).sorted()
        arguments.append(limit)
        return try reading { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM ledger WHERE flow = ? AND state IN (\(marks)) ORDER BY updated_at, source_key LIMIT ?",
                arguments: StatementArguments(arguments)
            ).map(Self.ledger)
        }
    }

    public func earliestRetry(flow: String) throws -> Date? {
        try reading { db in
            try Int64.fetchOne(
                db, sql: "SELECT MIN(COALESCE(next_retry_at, 0)) FROM ledger WHERE flow = ? AND state = 'uncertain' AND record IS NOT NULL",
                arguments: [flow]
            ).map(Self.date)
        }
    }

    public func markPendingUncertain(flow: String) throws -> Int {
        try writing { db in
            try db.execute(sql: "UPDATE ledger SET state = 'uncertain' WHERE flow = ? AND state = 'pending'", arguments: [flow])
            return db.changesCount
        }
    }

    public func ledgerCounts(flow: String) throws -> [LedgerEntry.State: Int] {
        try reading { db in
            var counts: [LedgerEntry.State: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM ledger WHERE flow = ? GROUP BY state", arguments: [flow]) {
                if let state = LedgerEntry.State(rawValue: row["state"]) { counts[state] = row["n"] }
            }
            return counts
        }
    }

    // MARK: Activity and runs

    public func appendActivity(_ entry: ActivityEntry) throws -> Int64 {
        try writing { db in
            try db.cachedStatement(sql: "INSERT INTO activity (at, kind, flow, connection, run, record, message, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)").execute(
                arguments: [Self.millis(entry.at), entry.kind.rawValue, entry.flow, entry.connection, entry.run, entry.record, entry.message, entry.detail])
            return db.lastInsertedRowID
        }
    }

    public func activities(_ query: ActivityQuery) throws -> [ActivityEntry] {
        var conditions: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        if let flow = query.flow { conditions.append("flow = ?"); arguments.append(flow) }
        if let connection = query.connection { conditions.append("connection = ?"); arguments.append(connection) }
        if let record = query.record { conditions.append("record = ?"); arguments.append(record) }
        if let kinds = query.kinds, !kinds.isEmpty {
            conditions.append("kind IN (\(kinds.map { _ in "?" }.joined(separator: ", ")))")
            arguments += kinds.map(\.rawValue).sorted()
        }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        arguments.append(query.limit)
        let sql = "SELECT * FROM activity \(whereClause) ORDER BY id DESC LIMIT ?"
        return try reading { db in
            try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map { row in
                ActivityEntry(
                    id: row["id"], at: Self.date(row["at"]), kind: ActivityEntry.Kind(rawValue: row["kind"]) ?? .info,
                    flow: row["flow"], connection: row["connection"], run: row["run"], record: row["record"],
                    message: row["message"], detail: row["detail"])
            }
        }
    }

    public func pruneActivities(before date: Date) throws -> Int {
        try writing { db in
            try db.execute(sql: "DELETE FROM activity WHERE at < ?", arguments: [Self.millis(date)])
            return db.changesCount
        }
    }

    public func startRun(flow: String, at: Date) throws -> Int64 {
        try writing { db in
            try db.execute(sql: "INSERT INTO runs (flow, started_at, status) VALUES (?, ?, 'running')", arguments: [flow, Self.millis(at)])
            return db.lastInsertedRowID
        }
    }

    public func finishRun(_ run: RunRecord) throws {
        try writing { db in
            try db.execute(
                sql: "UPDATE runs SET finished_at = ?, status = ?, read = ?, written = ?, skipped = ?, failed = ?, error = ? WHERE id = ?",
                arguments: [run.finishedAt.map(Self.millis), run.status.rawValue, run.read, run.written, run.skipped, run.failed, run.error, run.id])
        }
    }

    public func closeInterruptedRuns(flow: String, at: Date) throws -> Int {
        try writing { db in
            try db.execute(
                sql: """
                    UPDATE runs SET status = 'interrupted', finished_at = ?,
                        error = 'the process running it ended without finishing it (killed or crashed); the next run continued it'
                    WHERE flow = ? AND status = 'running'
                    """,
                arguments: [Self.millis(at), flow])
            return db.changesCount
        }
    }

    public func runs(flow: String, limit: Int) throws -> [RunRecord] {
        try reading { db in
            try Row.fetchAll(db, sql: "SELECT * FROM runs WHERE flow = ? ORDER BY id DESC LIMIT ?", arguments: [flow, limit]).map { row in
                RunRecord(
                    id: row["id"], flow: row["flow"], startedAt: Self.date(row["started_at"]),
                    finishedAt: (row["finished_at"] as Int64?).map(Self.date), status: RunRecord.Status(rawValue: row["status"]) ?? .failed,
                    read: row["read"], written: row["written"], skipped: row["skipped"], failed: row["failed"], error: row["error"])
            }
        }
    }

    // MARK: Leases

    public func acquireLease(_ name: String, holder: String, ttl: TimeInterval) throws -> Int64? {
        let now = Date()
        return try writing { db in
            try db.execute(
                sql: """
                    INSERT INTO leases (name, holder, expires_at, token) VALUES (?, ?, ?, 1)
                    ON CONFLICT (name) DO UPDATE SET
                        token = CASE WHEN leases.holder = excluded.holder THEN leases.token ELSE leases.token + 1 END,
                        holder = excluded.holder, expires_at = excluded.expires_at
                    WHERE leases.holder = excluded.holder OR leases.expires_at < ?
                    """,
                arguments: [name, holder, Self.millis(now.addingTimeInterval(ttl)), Self.millis(now)])
            guard db.changesCount > 0 else { return nil }
            return try Int64.fetchOne(db, sql: "SELECT token FROM leases WHERE name = ?", arguments: [name])
        }
    }

    public func renewLease(_ fence: LeaseFence, ttl: TimeInterval) throws -> Bool {
        try writing { db in
            try db.execute(
                sql: "UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ? AND token = ?",
                arguments: [Self.millis(Date().addingTimeInterval(ttl)), fence.name, fence.holder, fence.token])
            return db.changesCount > 0
        }
    }

    public func releaseLease(_ name: String, holder: String) throws {
        // The row stays, expired, so that the next holder's token is larger than this one's.
        try writing { db in
            try db.execute(sql: "UPDATE leases SET expires_at = 0 WHERE name = ? AND holder = ?", arguments: [name, holder])
        }
    }

    public func leaseHolder(_ name: String) throws -> String? {
        try reading { db in
            try String.fetchOne(db, sql: "SELECT holder FROM leases WHERE name = ? AND expires_at >= ?", arguments: [name, Self.millis(Date())])
        }
    }

    public func takeOverLease(_ name: String, from previous: String, holder: String, ttl: TimeInterval) throws -> Int64? {
        try writing { db in
            try db.execute(
                sql: "UPDATE leases SET holder = ?, expires_at = ?, token = token + 1 WHERE name = ? AND holder = ?",
                arguments: [holder, Self.millis(Date().addingTimeInterval(ttl)), name, previous])
            guard db.changesCount > 0 else { return nil }
            return try Int64.fetchOne(db, sql: "SELECT token FROM leases WHERE name = ?", arguments: [name])
        }
    }

    // MARK: Time

    /// Times are stored as UTC milliseconds since the Unix epoch.
    // MARK: Webhook inbox

    public func enqueueWebhook(_ delivery: WebhookInboxEntry, flows: [String]) throws -> Bool {
        try writing { db in
            if let id = delivery.deliveryID {
                try db.execute(
                    sql: "INSERT OR IGNORE INTO webhook_deliveries_seen (connection, delivery_id, received_at) VALUES (?, ?, ?)",
                    arguments: [delivery.connection, id, Self.millis(delivery.receivedAt)])
                guard db.changesCount > 0 else { return false }
                // Delivery ids are remembered for a week: long past any sender's retries.
                try db.execute(
                    sql: "DELETE FROM webhook_deliveries_seen WHERE received_at < ?",
                    arguments: [Self.millis(delivery.receivedAt.addingTimeInterval(-7 * 86_400))])
            }
            let headers = String(decoding: (try? JSONSerialization.data(withJSONObject: delivery.headers, options: .sortedKeys)) ?? Data("{}".utf8), as: UTF8.self)
            for flow in flows {
                try db.execute(
                    sql: "INSERT INTO webhook_inbox (flow, connection, delivery_id, received_at, headers, body) VALUES (?, ?, ?, ?, ?, ?)",
                    arguments: [flow, delivery.connection, delivery.deliveryID, Self.millis(delivery.receivedAt), headers, delivery.body])
            }
            return true
        }
    }

    public func webhookInbox(flow: String, limit: Int) throws -> [WebhookInboxEntry] {
        try reading { db in
            try Row.fetchAll(db, sql: "SELECT * FROM webhook_inbox WHERE flow = ? ORDER BY id LIMIT ?", arguments: [flow, limit]).map { row in
                let headers = (try? JSONSerialization.jsonObject(with: Data((row["headers"] as String).utf8))) as? [String: String] ?? [:]
                return WebhookInboxEntry(
                    id: row["id"], flow: row["flow"], connection: row["connection"], deliveryID: row["delivery_id"],
                    receivedAt: Self.date(row["received_at"]), headers: headers, body: row["body"])
            }
        }
    }

    public func removeWebhookInboxEntry(id: Int64) throws {
        try writing { db in try db.execute(sql: "DELETE FROM webhook_inbox WHERE id = ?", arguments: [id]) }
    }

    // MARK: Flow state

    public func flowValue(flow: String, key: String) throws -> String? {
        try reading { db in
            try String.fetchOne(db, sql: "SELECT value FROM flow_state WHERE flow = ? AND key = ?", arguments: [flow, key])
        }
    }

    public func setFlowValue(_ value: String?, flow: String, key: String) throws {
        try writing { db in
            if let value {
                try db.execute(sql: "INSERT OR REPLACE INTO flow_state (flow, key, value) VALUES (?, ?, ?)", arguments: [flow, key, value])
            } else {
                try db.execute(sql: "DELETE FROM flow_state WHERE flow = ? AND key = ?", arguments: [flow, key])
            }
        }
    }

    static func millis(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
    static func date(_ millis: Int64) -> Date { Date(timeIntervalSince1970: Double(millis) / 1000) }
}
