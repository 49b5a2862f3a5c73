import Foundation
import HTTPTypes
import HummingbirdCore
import Hummingbird
import NIOCore

/// A local Optiply API, modelled on Optiply's public API: JSON:API documents
/// (`{"data": {"type", "id", "attributes"}}`, `application/vnd.api+json`) under `/v1`,
/// OAuth 2 password-grant tokens from `/oauth/token`, products found by
/// `filter[skuCode]`, sell orders with their lines. What was assumed is listed in
/// Sources/KoppelSandbox/README.md and kept in this file and the plugin.
public final class OptiplySandbox: @unchecked Sendable {
    public struct Options: Sendable {
        public var clientID = "optiply-sandbox-client"
        public var clientSecret = "optiply-sandbox-secret-5d2c"
        public var username = "planner@example.nl"
        public var password = "optiply-sandbox-password"
        /// Seconds an access token lives.
        public var tokenLifetime = 3600
        public init() {}
    }

    public let options: Options
    let lock = NSLock()
    /// The resources by type, then id.
    private var collections: [String: [Int: [String: Any]]] = [:]
    private var nextID: [String: Int] = [:]
    private var accessTokens: [String: Date] = [:]
    private var refreshTokens: Set<String> = []
    private var calls: [String: Int] = [:]
    private var signIns = 0

    public init(options: Options = Options()) {
        self.options = options
    }

    static let mediaType = "application/vnd.api+json"

    static func document(_ object: Any, status: Int = 200) -> Response {
        var response = Response.json(object, status: status)
        response.headers[.contentType] = mediaType
        return response
    }

    static func errors(_ status: Int, _ title: String, _ detail: String) -> Response {
        document(["errors": [["status": String(status), "title": title, "detail": detail]]], status: status)
    }

    static func resource(_ type: String, _ id: Int, _ attributes: [String: Any]) -> [String: Any] {
        ["type": type, "id": String(id), "attributes": attributes]
    }

