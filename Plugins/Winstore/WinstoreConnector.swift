import KoppelPluginSDK

/// Winstore webshop API (products, orders, customers). Streams arrive with the flows that need them.
public final class WinstoreConnector: Connector {
    public struct Config: Decodable {
        var baseURL: String
        enum CodingKeys: String, CodingKey { case baseURL = "base_url" }
    }

    public static let manifest = Manifest(
        name: "winstore",
        version: "0.1.0",
        description: "Winstore webshop API (products, orders, customers)",
        configSchema: [
            "type": "object",
            "properties": [
                "base_url": ["type": "string", "format": "uri"],
                "api_key": ["type": "string", "secret": true],
            ],
            "required": ["base_url"],
            "additionalProperties": false,
        ],
        auth: .init(scheme: .apiKey, keyName: "X-Api-Key", keyIn: "header", credentials: ["key": "api_key"])
    )

    let config: Config

    public init(config: Config, host: PluginHost) throws(ConnectorError) {
        self.config = config
    }
}

@_cdecl("koppel_plugin_entry")
public func koppelPluginEntry(_ r: UnsafePointer<koppel_entry_request>?) -> UnsafePointer<koppel_plugin>? { KoppelExport.entry(WinstoreConnector.self, r) }
