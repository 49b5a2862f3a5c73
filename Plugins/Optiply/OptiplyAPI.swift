import Foundation
import KoppelPluginSDK

/// Optiply's JSON:API as the plugin uses it: resources under `/v1` as
/// `{"data": {"type", "id", "attributes"}}`, found with `filter[...]`, paged with
/// `page[limit]`/`page[offset]`, errors as `{"errors": [{"status", "title", "detail"}]}`.
/// Tokens (the password grant), pacing and retries are the host's. What is assumed is
/// written in Sources/KoppelSandbox/README.md and kept here and in the sandbox's fake.
struct OptiplyAPI {
    static let mediaType = "application/vnd.api+json"
    static let headers = ["Accept": mediaType, "Content-Type": mediaType]

    let host: PluginHost

    /// One resource.
    struct Resource: Decodable {
        var id: String
        var attributes: [String: JSONValue]
    }

    private struct Many: Decodable { var data: [Resource] }
    private struct One: Decodable { var data: Resource }
    private struct Refusal: Decodable {
        struct Error: Decodable {
            var title: String?
            var detail: String?
        }
        var errors: [Error]
    }

    /// The first resource of `type` matching `filter` (`["skuCode": "A-1"]`), or nil.
    func first(_ type: String, filter: [String: String]) throws(ConnectorError) -> Resource? {
        var query = ["page[limit]": "1"]
        for (name, value) in filter { query["filter[\(name)]"] = value }
        let what = "Optiply \(type)"
        return try host.http(HTTPRequest(path: "/v1/\(type)", query: query, headers: Self.headers))
            .requireSuccess(what).decode(Many.self, what).data.first
    }

    /// Every resource of `type` matching `filter`, 100 a page.
    func all(_ type: String, filter: [String: String]) throws(ConnectorError) -> [Resource] {
        var query = ["page[limit]": "100"]
        for (name, value) in filter { query["filter[\(name)]"] = value }
        var found: [Resource] = []
        while true {
            try host.checkCancellation()
            query["page[offset]"] = String(found.count)
            let what = "Optiply \(type)"
            let page = try host.http(HTTPRequest(path: "/v1/\(type)", query: query, headers: Self.headers))
                .requireSuccess(what).decode(Many.self, what).data
            found += page
            if page.count < 100 { return found }
        }
    }

    /// Creates a resource and returns its id.
    func create(_ type: String, _ attributes: [String: JSONValue]) throws(ConnectorError) -> String {
        try send("POST", "/v1/\(type)", type: type, attributes, idempotent: false).id
    }

    /// Changes attributes of a resource.
    func update(_ type: String, id: String, _ attributes: [String: JSONValue]) throws(ConnectorError) {
        _ = try send("PATCH", "/v1/\(type)/\(id)", type: type, attributes, idempotent: true)
    }

    private func send(_ method: String, _ path: String, type: String, _ attributes: [String: JSONValue], idempotent: Bool) throws(ConnectorError) -> Resource {
        let document: JSONValue = ["data": ["type": .string(type), "attributes": .object(attributes)]]
        let what = "\(method == "POST" ? "creating" : "updating") Optiply \(type)"
        let response = try host.http(HTTPRequest(method: method, path: path, headers: Self.headers, body: document.jsonText, idempotent: idempotent))
        if (400..<500).contains(response.status), ![401, 403, 404, 429].contains(response.status),
           let refusal = try? response.decode(Refusal.self, what), let error = refusal.errors.first {
            throw .invalidData("\(what): Optiply refused it: \(error.detail ?? error.title ?? "HTTP \(response.status)")")
        }
        return try response.requireSuccess(what).decode(One.self, what).data
    }
}
