import Foundation
import KoppelPluginSDK

/// Optiply's Public API v1 as the plugin uses it (Sources/KoppelSandbox/README.md lists
/// the reference's rules): JSON:API documents under `/v1` with
/// `Content-Type: application/vnd.api+json` on every request, GETs included (R3.1);
/// writes as `{"data": {"type", "attributes"}}` with `?accountId=&couplingId=` (R3.2,
/// R3.7); lists paged by `page[limit]` (at most 100) and an offset that is a multiple of
/// it (R4.1); ids returned as strings, decimals as strings (R3.4, R3.5). Tokens (the
/// password grant), pacing and retries are the host's.
struct OptiplyAPI {
    static let mediaType = "application/vnd.api+json"
    static let headers = ["Accept": mediaType, "Content-Type": mediaType]
    static let pageSize = 100

    let host: PluginHost
    let accountID: Int
    let couplingID: Int

    /// One resource.
    struct Resource: Decodable {
        var id: String
        var attributes: [String: JSONValue]

        /// The id this connection's coupling wrote as `remoteId` (R5.1: reads show it in
        /// `remoteIdMap`, keyed by coupling).
        func remoteID(coupling: Int) -> String? {
            guard case .object(let map)? = attributes["remoteIdMap"], case .string(let id)? = map[String(coupling)] else { return nil }
            return id
        }
    }

    private struct Many: Decodable { var data: [Resource] }
    private struct One: Decodable { var data: Resource }

    /// What a write answered when Optiply refused it: R7.1's `errors[]`.
    struct Refusal: Decodable {
        struct Error: Decodable {
            struct Meta: Decodable { var message: String? }
            var detail: String?
            var title: String?
            var meta: Meta?
        }
        var errors: [Error]
        var text: String? { errors.first.flatMap { $0.meta?.message ?? $0.detail ?? $0.title } }
    }

    /// Every resource of `type` matching `filter` (`["supplierId": "7"]`; an operator as
    /// `"updatedAt][GT"`), a page of 100 at a time until a short page (R4.2).
    func all(_ type: String, filter: [String: String] = [:]) throws(ConnectorError) -> [Resource] {
        var query = ["page[limit]": String(Self.pageSize), "sort": "id"]
        for (name, value) in filter { query["filter[\(name)]"] = value }
        var found: [Resource] = []
        while true {
            try host.checkCancellation()
            query["page[offset]"] = String(found.count)
            let what = "Optiply \(type)"
            let page = try host.http(HTTPRequest(path: "/v1/\(type)", query: query, headers: Self.headers))
                .requireSuccess(what).decode(Many.self, what).data
            found += page
            if page.count < Self.pageSize { return found }
        }
    }

    /// The first resource of `type` matching `filter`, or nil.
    func first(_ type: String, filter: [String: String]) throws(ConnectorError) -> Resource? {
        var query = ["page[limit]": "1"]
        for (name, value) in filter { query["filter[\(name)]"] = value }
        let what = "Optiply \(type)"
        return try host.http(HTTPRequest(path: "/v1/\(type)", query: query, headers: Self.headers))
            .requireSuccess(what).decode(Many.self, what).data.first
    }

    /// One resource by id, or nil when Optiply has none.
    func get(_ type: String, id: String) throws(ConnectorError) -> Resource? {
        let response = try host.http(HTTPRequest(path: "/v1/\(type)/\(id)", headers: Self.headers))
        if response.status == 404 { return nil }
        return try response.requireSuccess("Optiply \(type) \(id)").decode(One.self, "Optiply \(type) \(id)").data
    }

    /// What a create came to.
    enum Created {
        case created(String)
        /// 409: the record exists already (R5.3), with Optiply's words.
        case conflict(String)
    }

    /// Creates a resource; a 409 is returned, not thrown, so the caller can find the one
    /// that exists.
    func create(_ type: String, _ attributes: [String: JSONValue]) throws(ConnectorError) -> Created {
        let response = try send("POST", "/v1/\(type)", type: type, attributes, idempotent: false)
        if response.status == 409 { return .conflict(refusal(response) ?? "it exists already") }
        return .created(try resource(response, "creating Optiply \(type)").id)
    }

    /// Changes attributes of a resource; false when it is gone (404, R5.4).
    @discardableResult
    func update(_ type: String, id: String, _ attributes: [String: JSONValue]) throws(ConnectorError) -> Bool {
        let response = try send("PATCH", "/v1/\(type)/\(id)", type: type, attributes, idempotent: true)
        if response.status == 404 { return false }
        _ = try resource(response, "updating Optiply \(type) \(id)")
        return true
    }

    private func refusal(_ response: HTTPResponse) -> String? {
        (try? response.decode(Refusal.self, "Optiply's refusal"))?.text
    }

    /// The resource a write answered; a 400 names the attribute it refuses (R6, R7.2)
    /// and parks the record with that answer.
    private func resource(_ response: HTTPResponse, _ what: String) throws(ConnectorError) -> Resource {
        try response.requireSuccess(what).decode(One.self, what).data
    }

    private func send(_ method: String, _ path: String, type: String, _ attributes: [String: JSONValue], idempotent: Bool) throws(ConnectorError) -> HTTPResponse {
        let document: JSONValue = ["data": ["type": .string(type), "attributes": .object(attributes)]]
        return try host.http(HTTPRequest(
            method: method, path: path, query: ["accountId": String(accountID), "couplingId": String(couplingID)],
            headers: Self.headers, body: document.jsonText, idempotent: idempotent))
    }
}

extension JSONValue {
    /// A quantity Optiply takes as an integer (stock levels, order lines, R6.1): whole
    /// units, a fraction cut off.
    static func wholeUnits(_ quantity: DecimalNumber) -> JSONValue {
        var value = quantity.value, whole = Decimal()
        NSDecimalRound(&whole, &value, 0, .down)
        return .int(Int64(truncating: whole as NSDecimalNumber))
    }

    /// An amount as Optiply takes it: two decimals (R6.3).
    static func money(_ amount: DecimalNumber) -> JSONValue {
        .decimal(amount.rounded(2).description)
    }
}
