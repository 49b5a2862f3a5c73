import Foundation
import KoppelPluginSDK

/// WooCommerce REST API v3: orders (with their refunds), customers and products (with
/// their variations) as sources, incremental by `date_modified_gmt`; customers as a
/// target. The host signs every request (Basic over HTTPS, the key in the query where a
/// host strips the header, OAuth 1.0a over plain HTTP), paces it and retries it; this
/// type only knows what WooCommerce's records mean and where the shop serves them.
public final class WooCommerceConnector: Connector {
    public struct Config: Decodable {
        var baseURL: String
        /// Only orders in these statuses are read (default: all). A refunded order is read
        /// for its refunds whatever the list says.
        var orderStatuses: [String]?
        /// How far before the cursor each read starts again, so records sharing the
        /// boundary second are never missed (the ledger absorbs the overlap).
        var overlapSeconds: Int?
        /// Whether the shop's product prices are entered including VAT.
        var pricesIncludeTax: Bool?
        /// The role of the users the customers stream reads (default `customer`: buyers,
        /// not staff); `all` reads every user.
        var customerRole: String?
        /// Whether the customers stream into WooCommerce may create customers; WooCommerce
        /// e-mails each customer it creates. False: only customers that exist are updated.
        var createCustomers: Bool?
        /// Orders placed within these days (default 14) are read again every
        /// `recheck_hours` (default 24), whether or not their modification time moved: on
        /// classic order storage an edit of an order's items or totals, or a partial
        /// refund, leaves it as it was. 0 days: never.
        var recheckDays: Int?
        var recheckHours: Int?
        /// The secret the shop's webhooks are signed with (made by `koppel webhooks`).
        var webhookSecret: String?
        enum CodingKeys: String, CodingKey {
            case baseURL = "base_url"
            case webhookSecret = "webhook_secret"
            case orderStatuses = "order_statuses"
            case overlapSeconds = "overlap_seconds"
            case pricesIncludeTax = "prices_include_tax"
            case customerRole = "customer_role"
            case createCustomers = "create_customers"
            case recheckDays = "recheck_days"
            case recheckHours = "recheck_hours"
        }
    }

    public static let manifest = Manifest(
        name: "woocommerce",
        version: "1.2.0",
        description: "WooCommerce REST API v3 (orders with their refunds, customers, products with their variations; the shipped status)",
        streams: .init(
            read: [
                // `order.updated` also fires for refunds (captured/webhooks.json, hooks).
                .init(name: "orders", record: "order", incremental: true, webhookTopics: ["order.created", "order.updated"]),
                .init(name: "customers", record: "customer", incremental: true, webhookTopics: ["customer.created", "customer.updated"]),
                .init(name: "products", record: "product", incremental: true, webhookTopics: ["product.created", "product.updated"]),
            ],
            write: [
                .init(
                    name: "customers", record: "customer", update: true,
                    notice: "WooCommerce e-mails every customer it creates an \"account created\" message; set create_customers: false on the connection to only update customers the shop already has"),
                .init(
                    name: "shipment_status", record: "shipment", update: true,
                    notice: "an order marked shipped becomes completed, and WooCommerce e-mails the buyer its \"order completed\" message; the track and trace is a private order note"),
            ]),
        configSchema: [
            "type": "object",
            "properties": [
                "base_url": ["type": "string", "format": "uri"],
                "consumer_key": ["type": "string"],
                "consumer_secret": ["type": "string", "secret": true],
                "webhook_secret": ["type": "string", "secret": true],
                "auth_in_query": ["type": "boolean"],
                "order_statuses": ["type": "array", "items": ["type": "string"]],
                "overlap_seconds": ["type": "integer", "minimum": 0],
                "prices_include_tax": ["type": "boolean"],
                "customer_role": ["type": "string"],
                "create_customers": ["type": "boolean"],
                "recheck_days": ["type": "integer", "minimum": 0],
                "recheck_hours": ["type": "integer", "minimum": 0],
            ],
            "required": ["base_url"],
            "additionalProperties": false,
        ],
        auth: .init(
            scheme: .basic, credentials: ["username": "consumer_key", "password": "consumer_secret"], plainHTTP: .oauth1,
            queryCredentials: .init(username: "consumer_key", password: "consumer_secret", setting: "auth_in_query")),
        webhooks: .init(
            signature: "hmac-sha256-base64", header: "X-WC-Webhook-Signature", deliveryIDHeader: "X-WC-Webhook-Delivery-ID",
            pingBodyPrefix: "webhook_id=", generateSecret: true)
    )

