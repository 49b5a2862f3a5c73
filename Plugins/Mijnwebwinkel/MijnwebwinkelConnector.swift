import Foundation
import KoppelPluginSDK

/// A Mijnwebwinkel shop: orders, products and stock as sources, shipments as a target.
/// The shop lives at `{shop}.myonline.store`; the API token (made in the shop's admin
/// under Instellingen → API) travels as the `token` query parameter, added by the host.
/// What is assumed about the API is listed in Sources/KoppelSandbox/README.md and kept
/// in this plugin and the sandbox's fake.
public final class MijnwebwinkelConnector: Connector {
    public struct Config: Decodable {
        var shop: String?
        var baseURL: String?
        /// How far before the last read's end the next one starts (default 60 s).
        var overlapSeconds: Int?

        enum CodingKeys: String, CodingKey {
            case shop
            case baseURL = "base_url"
            case overlapSeconds = "overlap_seconds"
        }
    }

    public static let manifest = Manifest(
        name: "mijnwebwinkel",
        version: "1.0.0",
        description: "Mijnwebwinkel shop API (orders, products, stock; shipments)",
        streams: .init(
            read: [
                .init(name: "orders", record: "order", incremental: true),
                .init(name: "products", record: "product", incremental: true),
                .init(name: "stock", record: "stock_level", incremental: false),
            ],
            write: [.init(name: "shipment_status", record: "shipment", update: true)]),
        configSchema: [
            "type": "object",
            "properties": [
                "shop": ["type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"],
                "base_url": ["type": "string", "format": "uri"],
                "api_token": ["type": "string", "secret": true],
                "overlap_seconds": ["type": "integer", "minimum": 0],
            ],
            "additionalProperties": false,
        ],
        auth: .init(scheme: .apiKey, keyName: "token", keyIn: "query", credentials: ["key": "api_token"]),
        baseURL: .init(setting: "base_url", chosenBy: "shop", template: "https://{shop}.myonline.store")
    )

    static let root = "/api/v1"
    static let pageSize = 250

    let config: Config

    public init(config: Config, host: PluginHost) throws(ConnectorError) {
        if config.shop == nil && config.baseURL == nil {
            throw .invalidData("config: set shop (the name in {shop}.myonline.store) or base_url")
        }
        self.config = config
    }

    /// One request to the shop, with the shop's errors said in a merchant's words.
    private func get(_ path: String, query: [String: String] = [:], host: PluginHost) throws(ConnectorError) -> HTTPResponse {
        let response = try host.http(HTTPRequest(path: Self.root + path, query: query, headers: ["Accept": "application/json"]))
        switch response.status {
        case 401, 403:
            throw .auth("Mijnwebwinkel refused the API token (HTTP \(response.status)): make a new one in the shop's admin under Instellingen → API and store it with `koppel secrets set`")
        case 404 where response.body.contains("Shop not found"):
            throw .invalidData("there is no Mijnwebwinkel shop \(config.shop.map { "named \($0)" } ?? "at \(config.baseURL ?? "")"): check the connection's shop setting")
        default:
            return try response.requireSuccess("Mijnwebwinkel \(path)")
        }
    }

    /// Asks for one order: proves the address, the shop and the token.
    public func check(host: PluginHost) throws(ConnectorError) {
        _ = try get("/orders", query: ["limit": "1"], host: host)
    }

    struct Cursor: Codable {
        var modifiedSince: Date
        enum CodingKeys: String, CodingKey { case modifiedSince = "modified_since" }
    }

    private struct StockPage: Decodable {
        var stock: [MwwStock]
        var pages: Int
    }

