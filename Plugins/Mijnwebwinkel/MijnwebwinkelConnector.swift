import KoppelPluginSDK

/// Mijnwebwinkel shop API (orders, products, stock). Streams arrive with the flows that need them.
public final class MijnwebwinkelConnector: Connector {
    public struct Config: Decodable {
        var baseURL: String
        enum CodingKeys: String, CodingKey { case baseURL = "base_url" }
    }

    public static let manifest = Manifest(
        name: "mijnwebwinkel",
        version: "0.1.0",
        description: "Mijnwebwinkel shop API (orders, products, stock)",
        configSchema: [
            "type": "object",
            "properties": [
                "base_url": ["type": "string", "format": "uri"],
                "api_token": ["type": "string", "secret": true],
            ],
            "required": ["base_url"],
            "additionalProperties": false,
        ],
        auth: .init(scheme: .apiKey, keyName: "token", keyIn: "query", credentials: ["key": "api_token"])
    )

    let config: Config

    public init(config: Config, host: PluginHost) throws(ConnectorError) {
        self.config = config
    }
}

@_cdecl("koppel_plugin_entry")
public func koppelPluginEntry(_ r: UnsafePointer<koppel_entry_request>?) -> UnsafePointer<koppel_plugin>? { KoppelExport.entry(MijnwebwinkelConnector.self, r) }
