import Foundation

/// Reads a collection that the server filters by "modified after T" and orders by
/// modification time, without losing a record that changes while the read is under way.
///
/// Paging by page number is not safe for that: when a record on an early page changes,
/// it moves to the end and every later record shifts one place forward, so the first
/// record of the next page is never seen. This pager asks again from the last
/// modification time it saw (less `resolution`, the server's clock granularity) instead
/// of turning the page, and hands on each version of a record once. Only when a whole
/// page shares one instant does it turn the page within that instant.
public struct ModifiedSincePager<Record> {
    /// How many records the server returns in a full page.
    public var pageSize: Int
    /// The granularity of the server's modification times (one second for most shops).
    public var resolution: TimeInterval
    /// A record's identity, and its modification time.
    public var key: (Record) -> String
    public var modified: (Record) -> Date

    public init(pageSize: Int, resolution: TimeInterval = 1, key: @escaping (Record) -> String, modified: @escaping (Record) -> Date) {
        self.pageSize = pageSize
        self.resolution = resolution
        self.key = key
        self.modified = modified
    }

    /// Reads from `start` (nil: everything). `fetch(after, page)` returns one page of
    /// records modified after `after`, oldest first; `emit` receives each record version
    /// once; `pageDone` receives the latest modification time handed on so far, never
    /// earlier than `cursor` (the stored one: a read that starts before it to overlap
    /// must not move it back), the moment to checkpoint.
    public func read(
        from start: Date?, cursor: Date? = nil,
        fetch: (_ after: Date?, _ page: Int) throws(ConnectorError) -> [Record],
        emit: (Record) throws(ConnectorError) -> Void,
        pageDone: (Date?) throws(ConnectorError) -> Void
    ) throws(ConnectorError) {
        var after = start
        var page = 1
        var latest = cursor
        // Versions handed on that a later request may return again (at or after `after`).
        var handedOn: [String: Date] = [:]
        while true {
            let records = try fetch(after, page)
            for record in records {
                let version = modified(record)
                if let seen = handedOn[key(record)], seen >= version { continue }
                handedOn[key(record)] = version
                try emit(record)
                if latest.map({ version > $0 }) ?? true { latest = version }
            }
            try pageDone(latest)
            guard records.count >= pageSize, let last = records.last else { return }
            let next = modified(last).addingTimeInterval(-resolution)
            if let after, next <= after {
                page += 1
            } else {
                after = next
                page = 1
                handedOn = handedOn.filter { $0.value >= next }
            }
        }
    }
}
