import Foundation
import KoppelPluginSDK

/// Exact Online: orders booked as sales invoices, sales orders or sales entries; accounts
/// and items both ways; sales orders, sales invoices, suppliers and stock as sources. Tokens, pacing under Exact's limits
/// (about 60 calls a minute per division) and retries are the host's; this type knows
/// what Exact's entities mean.
public final class ExactOnlineConnector: Connector {
    public struct Config: Decodable {
        /// nl, be, uk, de, fr, es or us; chooses the base URL unless `base_url` is given.
        var region: String?
        var baseURL: String?
        /// The division (administration); discovered through current/Me when absent.
        var division: Int?
        /// Exact statuses of the sales orders the `sales_orders` source reads.
        var salesOrderStatuses: [Int]?
        /// How orders become documents (flows may override any of it).
        var settings: ExactSettings

        enum CodingKeys: String, CodingKey {
            case region, division
            case baseURL = "base_url"
            case salesOrderStatuses = "sales_order_statuses"
        }

        public init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            region = try container.decodeIfPresent(String.self, forKey: .region)
            baseURL = try container.decodeIfPresent(String.self, forKey: .baseURL)
            division = try container.decodeIfPresent(Int.self, forKey: .division)
            salesOrderStatuses = try container.decodeIfPresent([Int].self, forKey: .salesOrderStatuses)
            settings = try ExactSettings(from: decoder)
        }
    }

    static let costTargetSchema: JSONValue = [
        "type": "object",
        "properties": ["item": ["type": "string"], "gl_account": ["type": "string"]],
        "additionalProperties": false,
    ]
    static let codeMapSchema: JSONValue = ["type": "object", "additionalProperties": ["type": "string"]]

    public static let manifest = Manifest(
        name: "exact-online",
        version: "1.1.0",
        description: "Exact Online REST API (accounts, items, sales invoices, orders and entries)",
        streams: .init(
            read: [
                .init(name: "accounts", record: "customer", incremental: true, webhookTopics: ["Accounts"]),
                .init(name: "items", record: "product", incremental: true, webhookTopics: ["Items"]),
                .init(name: "sales_orders", record: "order", incremental: true, webhookTopics: ["SalesOrders"]),
                .init(name: "sales_invoices", record: "order", incremental: true, webhookTopics: ["SalesInvoices"]),
                .init(name: "stock", record: "stock_level", incremental: true, webhookTopics: ["StockPositions"]),
                .init(name: "suppliers", record: "supplier", incremental: true),
            ],
            write: [
                .init(name: "sales_invoices", record: "order", update: false, refunds: true),
                .init(name: "sales_orders", record: "order", update: false),
                .init(name: "sales_entries", record: "order", update: false, refunds: true),
                .init(name: "accounts", record: "customer", update: true),
                .init(name: "items", record: "product", update: true),
            ]),
        configSchema: [
            "type": "object",
            "properties": [
                "region": ["type": "string", "enum": ["nl", "be", "uk", "de", "fr", "es", "us"]],
                "base_url": ["type": "string", "format": "uri"],
                "division": ["type": "integer"],
                "client_id": ["type": "string"],
                "client_secret": ["type": "string", "secret": true],
                "redirect_uri": ["type": "string", "format": "uri"],
                "sales_order_statuses": ["type": "array", "items": ["type": "integer"]],
                "journal": ["type": "string"],
                "vat_codes": codeMapSchema,
                "revenue_accounts": codeMapSchema,
                "shipping": costTargetSchema,
                "payment_costs": costTargetSchema,
                "discounts": costTargetSchema,
                "cost_center": ["type": "string"],
                "cost_unit": ["type": "string"],
                "default_debtor": ["type": "string"],
                "warehouse": ["type": "string"],
                "update_accounts": ["type": "boolean"],
                "update_items": ["type": "boolean"],
                "process_invoices": ["type": "boolean"],
                "currency": ["type": "string"],
                "item_attributes": codeMapSchema,
                "webhook_secret": ["type": "string", "secret": true],
            ],
            "additionalProperties": false,
        ],
        auth: .init(
            scheme: .oauth2, authorizeURL: "{base_url}/api/oauth2/auth", tokenURL: "{base_url}/api/oauth2/token",
            rotatingRefreshTokens: true, refreshTokenIdleDays: 30),
        rateLimits: [
            .init(scope: "division", limit: 60, perSeconds: 60),
            .init(scope: "division", limit: 5000, perSeconds: 86_400),
        ],
        // R-RATE-6: ten error answers per endpoint in an hour block the endpoint.
        errorBudget: .init(limit: 10, perSeconds: 3600, statuses: [400, 401, 403, 404]),
        // R-HOOK-4: the app's secret signs `Content`; R-HOOK-5: https callbacks only.
        webhooks: .init(envelopeSignedMember: "Content", signatureMember: "HashCode", httpsOnly: true),
        baseURL: .init(setting: "base_url", chosenBy: "region", choices: ExactOnlineConnector.regions)
    )

    /// The Exact webhook topic that announces changes to each readable stream (R-HOOK-6).
    static let webhookTopics = Dictionary(uniqueKeysWithValues: manifest.streams.read.compactMap { stream in
        stream.webhookTopics?.first.map { (stream.name, $0) }
    })

    /// The base URL of each Exact Online region.
    static let regions = [
        "nl": "https://start.exactonline.nl", "be": "https://start.exactonline.be",
        "uk": "https://start.exactonline.co.uk", "de": "https://start.exactonline.de",
        "fr": "https://start.exactonline.fr", "es": "https://start.exactonline.es",
        "us": "https://start.exactonline.com",
    ]

    let config: Config
    /// Documents already in Exact, read in bulk for reconciling writes.
    private let booked = BookedDocuments()

    public init(config: Config, host: PluginHost) throws(ConnectorError) {
        if config.region == nil && config.baseURL == nil {
            throw .invalidData("config: set region (nl, be, uk, de, fr, es, us) or base_url")
        }
        self.config = config
    }

    private struct Me: Decodable {
        struct Results: Decodable { var results: [User] }
        struct User: Decodable {
            var CurrentDivision: Int
            var FullName: String?
        }
        var d: Results
    }

    private func me(_ host: PluginHost) throws(ConnectorError) -> Me.User {
        let response = try host.http(HTTPRequest(
            path: "/api/v1/current/Me", query: ["$select": "CurrentDivision,FullName"], headers: ["Accept": "application/json"]))
        let me = try response.requireSuccess("Exact Online current/Me").decode(Me.self, "Exact Online current/Me")
        guard let user = me.d.results.first else { throw .auth("Exact Online knows no current user for this token") }
        return user
    }

    /// Asks Exact who the signed-in user is (`current/Me`): proves the base URL, the
    /// token and the division.
    public func check(host: PluginHost) throws(ConnectorError) {
        let user = try me(host)
        host.log(.info, "signed in to Exact Online as \(user.FullName ?? "?"), division \(config.division ?? user.CurrentDivision)")
    }

    /// The configured division, or the user's current one (asked once, then remembered).
    private func api(_ host: PluginHost) throws(ConnectorError) -> ExactAPI {
        if let division = config.division { return ExactAPI(host: host, division: division) }
        if let stored = try host.state.get("division").flatMap(Int.init) { return ExactAPI(host: host, division: stored) }
        let division = try me(host).CurrentDivision
        try host.state.set("division", String(division))
        return ExactAPI(host: host, division: division)
    }

    public func read(_ request: ReadRequest, host: PluginHost) throws(ConnectorError) {
        let options = try request.options(as: ExactReadOptions.self) ?? ExactReadOptions()
        try reader(api(host), options).read(request)
    }

    /// Exact's deliveries carry only the changed record's key (`Content.Key`); the record
    /// itself is fetched. A deletion of an account or item is passed on as one; other
    /// topics are not records of the stream.
    public func webhook(_ delivery: WebhookDelivery, host: PluginHost) throws(ConnectorError) {
        struct Notification: Decodable {
            struct Content: Decodable {
                var Topic: String
                var Action: String?
                var Key: String
                var Division: Int?
            }
            var Content: Content
        }
        let content = try delivery.payload(as: Notification.self).Content
        guard Self.webhookTopics[delivery.stream] == content.Topic else { return }
        let api = try api(host)
        if let division = content.Division, division != api.division { return }
        let options = try delivery.options(as: ExactReadOptions.self) ?? ExactReadOptions()
        if content.Action == "Delete" {
            try reader(api, options).emitDeletion(delivery.stream, key: content.Key)
        } else {
            try reader(api, options).readOne(delivery.stream, key: content.Key)
        }
    }

    /// The division's subscriptions (R-HOOK-1). Exact has no state for one: a
    /// subscription whose validation failed was never made (R-HOOK-2).
    public func subscriptions(host: PluginHost) throws(ConnectorError) -> [Subscription] {
        var found: [Subscription] = []
        try api(host).each(Self.subscriptionSet, query: ["$select": "ID,CallbackURL,Topic"]) { record throws(ConnectorError) in
            found.append(try Self.subscription(record))
        }
        return found
    }

    /// R-HOOK-1: `CallbackURL` and `Topic` only; Exact posts an empty body to the URL
    /// before it answers (R-HOOK-2), which Koppel's intake answers 200.
    public func subscribe(topic: String, callbackURL: String, host: PluginHost) throws(ConnectorError) -> Subscription {
        try Self.subscription(api(host).create(Self.subscriptionSet, ["CallbackURL": .string(callbackURL), "Topic": .string(topic)]))
    }

    public func unsubscribe(id: String, host: PluginHost) throws(ConnectorError) {
        let api = try api(host)
        let response = try host.http(HTTPRequest(method: "DELETE", path: api.path("\(Self.subscriptionSet)(\(ExactAPI.guid(id)))"), headers: ExactAPI.headers))
        if response.status == 404 { return }
        _ = try response.requireSuccess("removing Exact Online webhook subscription \(id)")
    }

    static let subscriptionSet = "webhooks/WebhookSubscriptions"

    private static func subscription(_ record: ExactAPI.Record) throws(ConnectorError) -> Subscription {
        guard let id = record["ID"]?.stringValue, let topic = record["Topic"]?.stringValue else {
            throw .internal("Exact Online answered a webhook subscription without ID and Topic")
        }
        return Subscription(id: id, topic: topic, callbackURL: record["CallbackURL"]?.stringValue ?? "", status: "active")
    }

    private func reader(_ api: ExactAPI, _ options: ExactReadOptions) -> ExactReader {
        let settings = config.settings
        return ExactReader(
            api: api, options: options, salesOrderStatuses: config.salesOrderStatuses, warehouse: settings.warehouse,
            costItems: [settings.shippingItem, settings.paymentCostItem, settings.discountItem, ExactSettings.productWithoutSKUItem])
    }

    public func write(_ request: WriteRequest, host: PluginHost) throws(ConnectorError) -> WriteResult {
        let api = try api(host)
        let settings = config.settings.overridden(by: try request.mappingOptions(as: ExactSettings.self))
        if request.stream == "items" {
            return try ExactItemWriter(api: api, settings: settings)
                .write(try request.record(as: Product.self), updatable: try request.updateFields(), knownID: request.targetKey)
        }
        if request.stream == "accounts" {
            let customer = try request.record(as: Customer.self)
            return try ExactDirectory(api: api, settings: settings).write(customer, knownID: request.targetKey)
        }
        guard let flavour = ExactFlavour(rawValue: request.stream) else {
            throw .invalidData("exact-online has no writable stream \(request.stream)")
        }
        let writer = ExactSalesDocumentWriter(api: api, flavour: flavour, settings: settings, booked: booked)
        return try writer.write(try request.record(as: OrderDocumentRecord.self), reconcile: request.reconcile)
    }
}

@_cdecl("koppel_plugin_entry")
public func koppelPluginEntry(_ r: UnsafePointer<koppel_entry_request>?) -> UnsafePointer<koppel_plugin>? { KoppelExport.entry(ExactOnlineConnector.self, r) }
