import Foundation
import KoppelPluginSDK

/// A Mijnwebwinkel shop through the MyOnlineStore Connect API (its OpenAPI spec; rules
/// R1–R6 of the reference in Sources/KoppelSandbox/README.md): orders, products and stock
/// as sources, the shipped status as a target. One host serves every shop; the merchant's
/// store token (made for Koppel in the shop's admin) and Koppel's partner token travel
/// in the query, added by the host.
public final class MijnwebwinkelConnector: Connector {
    public struct Config: Decodable {
        var baseURL: String?
        /// How far before the last read's end the next one starts (default 60 s).
        var overlapSeconds: Int?
        /// The shop's status that means shipped, by name (default "Verzonden").
        var shippedStatus: String?

        enum CodingKeys: String, CodingKey {
            case baseURL = "base_url"
            case overlapSeconds = "overlap_seconds"
            case shippedStatus = "shipped_status"
        }
    }

    /// A flow's `read_options` for orders.
    struct OrderOptions: Decodable {
        /// Only orders in these statuses, by the shop's names ("Betaald").
        var statuses: [String]?
        /// Test orders too (the API leaves them out unless asked).
        var testOrders: Bool?
        enum CodingKeys: String, CodingKey {
            case statuses
            case testOrders = "test_orders"
        }
    }

    public static let manifest = Manifest(
        name: "mijnwebwinkel",
        version: "2.0.0",
        description: "Mijnwebwinkel (MyOnlineStore Connect API): orders, articles and stock; the shipped status",
        streams: .init(
            read: [
                .init(name: "orders", record: "order", incremental: true),
                .init(name: "products", record: "product", incremental: true),
                .init(name: "stock", record: "stock_level", incremental: false),
            ],
            write: [.init(
                name: "shipment_status", record: "shipment", update: true,
                notice: "Mijnwebwinkel sends the buyer no e-mail when an order is marked shipped this way (R4.8); the track and trace goes into the order's internal note")]),
        configSchema: [
            "type": "object",
            "properties": [
                "base_url": ["type": "string", "format": "uri"],
                "api_token": ["type": "string", "secret": true],
                "partner_token": ["type": "string", "secret": true],
                "overlap_seconds": ["type": "integer", "minimum": 0],
                "shipped_status": ["type": "string"],
            ],
            "additionalProperties": false,
        ],
        // R2.1: both tokens in the query, on every request.
        auth: .init(scheme: .apiKey, keyIn: "query", keys: ["token": "api_token", "partner_token": "partner_token"]),
        // R1.1: one live host for every shop (R1.2: `https://api.mijnwebwinkel.nl` for older setups).
        baseURL: .init(setting: "base_url", default: "https://api.myonlinestore.com")
    )

    static let pageSize = 100

    let config: Config

    public init(config: Config, host: PluginHost) throws(ConnectorError) {
        self.config = config
    }

    /// One request, with R3.1's `language` and `format`, and the shop's refusals said in a
    /// merchant's words: which of the two tokens it refused.
    static func request(_ path: String, method: String = "GET", query: [String: String] = [:], body: String? = nil, host: PluginHost) throws(ConnectorError) -> HTTPResponse {
        var query = query
        query["language"] = "nl_NL"
        query["format"] = "json"
        let response = try host.http(HTTPRequest(
            method: method, path: "/v1" + path, query: query,
            headers: body == nil ? ["Accept": "application/json"] : ["Accept": "application/json", "Content-Type": "application/json"], body: body))
        guard response.status == 401 || response.status == 403 else { return response }
        struct Refusal: Decodable { var message: String?; var description: String? }
        let said = (try? JSONDecoder().decode(Refusal.self, from: Data(response.body.utf8))).map { [$0.message, $0.description].compactMap { $0 }.joined(separator: ": ") } ?? ""
        if said.lowercased().contains("partner") {
            throw .auth("Mijnwebwinkel refused Koppel's partner token (HTTP \(response.status): \(said)): store the partner token Mijnwebwinkel gave this installation with `koppel secrets set <connection> partner_token`")
        }
        throw .auth("Mijnwebwinkel refused the shop's token (HTTP \(response.status)\(said.isEmpty ? "" : ": \(said)")): in the shop's admin, under Instellingen → Add-ons & Modules → Integraties & koppelingen, make a token for Koppel (the shop needs the PREMIUM plan) and store it with `koppel secrets set <connection> api_token`")
    }

    /// Reads the store: proves the host and both tokens, and names the shop.
    public func check(host: PluginHost) throws(ConnectorError) {
        struct Store: Decodable { var name: String?; var version: String? }
        let store = try Self.request("/store", host: host).requireSuccess("Mijnwebwinkel store").decode(Store.self, "Mijnwebwinkel store")
        host.log(.info, "shop \(store.name ?? "?") (\(store.version ?? "plan unknown"))")
    }

