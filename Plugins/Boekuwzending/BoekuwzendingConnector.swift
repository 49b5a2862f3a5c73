import Foundation
import KoppelPluginSDK

/// Boekuwzending shipping platform API (shipments, labels). The app's client id and secret
/// get a token by the OAuth 2 client-credentials grant (R2.1), on production or staging,
/// each with its own credentials (R1.1). Orders become external orders waiting in the
/// portal, from which the merchant (or a rule) makes the shipments.
public final class BoekuwzendingConnector: Connector {
    public struct Config: Decodable {
        var environment: String?
        enum CodingKeys: String, CodingKey { case environment }
    }

    public static let manifest = Manifest(
        name: "boekuwzending",
        version: "0.4.0",
        description: "Boekuwzending shipping platform API (orders to ship)",
        streams: .init(
            // R6.1: label events announce a shipment's labels and their progress.
            read: [.init(name: "shipments", record: "shipment", incremental: true, webhookTopics: ["webhook-label-create", "webhook-label-update"])],
            write: [.init(
                name: "orders", record: "order", update: false,
                notice: "if Boekuwzending's own Mijnwebwinkel link is switched on too, every order arrives there twice: use one of the two; labels made on staging still mark the production shop's orders shipped (R1.2)")]),
        configSchema: [
            "type": "object",
            "properties": [
                "environment": ["type": "string", "enum": ["production", "staging"]],
                "base_url": ["type": "string", "format": "uri"],
                "client_id": ["type": "string"],
                "client_secret": ["type": "string", "secret": true],
                "webhook_secret": ["type": "string", "secret": true],
            ],
            "additionalProperties": false,
        ],
        auth: .init(scheme: .oauth2, tokenURL: "{base_url}/token", grant: "client_credentials"),
        // The portal's webhooks sign nothing (R6.2): the URL given there ends in a secret.
        webhooks: .init(urlTokenSecret: "webhook_secret"),
        baseURL: .init(
            setting: "base_url", chosenBy: "environment",
            choices: ["production": "https://api.boekuwzending.com", "staging": "https://staging.api.boekuwzending.com"],
            default: "https://api.boekuwzending.com")
    )

    let config: Config

    public init(config: Config, host: PluginHost) throws(ConnectorError) {
        self.config = config
    }

    /// An order becomes an external order (R4.1), keyed by the shop's order number as its
    /// `externalId`. It is looked up first (R4.2), every time: a retry after a lost
    /// answer, a reconcile or a second run finds the one made before instead of making
    /// two.
    public func write(_ request: WriteRequest, host: PluginHost) throws(ConnectorError) -> WriteResult {
        let order = try request.record(as: Order.self)
        struct Summary: Decodable { var id: String }
        let found = try host.http(HTTPRequest(path: "/orders", query: ["externalId": order.number, "includeArchived": "1"], headers: ["Accept": "application/json"]))
            .requireSuccess("Boekuwzending orders \(order.number)").decode([Summary].self, "Boekuwzending orders")
        if let existing = found.first { return .found(existing.id) }
        let body = try BoekuwzendingOrder(order).json.jsonText
        // A refusal (422, with the fields it names) parks the order with that answer.
        let response = try host.http(HTTPRequest(
            method: "POST", path: "/orders", headers: ["Accept": "application/json", "Content-Type": "application/json"], body: body, idempotent: false))
        return .created(try response.requireSuccess("creating Boekuwzending order \(order.number)").decode(Summary.self, "Boekuwzending order").id)
    }

    /// A shipment as `GET /shipments/{id}` shows it (R5.4): the shop's order number is its
    /// `invoiceReference`; its labels carry the carrier's code and the public
    /// track-and-trace page (R5.5). The list shows a summary without labels.
    struct BuzShipment: Decodable {
        struct Label: Decodable {
            var waybill: String?
            var trackAndTraceLink: String?
        }
        var id: String
        var sequence: String?
        var draft: Bool?
        var invoiceReference: String?
        var distributor: String?
        var createdAt: String?
        var updatedAt: String?
        var labels: [Label]?

