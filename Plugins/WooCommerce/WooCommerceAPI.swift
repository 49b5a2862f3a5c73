import Foundation
import KoppelPluginSDK

/// Where a shop serves its REST API: `/wp-json/wc/v3/...` with pretty permalinks, or
/// `/?rest_route=/wc/v3/...` on a shop with plain permalinks, where `/wp-json` is a 404
/// (WP-API/docs#34, woocommerce#15064). Found at connect time and remembered.
enum WooRESTRoot: String {
    case prettyPermalinks = "/wp-json"
    case plainPermalinks = "?rest_route="

    /// A request for `route` (`orders`, `products/15/variations`) below `wc/v3`; the
    /// empty route is the namespace's index.
    func request(_ route: String, method: String = "GET", query: [String: String] = [:], body: String? = nil, idempotent: Bool? = nil) -> HTTPRequest {
        var query = query
        let below = route.isEmpty ? "/wc/v3" : "/wc/v3/\(route)"
        let path: String
        switch self {
        case .prettyPermalinks: path = "/wp-json" + below
        case .plainPermalinks:
            path = "/"
            query["rest_route"] = below
        }
        return HTTPRequest(
            method: method, path: path, query: query, headers: body == nil ? [:] : ["Content-Type": "application/json"], body: body,
            idempotent: idempotent)
    }

    static let stateKey = "rest_root"

    /// The shop's REST root: remembered, or found by asking for the `wc/v3` namespace's
    /// index (public, and without side effects) both ways.
    static func find(_ host: PluginHost) throws(ConnectorError) -> WooRESTRoot {
        if let known = try host.state.get(stateKey).flatMap(WooRESTRoot.init(rawValue:)) { return known }
        var found: WooRESTRoot?
        for root in [WooRESTRoot.prettyPermalinks, .plainPermalinks] {
            let response = try host.http(root.request(""))
            // WordPress answers a path it does not route with its HTML 404 page; the REST
            // server answers JSON, even for a route it lacks (`rest_no_route`).
            guard response.body.hasPrefix("{") else { continue }
            found = root
            break
        }
        guard let found else {
            throw .notFound("no WooCommerce REST API at /wp-json/wc/v3 or /?rest_route=/wc/v3: is WooCommerce active and the base URL the shop's address?")
        }
        try host.state.set(stateKey, found.rawValue)
        return found
    }
}

/// Paged, incremental reads of WooCommerce collections.
struct WooCommerceAPI {
    static let pageSize = 100

    let host: PluginHost
    let root: WooRESTRoot
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

    /// One page of `route`, record by record (a record that does not decode is
    /// unreadable on its own), and how many pages there are.
    func page<Record: Decodable>(_ route: String, _ query: [String: String], page: Int) throws(ConnectorError) -> (records: [PageRecord<Record>], pages: Int) {
        try host.checkCancellation()
        var query = query
        query["page"] = String(page)
        let what = "WooCommerce \(route), page \(page)"
        let response = try host.http(root.request(route, query: query)).requireSuccess(what)
        return (try response.decodeEach(Record.self, what), Int(response.headers["x-wp-totalpages"] ?? "") ?? page)
    }

    /// One record by id, or nil when the shop no longer has it.
    func one<Record: Decodable>(_ route: String, _ id: Int, as type: Record.Type) throws(ConnectorError) -> Record? {
        let response = try host.http(root.request("\(route)/\(id)"))
        if response.status == 404 { return nil }
        return try response.requireSuccess("WooCommerce \(route) \(id)").decode(Record.self, "WooCommerce \(route) \(id)")
    }

    /// Every page of `route` (no cursor), in the shop's order.
    func all<Record: Decodable>(_ route: String, query: [String: String] = [:], emit: (PageRecord<Record>) throws(ConnectorError) -> Void) throws(ConnectorError) {
        var query = query
        query["per_page"] = String(Self.pageSize)
        for number in 1... {
            let (records, pages): ([PageRecord<Record>], Int) = try page(route, query, page: number)
            for record in records { try emit(record) }
            if records.isEmpty || number >= pages { return }
        }
    }

    /// Reads every record of `collection` modified after the cursor (less the overlap),
    /// or inside the request's backfill window (for orders: placed inside it), oldest
    /// first, 100 a page, checkpointing after each page. Orders and products are filtered
    /// by the server (`modified_after`, `dates_are_gmt`) and paged by modification time,
    /// so a record changed during the read is not skipped; customers, which WooCommerce
    /// cannot filter by date, are paged by id and filtered here. A record that does not
    /// decode reaches `emit` as unreadable and the read goes on.
    func readModified<Record: Modified>(
        _ collection: String, _ request: ReadRequest, filters: [String: String] = [:],
        emit: (PageRecord<Record>) throws(ConnectorError) -> Void
    ) throws(ConnectorError) {
        let stored = try request.cursor(as: Cursor.self)
        var start = request.since ?? stored.map { $0.modifiedAfter.addingTimeInterval(-overlap) }
        var before = request.until
        var query = filters
        query["per_page"] = String(Self.pageSize)
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
            let pager = ModifiedSincePager.records(pageSize: Self.pageSize, key: { (record: Record) in String(record.id) }, modified: \.modified)
            try pager.read(from: start, cursor: stored?.modifiedAfter, fetch: { after, number throws(ConnectorError) in
                if let after { query["modified_after"] = Self.format(after) }
                return try page(collection, query, page: number).records
            }, emit: emit, pageDone: { latest throws(ConnectorError) in
                if !backfill { try checkpoint(latest) }
            })
            return
        }
        query["orderby"] = "id"
        query["order"] = "asc"
        var latest = stored?.modifiedAfter
        for number in 1... {
            let (records, pages): ([PageRecord<Record>], Int) = try page(collection, query, page: number)
            for record in records {
                if let decoded = record.decoded {
                    if let start, decoded.modified <= start { continue }
                    if let before, decoded.modified >= before { continue }
                    if latest.map({ decoded.modified > $0 }) ?? true { latest = decoded.modified }
                }
                try emit(record)
            }
            try checkpoint(latest)
            if records.isEmpty || number >= pages { break }
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
