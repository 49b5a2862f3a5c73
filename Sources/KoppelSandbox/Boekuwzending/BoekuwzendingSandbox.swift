import Foundation
import Hummingbird
import NIOCore

/// A local Boekuwzending API, per the reference's rules R1–R7: tokens by the OAuth 2
/// client-credentials grant with an expiry (R2.1, R2.3), `GET /me` (R2.4), external
/// orders (`POST /orders` with the required `createdAtSource`, `GET /orders?externalId=`
/// as a list, `GET`/`PUT`/`DELETE /orders/{id}`, R4), errors in API Platform's shape
/// (R7.1). See Sources/KoppelSandbox/README.md.
public final class BoekuwzendingSandbox: @unchecked Sendable {
    public struct Options: Sendable {
        public var clientID = "buz-sandbox-client"
        public var clientSecret = "buz-sandbox-secret-5d21"
        /// Seconds a token lives.
        public var tokenLifetime = 3600
        public init() {}
    }

    public let options: Options
    let lock = NSLock()
    /// External orders by id, in the order they were made.
    var orders: [(id: String, body: [String: Any])] = []
    /// Shipments made in the portal, in the order they were made.
    var shipments: [[String: Any]] = []
    private var sequence = 123_000
    private var tokens: [String: Date] = [:]
    /// How many tokens were given.
    public private(set) var tokensIssued = 0

    public init(options: Options = Options()) {
        self.options = options
    }

    static func problem(_ status: Int, _ title: String, _ detail: String, violations: [(String, String)] = []) -> Response {
        var body: [String: Any] = ["title": title, "detail": detail]
        if !violations.isEmpty { body["violations"] = violations.map { ["propertyPath": $0.0, "message": $0.1] } }
        return .json(body, status: status)
    }

    /// A bearer token the fake gave and that still lives, or a 401.
    func denied(_ request: Request) -> Response? {
        let given = request.headers[.authorization].map { String($0.dropFirst("Bearer ".count)) } ?? ""
        let alive = lock.withLock { tokens[given].map { $0 > Date() } ?? false }
        return alive ? nil : Self.problem(401, "Unauthorized", "JWT Token not found or expired")
    }

