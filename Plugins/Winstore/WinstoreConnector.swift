import Foundation
import KoppelPluginSDK

/// Winstore webshop API: products as a source (incremental by `updated_at`), orders as a
/// target (with their customers). The host sends the API key, paces and retries; this
/// type only knows what Winstore's records mean.
public final class WinstoreConnector: Connector {
    public struct Config: Decodable {
        var baseURL: String
        /// Place every order on this Winstore customer number instead of one per buyer.
        var defaultCustomer: String?
        /// Whether the shop's product prices are entered including VAT.
        var pricesIncludeTax: Bool?
        enum CodingKeys: String, CodingKey {
            case baseURL = "base_url"
            case defaultCustomer = "default_customer"
            case pricesIncludeTax = "prices_include_tax"
        }
    }

    public static let manifest = Manifest(
        name: "winstore",
        version: "1.0.0",
        description: "Winstore webshop API (products, orders, customers)",
        streams: .init(
            read: [.init(name: "products", record: "product", incremental: true)],
            write: [.init(name: "orders", record: "order", update: false)]),
        configSchema: [
            "type": "object",
            "properties": [
                "base_url": ["type": "string", "format": "uri"],
                "api_key": ["type": "string", "secret": true],
                "default_customer": ["type": "string"],
                "prices_include_tax": ["type": "boolean"],
            ],
            "required": ["base_url"],
            "additionalProperties": false,
        ],
        auth: .init(scheme: .apiKey, keyName: "X-Api-Key", keyIn: "header", credentials: ["key": "api_key"])
    )

    let config: Config

    public init(config: Config, host: PluginHost) throws(ConnectorError) {
        self.config = config
    }

    /// Reads one product: proves the URL and the API key.
    public func check(host: PluginHost) throws(ConnectorError) {
        let _: ([WinstoreProduct], Bool) = try WinstoreAPI(host: host).page("products", query: ["per_page": "1"], page: 1)
    }

    /// Products changed since the cursor, oldest first, 100 a page, checkpointing after
    /// each page; a backfill window reads the products changed inside it.
    public func read(_ request: ReadRequest, host: PluginHost) throws(ConnectorError) {
        /// Kept as Winstore's own text, to the millisecond.
        struct Cursor: Codable {
            var updatedAfter: String
            enum CodingKeys: String, CodingKey { case updatedAfter = "updated_after" }
        }
        let api = WinstoreAPI(host: host)
        let stored = try request.cursor(as: Cursor.self).flatMap { WinstoreAPI.date($0.updatedAfter) }
        let backfill = request.since != nil || request.until != nil
        // Winstore keeps milliseconds and its `updated_after` is exclusive.
        let pager = ModifiedSincePager.records(
            pageSize: WinstoreAPI.pageSize, resolution: 0.001, key: { (product: WinstoreProduct) in String(product.id) }, modified: \.updated)
        try pager.read(from: request.since ?? stored, cursor: stored, fetch: { after, page throws(ConnectorError) in
            var query = ["sort": "updated_at"]
            if let after { query["updated_after"] = WinstoreAPI.format(after) }
            return try api.records("products", query: query, page: page).rows
        }, emit: { product throws(ConnectorError) in
            if let until = request.until, let updated = product.decoded?.updated, updated >= until { return }
            try host.emit(product, key: { String($0.id) }) { (product: WinstoreProduct) throws(ConnectorError) in
                try product.canonical(pricesIncludeTax: config.pricesIncludeTax ?? false)
            }
        }, pageDone: { latest throws(ConnectorError) in
            if !backfill, let latest { try host.checkpoint(Cursor(updatedAfter: WinstoreAPI.format(latest))) }
        })
    }

    public func write(_ request: WriteRequest, host: PluginHost) throws(ConnectorError) -> WriteResult {
        /// A flow's `mapping: options: { default_customer: … }` overrides the connection's.
        struct Options: Decodable {
            var defaultCustomer: String?
            enum CodingKeys: String, CodingKey { case defaultCustomer = "default_customer" }
        }
        let options = try request.mappingOptions(as: Options.self)
        return try WinstoreOrderWriter(api: WinstoreAPI(host: host), defaultCustomer: options?.defaultCustomer ?? config.defaultCustomer)
            .write(try request.record(as: WinstoreOrderRecord.self))
    }
}

@_cdecl("koppel_plugin_entry")
public func koppelPluginEntry(_ r: UnsafePointer<koppel_entry_request>?) -> UnsafePointer<koppel_plugin>? { KoppelExport.entry(WinstoreConnector.self, r) }
