import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOCore

/// A local Optiply Public API v1, per the reference's rules (R1–R8, attribute models from
/// endpoints.json): the password grant with the app's id and secret as HTTP Basic on the
/// dashboard's token path (R2), `application/vnd.api+json` on every request (R3.1),
/// `accountId` and `couplingId` on every write (R3.7), the attribute rules of each
/// resource (R6), paging by a limit and an offset that is a multiple of it (R4.1, R4.2),
/// filters with operators (R4.4), `remoteId` write-only and shown as `remoteIdMap`
/// (R5.1), the 409 of a second supplier product for one pair (R5.3), errors as
/// `{"errors": [{status, detail, meta.message}]}` (R7.1). What is assumed is listed in
/// Sources/KoppelSandbox/README.md.
public final class OptiplySandbox: @unchecked Sendable {
    public struct Options: Sendable {
        public var clientID = "optiply-sandbox-client"
        public var clientSecret = "optiply-sandbox-secret-5d2c"
        public var username = "planner@example.nl"
        public var password = "optiply-sandbox-password"
        /// The account and the coupling (one integration of one shop, R3.7) writes name.
        public var accountID = 98
        public var couplingID = 1234
        /// Seconds an access token lives (short, R2.4).
        public var tokenLifetime = 600
        public init() {}
    }

    public let options: Options
    let lock = NSLock()
    /// The resources by type, then id, as stored (remoteIds in `remoteIdMap`).
    private var collections: [String: [Int: [String: Any]]] = [:]
    private var nextID = 5_550_001
    private var accessTokens: [String: Date] = [:]
    private var calls: [String: Int] = [:]
    private var signIns = 0

    public init(options: Options = Options()) {
        self.options = options
    }

    /// The token path on the dashboard host (R1.1; the sandbox serves it beside the API).
    public static let tokenPath = "/api/auth/oauth/token"
    static let mediaType = "application/vnd.api+json"

    static func document(_ object: Any, status: Int = 200) -> Response {
        var response = Response.json(object, status: status)
        response.headers[.contentType] = mediaType
        return response
    }

    /// R7.1: the error shape every known client can read.
    static func errors(_ status: Int, _ detail: String) -> Response {
        document(["errors": [["status": String(status), "detail": detail, "meta": ["message": detail]]]], status: status)
    }