    let config: Config

    public init(config: Config, host: PluginHost) throws(ConnectorError) {
        self.config = config
    }

    private func api(_ host: PluginHost) throws(ConnectorError) -> WooCommerceAPI {
        WooCommerceAPI(host: host, root: try WooRESTRoot.find(host), overlap: TimeInterval(config.overlapSeconds ?? 60))
    }

    /// Finds the REST root and reads one order: proves the URL, the credentials and the API.
    public func check(host: PluginHost) throws(ConnectorError) {
        let root = try WooRESTRoot.find(host)
        try host.http(root.request("orders", query: ["per_page": "1"])).requireSuccess("WooCommerce orders")
        host.log(.info, root == .plainPermalinks
            ? "the shop serves its REST API at /?rest_route=/wc/v3 (plain permalinks)"
            : "the shop serves its REST API at /wp-json/wc/v3")
    }

    public func read(_ request: ReadRequest, host: PluginHost) throws(ConnectorError) {
        let api = try api(host)
        switch request.stream {
        case "orders":
            // A refund of everything makes the order `refunded`: asked for too, for its refunds.
            let statuses = config.orderStatuses.map { ["status": Set($0 + ["refunded"]).sorted().joined(separator: ",")] } ?? [:]
            if request.since == nil, request.until == nil, request.cursorJSON != nil { try recheckRecentOrders(api, filters: statuses) }
            try api.readModified("orders", request, filters: statuses) { (order: PageRecord<WooOrder>) throws(ConnectorError) in
                try emit(order, api)
            }
        case "customers":
            try api.readModified("customers", request, filters: ["role": config.customerRole ?? "customer"]) { (customer: PageRecord<WooCustomer>) throws(ConnectorError) in
                try host.emit(customer, key: { String($0.id) }) { $0.canonical() }
            }
        default:
            try api.readModified("products", request) { (product: PageRecord<WooProduct>) throws(ConnectorError) in
                try emit(product, api)
            }
        }
    }

    /// An order, then each of its refunds as a record of its own (after the order, which
    /// the host delivers first). An order outside `order_statuses` (refunded since it
    /// was read) brings only its refunds.
    private func emit(_ item: PageRecord<WooOrder>, _ api: WooCommerceAPI) throws(ConnectorError) {
        guard case .record(let order) = item else {
            return try api.host.emit(item, key: { String($0.id) }) { (order: WooOrder) throws(ConnectorError) in try order.canonical() }
        }
        let wanted = config.orderStatuses.map { $0.contains(order.status) } ?? true
        guard wanted || !(order.refunds ?? []).isEmpty else { return }
        var canonical: Order?
        if wanted {
            try api.host.emit(key: String(order.id)) { () throws(ConnectorError) in
                let made = try order.canonical()
                canonical = made
                return made
            }
        } else {
            canonical = try? order.canonical()
        }
        guard let canonical, !(order.refunds ?? []).isEmpty else { return }
        try api.all("orders/\(order.id)/refunds") { (refund: PageRecord<WooRefund>) throws(ConnectorError) in
            try api.host.emit(refund, key: { "\(order.id)-refund-\($0.id)" }) { $0.canonical(of: order, base: canonical) }
        }
    }

    /// A variable product, then its variations as products of their own; a variation
    /// alone (a webhook names one) with its parent's name and SKU.
    private func emit(_ item: PageRecord<WooProduct>, _ api: WooCommerceAPI) throws(ConnectorError) {
        let pricesIncludeTax = config.pricesIncludeTax ?? false
        guard case .record(let product) = item else { return try api.host.emit(item, key: { String($0.id) }) { $0.canonical(pricesIncludeTax: pricesIncludeTax) } }
        if product.isVariation, let parentID = product.parentID, parentID > 0 {
            let parent = try api.one("products", parentID, as: WooProduct.self)
            return try api.host.emit(product.canonical(pricesIncludeTax: pricesIncludeTax, parent: parent))
        }
        try api.host.emit(product.canonical(pricesIncludeTax: pricesIncludeTax))
        guard product.isVariable, !(product.variations ?? []).isEmpty else { return }
        try api.all("products/\(product.id)/variations") { (variation: PageRecord<WooProduct>) throws(ConnectorError) in
            try api.host.emit(variation, key: { String($0.id) }) { $0.canonical(pricesIncludeTax: pricesIncludeTax, parent: product) }
        }
    }