    /// Orders and products are read by modification time from the cursor (less the
    /// overlap). A backfill (`--since`/`--until`) takes the orders *placed* in the window,
    /// which is what "the orders of March" means to a bookkeeper. Stock has no
    /// modification filter and is read whole; the ledger passes on only what changed.
    public func read(_ request: ReadRequest, host: PluginHost) throws(ConnectorError) {
        if request.stream == "stock" { return try readStock(host) }
        let stored = try request.cursor(as: Cursor.self)
        let overlap = TimeInterval(config.overlapSeconds ?? 60)
        var query = ["limit": String(Self.pageSize)]
        var start = stored.map { $0.modifiedSince.addingTimeInterval(-overlap) }
        if request.stream == "orders", request.since != nil || request.until != nil {
            start = nil
            if let since = request.since { query["created_since"] = Self.time(since) }
            if let until = request.until { query["created_until"] = Self.time(until) }
        } else if let since = request.since {
            start = since
        }
        func checkpoint(_ latest: Date?) throws(ConnectorError) {
            if let latest, request.since == nil, request.until == nil { try host.checkpoint(Cursor(modifiedSince: latest)) }
        }
        func fetch(_ after: Date?, _ page: Int) throws(ConnectorError) -> HTTPResponse {
            try host.checkCancellation()
            query["page"] = String(page)
            if let after { query["modified_since"] = Self.time(after) }
            return try get("/\(request.stream)", query: query, host: host)
        }
        if request.stream == "orders" {
            let pager = ModifiedSincePager.records(pageSize: Self.pageSize, key: { (order: MwwOrder) in order.number }, modified: \.modified.date)
            try pager.read(from: start, cursor: stored?.modifiedSince, fetch: { after, page throws(ConnectorError) in
                try fetch(after, page).decodeEach(MwwOrder.self, "Mijnwebwinkel orders", arrayAt: ["orders"], keyField: "number")
            }, emit: { order throws(ConnectorError) in
                try host.emit(order, key: \.number) { (order: MwwOrder) throws(ConnectorError) in try order.canonical() }
            }, pageDone: checkpoint)
        } else {
            let pager = ModifiedSincePager.records(pageSize: Self.pageSize, key: { (product: MwwProduct) in product.sku }, modified: \.modified.date)
            try pager.read(from: start, cursor: stored?.modifiedSince, fetch: { after, page throws(ConnectorError) in
                try fetch(after, page).decodeEach(MwwProduct.self, "Mijnwebwinkel products", arrayAt: ["products"], keyField: "sku")
            }, emit: { product throws(ConnectorError) in
                try host.emit(product, key: \.sku) { (product: MwwProduct) throws(ConnectorError) in try product.canonical() }
            }, pageDone: checkpoint)
        }
    }

    private func readStock(_ host: PluginHost) throws(ConnectorError) {
        var page = 1
        while true {
            try host.checkCancellation()
            let list = try get("/stock", query: ["limit": String(Self.pageSize), "page": String(page)], host: host)
                .decode(StockPage.self, "Mijnwebwinkel stock")
            for level in list.stock { try host.emit(level.canonical()) }
            if page >= list.pages { return }
            page += 1
        }
    }

    /// Marks an order shipped with its carrier and track & trace code. The call is a PUT
    /// of the order's shipment, so sending it again changes nothing.
    public func write(_ request: WriteRequest, host: PluginHost) throws(ConnectorError) -> WriteResult {
        let shipment = try request.record(as: Shipment.self)
        let number = shipment.orderNumber
        guard let encoded = number.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) else {
            throw .invalidData("order number \(number) cannot be used in a path")
        }
        var body: [String: JSONValue] = [:]
        if let carrier = shipment.carrier { body["carrier"] = .string(carrier) }
        if let code = shipment.trackingCode { body["track_and_trace"] = .string(code) }
        let response = try host.http(HTTPRequest(
            method: "PUT", path: "\(Self.root)/orders/\(encoded)/shipment", headers: ["Content-Type": "application/json"],
            body: JSONValue.object(body).jsonText, idempotent: true))
        if response.status == 404 { throw .notFound("Mijnwebwinkel has no order \(number) to mark shipped") }
        _ = try response.requireSuccess("Mijnwebwinkel shipment of order \(number)")
        return request.targetKey == nil ? .created(number) : .updated(number)
    }

    static func time(_ date: Date) -> String { Date.ISO8601FormatStyle().format(date) }
}

@_cdecl("koppel_plugin_entry")
public func koppelPluginEntry(_ r: UnsafePointer<koppel_entry_request>?) -> UnsafePointer<koppel_plugin>? { KoppelExport.entry(MijnwebwinkelConnector.self, r) }