        var label: Label? { labels?.first { !($0.waybill ?? "").isEmpty } }
        /// The number in the shipment's sequence (`BUZ123456`), in which the list is ordered.
        var sequenceNumber: Int? { sequence.flatMap { Int($0.filter(\.isNumber)) } }
    }

    /// The newest shipment sequence read, so a poll fetches only shipments made since.
    struct ShipmentsCursor: Codable {
        var sequence: Int
    }

    /// Shipments made since the cursor, newest first (`_order[sequence.number]=desc`),
    /// each fetched whole for its labels; a backfill or a first read goes through all of
    /// them. Booked shipments only (`draft=false`): a draft has no label yet. The ledger
    /// passes on only what is new or changed; a shipment booked from an old draft comes
    /// by the webhook, or by a backfill.
    public func read(_ request: ReadRequest, host: PluginHost) throws(ConnectorError) {
        let cursor = request.since == nil && request.until == nil ? try request.cursor(as: ShipmentsCursor.self) : nil
        let pageSize = 100
        var newest = cursor?.sequence
        pages: for page in 1... {
            try host.checkCancellation()
            let listed = try host.http(HTTPRequest(
                path: "/shipments",
                query: ["_page": String(page), "_items_per_page": String(pageSize), "draft": "false", "_order[sequence.number]": "desc"],
                headers: ["Accept": "application/json"]))
                .requireSuccess("Boekuwzending shipments, page \(page)").decodeEach(BuzShipment.self, "Boekuwzending shipments")
            for summary in listed {
                if let known = cursor?.sequence, let number = summary.decoded?.sequenceNumber, number <= known { break pages }
                try emitShipment(summary, host: host)
                if let number = summary.decoded?.sequenceNumber, number > (newest ?? .min) { newest = number }
            }
            if listed.count < pageSize { break }
        }
        if request.since == nil, request.until == nil, let newest { try host.checkpoint(ShipmentsCursor(sequence: newest)) }
    }

    /// A listed shipment, fetched whole unless the list already carried its labels, and
    /// emitted once it has a label (a shipment without one has not left yet).
    private func emitShipment(_ listed: PageRecord<BuzShipment>, host: PluginHost) throws(ConnectorError) {
        var record = listed
        if let summary = listed.decoded, summary.labels == nil {
            record = try host.http(HTTPRequest(path: "/shipments/\(summary.id)", headers: ["Accept": "application/json"]))
                .requireSuccess("Boekuwzending shipment \(summary.id)").decodeRecord(BuzShipment.self, "Boekuwzending shipment", fallbackKey: summary.id)
        }
        if let shipment = record.decoded, shipment.label == nil { return }
        try host.emit(record, key: \.id) { (shipment: BuzShipment) throws(ConnectorError) -> Shipment in
            guard let number = shipment.invoiceReference, !number.isEmpty else { throw .invalidData("$.invoiceReference is missing: the shipment names no shop order") }
            // When it was booked: a carrier's scan later moves `updatedAt`, not the shipment.
            let made = (shipment.createdAt ?? shipment.updatedAt).flatMap { try? Date.ISO8601FormatStyle().parse($0) } ?? host.now
            return Shipment(sourceKey: shipment.id, updatedAt: made, orderNumber: number, shippedAt: made, carrier: shipment.distributor,
                            trackingCode: shipment.label?.waybill, trackingURL: shipment.label?.trackAndTraceLink)
        }
    }

