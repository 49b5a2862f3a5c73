import Foundation
import KoppelPluginSDK

/// Winstore's REST API as the plugin uses it: JSON under `/api/v1`, pages of `data` with
/// `meta.last_page`, errors as `{"error": {"code", "message", "fields"}}`. The API key
/// header, pacing and retries are the host's. What is assumed about the API is written
/// in Sources/KoppelSandbox/README.md and kept here and in the sandbox's fake.
struct WinstoreAPI {
    static let root = "/api/v1"
    static let pageSize = 100
    static let headers = ["Accept": "application/json", "Content-Type": "application/json"]

    let host: PluginHost

    private struct Page<Row: Decodable>: Decodable {
        struct Meta: Decodable {
            var lastPage: Int
            enum CodingKeys: String, CodingKey { case lastPage = "last_page" }
        }
        var data: [Row]
        var meta: Meta
    }

    /// A page's paging, without its rows.
    private struct PageMeta: Decodable {
        var meta: Page<JSONValue>.Meta
    }

    /// One page of `collection`.
    func page<Row: Decodable>(_ collection: String, query: [String: String], page: Int) throws(ConnectorError) -> (rows: [Row], last: Bool) {
        var query = query
        query["page"] = String(page)
        query["per_page"] = query["per_page"] ?? String(Self.pageSize)
        let what = "Winstore \(collection), page \(page)"
        let found = try host.http(HTTPRequest(path: "\(Self.root)/\(collection)", query: query, headers: Self.headers))
            .requireSuccess(what).decode(Page<Row>.self, what)
        return (found.data, page >= found.meta.lastPage)
    }

    /// One page of `collection`, record by record (a record that does not decode is
    /// unreadable on its own), and whether it is the last.
    func records<Row: Decodable>(_ collection: String, query: [String: String], page: Int) throws(ConnectorError) -> (rows: [PageRecord<Row>], last: Bool) {
        var query = query
        query["page"] = String(page)
        query["per_page"] = query["per_page"] ?? String(Self.pageSize)
        let what = "Winstore \(collection), page \(page)"
        let response = try host.http(HTTPRequest(path: "\(Self.root)/\(collection)", query: query, headers: Self.headers)).requireSuccess(what)
        let rows = try response.decodeEach(Row.self, what, arrayAt: ["data"])
        return (rows, page >= (try response.decode(PageMeta.self, what)).meta.lastPage)
    }

    /// Every row of `collection` matching `query`.
    func all<Row: Decodable>(_ collection: String, query: [String: String]) throws(ConnectorError) -> [Row] {
        var rows: [Row] = []
        for number in 1... {
            try host.checkCancellation()
            let (page, last): ([Row], Bool) = try self.page(collection, query: query, page: number)
            rows += page
            if last || page.isEmpty { break }
        }
        return rows
    }

    /// Sends `body` and decodes the answer. Winstore's 422 names what is wrong; it is
    /// passed on as the reason the record was refused.
    func send<Answer: Decodable>(_ method: String, _ path: String, _ body: [String: JSONValue], as: Answer.Type) throws(ConnectorError) -> Answer {
        let what = "\(method == "POST" ? "creating" : "updating") Winstore \(path)"
        let response = try host.http(HTTPRequest(
            method: method, path: "\(Self.root)/\(path)", headers: Self.headers, body: JSONValue.object(body).jsonText, idempotent: method != "POST"))
        if response.status == 422, let refusal = try? response.decode(Refusal.self, what) {
            throw .invalidData("\(what): Winstore refused it: \(refusal.error.message)")
        }
        return try response.requireSuccess(what).decode(Answer.self, what)
    }

    private struct Refusal: Decodable {
        struct Body: Decodable { var message: String }
        var error: Body
    }

    /// Winstore's times: ISO 8601 in UTC, with or without milliseconds.
    static func date(_ text: String) -> Date? {
        (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text)) ?? (try? Date.ISO8601FormatStyle().parse(text))
    }

    /// A time as Winstore's `updated_after` takes it, to the nearest millisecond (a
    /// formatter would cut `.123` held as `.12299…` down to `.122`, and read it again).
    static func format(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let (seconds, fraction) = milliseconds.quotientAndRemainder(dividingBy: 1000)
        let whole = Date.ISO8601FormatStyle().format(Date(timeIntervalSince1970: TimeInterval(seconds)))
        return whole.dropLast() + "." + String(1000 + fraction).dropFirst() + "Z"
    }
}
