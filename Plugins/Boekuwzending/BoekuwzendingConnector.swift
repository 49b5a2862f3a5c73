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
        version: "0.2.0",
        description: "Boekuwzending shipping platform API (orders to ship)",
        streams: .init(
            read: [.init(name: "shipments", record: "shipment", incremental: false)],
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
            ],
            "additionalProperties": false,
        ],
        auth: .init(scheme: .oauth2, tokenURL: "{base_url}/token", grant: "client_credentials"),
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

    /// A shipment as `GET /shipments` lists it (R5.4): the shop's order number is its
    /// `invoiceReference`; its first label carries the carrier's code and the public
    /// track-and-trace page (R5.5).
    struct BuzShipment: Decodable {
        struct Label: Decodable {
            var waybill: String?
            var trackAndTraceLink: String?
        }
        var id: String
        var invoiceReference: String?
        var distributor: String?
        var createdAt: String?
        var updatedAt: String?
        var labels: [Label]?
    }

    /// Every shipment that has a label, read whole (the API documents no change filter);
    /// the ledger passes on only what is new or changed.
    public func read(_ request: ReadRequest, host: PluginHost) throws(ConnectorError) {
        let pageSize = 100
        for page in 1... {
            try host.checkCancellation()
            let records = try host.http(HTTPRequest(path: "/shipments", query: ["_page": String(page), "_items_per_page": String(pageSize)], headers: ["Accept": "application/json"]))
                .requireSuccess("Boekuwzending shipments, page \(page)").decodeEach(BuzShipment.self, "Boekuwzending shipments")
            for record in records {
                // A shipment without a label has not left yet.
                if let shipment = record.decoded, shipment.labels?.contains(where: { !($0.waybill ?? "").isEmpty }) != true { continue }
                try host.emit(record, key: \.id) { (shipment: BuzShipment) throws(ConnectorError) -> Shipment in
                    guard let number = shipment.invoiceReference, !number.isEmpty else { throw .invalidData("$.invoiceReference is missing: the shipment names no shop order") }
                    let label = shipment.labels?.first { !($0.waybill ?? "").isEmpty }
                    let made = (shipment.updatedAt ?? shipment.createdAt).flatMap { try? Date.ISO8601FormatStyle().parse($0) } ?? host.now
                    return Shipment(sourceKey: shipment.id, updatedAt: made, orderNumber: number, shippedAt: made, carrier: shipment.distributor,
                                    trackingCode: label?.waybill, trackingURL: label?.trackAndTraceLink)
                }
            }
            if records.count < pageSize { return }
        }
    }

    /// `GET /me` (R2.4): proves the host and the app's credentials.
    public func check(host: PluginHost) throws(ConnectorError) {
        struct Me: Decodable { var name: String? }
        let me = try host.http(HTTPRequest(path: "/me", headers: ["Accept": "application/json"])).requireSuccess("Boekuwzending /me").decode(Me.self, "Boekuwzending /me")
        host.log(.info, "Boekuwzending account \(me.name ?? "?")\(config.environment == "staging" ? " on staging: labels made there still mark the shop's production orders shipped" : "")")
    }
}

@_cdecl("koppel_plugin_entry")
public func koppelPluginEntry(_ r: UnsafePointer<koppel_entry_request>?) -> UnsafePointer<koppel_plugin>? { KoppelExport.entry(BoekuwzendingConnector.self, r) }