    /// A webhook names a label or a shipment, never the whole shipment: the documented
    /// body (R6.2) names the label's `reference` (the shop's order number) and waybill,
    /// the integrations' body (R6.3) the `shipment_id`. Either way the shipments concerned
    /// are fetched and emitted as a poll would.
    public func webhook(_ delivery: WebhookDelivery, host: PluginHost) throws(ConnectorError) {
        struct Delivery: Decodable {
            struct Payload: Decodable { var reference: String?; var waybill: String? }
            struct Integration: Decodable {
                var shipment_id: String?
                var external_order_external_id: String?
            }
            var event: String?
            var payload: Payload?
            var data: Integration?
        }
        guard let body = try? JSONDecoder().decode(Delivery.self, from: delivery.body) else {
            throw .invalidData("a Boekuwzending webhook whose body is not the documented JSON")
        }
        if let id = body.data?.shipment_id, !id.isEmpty {
            let record = try host.http(HTTPRequest(path: "/shipments/\(id)", headers: ["Accept": "application/json"]))
                .requireSuccess("Boekuwzending shipment \(id)").decodeRecord(BuzShipment.self, "Boekuwzending shipment", fallbackKey: id)
            return try emitShipment(record, host: host)
        }
        guard let reference = body.payload?.reference ?? body.data?.external_order_external_id, !reference.isEmpty else {
            host.log(.info, "Boekuwzending webhook \(body.event ?? "") names no order; nothing to fetch")
            return
        }
        let listed = try host.http(HTTPRequest(path: "/shipments", query: ["invoiceReference": reference, "draft": "false"], headers: ["Accept": "application/json"]))
            .requireSuccess("Boekuwzending shipments of order \(reference)").decodeEach(BuzShipment.self, "Boekuwzending shipments")
        for shipment in listed { try emitShipment(shipment, host: host) }
    }

    /// `GET /me` (R2.4): proves the host and the app's credentials.
    /// The account's webhooks (`GET /webhooks`, all in one answer). They have no state:
    /// each is active while it exists.
    public func subscriptions(host: PluginHost) throws(ConnectorError) -> [Subscription] {
        try host.http(HTTPRequest(path: "/webhooks", query: ["_pagination": "false"], headers: ["Accept": "application/json"]))
            .requireSuccess("Boekuwzending webhooks").decode([BuzWebhook].self, "Boekuwzending webhooks").map(\.subscription)
    }

    /// `POST /webhooks` with the URL (ending in the connection's secret) and the event.
    public func subscribe(topic: String, callbackURL: String, host: PluginHost) throws(ConnectorError) -> Subscription {
        let body: JSONValue = ["url": .string(callbackURL), "event": .string(topic)]
        return try host.http(HTTPRequest(
            method: "POST", path: "/webhooks", headers: ["Accept": "application/json", "Content-Type": "application/json"], body: body.jsonText,
            idempotent: false))
            .requireSuccess("creating the Boekuwzending webhook for \(topic)").decode(BuzWebhook.self, "Boekuwzending webhook").subscription
    }

    /// The API documents no way to remove a webhook (endpoints.json lists list and create).
    public func unsubscribe(id: String, host: PluginHost) throws(ConnectorError) {
        throw .invalidData("Boekuwzending's API cannot remove a webhook: remove \(id) in the portal (Instellingen, Webhooks)")
    }

    private struct BuzWebhook: Decodable {
        var id: String
        var url: String
        var event: String
        var subscription: Subscription { Subscription(id: id, topic: event, callbackURL: url) }
    }

    public func check(host: PluginHost) throws(ConnectorError) {
        struct Me: Decodable { var name: String? }
        let me = try host.http(HTTPRequest(path: "/me", headers: ["Accept": "application/json"])).requireSuccess("Boekuwzending /me").decode(Me.self, "Boekuwzending /me")
        host.log(.info, "Boekuwzending account \(me.name ?? "?")\(config.environment == "staging" ? " on staging: labels made there still mark the shop's production orders shipped" : "")")
    }
}

@_cdecl("koppel_plugin_entry")
public func koppelPluginEntry(_ r: UnsafePointer<koppel_entry_request>?) -> UnsafePointer<koppel_plugin>? { KoppelExport.entry(BoekuwzendingConnector.self, r) }