    static func date(_ text: String) -> Date? {
        (try? Date.ISO8601FormatStyle().parse(text)) ?? (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text))
    }

    func resource(_ type: String, _ id: Int, _ stored: [String: Any]) -> [String: Any] {
        ["type": type, "id": String(id), "attributes": OptiplyModel.resources[type]?.shown(stored) ?? stored]
    }

    private func denied(_ request: Request) -> Response? {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            return Self.errors(401, "Full authentication is required to access this resource")
        }
        let token = String(header.dropFirst("Bearer ".count))
        guard let expires = lock.withLock({ accessTokens[token] }), expires > Date() else {
            return Self.errors(401, "Invalid access token: \(token.prefix(6))…")
        }
        // R3.1: the media type on every request, GETs included.
        guard request.headers[.contentType]?.hasPrefix(Self.mediaType) == true else {
            return Self.errors(415, "Content-Type '\(request.headers[.contentType] ?? "")' is not supported; use \(Self.mediaType)")
        }
        return nil
    }

    /// R3.7: a write names the account and the coupling it is made for.
    private func unscoped(_ query: [String: String]) -> Response? {
        guard query["accountId"] == String(options.accountID) else {
            return Self.errors(400, "Required request parameter 'accountId' is missing or not your account")
        }
        guard let coupling = query["couplingId"], Int(coupling) != nil else {
            return Self.errors(400, "Required request parameter 'couplingId' is missing")
        }
        return nil
    }

    private func count(_ request: Request) {
        let path = request.uri.path.split(separator: "/").map { Int($0) == nil ? String($0) : "{id}" }.joined(separator: "/")
        lock.withLock { calls["\(request.method.rawValue) /\(path)", default: 0] += 1 }
    }

    /// The query with its keys decoded (`filter%5BskuCode%5D` is `filter[skuCode]`).
    private static func query(_ request: Request) -> [String: String] {
        var query: [String: String] = [:]
        for (key, value) in request.uri.queryParameters {
            query[String(key).removingPercentEncoding ?? String(key)] = String(value).removingPercentEncoding ?? String(value)
        }
        return query
    }

    /// `{"data": {"type", "attributes"}}` of a write (R3.2; an `id` on PATCH must be the
    /// path's), or the error.
    private func written(_ request: Request, type: String, id: Int? = nil) async throws -> Written {
        var request = request
        guard let body = SandboxJSON.object(Data(buffer: try await request.collectBody(upTo: 1 << 20))),
              let data = body["data"] as? [String: Any] else {
            return .refused(Self.errors(400, "expected {\"data\": {\"type\": \"\(type)\", \"attributes\": {...}}}"))
        }
        guard data["type"] as? String == type else { return .refused(Self.errors(400, "data.type must be \(type)")) }
        if let given = data["id"], "\(given)" != id.map(String.init) ?? "" { return .refused(Self.errors(400, "data.id does not match the path")) }
        return .attributes(data["attributes"] as? [String: Any] ?? [:])
    }

    /// A write's attributes, or the answer refusing it.
    private enum Written {
        case attributes([String: Any])
        case refused(Response)
    }

    /// A filter on a readable attribute with an operator (R4.4); nil when it cannot be
    /// applied, with the error.
    private static func matches(_ value: Any?, _ op: String, _ wanted: String) -> Bool {
        let text = value.map { "\($0)" } ?? "null"
        func numeric(_ text: String) -> Decimal? {
            text.range(of: #"^-?[0-9]+(\.[0-9]+)?$"#, options: .regularExpression) == nil ? nil : Decimal(string: text)
        }
        if let number = value as? Decimal ?? (value as? String).flatMap(numeric), let other = numeric(wanted) {
            switch op {
            case "EQ": return number == other
            case "NEQ": return number != other
            case "LT": return number < other
            case "LE": return number <= other
            case "GT": return number > other
            case "GE": return number >= other
            default: break
            }
        }
        if let date = (value as? String).flatMap(date), let other = Self.date(wanted) {
            switch op {
            case "LT": return date < other
            case "LE": return date <= other
            case "GT": return date > other
            case "GE": return date >= other
            default: break
            }
        }
        switch op {
        case "EQ": return text.caseInsensitiveCompare(wanted) == .orderedSame  // R4.5
        case "NEQ": return text.caseInsensitiveCompare(wanted) != .orderedSame
        case "LIKE": return text.lowercased().contains(wanted.replacingOccurrences(of: "%", with: "").lowercased())
        case "LT": return text < wanted
        case "LE": return text <= wanted
        case "GT": return text > wanted
        case "GE": return text >= wanted
        default: return false
        }
    }

    /// A page of `type` (R4.1–R4.4): filters, `sort`, `page[limit]` (default 50, at most
    /// 100) and `page[offset]` (a multiple of the limit); `links.next` on a full page, an
    /// empty `data` past the end.
    private func list(_ request: Request, _ type: String) -> Response {
        let query = Self.query(request)
        let model = OptiplyModel.resources[type]!
        let limit = query["page[limit]"].map { Int($0) ?? -1 } ?? 50
        guard (1...100).contains(limit) else { return Self.errors(400, "page[limit] must be between 1 and 100") }
        let offset = query["page[offset]"].map { Int($0) ?? -1 } ?? 0
        guard offset >= 0, offset % limit == 0 else { return Self.errors(400, "page[offset] must be a multiple of page[limit]") }
        var rows = lock.withLock { (collections[type] ?? [:]).sorted { $0.key < $1.key } }
        for (key, value) in query where key.hasPrefix("filter[") {
            let parts = key.dropFirst("filter[".count).split(separator: "]", omittingEmptySubsequences: true).map { String($0).replacingOccurrences(of: "[", with: "") }
            let attribute = parts.first ?? "", op = parts.count > 1 ? parts[1].uppercased() : "EQ"
            // No documented filter reads a write-only or unknown attribute (R5.2): refused.
            guard attribute == "id" || (model.attributes[attribute].map { !$0.writeOnly } ?? false) else {
                return Self.errors(400, "Unknown filter attribute '\(attribute)'")
            }
            guard ["EQ", "NEQ", "LIKE", "LT", "LE", "GT", "GE"].contains(op) else { return Self.errors(400, "Unknown filter operator '\(op)'") }
            rows = rows.filter { Self.matches(attribute == "id" ? Decimal($0.key) : $0.value[attribute], op, value) }
        }
        if let sort = query["sort"] {
            let descending = sort.hasPrefix("-"), attribute = String(sort.drop { $0 == "-" })
            if attribute != "id" {
                rows.sort { "\($0.value[attribute] ?? "")" < "\($1.value[attribute] ?? "")" }
            }
            if descending { rows.reverse() }
        }
        let slice = offset < rows.count ? Array(rows[offset..<min(rows.count, offset + limit)]) : []
        var body: [String: Any] = ["data": slice.map { resource(type, $0.key, $0.value) }]
        if slice.count == limit {
            var next = query
            next["page[offset]"] = String(offset + limit)
            body["links"] = ["next": request.uri.path + "?" + next.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "&")]
        } else {
            body["links"] = ["next": NSNull()]
        }
        return Self.document(body)
    }

    func routes(_ router: Router<SandboxContext>) {
        router.post(RouterPath(Self.tokenPath)) { request, _ -> Response in
            // R2.1/R2.2: the password grant; `grant_type` in the form or the query; the
            // app's id and secret as HTTP Basic (R2.6: the Spring text for a wrong client).
            var form = try await request.form()
            for (name, value) in request.uri.queryParameters where form[String(name)] == nil { form[String(name)] = String(value) }
            guard let basic = request.headers[.authorization], basic.hasPrefix("Basic "),
                  let decoded = Data(base64Encoded: String(basic.dropFirst(6))).map({ String(decoding: $0, as: UTF8.self) }) else {
                return .json(["error": "unauthorized", "error_description": "Full authentication is required to access this resource"], status: 401)
            }
            let parts = decoded.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, parts[0] == self.options.clientID, parts[1] == self.options.clientSecret else {
                return .json(["error": "unauthorized", "error_description": "UserDetailsService returned null, which is an interface contract violation"], status: 401)
            }
            guard form["grant_type"] == "password" else {
                return .json(["error": "unsupported_grant_type", "error_description": "Unsupported grant type: \(form["grant_type"] ?? "")"], status: 400)
            }
            guard form["username"] == self.options.username, form["password"] == self.options.password else {
                return .json(["error": "invalid_grant", "error_description": "Bad credentials"], status: 400)
            }
            return self.lock.withLock { () -> Response in
                self.signIns += 1
                let access = UUID().uuidString
                self.accessTokens[access] = Date().addingTimeInterval(TimeInterval(self.options.tokenLifetime))
                // R2.3: a refresh token comes, and no client uses it.
                return .json(["access_token": access, "token_type": "bearer", "refresh_token": UUID().uuidString,
                              "expires_in": self.options.tokenLifetime, "scope": "read write delete"])
            }
        }
        for type in Self.types {
            router.get("/v1/\(type)") { request, _ -> Response in
                if let denied = self.denied(request) { return denied }
                self.count(request)
                return self.list(request, type)
            }
            router.get("/v1/\(type)/:id") { request, context -> Response in
                if let denied = self.denied(request) { return denied }
                self.count(request)
                let id = context.parameters.get("id").flatMap(Int.init) ?? 0
                guard let stored = self.lock.withLock({ self.collections[type]?[id] }) else { return Self.errors(404, "\(type) \(id) not found") }
                return Self.document(["data": self.resource(type, id, stored)])
            }
            router.post("/v1/\(type)") { request, _ -> Response in
                if let denied = self.denied(request) { return denied }
                self.count(request)
                let query = Self.query(request)
                if let unscoped = self.unscoped(query) { return unscoped }
                let attributes: [String: Any]
                switch try await self.written(request, type: type) {
                case .attributes(let written): attributes = written
                case .refused(let refusal): return refusal
                }
                return self.lock.withLock { self.create(type, attributes, coupling: query["couplingId"] ?? "") }
            }
            router.patch("/v1/\(type)/:id") { request, context -> Response in
                if let denied = self.denied(request) { return denied }
                self.count(request)
                let query = Self.query(request)
                if let unscoped = self.unscoped(query) { return unscoped }
                let id = context.parameters.get("id").flatMap(Int.init) ?? 0
                let attributes: [String: Any]
                switch try await self.written(request, type: type, id: id) {
                case .attributes(let written): attributes = written
                case .refused(let refusal): return refusal
                }
                return self.lock.withLock { () -> Response in
                    // R5.4: a PATCH of a deleted record is a 404.
                    guard var stored = self.collections[type]?[id] else { return Self.errors(404, "\(type) \(id) not found") }
                    if let problem = OptiplyModel.resources[type]!.problem(attributes, creating: false) { return Self.errors(400, problem) }
                    self.store(&stored, attributes, coupling: query["couplingId"] ?? "")
                    if let conflict = self.conflict(type, stored, id: id) { return conflict }
                    self.collections[type]?[id] = stored
                    return Self.document(["data": self.resource(type, id, stored)])
                }
            }
        }
        router.get("/_sandbox/optiply/:collection") { _, context -> Response in
            let type = context.parameters.get("collection") ?? ""
            return .json(self.lock.withLock { (self.collections[type] ?? [:]).sorted { $0.key < $1.key }.map { self.resource(type, $0.key, $0.value) } })
        }
        router.get("/_sandbox/optiply-stats") { _, _ -> Response in
            self.lock.withLock { .json(["calls": self.calls, "sign_ins": self.signIns]) }
        }
    }

    /// The resource types served.
    static let types = ["products", "suppliers", "supplierProducts", "sellOrders", "sellOrderLines"]

    /// Writes attributes into a stored resource: `remoteId` into `remoteIdMap` under the
    /// coupling (R5.1), the rest as given; `updatedAt` moves.
    private func store(_ stored: inout [String: Any], _ attributes: [String: Any], coupling: String) {
        for (name, value) in attributes {
            if name == "remoteId" {
                var map = stored["remoteIdMap"] as? [String: Any] ?? [:]
                map[coupling] = value
                stored["remoteIdMap"] = map
            } else {
                stored[name] = value
            }
        }
        stored["updatedAt"] = Date.ISO8601FormatStyle().format(Date())
    }

    /// R5.3: one supplier product per (supplier, product).
    private func conflict(_ type: String, _ resource: [String: Any], id: Int?) -> Response? {
        guard type == "supplierProducts" else { return nil }
        let pair = ("\(resource["productId"] ?? "")", "\(resource["supplierId"] ?? "")")
        let taken = (collections[type] ?? [:]).contains { $0.key != id && ("\($0.value["productId"] ?? "")", "\($0.value["supplierId"] ?? "")") == pair }
        return taken ? Self.errors(409, "supplier/product combination already exists") : nil
    }

    private func exists(_ type: String, _ value: Any?) -> Bool {
        guard let id = (value as? Decimal).map({ NSDecimalNumber(decimal: $0).intValue }) else { return false }
        return collections[type]?[id] != nil
    }

    /// Creates a resource (under the lock): the model's rules, the references, the 409
    /// pair; a sell order with its lines embedded (R6.2).
    private func create(_ type: String, _ attributes: [String: Any], coupling: String) -> Response {
        let model = OptiplyModel.resources[type]!
        if let problem = model.problem(attributes, creating: true) { return Self.errors(400, problem) }
        for reference in ["productId": "products", "supplierId": "suppliers"] where model.attributes[reference.key] != nil {
            guard exists(reference.value, attributes[reference.key]) else { return Self.errors(404, "\(reference.key): \(reference.value) \(attributes[reference.key] ?? "") not found") }
        }
        var lines: [[String: Any]] = []
        if type == "sellOrders" {
            lines = attributes["orderLines"] as? [[String: Any]] ?? []
            let lineModel = OptiplyModel.resources["sellOrderLines"]!
            for (index, line) in lines.enumerated() {
                var checked = line
                checked["sellOrderId"] = Decimal(1)
                if let problem = lineModel.problem(checked, creating: true) { return Self.errors(400, "orderLines[\(index)].\(problem)") }
                guard exists("products", line["productId"]) else { return Self.errors(404, "orderLines[\(index)].productId: products \(line["productId"] ?? "") not found") }
            }
        }
        var stored: [String: Any] = ["accountId": options.accountID, "uuid": UUID().uuidString.lowercased(), "createdFromPublicApi": true,
                                     "createdAt": Date.ISO8601FormatStyle().format(Date())]
        var given = attributes
        given.removeValue(forKey: "orderLines")
        store(&stored, given, coupling: coupling)
        if type == "products" { stored["unlimitedStock"] = stored["unlimitedStock"] ?? false }
        if let conflict = conflict(type, stored, id: nil) { return conflict }
        let id = insert(type, stored)
        for line in lines {
            var row: [String: Any] = ["sellOrderId": Decimal(id), "createdAt": stored["createdAt"]!, "uuid": UUID().uuidString.lowercased()]
            store(&row, line, coupling: coupling)
            _ = insert("sellOrderLines", row)
        }
        return Self.document(["data": resource(type, id, stored)], status: 201)
    }

    private func insert(_ type: String, _ stored: [String: Any]) -> Int {
        let id = nextID
        nextID += 1
        collections[type, default: [:]][id] = stored
        return id
    }
}
