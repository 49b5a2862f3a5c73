import Foundation
import KoppelPluginSDK

/// WooCommerce REST API v3: orders, customers and products as sources (incremental by
/// `date_modified_gmt`), customers as a target. The host signs every request (Basic over
/// HTTPS, OAuth 1.0a over plain HTTP), paces it and retries it; this type only knows what
/// WooCommerce's records mean.
public final class WooCommerceConnector: Connector {
    public struct Config: Decodable {
        var baseURL: String
        /// Only orders in these statuses are read (default: all).
        var orderStatuses: [String]?
        /// How far before the cursor each read starts again, so records sharing the
        /// boundary second are never missed (the ledger absorbs the overlap).
        var overlapSeconds: Int?
        /// Whether the shop's product prices are entered including VAT.
        var pricesIncludeTax: Bool?
        enum CodingKeys: String, CodingKey {
            case baseURL = "base_url"
            case orderStatuses = "order_statuses"
            case overlapSeconds = "overlap_seconds"
            case pricesIncludeTax = "prices_include_tax"
        }
    }

    public static let manifest = Manifest(
        name: "woocommerce",
        version: "1.0.0",
        description: "WooCommerce REST API v3 (orders, customers, products)",
        streams: .init(
            read: [
                .init(name: "orders", record: "order", incremental: true),
                .init(name: "customers", record: "customer", incremental: true),
                .init(name: "products", record: "product", incremental: true),
            ],
            write: [.init(name: "customers", record: "customer", update: true)]),
        configSchema: [
            "type": "object",
            "properties": [
                "base_url": ["type": "string", "format": "uri"],
                "consumer_key": ["type": "string"],
                "consumer_secret": ["type": "string", "secret": true],
                "webhook_secret": ["type": "string", "secret": true],
                "order_statuses": ["type": "array", "items": ["type": "string"]],
                "overlap_seconds": ["type": "integer", "minimum": 0],
                "prices_include_tax": ["type": "boolean"],
            ],
            "required": ["base_url"],
            "additionalProperties": false,
        ],
        auth: .init(
            scheme: .basic, credentials: ["username": "consumer_key", "password": "consumer_secret"], plainHTTP: .oauth1),
        webhooks: .init(
            signature: "hmac-sha256-base64", header: "X-WC-Webhook-Signature", deliveryIDHeader: "X-WC-Webhook-Delivery-ID",
            pingBodyPrefix: "webhook_id=")
    )

    let config: Config

    public init(config: Config, host: PluginHost) throws(ConnectorError) {
        self.config = config
    }

    /// Reads one order: proves the URL, the credentials and the REST API.
    public func check(host: PluginHost) throws(ConnectorError) {
        try host.http(HTTPRequest(path: WooCommerceAPI.root + "/orders", query: ["per_page": "1"]))
            .requireSuccess("WooCommerce orders")
    }

    public func read(_ request: ReadRequest, host: PluginHost) throws(ConnectorError) {
        let api = WooCommerceAPI(host: host, overlap: TimeInterval(config.overlapSeconds ?? 60))
        switch request.stream {
        case "orders":
            let statuses = config.orderStatuses.map { ["status": $0.joined(separator: ",")] } ?? [:]
            try api.readModified("orders", request, filters: statuses) { (order: WooOrder) throws(ConnectorError) in
                try host.emit(order.canonical())
            }
        case "customers":
            try api.readModified("customers", request, filters: ["role": "all"]) { (customer: WooCustomer) throws(ConnectorError) in
                try host.emit(customer.canonical())
            }
        default:
            let pricesIncludeTax = config.pricesIncludeTax ?? false
            try api.readModified("products", request) { (product: WooProduct) throws(ConnectorError) in
                try host.emit(product.canonical(pricesIncludeTax: pricesIncludeTax))
            }
        }
    }

    /// A delivery names the changed record (`X-WC-Webhook-Resource` and the body's `id`);
    /// the record is fetched again rather than taken from the body, because deliveries
    /// can arrive late or out of order and the body may be older than the record.
    public func webhook(_ delivery: WebhookDelivery, host: PluginHost) throws(ConnectorError) {
        let collection = (delivery.headers["x-wc-webhook-resource"] ?? "") + "s"
        guard collection == delivery.stream, delivery.headers["x-wc-webhook-event"] != "deleted" else { return }
        struct Named: Decodable { var id: Int }
        let id = try delivery.payload(as: Named.self).id
        let response = try host.http(HTTPRequest(path: "\(WooCommerceAPI.root)/\(collection)/\(id)"))
        if response.status == 404 { return }  // deleted since
        let found = try response.requireSuccess("WooCommerce \(collection) \(id)")
        switch collection {
        case "orders":
            let order = try found.decode(WooOrder.self, "WooCommerce order \(id)")
            if let statuses = config.orderStatuses, !statuses.contains(order.status) { return }
            try host.emit(order.canonical())
        case "customers":
            try host.emit(try found.decode(WooCustomer.self, "WooCommerce customer \(id)").canonical())
        default:
            try host.emit(try found.decode(WooProduct.self, "WooCommerce product \(id)").canonical(pricesIncludeTax: config.pricesIncludeTax ?? false))
        }
    }

    public func write(_ request: WriteRequest, host: PluginHost) throws(ConnectorError) -> WriteResult {
        let customer = try request.record(as: Customer.self)
        return try WooCustomerWriter(host: host).write(customer, knownID: request.targetKey)
    }
}

@_cdecl("koppel_plugin_entry")
public func koppelPluginEntry(_ r: UnsafePointer<koppel_entry_request>?) -> UnsafePointer<koppel_plugin>? { KoppelExport.entry(WooCommerceConnector.self, r) }
