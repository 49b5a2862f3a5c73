import KoppelPluginSDK

/// Exact Online: accounting and ERP. Streams arrive with the flows that need them.
public final class ExactOnlineConnector: Connector {
    public struct Config: Decodable {
        /// nl, be, uk, de, fr, es or us; chooses the base URL unless `base_url` is given.
        var region: String?
        var baseURL: String?
        /// The division (administration); discovered through current/Me when absent.
        var division: Int?
        enum CodingKeys: String, CodingKey {
            case region, division
            case baseURL = "base_url"
        }
    }

    public static let manifest = Manifest(
        name: "exact-online",
        version: "0.1.0",
        description: "Exact Online REST API (accounts, items, sales invoices, orders and entries)",
        configSchema: [
            "type": "object",
            "properties": [
                "region": ["type": "string", "enum": ["nl", "be", "uk", "de", "fr", "es", "us"]],
                "base_url": ["type": "string", "format": "uri"],
                "division": ["type": "integer"],
                "client_id": ["type": "string"],
                "client_secret": ["type": "string", "secret": true],
                "redirect_uri": ["type": "string", "format": "uri"],
            ],
            "additionalProperties": false,
        ],
        auth: .init(
            scheme: .oauth2, authorizeURL: "{base_url}/api/oauth2/auth", tokenURL: "{base_url}/api/oauth2/token",
            rotatingRefreshTokens: true),
        rateLimits: [
            .init(scope: "division", limit: 60, perSeconds: 60),
            .init(scope: "division", limit: 5000, perSeconds: 86_400),
        ],
        baseURL: .init(setting: "base_url", chosenBy: "region", choices: ExactOnlineConnector.regions)
    )

    /// The base URL of each Exact Online region.
    static let regions = [
        "nl": "https://start.exactonline.nl", "be": "https://start.exactonline.be",
        "uk": "https://start.exactonline.co.uk", "de": "https://start.exactonline.de",
        "fr": "https://start.exactonline.fr", "es": "https://start.exactonline.es",
        "us": "https://start.exactonline.com",
    ]

    let config: Config

    public init(config: Config, host: PluginHost) throws(ConnectorError) {
        if config.region == nil && config.baseURL == nil {
            throw .invalidData("config: set region (nl, be, uk, de, fr, es, us) or base_url")
        }
        self.config = config
    }

    /// Asks Exact who the signed-in user is (`current/Me`): proves the base URL, the
    /// token and the division.
    public func check(host: PluginHost) throws(ConnectorError) {
        struct Me: Decodable {
            struct Results: Decodable { var results: [User] }
            struct User: Decodable {
                var CurrentDivision: Int
                var FullName: String?
            }
            var d: Results
        }
        let response = try host.http(HTTPRequest(
            path: "/api/v1/current/Me", query: ["$select": "CurrentDivision,FullName"], headers: ["Accept": "application/json"]))
        let me = try response.requireSuccess("Exact Online current/Me").decode(Me.self, "Exact Online current/Me")
        guard let user = me.d.results.first else { throw .auth("Exact Online knows no current user for this token") }
        host.log(.info, "signed in to Exact Online as \(user.FullName ?? "?"), division \(config.division ?? user.CurrentDivision)")
    }
}

@_cdecl("koppel_plugin_entry")
public func koppelPluginEntry(_ r: UnsafePointer<koppel_entry_request>?) -> UnsafePointer<koppel_plugin>? { KoppelExport.entry(ExactOnlineConnector.self, r) }
