import KoppelPluginSDK

/// WooCommerce REST API v3 (orders, customers, products). Streams arrive with the flows that need them.
public final class WooCommerceConnector: Connector {
    public struct Config: Decodable {
        var baseURL: String
        enum CodingKeys: String, CodingKey { case baseURL = "base_url" }
    }

    public static let manifest = Manifest(
        name: "woocommerce",
        version: "0.1.0",
        description: "WooCommerce REST API v3 (orders, customers, products)",
        configSchema: [
            "type": "object",
            "properties": [
                "base_url": ["type": "string", "format": "uri"],
                "consumer_key": ["type": "string"],
                "consumer_secret": ["type": "string", "secret": true],
            ],
            "required": ["base_url"],
            "additionalProperties": false,
        ],
        auth: .init(
            scheme: .basic, credentials: ["username": "consumer_key", "password": "consumer_secret"], plainHTTP: .oauth1),
        webhooks: .init(signature: "hmac-sha256-base64", header: "X-WC-Webhook-Signature")
    )

    let config: Config

    public init(config: Config, host: PluginHost) throws(ConnectorError) {
        self.config = config
    }
}

@_cdecl("koppel_plugin_entry")
public func koppelPluginEntry(_ r: UnsafePointer<koppel_entry_request>?) -> UnsafePointer<koppel_plugin>? { KoppelExport.entry(WooCommerceConnector.self, r) }