    /// The shop's order statuses (R4.5), read once and kept; `fresh` reads them again (a
    /// name or number the kept list does not have: the merchant added a status).
    static func statuses(_ host: PluginHost, fresh: Bool = false) throws(ConnectorError) -> [Int: MwwStatus] {
        let key = "orderstatuses"
        if !fresh, let kept = try host.state.get(key), let list = try? JSONDecoder().decode([MwwStatus].self, from: Data(kept.utf8)) {
            return Dictionary(list.map { ($0.status, $0) }) { first, _ in first }
        }
        let response = try request("/orderstatuses", host: host).requireSuccess("Mijnwebwinkel order statuses")
        let list = try response.decode([MwwStatus].self, "Mijnwebwinkel order statuses")
        try host.state.set(key, response.body)
        return Dictionary(list.map { ($0.status, $0) }) { first, _ in first }
    }

    /// Where an incremental read of orders continues: the latest status change read.
    struct OrdersCursor: Codable {
        var statusChanged: Date
        enum CodingKeys: String, CodingKey { case statusChanged = "status_changed" }
    }

    struct ProductsCursor: Codable {
        var changed: Date
    }

    public func read(_ request: ReadRequest, host: PluginHost) throws(ConnectorError) {
        switch request.stream {
        case "orders": try readOrders(request, host: host)
        case "products": try readProducts(request, host: host)
        default: try readStock(host)
        }
    }

    /// Orders whose status changed since the cursor (less the overlap; R4.6), or, for a
    /// backfill, the orders placed in the window (by order date, R3.4). Pages by `offset`
    /// in order-number order: a status change during the read only adds to the set, so
    /// no order slides out of sight. The cursor moves once the whole set was read.
    private func readOrders(_ request: ReadRequest, host: PluginHost) throws(ConnectorError) {
        let options = try request.options(as: OrderOptions.self) ?? OrderOptions()
        var statuses = try Self.statuses(host)
        let named = Set(statuses.values.map { $0.description.lowercased() })
        if (options.statuses ?? []).contains(where: { !named.contains($0.lowercased()) }) { statuses = try Self.statuses(host, fresh: true) }
        var query: [String: String] = ["limit": String(Self.pageSize), "ordering": "asc"]
        if options.testOrders == true { query["test"] = "true" }
        let stored = try request.cursor(as: OrdersCursor.self)
        let backfill = request.since != nil || request.until != nil
        if backfill {
            if let since = request.since { query["start_date"] = MwwTime.day(since) }
            if let until = request.until { query["end_date"] = MwwTime.day(until.addingTimeInterval(-1)) }
        } else if let stored {
            query["status_changed_start_date"] = MwwTime.bound(stored.statusChanged.addingTimeInterval(-TimeInterval(config.overlapSeconds ?? 60)))
        }
        var ids: [Int?] = [nil]
        if let names = options.statuses {
            ids = try names.map { name throws(ConnectorError) in
                guard let status = statuses.values.first(where: { $0.description.caseInsensitiveCompare(name) == .orderedSame }) else {
                    throw .invalidData("read_options.statuses: the shop has no status \"\(name)\" (it has \(statuses.values.map(\.description).sorted().joined(separator: ", ")))")
                }
                return status.status
            }
        }
        var latest = stored?.statusChanged
        for id in ids {
            var filtered = query
            if let id { filtered["status_id"] = String(id) }
            for offset in stride(from: 0, to: Int.max, by: Self.pageSize) {
                try host.checkCancellation()
                filtered["offset"] = String(offset)
                let page = try Self.request("/orders", query: filtered, host: host).requireSuccess("Mijnwebwinkel orders")
                    .decodeEach(MwwOrder.self, "Mijnwebwinkel orders", keyField: "number")
                for item in page {
                    if let order = item.decoded, let created = order.created {
                        // Order dates are whole days: the window is kept to the second here.
                        if let since = request.since, backfill, created < since { continue }
                        if let until = request.until, created >= until { continue }
                        if let changed = order.statusChanged, latest.map({ changed > $0 }) ?? true { latest = changed }
                    }
                    try host.emit(item, key: \.number.text) { (order: MwwOrder) throws(ConnectorError) in try order.canonical(statuses: statuses) }
                }
                if page.count < Self.pageSize { break }
            }
        }
        if !backfill, let latest { try host.checkpoint(OrdersCursor(statusChanged: latest)) }
    }