    private func denied(_ request: Request) -> Response? {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            return Self.errors(401, "Unauthorized", "Full authentication is required to access this resource")
        }
        let token = String(header.dropFirst("Bearer ".count))
        guard let expires = lock.withLock({ accessTokens[token] }), expires > Date() else {
            return Self.errors(401, "Unauthorized", "Invalid or expired access token")
        }
        return nil
    }

    private func count(_ request: Request) {
        let path = request.uri.path.split(separator: "/").map { Int($0) == nil ? String($0) : "{id}" }.joined(separator: "/")
        lock.withLock { calls["\(request.method.rawValue) /\(path)", default: 0] += 1 }
    }

    private func attributes(_ request: Request, type: String) async throws -> [String: Any]? {
        var request = request
        let body = SandboxJSON.object(Data(buffer: try await request.collectBody(upTo: 1 << 20)))
        guard let data = body?["data"] as? [String: Any], data["type"] as? String == type else { return nil }
        return data["attributes"] as? [String: Any] ?? [:]
    }

    /// The query with its keys decoded (`filter%5BskuCode%5D` is `filter[skuCode]`).
    private static func query(_ request: Request) -> [String: String] {
        var query: [String: String] = [:]
        for (key, value) in request.uri.queryParameters {
            query[String(key).removingPercentEncoding ?? String(key)] = String(value)
        }
        return query
    }

    /// The resources of `type`, narrowed by every `filter[attribute]=value` of the query.
    private func list(_ request: Request, _ type: String, _ rows: [Int: [String: Any]]) -> Response {
        let query = Self.query(request)
        var resources = rows.sorted { $0.key < $1.key }.map { Self.resource(type, $0.key, $0.value) }
        for (key, value) in query where key.hasPrefix("filter[") && key.hasSuffix("]") {
            let attribute = String(key.dropFirst("filter[".count).dropLast())
            resources = resources.filter { (($0["attributes"] as? [String: Any])?[attribute]).map { "\($0)" } == value }
        }
        return page(resources, query)
    }

    /// `page[limit]` (default 25, at most 100) and `page[offset]`.
    private func page(_ rows: [[String: Any]], _ query: [String: String]) -> Response {
        let limit = min(max(1, query["page[limit]"].flatMap { Int($0) } ?? 25), 100)
        let offset = max(0, query["page[offset]"].flatMap { Int($0) } ?? 0)
        let slice = offset < rows.count ? Array(rows[offset..<min(rows.count, offset + limit)]) : []
        return Self.document(["data": slice, "meta": ["total": rows.count]])
    }

    func routes(_ router: Router<SandboxContext>) {
        router.post("/oauth/token") { request, _ -> Response in
            var form = try await request.form()
            for (name, value) in request.uri.queryParameters { form[String(name)] = form[String(name)] ?? String(value) }
            if let basic = request.headers[.authorization], basic.hasPrefix("Basic "),
               let decoded = Data(base64Encoded: String(basic.dropFirst(6))).map({ String(decoding: $0, as: UTF8.self) }) {
                let parts = decoded.split(separator: ":", maxSplits: 1).map(String.init)
                if parts.count == 2 { (form["client_id"], form["client_secret"]) = (parts[0], parts[1]) }
            }
            guard form["client_id"] == self.options.clientID, form["client_secret"] == self.options.clientSecret else {
                return .json(["error": "invalid_client", "error_description": "Bad client credentials"], status: 401)
            }
            return self.lock.withLock { () -> Response in
                switch form["grant_type"] {
                case "password":
                    guard form["username"] == self.options.username, form["password"] == self.options.password else {
                        return .json(["error": "invalid_grant", "error_description": "Bad credentials"], status: 400)
                    }
                    self.signIns += 1
                case "refresh_token":
                    guard let token = form["refresh_token"], self.refreshTokens.remove(token) != nil else {
                        return .json(["error": "invalid_grant", "error_description": "Invalid refresh token"], status: 400)
                    }
                default:
                    return .json(["error": "unsupported_grant_type"], status: 400)
                }
                let access = UUID().uuidString, refresh = UUID().uuidString
                self.accessTokens[access] = Date().addingTimeInterval(TimeInterval(self.options.tokenLifetime))
                self.refreshTokens.insert(refresh)
                return .json(["access_token": access, "token_type": "bearer", "refresh_token": refresh,
                              "expires_in": self.options.tokenLifetime, "scope": "read write"])
            }
        }
        for type in Self.types {
            router.get("/v1/\(type)") { request, _ -> Response in
                if let denied = self.denied(request) { return denied }
                self.count(request)
                return self.list(request, type, self.lock.withLock { self.collections[type] ?? [:] })
            }
            router.post("/v1/\(type)") { request, _ -> Response in
                if let denied = self.denied(request) { return denied }
                self.count(request)
                guard let attributes = try await self.attributes(request, type: type) else {
                    return Self.errors(400, "Bad Request", "expected {\"data\": {\"type\": \"\(type)\", \"attributes\": {...}}}")
                }
                return self.lock.withLock { () -> Response in
                    if type == "sellOrders" { return self.placeSellOrder(attributes) }
                    if let problem = self.problem(type, attributes, id: nil) { return problem }
                    var resource = attributes
                    if type == "products" {
                        resource["stockLevel"] = resource["stockLevel"] ?? Decimal(0)
                        resource["unlimitedStock"] = resource["unlimitedStock"] ?? false
                        resource["status"] = resource["status"] ?? "ENABLED"
                    }
                    let id = self.insert(type, resource)
                    return Self.document(["data": Self.resource(type, id, resource)], status: 201)
                }
            }
            router.patch("/v1/\(type)/:id") { request, context -> Response in
                if let denied = self.denied(request) { return denied }
                self.count(request)
                let id = context.parameters.get("id").flatMap(Int.init) ?? 0
                guard let attributes = try await self.attributes(request, type: type) else {
                    return Self.errors(400, "Bad Request", "expected {\"data\": {\"type\": \"\(type)\", \"attributes\": {...}}}")
                }
                return self.lock.withLock { () -> Response in
                    guard var resource = self.collections[type]?[id] else { return Self.errors(404, "Not Found", "\(type) \(id) does not exist") }
                    for (key, value) in attributes where !Self.fixed.contains(key) { resource[key] = value }
                    resource["updatedAt"] = Date.ISO8601FormatStyle().format(Date())
                    if let problem = self.problem(type, resource, id: id) { return problem }
                    self.collections[type]?[id] = resource
                    return Self.document(["data": Self.resource(type, id, resource)])
                }
            }
        }
        router.get("/_sandbox/optiply/:collection") { _, context -> Response in
            self.lock.withLock {
                let type = context.parameters.get("collection") ?? ""
                return .json((self.collections[type] ?? [:]).sorted { $0.key < $1.key }.map { Self.resource(type, $0.key, $0.value) })
            }
        }
        router.get("/_sandbox/optiply-stats") { _, _ -> Response in
            self.lock.withLock { .json(["calls": self.calls, "sign_ins": self.signIns]) }
        }
    }

    /// The resource types of the API.
    static let types = ["products", "suppliers", "supplierProducts", "sellOrders"]
    /// Attributes a PATCH cannot change.
    static let fixed: Set<String> = ["skuCode", "productId", "supplierId", "remoteId"]

    private func insert(_ type: String, _ attributes: [String: Any]) -> Int {
        let id = nextID[type, default: 1]
        nextID[type] = id + 1
        var resource = attributes
        resource["updatedAt"] = Date.ISO8601FormatStyle().format(Date())
        collections[type, default: [:]][id] = resource
        return id
    }

    private func exists(_ type: String, _ value: Any?) -> Bool {
        guard let id = (value as? Decimal).map({ NSDecimalNumber(decimal: $0).intValue }) else { return false }
        return collections[type]?[id] != nil
    }

    private func taken(_ type: String, _ id: Int?, where matches: ([String: Any]) -> Bool) -> Bool {
        (collections[type] ?? [:]).contains { $0.key != id && matches($0.value) }
    }

    /// What is wrong with a resource of `type` (nil: nothing): required attributes,
    /// references to existing resources, unique keys.
    private func problem(_ type: String, _ resource: [String: Any], id: Int?) -> Response? {
        func refuse(_ detail: String) -> Response { Self.errors(422, "Unprocessable Entity", detail) }
        switch type {
        case "products":
            guard (resource["name"] as? String).map({ !$0.isEmpty }) == true else { return refuse("name: must not be blank") }
            guard let sku = resource["skuCode"] as? String, !sku.isEmpty else { return refuse("skuCode: must not be blank") }
            if taken(type, id, where: { $0["skuCode"] as? String == sku }) { return Self.errors(409, "Conflict", "a product with skuCode \(sku) already exists") }
        case "suppliers":
            guard (resource["name"] as? String).map({ !$0.isEmpty }) == true else { return refuse("name: must not be blank") }
            if let remote = resource["remoteId"] as? String, taken(type, id, where: { $0["remoteId"] as? String == remote }) {
                return Self.errors(409, "Conflict", "a supplier with remoteId \(remote) already exists")
            }
        case "supplierProducts":
            guard exists("products", resource["productId"]) else { return refuse("productId: product does not exist") }
            guard exists("suppliers", resource["supplierId"]) else { return refuse("supplierId: supplier does not exist") }
            let pair = ("\(resource["productId"]!)", "\(resource["supplierId"]!)")
            if taken(type, id, where: { ("\($0["productId"] ?? "")", "\($0["supplierId"] ?? "")") == pair }) {
                return Self.errors(409, "Conflict", "the supplier already has a supplier product for product \(pair.0)")
            }
        default: break
        }
        return nil
    }

    /// A sell order needs `placed`, `totalValue` and lines naming existing products;
    /// a `remoteId` is used once.
    private func placeSellOrder(_ attributes: [String: Any]) -> Response {
        guard attributes["placed"] is String, attributes["totalValue"] != nil else {
            return Self.errors(422, "Unprocessable Entity", "placed and totalValue are required")
        }
        guard let lines = attributes["orderLines"] as? [[String: Any]], !lines.isEmpty else {
            return Self.errors(422, "Unprocessable Entity", "orderLines: at least one line is required")
        }
        for line in lines {
            guard exists("products", line["productId"]) else {
                return Self.errors(422, "Unprocessable Entity", "orderLines.productId: product \(line["productId"] ?? "") does not exist")
            }
            guard line["quantity"] is Decimal else { return Self.errors(422, "Unprocessable Entity", "orderLines.quantity is required") }
        }
        if let remote = attributes["remoteId"] as? String, taken("sellOrders", nil, where: { $0["remoteId"] as? String == remote }) {
            return Self.errors(409, "Conflict", "a sell order with remoteId \(remote) already exists")
        }
        var order = attributes
        order.removeValue(forKey: "orderLines")
        let id = insert("sellOrders", order)
        for line in lines {
            var stored = line
            stored["sellOrderId"] = id
            _ = insert("sellOrderLines", stored)
        }
        return Self.document(["data": Self.resource("sellOrders", id, collections["sellOrders"]?[id] ?? order)], status: 201)
    }
}