    /// Every `recheck_hours`, the orders placed in the last `recheck_days` are read again
    /// whatever their modification time says (woocommerce#34798): the ledger passes over
    /// what did not change, and what did (an edit, a partial refund) is delivered.
    private func recheckRecentOrders(_ api: WooCommerceAPI, filters: [String: String]) throws(ConnectorError) {
        let days = config.recheckDays ?? 14
        let key = "orders_rechecked_at"
        let now = api.host.now
        guard days > 0 else { return }
        let every = TimeInterval(config.recheckHours ?? 24) * 3600
        if let last = try api.host.state.get(key).flatMap(WooCommerceAPI.parse), now.timeIntervalSince(last) < every { return }
        var query = filters
        query["after"] = WooCommerceAPI.format(now.addingTimeInterval(-Double(days) * 86_400))
        query["dates_are_gmt"] = "true"
        query["orderby"] = "id"
        query["order"] = "asc"
        try api.all("orders", query: query) { (order: PageRecord<WooOrder>) throws(ConnectorError) in try emit(order, api) }
        try api.host.state.set(key, WooCommerceAPI.format(now))
    }

    /// A delivery names the changed record (`X-WC-Webhook-Resource` and the body's `id`);
    /// the record is fetched again rather than taken from the body, because deliveries
    /// can arrive late or out of order and the body may be older than the record.
    public func webhook(_ delivery: WebhookDelivery, host: PluginHost) throws(ConnectorError) {
        let collection = (delivery.headers["x-wc-webhook-resource"] ?? "") + "s"
        guard collection == delivery.stream, delivery.headers["x-wc-webhook-event"] != "deleted" else { return }
        struct Named: Decodable { var id: Int }
        let id = try delivery.payload(as: Named.self).id
        let api = try api(host)
        switch collection {
        case "orders":
            guard let order = try api.one("orders", id, as: WooOrder.self) else { return }  // deleted since
            try emit(.record(order), api)
        case "customers":
            guard let customer = try api.one("customers", id, as: WooCustomer.self) else { return }
            try host.emit(key: String(id)) { customer.canonical() }
        default:
            guard let product = try api.one("products", id, as: WooProduct.self) else { return }
            try emit(.record(product), api)
        }
    }

    public func subscriptions(host: PluginHost) throws(ConnectorError) -> [Subscription] {
        try webhooks(host).list()
    }

    public func subscribe(topic: String, callbackURL: String, host: PluginHost) throws(ConnectorError) -> Subscription {
        try webhooks(host).create(topic: topic, callbackURL: callbackURL)
    }

    public func enableSubscription(id: String, host: PluginHost) throws(ConnectorError) -> Subscription {
        try webhooks(host).enable(id: id)
    }

    public func unsubscribe(id: String, host: PluginHost) throws(ConnectorError) {
        try webhooks(host).delete(id: id)
    }

    private func webhooks(_ host: PluginHost) throws(ConnectorError) -> WooWebhooks {
        WooWebhooks(api: try api(host), secret: config.webhookSecret)
    }

    public func write(_ request: WriteRequest, host: PluginHost) throws(ConnectorError) -> WriteResult {
        // The record is decoded first: one that cannot be read is refused before any call.
        if request.stream == "shipment_status" {
            let shipment = try request.record(as: Shipment.self)
            return try WooShipmentWriter(api: try api(host)).write(shipment, knownID: request.targetKey)
        }
        let customer = try request.record(as: Customer.self)
        return try WooCustomerWriter(api: try api(host), create: config.createCustomers ?? true).write(customer, knownID: request.targetKey)
    }
}

@_cdecl("koppel_plugin_entry")
public func koppelPluginEntry(_ r: UnsafePointer<koppel_entry_request>?) -> UnsafePointer<koppel_plugin>? { KoppelExport.entry(WooCommerceConnector.self, r) }
