import KoppelPluginSDK

/// Boekuwzending shipping platform API (shipments, labels). The app's client id and secret
/// get a token by the OAuth 2 client-credentials grant (R2.1), on production or staging,
/// each with its own credentials (R1.1). Streams arrive with the flows that need them.
public final class BoekuwzendingConnector: Connector {
    public struct Config: Decodable {
        var environment: String?
        enum CodingKeys: String, CodingKey { case environment }
    }

    public static let manifest = Manifest(
        name: "boekuwzending",
        version: "0.2.0",
        description: "Boekuwzending shipping platform API (shipments, labels)",
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

    /// `GET /me` (R2.4): proves the host and the app's credentials.
    public func check(host: PluginHost) throws(ConnectorError) {
        struct Me: Decodable { var name: String? }
        let me = try host.http(HTTPRequest(path: "/me", headers: ["Accept": "application/json"])).requireSuccess("Boekuwzending /me").decode(Me.self, "Boekuwzending /me")
        host.log(.info, "Boekuwzending account \(me.name ?? "?")\(config.environment == "staging" ? " on staging: labels made there still mark the shop's production orders shipped" : "")")
    }
}

@_cdecl("koppel_plugin_entry")
public func koppelPluginEntry(_ r: UnsafePointer<koppel_entry_request>?) -> UnsafePointer<koppel_plugin>? { KoppelExport.entry(BoekuwzendingConnector.self, r) }