    /// Whether the shop's prices include VAT (`GET /v1/store`).
    private func pricesIncludeTax(_ host: PluginHost) throws(ConnectorError) -> Bool {
        struct Store: Decodable {
            var pricesIncludeTax: Bool?
            enum CodingKeys: String, CodingKey { case pricesIncludeTax = "prices_include_tax" }
        }
        return try Self.request("/store", host: host).requireSuccess("Mijnwebwinkel store").decode(Store.self, "Mijnwebwinkel store").pricesIncludeTax ?? true
    }

    /// Every article of `query`, 100 a page.
    private func articles(_ query: [String: String], host: PluginHost, each: (PageRecord<MwwArticle>) throws(ConnectorError) -> Void) throws(ConnectorError) {
        var query = query
        query["limit"] = String(Self.pageSize)
        for offset in stride(from: 0, to: Int.max, by: Self.pageSize) {
            try host.checkCancellation()
            query["offset"] = String(offset)
            let page = try Self.request("/articles", query: query, host: host).requireSuccess("Mijnwebwinkel articles")
                .decodeEach(MwwArticle.self, "Mijnwebwinkel articles")
            for item in page { try each(item) }
            if page.count < Self.pageSize { return }
        }
    }

    /// Articles changed since the cursor (less the overlap; R5.1).
    private func readProducts(_ request: ReadRequest, host: PluginHost) throws(ConnectorError) {
        let stored = try request.cursor(as: ProductsCursor.self)
        var query: [String: String] = [:]
        if let start = request.since ?? stored.map({ $0.changed.addingTimeInterval(-TimeInterval(config.overlapSeconds ?? 60)) }) {
            query["changed_start_date"] = MwwTime.bound(start)
        }
        if let until = request.until { query["changed_end_date"] = MwwTime.bound(until) }
        let inclusive = try pricesIncludeTax(host)
        var latest = stored?.changed
        try articles(query, host: host) { item throws(ConnectorError) in
            if let article = item.decoded, latest.map({ article.updated > $0 }) ?? true { latest = article.updated }
            try host.emit(item, key: { String($0.id) }) { $0.canonical(pricesIncludeTax: inclusive) }
        }
        if request.since == nil, request.until == nil, let latest { try host.checkpoint(ProductsCursor(changed: latest)) }
    }

    /// The stock of every article and variant, read whole; the ledger passes on only what
    /// changed. An article with unlimited stock (null) has no level.
    private func readStock(_ host: PluginHost) throws(ConnectorError) {
        try articles([:], host: host) { item throws(ConnectorError) in
            guard case .record(let article) = item else {
                return try host.emit(item, key: { String($0.id) }) { $0.stockLevels().first ?? StockLevel(sourceKey: String($0.id), updatedAt: $0.updated, sku: $0.code, quantity: .zero) }
            }
            for level in article.stockLevels() { try host.emit(level) }
        }
    }

    /// Marks an order shipped (R4.8): `PATCH /v1/orders/{number}` with the shop's shipped
    /// status and the carrier and track & trace code in the internal comment (the API
    /// has no tracking field, and this does not e-mail the buyer). Sending it again
    /// changes nothing.
    public func write(_ request: WriteRequest, host: PluginHost) throws(ConnectorError) -> WriteResult {
        let shipment = try request.record(as: Shipment.self)
        let number = shipment.orderNumber
        guard let encoded = number.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) else {
            throw .invalidData("order number \(number) cannot be used in a path")
        }
        let name = config.shippedStatus ?? "Verzonden"
        let isShipped = { (status: MwwStatus) in status.description.caseInsensitiveCompare(name) == .orderedSame }
        var shipped = try Self.statuses(host).values.first(where: isShipped)
        if shipped == nil { shipped = try Self.statuses(host, fresh: true).values.first(where: isShipped) }
        guard let shipped else {
            throw .invalidData("the shop has no order status \"\(name)\"; set shipped_status on the connection to the name of its shipped status")
        }
        var body: [String: JSONValue] = ["status": .int(Int64(shipped.status))]
        let note = [shipment.carrier, shipment.trackingCode].compactMap { $0.nonEmpty }.joined(separator: ": ")
        if !note.isEmpty { body["comments"] = ["internal": .string(note)] }
        let response = try Self.request("/orders/\(encoded)", method: "PATCH", body: JSONValue.object(body).jsonText, host: host)
        if response.status == 404 { throw .notFound("Mijnwebwinkel has no order \(number) to mark shipped") }
        _ = try response.requireSuccess("Mijnwebwinkel order \(number) marked shipped")
        return request.targetKey == nil ? .created(number) : .updated(number)
    }
}

@_cdecl("koppel_plugin_entry")
public func koppelPluginEntry(_ r: UnsafePointer<koppel_entry_request>?) -> UnsafePointer<koppel_plugin>? { KoppelExport.entry(MijnwebwinkelConnector.self, r) }
