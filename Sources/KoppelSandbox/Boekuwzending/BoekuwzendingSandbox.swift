import Foundation

import FoundationNetworking
import Hummingbird
import NIOCore

/// A local Boekuwzending API, per the reference's rules R1–R7: tokens by the OAuth 2
/// client-credentials grant with an expiry (R2.1, R2.3), `GET /me` (R2.4), external
/// orders (`POST /orders` with the required `createdAtSource`, `GET /orders?externalId=`
/// as a list, `GET`/`PUT`/`DELETE /orders/{id}`, R4), shipments and labels (R5),
/// webhooks registered by `POST /webhooks` and sent in the documented shape (R6.1, R6.2),
/// errors in API Platform's shape (R7.1). See Sources/KoppelSandbox/README.md.
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
    /// Registered webhooks: id, url, event (R6.1).
    var webhooks: [[String: String]] = []
    /// Each label's states so far, oldest first, by label id.
    var labelHistory: [String: [[String: Any]]] = [:]
    /// Every webhook sent: the event, the URL and the status the receiver answered (nil:
    /// no answer).
    public private(set) var sentWebhooks: [(event: String, url: String, status: Int?)] = []
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

    /// What `GET /shipments` shows of each shipment (endpoints.json, shipments.list).
    static let listedShipmentFields: Set<String> = [
        "id", "sequence", "status", "shipFrom", "shipTo", "dispatch", "delivery", "relation", "bulk", "vehicle", "transportSteps", "invoiceReference", "draft",
    ]

    /// The events a webhook may be registered for (R6.1; spelled as the docs name them).
    static let webhookEvents: Set<String> = ["webhook-label-create", "webhook-label-update", "webhook-shipment-create", "webhook-shipment-update"]

    /// A label's state in the documented webhook body (R6.2): PHP's DateTime serialisation
    /// in the Amsterdam zone.
    static func labelState(_ status: String, carrier: String, at date: Date) -> [String: Any] {
        let format = DateFormatter()
        format.locale = Locale(identifier: "en_US_POSIX")
        format.timeZone = TimeZone(identifier: "Europe/Amsterdam")
        format.dateFormat = "yyyy-MM-dd HH:mm:ss.SSSSSS"
        return ["status": status, "code": carrier.lowercased(), "description": status.replacingOccurrences(of: "_", with: " "),
                "date": ["date": format.string(from: date), "timezone_type": 3, "timezone": "Europe/Amsterdam"]]
    }

    /// Sends `event` about a label to every webhook registered for it, in the background,
    /// in the documented shape (R6.2; the portal's webhooks carry no signature).
    func sendLabelEvent(_ event: String, label: [String: Any], carrier: String, history: [[String: Any]]) {
        let targets = lock.withLock { webhooks.filter { $0["event"] == event }.compactMap { $0["url"] } }
        guard !targets.isEmpty else { return }
        let stamp = ISO8601DateFormatter()
        stamp.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let body: [String: Any] = [
            "id": UUID().uuidString.lowercased(), "event": event, "date": stamp.string(from: Date()),
            "payload": ["reference": label["reference"] ?? "", "waybill": label["waybill"] ?? "",
                        "active": history.last ?? [:], "details": Array(history.dropLast().reversed())],
        ]
        let data = (try? JSONSerialization.data(withJSONObject: body)) ?? Data()
        for url in targets {
            guard let target = URL(string: url) else { continue }
            var request = URLRequest(url: target)
            request.httpMethod = "POST"
            request.httpBody = data
            request.timeoutInterval = 5
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            Task.detached {
                var status: Int?
                if let (_, response) = try? await URLSession.shared.data(for: request) { status = (response as? HTTPURLResponse)?.statusCode }
                self.lock.withLock { self.sentWebhooks.append((event, url, status)) }
            }
        }
    }

    /// What the merchant does in the portal: a booked shipment with one label for the
    /// external order `id` (R5.4, R5.5), announced to the `webhook-label-create` webhooks.
    /// Nil when there is no such order.
    @discardableResult
    public func ship(order id: String, carrier: String = "PostNL") -> [String: Any]? {
        let made = lock.withLock { () -> (shipment: [String: Any], history: [[String: Any]])? in
            guard let index = orders.firstIndex(where: { $0.id == id }) else { return nil }
            let order = orders[index].body
            sequence += 1
            let postcode = ((order["shipTo"] as? [String: Any])?["address"] as? [String: Any])?["postcode"] as? String ?? ""
            let waybill = "3SBUZ\(sequence)", labelID = UUID().uuidString.lowercased()
            let stamp = ISO8601DateFormatter().string(from: Date())
            let shipment: [String: Any] = [
                "id": UUID().uuidString.lowercased(), "sequence": "BUZ\(sequence)", "status": "new", "transportType": "road_transport",
                "invoiceReference": order["reference"] ?? "", "externalOrder": "/orders/\(id)", "createdAt": stamp, "updatedAt": stamp,
                "distributor": carrier, "draft": false,
                "labels": [["id": labelID, "waybill": waybill, "reference": order["reference"] ?? "", "status": "created",
                            "trackAndTraceLink": "https://mijn.boekuwzending.com/track-en-trace/\(waybill)/\(postcode.replacingOccurrences(of: " ", with: ""))"]],
            ]
            shipments.append(shipment)
            labelHistory[labelID] = [Self.labelState("created", carrier: carrier, at: Date())]
            orders[index].body["shipments"] = (order["shipments"] as? [Any] ?? []) + ["/shipments/\(shipment["id"]!)"]
            return (shipment, labelHistory[labelID]!)
        }
        guard let made else { return nil }
        if let label = (made.shipment["labels"] as? [[String: Any]])?.first {
            sendLabelEvent("webhook-label-create", label: label, carrier: carrier, history: made.history)
        }
        return made.shipment
    }

    /// The ids of the external orders without a shipment, oldest first.
    public var unshippedOrders: [String] {
        lock.withLock { orders.filter { ($0.body["shipments"] as? [Any] ?? []).isEmpty }.map(\.id) }
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
            // The list carries only the summary fields the reference names for it, so no
            // labels (those come with `GET /shipments/{id}`), plus `invoiceReference`, on
            // which it filters (assumed).
            if let denied = self.denied(request) { return denied }
            let query = request.uri.queryParameters
            let page = max(1, query["_page"].flatMap { Int(String($0)) } ?? 1)
            let size = min(max(1, query["_items_per_page"].flatMap { Int(String($0)) } ?? 30), 100)
            var rows = self.lock.withLock { self.shipments }
            if let reference = query["invoiceReference"].map(String.init) { rows = rows.filter { $0["invoiceReference"] as? String == reference } }
            if let draft = query["draft"].map(String.init) { rows = rows.filter { ($0["draft"] as? Bool ?? false) == ["1", "true"].contains(draft) } }
            if query["_order[sequence.number]"].map(String.init)?.lowercased() == "desc" { rows.reverse() }
            let summaries = rows.map { row in row.filter { Self.listedShipmentFields.contains($0.key) } }
            return .json(Array(summaries.dropFirst((page - 1) * size).prefix(size)))
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
            var request = request
            let body = SandboxJSON.object(Data(buffer: try await request.collectBody(upTo: 1 << 16))) ?? [:]
            let id = context.parameters.get("id") ?? ""
            guard let shipment = self.ship(order: id, carrier: body["carrier"] as? String ?? "PostNL") else {
                return .json(["error": "no order \(id)"], status: 404)
            }
            return .json(shipment, status: 201)
        }
        router.get("/track-and-trace/:label") { request, context -> Response in
            // R5.6: the history of one label, by label id (not a shipment id).
            if let denied = self.denied(request) { return denied }
            let id = context.parameters.get("label") ?? ""
            let found = self.lock.withLock { () -> (history: [[String: Any]], carrier: String)? in
                guard let history = self.labelHistory[id] else { return nil }
                let shipment = self.shipments.first { ($0["labels"] as? [[String: Any]] ?? []).contains { $0["id"] as? String == id } }
                return (history, shipment?["distributor"] as? String ?? "")
            }
            guard let found else { return .json(["error": "Label not found"], status: 404) }
            return .json(["active": found.history.last ?? [:], "details": Array(found.history.dropLast().reversed()), "distributor": found.carrier])
        }
        router.post("/webhooks") { request, _ -> Response in
            // The API's side of what the docs describe doing in the portal (R6.1).
            if let denied = self.denied(request) { return denied }
            var request = request
            guard let body = SandboxJSON.object(Data(buffer: try await request.collectBody(upTo: 1 << 16))) else {
                return Self.problem(400, "Bad Request", "Syntax error")
            }
            var violations: [(String, String)] = []
            let url = body["url"] as? String ?? ""
            if URL(string: url)?.scheme?.hasPrefix("http") != true { violations.append(("url", "This value is not a valid URL.")) }
            let event = body["event"] as? String ?? ""
            if !Self.webhookEvents.contains(event) { violations.append(("event", "The value you selected is not a valid choice.")) }
            guard violations.isEmpty else {
                return Self.problem(422, "An error occurred", violations.map { "\($0.0): \($0.1)" }.joined(separator: "\n"), violations: violations)
            }
            let hook = ["id": UUID().uuidString.lowercased(), "url": url, "event": event]
            self.lock.withLock { self.webhooks.append(hook) }
            return .json(hook, status: 201)
        }
        router.get("/webhooks") { request, _ -> Response in
            if let denied = self.denied(request) { return denied }
            return .json(self.lock.withLock { self.webhooks })
        }
        router.post("/_sandbox/boekuwzending/labels/:id/status") { request, context -> Response in
            // The carrier scans the parcel: the label's status moves on (R5.7) and
            // `webhook-label-update` goes out.
            var request = request
            let body = SandboxJSON.object(Data(buffer: try await request.collectBody(upTo: 1 << 16))) ?? [:]
            let id = context.parameters.get("id") ?? "", status = body["status"] as? String ?? "in_transit"
            let found = self.lock.withLock { () -> (label: [String: Any], carrier: String, history: [[String: Any]])? in
                for (s, shipment) in self.shipments.enumerated() {
                    guard var labels = shipment["labels"] as? [[String: Any]], let l = labels.firstIndex(where: { $0["id"] as? String == id }) else { continue }
                    let carrier = shipment["distributor"] as? String ?? "PostNL"
                    labels[l]["status"] = status
                    var history = self.labelHistory[id] ?? []
                    history.append(Self.labelState(status, carrier: carrier, at: Date()))
                    self.labelHistory[id] = history
                    self.shipments[s]["labels"] = labels
                    self.shipments[s]["updatedAt"] = ISO8601DateFormatter().string(from: Date())
                    return (labels[l], carrier, history)
                }
                return nil
            }
            guard let found else { return .json(["error": "no label \(id)"], status: 404) }
            self.sendLabelEvent("webhook-label-update", label: found.label, carrier: found.carrier, history: found.history)
            return .json(found.label)
        }
        router.get("/_sandbox/boekuwzending/webhooks/sent") { _, _ -> Response in
            .json(self.lock.withLock { self.sentWebhooks.map { ["event": $0.event, "url": $0.url, "status": $0.status ?? NSNull()] as [String: Any] } })
        }
        router.get("/_sandbox/boekuwzending/orders") { _, _ -> Response in
            .json(self.lock.withLock { self.orders.map(\.body) })
        }
    }
}
