import Foundation
import KoppelPluginSDK

/// Paged, incremental reads of WooCommerce collections.
struct WooCommerceAPI {
    static let root = "/wp-json/wc/v3"
    static let pageSize = 100

    let host: PluginHost
    /// How far before the stored cursor a read starts again.
    let overlap: TimeInterval

    /// Where a read continues: the latest `date_modified_gmt` seen.
    struct Cursor: Codable {
        var modifiedAfter: Date
        enum CodingKeys: String, CodingKey { case modifiedAfter = "modified_after" }
    }

    /// A record with WooCommerce's id and modification time.
    protocol Modified: Decodable {
        var id: Int { get }
        var modified: Date { get }
    }

    /// Reads every record of `collection` modified after the cursor (less the overlap),
    /// or inside the request's backfill window (for orders: placed inside it), oldest
    /// first, 100 a page, checkpointing after each page. Orders and products are filtered by the server
    /// (`modified_after`, `dates_are_gmt`) and paged by modification time, so a record
    /// changed during the read is not skipped; customers, which WooCommerce cannot filter
    /// by date, are paged by id and filtered here.
    func readModified<Record: Modified>(
        _ collection: String, _ request: ReadRequest, filters: [String: String] = [:],
        emit: (Record) throws(ConnectorError) -> Void
    ) throws(ConnectorError) {
        let stored = try request.cursor(as: Cursor.self)
        var start = request.since ?? stored.map { $0.modifiedAfter.addingTimeInterval(-overlap) }
        var before = request.until
        var query = filters
        query["per_page"] = String(Self.pageSize)
        var totalPages = 1
        func fetch(_ page: Int) throws(ConnectorError) -> [Record] {
            try host.checkCancellation()
            query["page"] = String(page)
            let response = try host.http(HTTPRequest(path: "\(Self.root)/\(collection)", query: query))
                .requireSuccess("WooCommerce \(collection), page \(page)")
            totalPages = Int(response.headers["x-wp-totalpages"] ?? "") ?? page
            return try response.decode([Record].self, "WooCommerce \(collection), page \(page)")
        }
        func checkpoint(_ latest: Date?) throws(ConnectorError) {
            if let latest { try host.checkpoint(Cursor(modifiedAfter: latest)) }
        }
        let backfill = request.since != nil || request.until != nil
        if collection == "orders" && backfill {
            // A backfill takes the orders placed in the window (`after`/`before` are
            // WooCommerce's creation-date filters), whenever they were last changed.
            if let since = request.since { query["after"] = Self.format(since.addingTimeInterval(-1)) }  // `after` is exclusive
            if let until = request.until { query["before"] = Self.format(until) }
            start = nil
            before = nil
        }
        guard collection == "customers" else {
            query["orderby"] = "modified"
            query["order"] = "asc"
            query["dates_are_gmt"] = "true"
            if let before { query["modified_before"] = Self.format(before) }
            let pager = ModifiedSincePager<Record>(pageSize: Self.pageSize, key: { String($0.id) }, modified: \.modified)
            try pager.read(from: start, cursor: stored?.modifiedAfter, fetch: { after, page throws(ConnectorError) in
                if let after { query["modified_after"] = Self.format(after) }
                return try fetch(page)
            }, emit: emit, pageDone: { latest throws(ConnectorError) in
                if !backfill { try checkpoint(latest) }
            })
            return
        }
        query["orderby"] = "id"
        query["order"] = "asc"
        var latest = stored?.modifiedAfter
        for page in 1... {
            let records = try fetch(page)
            for record in records {
                if let start, record.modified <= start { continue }
                if let before, record.modified >= before { continue }
                try emit(record)
                if latest.map({ record.modified > $0 }) ?? true { latest = record.modified }
            }
            try checkpoint(latest)
            if records.isEmpty || page >= totalPages { break }
        }
    }

    /// WooCommerce's date parameter form: `2026-01-01T00:00:00` (UTC with `dates_are_gmt`).
    static func format(_ date: Date) -> String {
        String(Date.ISO8601FormatStyle().format(date).dropLast())
    }

    /// Parses WooCommerce's `_gmt` times, which carry no zone (`2026-01-01T10:00:00`).
    static func parse(_ text: String) -> Date? {
        let zoned = text.hasSuffix("Z") || text.contains("+") ? text : text + "Z"
        return try? Date.ISO8601FormatStyle().parse(zoned)
    }
}

/// A WooCommerce `_gmt` time.
struct WooDate: Decodable {
    var date: Date
    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let date = WooCommerceAPI.parse(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "\"\(text)\" is not a WooCommerce date")
        }
        self.date = date
    }
}
