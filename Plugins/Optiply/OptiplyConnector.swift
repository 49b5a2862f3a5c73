import KoppelPluginSDK

/// Optiply inventory planning API (products, stock levels, sell orders). Streams arrive with the flows that need them.
public final class OptiplyConnector: Connector {
    public struct Config: Decodable {
        var baseURL: String
        enum CodingKeys: String, CodingKey { case baseURL = "base_url" }
    }

    public static let manifest = Manifest(
        name: "optiply",
        version: "0.1.0",
        description: "Optiply inventory planning API (products, stock levels, sell orders)",
        configSchema: [
            "type": "object",
            "properties": [
                "base_url": ["type": "string", "format": "uri"],
                "client_id": ["type": "string"],
                "client_secret": ["type": "string", "secret": true],
            ],
            "required": ["base_url"],
            "additionalProperties": false,
        ],
        auth: .init(scheme: .oauth2, tokenURL: "{base_url}/oauth/token")
    )

    let config: Config

    public init(config: Config, host: PluginHost) throws(ConnectorError) {
        self.config = config
    }
}

@_cdecl("koppel_plugin_entry")
public func koppelPluginEntry(_ r: UnsafePointer<koppel_entry_request>?) -> UnsafePointer<koppel_plugin>? { KoppelExport.entry(OptiplyConnector.self, r) }