    /// R3.5: `YYYY-MM-DD HH:MM:SS` as the SDK sends it, or ISO 8601.
    static func sourceDate(_ text: String) -> Bool {
        text.range(of: #"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}"#, options: .regularExpression) != nil
    }

    /// What `POST /orders` refuses, as API Platform's violations (assumed: the spec marks
    /// only `createdAtSource` required; a shipment cannot be made without an address).
    static func violations(_ body: [String: Any]) -> [(String, String)] {
        var found: [(String, String)] = []
        if !((body["createdAtSource"] as? String).map(sourceDate) ?? false) {
            found.append(("createdAtSource", "This value should be a date and time (YYYY-MM-DD HH:MM:SS)."))
        }
        let shipTo = body["shipTo"] as? [String: Any]
        let contact = shipTo?["contact"] as? [String: Any], address = shipTo?["address"] as? [String: Any]
        for (path, value) in [("shipTo.contact.name", contact?["name"]), ("shipTo.contact.emailAddress", contact?["emailAddress"]),
                              ("shipTo.address.street", address?["street"]), ("shipTo.address.number", address?["number"]),
                              ("shipTo.address.postcode", address?["postcode"]), ("shipTo.address.city", address?["city"])] {
            if ((value as? String) ?? "").trimmingCharacters(in: .whitespaces).isEmpty { found.append((path, "This value should not be blank.")) }
        }
        if let country = address?["country"] as? String, country.range(of: "^[A-Z]{2}$", options: .regularExpression) != nil {} else {
            found.append(("shipTo.address.country", "This value is not a valid country (ISO 3166-1 alpha-2)."))
        }
        for (index, line) in (body["orderLines"] as? [[String: Any]] ?? []).enumerated() where (line["quantity"] as? Decimal ?? 0) <= 0 {
            found.append(("orderLines[\(index)].quantity", "This value should be positive."))
        }
        return found
    }

    func routes(_ router: Router<SandboxContext>) {
        router.post("/token") { request, _ -> Response in
            var request = request
            let form = String(buffer: try await request.collectBody(upTo: 1 << 16)).split(separator: "&").reduce(into: [String: String]()) { fields, pair in
                let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
                fields[parts[0]] = parts.count > 1 ? parts[1] : ""
            }
            guard form["grant_type"] == "client_credentials" else {
                return .json(["error": "unsupported_grant_type", "error_description": "The authorization grant type is not supported."], status: 400)
            }
            guard form["client_id"] == self.options.clientID, form["client_secret"] == self.options.clientSecret else {
                return .json(["error": "invalid_client", "error_description": "Client authentication failed"], status: 401)
            }
            let token = "buz-" + UUID().uuidString.lowercased()
            self.lock.withLock {
                self.tokens[token] = Date().addingTimeInterval(TimeInterval(self.options.tokenLifetime))
                self.tokensIssued += 1
            }
            return .json(["access_token": token, "token_type": "Bearer", "expires_in": self.options.tokenLifetime])
        }
        router.get("/me") { request, _ -> Response in
            if let denied = self.denied(request) { return denied }
            return .json(["id": "3f0c6f5e-6b1d-4a7e-9d2a-5d0c1b2a3e4f", "name": "Sandbox Verzender", "email": "verzenden@example.nl"])
        }
        router.get("/orders") { request, _ -> Response in
            if let denied = self.denied(request) { return denied }
            // R4.2: `externalId` (or `externalId[]`) selects; the answer is a list, of summaries.
            let query = request.uri.queryParameters
            let wanted = Set(query.filter { $0.key == "externalId" || $0.key == "externalId[]" }.map { String($0.value) })
            let archived = query["includeArchived"].map { ["1", "true"].contains(String($0)) } ?? false
            let rows = self.lock.withLock {
                self.orders.filter { order in
                    (wanted.isEmpty || wanted.contains(order.body["externalId"] as? String ?? "")) && (archived || order.body["archived"] as? Bool != true)
                }.map { ["id": $0.id, "externalId": $0.body["externalId"] ?? NSNull(), "reference": $0.body["reference"] ?? NSNull(),
                         "createdAtSource": $0.body["createdAtSource"] ?? NSNull(), "archived": $0.body["archived"] ?? false] }
            }
            return .json(rows)
        }
        router.post("/orders") { request, _ -> Response in
            if let denied = self.denied(request) { return denied }
            var request = request
            guard let raw = SandboxJSON.object(Data(buffer: try await request.collectBody(upTo: 1 << 20))) else {
                return Self.problem(400, "Bad Request", "Syntax error")
            }
            let body = raw.mapValues(WooCommerceSandbox.plain)
            let violations = Self.violations(raw)
            guard violations.isEmpty else {
                return Self.problem(422, "An error occurred", violations.map { "\($0.0): \($0.1)" }.joined(separator: "\n"), violations: violations)
            }
            let id = UUID().uuidString.lowercased()
            var order = body
            order["id"] = id
            order["archived"] = false
            order["shipments"] = [Any]()
            order["orderLines"] = (body["orderLines"] as? [[String: Any]] ?? []).map { line in line.merging(["id": UUID().uuidString.lowercased()]) { a, _ in a } }
            self.lock.withLock { self.orders.append((id, order)) }
            return .json(order, status: 201)
        }
        router.get("/orders/:id") { request, context -> Response in
            if let denied = self.denied(request) { return denied }
            let id = context.parameters.get("id") ?? ""
            guard let order = self.lock.withLock({ self.orders.first { $0.id == id }?.body }) else { return Self.problem(404, "Not Found", "Not Found") }
            return .json(order)
        }
        router.put("/orders/:id") { request, context -> Response in
            // R4.3: an update is a full PUT of the same shape.
            if let denied = self.denied(request) { return denied }
            var request = request
            guard let body = SandboxJSON.object(Data(buffer: try await request.collectBody(upTo: 1 << 20))) else {
                return Self.problem(400, "Bad Request", "Syntax error")
            }
            let violations = Self.violations(body)
            guard violations.isEmpty else {
                return Self.problem(422, "An error occurred", violations.map { "\($0.0): \($0.1)" }.joined(separator: "\n"), violations: violations)
            }
            let id = context.parameters.get("id") ?? ""
            let updated = self.lock.withLock { () -> [String: Any]? in
                guard let index = self.orders.firstIndex(where: { $0.id == id }) else { return nil }
                var order = body.mapValues(WooCommerceSandbox.plain)
                for kept in ["id", "archived", "shipments"] { order[kept] = self.orders[index].body[kept] }
                self.orders[index].body = order
                return order
            }
            guard let updated else { return Self.problem(404, "Not Found", "Not Found") }
            return .json(updated)
        }
        router.delete("/orders/:id") { request, context -> Response in
            if let denied = self.denied(request) { return denied }
            let id = context.parameters.get("id") ?? ""
            let removed = self.lock.withLock { () -> Bool in
                guard let index = self.orders.firstIndex(where: { $0.id == id }) else { return false }
                self.orders.remove(at: index)
                return true
            }
            return removed ? Response(status: .noContent) : Self.problem(404, "Not Found", "Not Found")
        }
        router.get("/shipments") { request, _ -> Response in
            // R3.2: a plain array, paged the API Platform way (`_page`, `_items_per_page`).
            if let denied = self.denied(request) { return denied }
            let query = request.uri.queryParameters
            let page = max(1, query["_page"].flatMap { Int(String($0)) } ?? 1)
            let size = min(max(1, query["_items_per_page"].flatMap { Int(String($0)) } ?? 30), 100)
            let rows = self.lock.withLock { self.shipments }
            return .json(Array(rows.dropFirst((page - 1) * size).prefix(size)))
        }
        router.get("/shipments/:id") { request, context -> Response in
            if let denied = self.denied(request) { return denied }
            let id = context.parameters.get("id") ?? ""
            guard let shipment = self.lock.withLock({ self.shipments.first { $0["id"] as? String == id } }) else { return Self.problem(404, "Not Found", "Not Found") }
            return .json(shipment)
        }
        router.get("/labels/:id") { request, context -> Response in
            if let denied = self.denied(request) { return denied }
            let id = context.parameters.get("id") ?? ""
            let label = self.lock.withLock { self.shipments.flatMap { $0["labels"] as? [[String: Any]] ?? [] }.first { $0["id"] as? String == id } }
            guard let label else { return Self.problem(404, "Not Found", "Not Found") }
            return .json(label)
        }
        router.post("/_sandbox/boekuwzending/orders/:id/ship") { request, context -> Response in
            // What the merchant does in the portal: a shipment with one label for the order (R5.4, R5.5).
            var request = request
            let body = SandboxJSON.object(Data(buffer: try await request.collectBody(upTo: 1 << 16))) ?? [:]
            let id = context.parameters.get("id") ?? ""
            let shipment = self.lock.withLock { () -> [String: Any]? in
                guard let index = self.orders.firstIndex(where: { $0.id == id }) else { return nil }
                let order = self.orders[index].body
                self.sequence += 1
                let postcode = ((order["shipTo"] as? [String: Any])?["address"] as? [String: Any])?["postcode"] as? String ?? ""
                let waybill = "3SBUZ\(self.sequence)"
                let stamp = ISO8601DateFormatter().string(from: Date())
                let shipment: [String: Any] = [
                    "id": UUID().uuidString.lowercased(), "sequence": "BUZ\(self.sequence)", "status": "new", "transportType": "road_transport",
                    "invoiceReference": order["reference"] ?? "", "externalOrder": "/orders/\(id)", "createdAt": stamp, "updatedAt": stamp,
                    "distributor": body["carrier"] as? String ?? "PostNL",
                    "labels": [["id": UUID().uuidString.lowercased(), "waybill": waybill, "reference": order["reference"] ?? "", "status": "created",
                                "trackAndTraceLink": "https://mijn.boekuwzending.com/track-en-trace/\(waybill)/\(postcode.replacingOccurrences(of: " ", with: ""))"]],
                ]
                self.shipments.append(shipment)
                var updated = order
                updated["shipments"] = (order["shipments"] as? [Any] ?? []) + ["/shipments/\(shipment["id"]!)"]
                self.orders[index].body = updated
                return shipment
            }
            guard let shipment else { return .json(["error": "no order \(id)"], status: 404) }
            return .json(shipment, status: 201)
        }
        router.get("/_sandbox/boekuwzending/orders") { _, _ -> Response in
            .json(self.lock.withLock { self.orders.map(\.body) })
        }
    }
}
