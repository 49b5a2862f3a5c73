import Foundation
import KoppelPluginSDK

/// Optiply, the inventory planner: products, their stock levels, the suppliers with their
/// purchase prices, and the sales history (sell orders) it computes purchase advice from.
/// The host signs in with the Optiply API user (the password grant, the app's id and
/// secret as HTTP Basic, R2.1), paces and retries; this type knows what Optiply's
/// resources mean. Writes are made for one account and one coupling (R3.7).
public final class OptiplyConnector: Connector {
    public struct Config: Decodable {
        var accountID: Int
        var couplingID: Int
        enum CodingKeys: String, CodingKey {
            case accountID = "account_id"
            case couplingID = "coupling_id"
        }
    }

    public static let manifest = Manifest(
        name: "optiply",
        version: "2.1.0",
        description: "Optiply inventory planning API (products, stock levels, suppliers, sell orders)",
        streams: .init(write: [
            .init(name: "products", record: "product", update: true, deletes: true),
            .init(name: "stock_levels", record: "stock_level", update: true),
            .init(name: "sell_orders", record: "order", update: false),
            .init(name: "suppliers", record: "supplier", update: true),
        ]),
        configSchema: [
            "type": "object",
            "properties": [
                "base_url": ["type": "string", "format": "uri"],
                "token_url": ["type": "string", "format": "uri"],
                "client_id": ["type": "string"],
                "client_secret": ["type": "string", "secret": true],
                "username": ["type": "string"],
                "password": ["type": "string", "secret": true],
                "account_id": ["type": "integer", "minimum": 1],
                "coupling_id": ["type": "integer", "minimum": 1],
            ],
            "required": ["account_id", "coupling_id"],
            "additionalProperties": false,
        ],
        // Tokens come from the dashboard host, not the API's (R1.1); `token_url` overrides
        // it (the acceptance dashboard, R1.2).
        auth: .init(scheme: .oauth2, tokenURL: "https://dashboard.optiply.nl/api/auth/oauth/token", grant: "password", clientAuth: "basic"),
        baseURL: .init(setting: "base_url", default: "https://api.optiply.com")
    )

    let config: Config

    public init(config: Config, host: PluginHost) throws(ConnectorError) {
        self.config = config
    }

    func api(_ host: PluginHost) -> OptiplyAPI {
        OptiplyAPI(host: host, accountID: config.accountID, couplingID: config.couplingID)
    }

    /// Lists one product: proves the URL, the API user and the token.
    public func check(host: PluginHost) throws(ConnectorError) {
        _ = try api(host).first("products", filter: [:])
        host.log(.info, "Optiply account \(config.accountID), coupling \(config.couplingID)")
    }

    public func write(_ request: WriteRequest, host: PluginHost) throws(ConnectorError) -> WriteResult {
        let products = OptiplyProducts(api: api(host))
        switch request.stream {
        case "products":
            if request.isDeletion, let id = request.targetKey { return try products.retire(id: id) }
            return try products.write(try request.record(as: Product.self))
        case "stock_levels":
            return try OptiplyStockWriter(products: products).write(try request.record(as: StockLevel.self))
        case "suppliers":
            return try OptiplySupplierWriter(products: products).write(try request.record(as: Supplier.self), reconcile: request.reconcile)
        default:
            return try OptiplySellOrderWriter(products: products).write(try request.record(as: Order.self), reconcile: request.reconcile)
        }
    }
}

@_cdecl("koppel_plugin_entry")
public func koppelPluginEntry(_ r: UnsafePointer<koppel_entry_request>?) -> UnsafePointer<koppel_plugin>? { KoppelExport.entry(OptiplyConnector.self, r) }
