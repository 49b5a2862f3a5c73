import Foundation
import KoppelPluginSDK

/// Winstore, the shop's retail back office, through ACA's IPOS web service: articles and
/// stock read by change date (`products`, `stock_levels`), orders written with
/// `PostOrderWithStatusCode` (`orders`). The host sends the web-service user's Basic
/// credentials, paces and retries; this type knows what Winstore's calls mean.
public final class WinstoreConnector: Connector {
    public struct Config: Decodable {
        /// Whether article prices include VAT (a retail system's usually do).
        var pricesIncludeTax: Bool?
        /// Where each value sits in Winstore's answers (see `WinstoreFields`).
        var fields: WinstoreFields?
        /// Canonical attribute name to the answer's field holding it (`origin: Origin`).
        var attributeFields: [String: String]?
        /// Seconds re-read before the last change seen (R2.1: the clock is unknown).
        var overlapSeconds: Int?
        /// The branch orders are placed in, the channel they come from.
        var branch: Int?
        var channel: String?
        /// The customer orders are placed on unless a flow maps buyers (999999: walk-in).
        var customerID: Int?
        /// What a position's `product_id` carries: `sku` (the article number) or `gtin`.
        var productID: String?

        enum CodingKeys: String, CodingKey {
            case pricesIncludeTax = "prices_include_tax"
            case fields
            case attributeFields = "attribute_fields"
            case overlapSeconds = "overlap_seconds"
            case branch, channel
            case customerID = "customer_id"
            case productID = "product_id"
        }
    }

    public static let manifest = Manifest(
        name: "winstore",
        version: "2.0.0",
        description: "Winstore retail back office, ACA's IPOS web service (articles, stock, orders)",
        streams: .init(
            read: [
                .init(name: "products", record: "product", incremental: true),
                .init(name: "stock_levels", record: "stock_level", incremental: true),
            ],
            write: [.init(name: "orders", record: "order", update: false)]),
        configSchema: [
            "type": "object",
            "properties": [
                "base_url": ["type": "string", "format": "uri"],
                "username": ["type": "string"],
                "password": ["type": "string", "secret": true],
                "prices_include_tax": ["type": "boolean"],
                "fields": [
                    "type": "object",
                    "properties": .object(Dictionary(uniqueKeysWithValues: WinstoreFields.names.map { ($0, ["type": "string"]) })),
                    "additionalProperties": false,
                ],
                "attribute_fields": ["type": "object", "additionalProperties": ["type": "string"]],
                "overlap_seconds": ["type": "integer", "minimum": 0],
                "branch": ["type": "integer", "minimum": 0],
                "channel": ["type": "string"],
                "customer_id": ["type": "integer", "minimum": 1],
                "product_id": ["type": "string", "enum": ["sku", "gtin"]],
            ],
            "required": ["username"],
            "additionalProperties": false,
        ],
        auth: .init(scheme: .basic),
        baseURL: .init(setting: "base_url", default: "https://winstore-c.aca.nl/iposws/api/osd")
    )

    let config: Config
    var fields: WinstoreFields { config.fields ?? WinstoreFields() }

    public init(config: Config, host: PluginHost) throws(ConnectorError) {
        self.config = config
    }

    /// `GetSuppliers`: the smallest call there is; proves the URL and the user.
    public func check(host: PluginHost) throws(ConnectorError) {
        _ = try WinstoreAPI(host: host).get("GetSuppliers")
    }

    /// The last change seen (ATOM text as Winstore wrote it).
    struct Cursor: Codable {
        var changed: Date
    }

