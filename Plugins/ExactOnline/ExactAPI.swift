import Foundation
import KoppelPluginSDK

/// Exact Online's REST API as the plugin uses it: OData queries on one division's entity
/// sets, `__next` paging, deep inserts, and Exact's value formats. Transport, tokens,
/// pacing and retries are the host's.
struct ExactAPI {
    let host: PluginHost
    let division: Int

    /// A GUID-keyed record as Exact returns it.
    typealias Record = [String: JSONValue]

    private struct Page: Decodable {
        struct Body: Decodable {
            var results: [Record]?
            var next: String?
            enum CodingKeys: String, CodingKey {
                case results
                case next = "__next"
            }
        }
        var d: Body
    }

    private struct Single: Decodable { var d: Record }

    static let headers = ["Accept": "application/json", "Content-Type": "application/json"]

    func path(_ entitySet: String) -> String { "/api/v1/\(division)/\(entitySet)" }

    /// The first record matching `filter`, or nil.
    func first(_ entitySet: String, filter: String, select: String) throws(ConnectorError) -> Record? {
        let response = try host.http(HTTPRequest(
            path: path(entitySet), query: ["$filter": filter, "$select": select, "$top": "1"], headers: Self.headers))
        return try response.requireSuccess("Exact Online \(entitySet)").decode(Page.self, "Exact Online \(entitySet)").d.results?.first
    }

