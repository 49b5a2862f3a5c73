import Foundation
import KoppelPluginSDK

/// Optiply, the inventory planner: products, their stock levels, the suppliers with their
/// purchase prices, and the sales history (sell orders) it computes purchase advice from. The host signs in with the account
/// (OAuth 2 password grant), keeps the token fresh, paces and retries; this type knows
/// what Optiply's resources mean.
public final class OptiplyConnector: Connector {
    public struct Config: Decodable {
        var baseURL: String
        enum CodingKeys: String, CodingKey { case baseURL = "base_url" }
    }

    public static let manifest = Manifest(
        name: "optiply",
        version: "1.0.0",
        description: "Optiply inventory planning API (products, stock levels, suppliers, sell orders)",
        streams: .init(write: [
            .init(name: "products", record: "product", update: true),
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
            ],
            "required": ["base_url"],
            "additionalProperties": false,
        ],
        // Optiply issues tokens on its dashboard host, not the API's; `token_url` overrides.
        auth: .init(scheme: .oauth2, tokenURL: "https://dashboard.optiply.com/api/auth/oauth/token", grant: "password")
    )

    public init(config: Config, host: PluginHost) throws(ConnectorError) {}

    /// Looks one product up: proves the URL, the account and the token.
    public func check(host: PluginHost) throws(ConnectorError) {
        _ = try OptiplyAPI(host: host).first("products", filter: [:])
    }

    public func write(_ request: WriteRequest, host: PluginHost) throws(ConnectorError) -> WriteResult {
        let products = OptiplyProducts(api: OptiplyAPI(host: host))
        switch request.stream {
        case "products":
            return try products.write(try request.record(as: Product.self))
        case "stock_levels":
            return try OptiplyStockWriter(products: products).write(try request.record(as: StockLevel.self))
        case "suppliers":
            return try OptiplySupplierWriter(products: products).write(try request.record(as: Supplier.self))
        default:
            return try OptiplySellOrderWriter(products: products).write(try request.record(as: Order.self), reconcile: request.reconcile)
        }
    }
}

@_cdecl("koppel_plugin_entry")
public func koppelPluginEntry(_ r: UnsafePointer<koppel_entry_request>?) -> UnsafePointer<koppel_plugin>? { KoppelExport.entry(OptiplyConnector.self, r) }