    public func read(_ request: ReadRequest, host: PluginHost) throws(ConnectorError) {
        let api = WinstoreAPI(host: host)
        let backfill = request.since != nil || request.until != nil
        let stored = backfill ? nil : try request.cursor(as: Cursor.self)
        // R2.1: no paging and no end; everything changed since, less an overlap.
        let from = request.since ?? stored.map { $0.changed.addingTimeInterval(-Double(config.overlapSeconds ?? 300)) } ?? Date(timeIntervalSince1970: 946_684_800)
        let date = WinstoreAPI.atom.string(from)
        var latest = stored?.changed
        switch request.stream {
        case "products":
            let records = try api.get("GetArticleDataChangesByDate", [("date", date)]).decodeEach([String: JSONValue].self, "Winstore articles", keyField: fields.key)
            for record in records {
                let changed = try emitArticle(record, until: request.until, host: host)
                if let changed, changed > (latest ?? .distantPast) { latest = changed }
            }
        case "stock_levels":
            struct Options: Decodable { var warehouse: String? }
            let options = try request.options(as: Options.self)
            let rows = try (options?.warehouse == nil
                ? api.get("GetChangedStock", [("date", date)])
                : api.get("GetChangedStockWithWarehouse", [("date", date), ("outOfStock", "1")]))
                .decodeEach([String: JSONValue].self, "Winstore stock", keyField: fields.key)
            for row in rows {
                if let values = row.decoded, let warehouse = options?.warehouse, WinstoreRecord(values: values).text(fields.warehouse) != warehouse { continue }
                var changed: Date?
                try host.emit(row, key: { WinstoreRecord(values: $0).text(self.fields.key) ?? "?" }) { (values: [String: JSONValue]) throws(ConnectorError) -> StockLevel in
                    let row = WinstoreRecord(values: values)
                    let key = try row.required(fields.key, "article key")
                    changed = try row.time(fields.changed)
                    guard let quantity = try row.decimal(fields.stock) else { throw .invalidData("$.\(fields.stock) (stock) is missing") }
                    return StockLevel(sourceKey: options?.warehouse.map { "\(key)@\($0)" } ?? key, updatedAt: changed!,
                                      sku: try row.required(fields.sku, "article number"), warehouse: options?.warehouse, quantity: quantity)
                }
                if let changed, changed > (latest ?? .distantPast) { latest = changed }
            }
        default:
            throw .invalidData("winstore has no stream \(request.stream)")
        }
        if !backfill, let latest, latest != stored?.changed { try host.checkpoint(Cursor(changed: latest)) }
    }

    /// An article and its variants (R2.5: they come together): the article a product of
    /// its own (`variable` when it has variants), each variant a product. Returns the
    /// article's change time.
    private func emitArticle(_ record: PageRecord<[String: JSONValue]>, until: Date?, host: PluginHost) throws(ConnectorError) -> Date? {
        guard case .record(let values) = record else {
            if case .unreadable(let key, let reason) = record { try host.emitUnreadable(sourceKey: key, reason: reason) }
            return nil
        }
        let article = WinstoreRecord(values: values)
        let key = article.text(fields.key) ?? "?"
        let changed = try? article.time(fields.changed)
        if let until, let changed, changed >= until { return nil }
        let variants = article.records(fields.variants)
        try host.emit(key: key) { () throws(ConnectorError) -> Product in
            try product(article, kind: variants.isEmpty ? .simple : .variable, inherit: nil)
        }
        for variant in variants {
            try host.emit(key: variant.text(fields.key) ?? "\(key)/?") { () throws(ConnectorError) -> Product in
                try product(variant, kind: .variant, inherit: article)
            }
        }
        return changed
    }

    /// An article (or a variant, taking what it lacks from its article) as a product.
    private func product(_ record: WinstoreRecord, kind: Product.Kind, inherit parent: WinstoreRecord?) throws(ConnectorError) -> Product {
        func value(_ field: String) -> String? { record.text(field) ?? parent?.text(field) }
        func number(_ field: String) throws(ConnectorError) -> DecimalNumber? {
            if let own = try record.decimal(field) { return own }
            return try parent?.decimal(field)
        }
        let price = try number(fields.price)
        let includes = config.pricesIncludeTax ?? true
        var attributes: [String: String] = [:]
        for (name, field) in config.attributeFields ?? [:] { attributes[name] = value(field) }
        let key = try record.required(fields.key, "article key"), changed = try (parent ?? record).time(fields.changed)
        let sku = try record.required(fields.sku, "article number"), vatRate = try number(fields.vatRate), stock = try record.decimal(fields.stock)
        let name: String
        if let given = value(fields.name) { name = given } else { name = try record.required(fields.name, "name") }
        return Product(
            sourceKey: key, updatedAt: changed, sku: sku, ean: value(fields.gtin), kind: kind, name: name, description: value(fields.description),
            priceExclVAT: includes ? nil : price, priceInclVAT: includes ? price : nil, vatRate: vatRate, stockQuantity: stock, attributes: attributes)
    }

    public func write(_ request: WriteRequest, host: PluginHost) throws(ConnectorError) -> WriteResult {
        /// A flow's `mapping: options: { customer_id: … }` overrides the connection's.
        struct Options: Decodable {
            var customerID: Int?
            enum CodingKeys: String, CodingKey { case customerID = "customer_id" }
        }
        let options = try request.mappingOptions(as: Options.self)
        let writer = WinstoreOrderWriter(
            api: WinstoreAPI(host: host), branch: config.branch ?? 1, channel: config.channel ?? "Webshop",
            customerID: options?.customerID ?? config.customerID ?? WinstoreOrderWriter.walkIn, productID: config.productID ?? "sku")
        return try writer.write(try request.record(as: WinstoreOrderRecord.self), reconcile: request.reconcile)
    }
}

@_cdecl("koppel_plugin_entry")
public func koppelPluginEntry(_ r: UnsafePointer<koppel_entry_request>?) -> UnsafePointer<koppel_plugin>? { KoppelExport.entry(WinstoreConnector.self, r) }