    /// Every record matching the query, page by page (Exact gives 60 a page and the
    /// address of the next in `__next`); `onPage` runs after each page. A collection the
    /// query expands (`$expand`) comes whole: Exact inlines at most 60 of it and puts the
    /// rest behind a `__next` of its own (R-PAGE-3), which is followed here.
    func each(
        _ entitySet: String, query: [String: String], record: (Record) throws(ConnectorError) -> Void,
        onPage: () throws(ConnectorError) -> Void = {}
    ) throws(ConnectorError) {
        var request = HTTPRequest(path: path(entitySet), query: query, headers: Self.headers)
        let expanded = (query["$expand"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        while true {
            try host.checkCancellation()
            let page = try host.http(request).requireSuccess("Exact Online \(entitySet)").decode(Page.self, "Exact Online \(entitySet)")
            for var item in page.d.results ?? [] {
                for property in expanded { try completeExpansion(&item, property) }
                try record(item)
            }
            try onPage()
            guard let next = page.d.next, !next.isEmpty else { return }
            request = HTTPRequest(path: next, headers: Self.headers)
        }
    }

    /// Replaces an expanded collection that continues behind `__next` by all of it.
    private func completeExpansion(_ record: inout Record, _ property: String) throws(ConnectorError) {
        guard case .object(let wrapped)? = record[property], case .string(var next)? = wrapped["__next"], !next.isEmpty else { return }
        var all = Self.expanded(record, property).map(JSONValue.object)
        while !next.isEmpty {
            try host.checkCancellation()
            let page = try host.http(HTTPRequest(path: next, headers: Self.headers))
                .requireSuccess("Exact Online \(property)").decode(Page.self, "Exact Online \(property)")
            all += (page.d.results ?? []).map(JSONValue.object)
            next = page.d.next ?? ""
        }
        record[property] = .object(["results": .array(all)])
    }

    /// The rows of a Sync API feed (`sync/…`) changed after row version `after`, in row
    /// version order, 1000 a call (R-SYNC-1, R-PAGE-1); `onPage` gets the highest row
    /// version read so far, which a cursor keeps. A first read starts after 1, as Exact
    /// says. The feeds take no other filter and want a `$select`.
    func sync(
        _ feed: String, after: Int64?, select: String, record: (Record) throws(ConnectorError) -> Void,
        onPage: (Int64) throws(ConnectorError) -> Void = { _ in }
    ) throws(ConnectorError) {
        let start = max(after ?? 1, 1)
        var highest = start
        try each(feed, query: ["$filter": "Timestamp gt \(start)L", "$select": "Timestamp," + select], record: { row throws(ConnectorError) in
            if let version = Self.rowVersion(row["Timestamp"]) { highest = max(highest, version) }
            try record(row)
        }, onPage: { () throws(ConnectorError) in try onPage(highest) })
    }

    /// A row version: an Edm.Int64, which Exact may write as a JSON string (R-TYPE-2).
    static func rowVersion(_ value: JSONValue?) -> Int64? {
        switch value {
        case .int(let number)?: number
        case .string(let text)?: Int64(text)
        case .decimal(let text)?: Int64(text)
        default: nil
        }
    }

    /// The longest OData `or` chain sent in one call: Exact takes URLs of up to 6,000
    /// characters after percent-encoding (R-HOST-5), which adds about a sixth to a
    /// chain; 3,600 leaves room for the rest of the query (about 60 GUIDs or 120 numbers
    /// a call).
    static let chainLength = 3_600

    /// Every record of `entitySet` whose `field` is one of `literals` (OData literals such
    /// as `guid'…'` or numbers), as many a call as `chainLength` allows, each call also
    /// bound by the query's own `$filter`.
    func each(
        _ entitySet: String, where field: String, isAnyOf literals: [String], query: [String: String],
        record: (Record) throws(ConnectorError) -> Void
    ) throws(ConnectorError) {
        var terms = Array(Set(literals)).sorted().map { "\(field) eq \($0)" }[...]
        while !terms.isEmpty {
            var chain = terms.removeFirst()
            while let next = terms.first, chain.count + next.count + 4 <= Self.chainLength {
                chain += " or " + terms.removeFirst()
            }
            var chunkQuery = query
            chunkQuery["$filter"] = [query["$filter"], "(\(chain))"].compactMap { $0 }.joined(separator: " and ")
            try each(entitySet, query: chunkQuery, record: record)
        }
    }

    /// A GUID as an OData literal.
    static func guid(_ id: String) -> String { "guid'\(id)'" }

    /// The records a header expanded (`$expand`) under `property`, in either of the
    /// shapes Exact uses (a list, or `{"results": [...]}`).
    static func expanded(_ record: Record, _ property: String) -> [Record] {
        var values: [JSONValue] = []
        if case .array(let list)? = record[property] { values = list }
        if case .object(let wrapped)? = record[property], case .array(let list)? = wrapped["results"] { values = list }
        return values.compactMap { if case .object(let line) = $0 { line } else { nil } }
    }

    /// Creates a record (with its deep-inserted lines) and returns it as Exact stored it.
    /// Sending it twice would create two: the request is not idempotent, so a lost answer
    /// is reported as uncertain by the host and reconciled before any new attempt.
    func create(_ entitySet: String, _ body: [String: JSONValue]) throws(ConnectorError) -> Record {
        let response = try host.http(HTTPRequest(
            method: "POST", path: path(entitySet), headers: Self.headers, body: JSONValue.object(body).jsonText, idempotent: false))
        return try response.requireSuccess("creating Exact Online \(entitySet)").decode(Single.self, "Exact Online \(entitySet)").d
    }

    /// Changes fields of an existing record.
    func update(_ entitySet: String, id: String, _ fields: [String: JSONValue]) throws(ConnectorError) {
        try host.http(HTTPRequest(
            method: "PUT", path: path("\(entitySet)(guid'\(id)')"), headers: Self.headers, body: JSONValue.object(fields).jsonText))
            .requireSuccess("updating Exact Online \(entitySet) \(id)")
    }

    /// Sends the fields of `wanted` whose values differ from what Exact has (text
    /// compared trimmed, email addresses without case), and nothing when none do.
    /// Returns whether anything changed, or nil when there is no record with this ID.
    func updateChanged(_ entitySet: String, id: String, _ wanted: [String: JSONValue]) throws(ConnectorError) -> Bool? {
        let select = (wanted.keys.sorted() + ["ID"]).joined(separator: ",")
        guard let current = try first(entitySet, filter: "ID eq guid'\(id)'", select: select) else { return nil }
        let changed = JSONValue.differing(wanted, from: current, caseInsensitive: ["Email"])
        guard !changed.isEmpty else { return false }
        try update(entitySet, id: id, changed)
        return true
    }

    /// A yes/no field: Edm.Boolean (`true`) or Edm.Byte (`1`), as Exact types its flags
    /// (`Items.IsMakeItem` and `Warehouses.Main` are bytes).
    static func flag(_ value: JSONValue?) -> Bool {
        switch value {
        case .bool(let flag)?: flag
        case .int(let number)?: number != 0
        case .string(let text)?: text == "1" || text.lowercased() == "true"
        default: false
        }
    }

    /// An account code as Exact stores it: 18 characters, right-aligned behind spaces
    /// (R-FILTER-4); an equality filter must carry the spaces.
    static func accountCode(_ code: String) -> String {
        let trimmed = code.trimmingCharacters(in: .whitespaces)
        return String(repeating: " ", count: max(0, 18 - trimmed.count)) + trimmed
    }

    /// An OData string literal: quoted, with every quote doubled (`'O''Brien'`).
    static func quote(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
    }

    /// An OData datetime literal in UTC, to the millisecond.
    static func datetime(_ date: Date) -> String {
        "datetime'" + String(Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(date).dropLast()) + "'"
    }

    /// Reads Exact's `/Date(1767225600000)/`.
    static func date(_ value: JSONValue?) -> Date? {
        guard let text = value?.stringValue, let match = text.wholeMatch(of: /\/Date\((-?[0-9]+)([+-][0-9]+)?\)\//),
            let ms = Int64(match.1)
        else { return nil }
        return Date(timeIntervalSince1970: Double(ms) / 1000)
    }

    /// A date as Exact takes it in a request body.
    static func dateValue(_ date: Date) -> JSONValue { .string(dateText(date)) }

    /// `2026-03-05`: the UTC date of `date`.
    static func dateText(_ date: Date) -> String { String(Date.ISO8601FormatStyle().format(date).prefix(10)) }

    /// A decimal as Exact returns it: a JSON number (read as its exact text) or a string.
    static func decimal(_ value: JSONValue?) -> DecimalNumber? {
        switch value {
        case .string(let text)?: DecimalNumber(text)
        case .int(let number)?: DecimalNumber(Decimal(number))
        case .decimal(let text)?: DecimalNumber(text)
        default: nil
        }
    }
}

extension DecimalNumber {
    /// The amount as a JSON number in a request body (Exact wants numbers; the text is
    /// exact, never a binary float).
    var json: JSONValue { .decimal(description) }
}
