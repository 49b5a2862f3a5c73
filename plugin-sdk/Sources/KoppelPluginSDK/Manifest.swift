/// What a connector tells the host about itself: the JSON manifest of the ABI's plugin
/// descriptor. The host reads it to list the plugin, validate a deployment against its
/// config schema, pick the auth flow and pace requests.
public struct Manifest: Codable, Sendable, Equatable {
    /// Lowercase letters, digits and '-'; unique among the plugins of a deployment.
    public var name: String
    /// Semantic version of the connector.
    public var version: String
    /// One line for `koppel plugins list`.
    public var description: String
    /// The streams the connector reads and writes.
    public var streams: Streams
    /// JSON Schema of the connection settings. Properties marked `"secret": true` are
    /// kept in the vault and resolved before `open`.
    public var configSchema: JSONValue
    /// How the host authenticates requests to this API.
    public var auth: Auth
    /// The remote API's known limits; the transport paces requests under them.
    public var rateLimits: [RateLimit]
    /// How many error answers the remote API tolerates per endpoint before it blocks the
    /// endpoint; the transport stops calling an endpoint that has spent it.
    public var errorBudget: ErrorBudget?
    /// How the remote API signs webhooks, when it sends any.
    public var webhooks: Webhooks?
    /// Where the host finds the API's base URL in the settings.
    public var baseURL: BaseURL?

    /// Creates a manifest.
    public init(
        name: String, version: String, description: String, streams: Streams = Streams(),
        configSchema: JSONValue = ["type": "object", "properties": [:], "additionalProperties": false],
        auth: Auth = Auth(scheme: .none), rateLimits: [RateLimit] = [], errorBudget: ErrorBudget? = nil,
        webhooks: Webhooks? = nil, baseURL: BaseURL? = nil
    ) {
        self.name = name
        self.version = version
        self.description = description
        self.streams = streams
        self.configSchema = configSchema
        self.auth = auth
        self.rateLimits = rateLimits
        self.errorBudget = errorBudget
        self.webhooks = webhooks
        self.baseURL = baseURL
    }

    enum CodingKeys: String, CodingKey {
        case name, version, description, streams, auth, webhooks
        case configSchema = "config_schema"
        case rateLimits = "rate_limits"
        case errorBudget = "error_budget"
        case baseURL = "base_url"
    }

    /// How the host derives the base URL of a connection: the setting `setting` when it
    /// is given, else the URL that `choices` lists for the value of `chosenBy` (Exact's
    /// region), else `template` with `{chosenBy}` replaced by that value
    /// (`https://{shop}.myonline.store`).
    public struct BaseURL: Codable, Sendable, Equatable {
        public var setting: String
        public var chosenBy: String?
        public var choices: [String: String]?
        public var template: String?
        /// The base URL when no setting gives one (a service with one host for everyone).
        public var `default`: String?
        public init(
            setting: String = "base_url", chosenBy: String? = nil, choices: [String: String]? = nil, template: String? = nil,
            default fallback: String? = nil
        ) {
            self.setting = setting
            self.chosenBy = chosenBy
            self.choices = choices
            self.template = template
            self.default = fallback
        }
        enum CodingKeys: String, CodingKey {
            case setting, choices, template, `default`
            case chosenBy = "chosen_by"
        }
    }

    /// The streams a connector reads and writes.
    public struct Streams: Codable, Sendable, Equatable {
        public var read: [Stream]
        public var write: [Stream]
        public init(read: [Stream] = [], write: [Stream] = []) {
            self.read = read
            self.write = write
        }
    }

    /// One stream of records.
    public struct Stream: Codable, Sendable, Equatable {
        /// The stream's name within the connector ("orders").
        public var name: String
        /// The canonical record it carries ("order", "customer", ... or "any").
        public var record: String
        /// Reads continue from a cursor instead of starting over.
        public var incremental: Bool?
        /// Writes can update a record written earlier.
        public var update: Bool?
        /// For an `order` write stream: it books refunds (orders with `refund_of`), as
        /// credit notes. A stream without it is never offered one.
        public var refunds: Bool?
        /// What a merchant must know before records flow into this stream (WooCommerce
        /// e-mails every customer it creates); `koppel check` and the dashboard show it
        /// for each flow that writes here.
        public var notice: String?
        /// A read stream fed by webhooks: the remote topics that announce its records,
        /// which the host subscribes to through `Connector.subscribe`.
        public var webhookTopics: [String]?
        /// A write stream that takes deletions (`WriteRequest.isDeletion`), removing or
        /// retiring what it wrote (ABI 1.5).
        public var deletes: Bool?
        public init(
            name: String, record: String, incremental: Bool? = nil, update: Bool? = nil, refunds: Bool? = nil, notice: String? = nil,
            webhookTopics: [String]? = nil, deletes: Bool? = nil
        ) {
            self.name = name
            self.record = record
            self.incremental = incremental
            self.update = update
            self.refunds = refunds
            self.notice = notice
            self.webhookTopics = webhookTopics
            self.deletes = deletes
        }
        enum CodingKeys: String, CodingKey {
            case name, record, incremental, update, refunds, notice, deletes
            case webhookTopics = "webhook_topics"
        }
    }

    /// The authentication scheme and its details.
    public struct Auth: Codable, Sendable, Equatable {
        public enum Scheme: String, Codable, Sendable {
            case none, basic, bearer, oauth2, oauth1
            case apiKey = "api-key"
        }
        public var scheme: Scheme
        /// OAuth2: where to send users to consent; may use `{base_url}`.
        public var authorizeURL: String?
        /// OAuth2: where to exchange and refresh tokens; may use `{base_url}`.
        public var tokenURL: String?
        /// OAuth2: refresh tokens are single-use and rotate on every refresh.
        public var rotatingRefreshTokens: Bool?
        /// OAuth2: how tokens are first obtained: `authorization_code` (a person consents
        /// in a browser, `koppel auth`; the default), `password` (the account's
        /// `username` and `password` settings, exchanged by the host whenever needed) or
        /// `client_credentials` (the app's own `client_id` and `client_secret` get a token
        /// whenever one is needed; nothing is stored, no refresh token is expected).
        public var grant: String?
        /// OAuth2: how the app's `client_id` and `client_secret` reach the token endpoint:
        /// `form` (in the request body; the default) or `basic` (HTTP Basic, RFC 6749
        /// 2.3.1; Optiply).
        public var clientAuth: String?
        /// API key: the header or query parameter that carries it.
        public var keyName: String?
        /// API key: "header" or "query".
        public var keyIn: String?
        /// API key: several keys sent together, each parameter (or header) name with the
        /// setting that holds its value (Mijnwebwinkel: the shop's `token` and the
        /// application's `partner_token`); takes the place of `key_name`.
        public var keys: [String: String]?
        /// The settings holding the credentials, by role; defaults: basic `username` and
        /// `password`, api-key `api_key`, bearer `token`, oauth2 and oauth1 `client_id`
        /// and `client_secret`.
        public var credentials: [String: String]?
        /// The scheme to use instead when the base URL is plain http (WooCommerce: oauth1).
        public var plainHTTP: Scheme?
        /// OAuth2: the days a refresh token lives unused (Exact Online: 30). The host
        /// refreshes a quiet connection's tokens well before, so a shop that sells
        /// nothing for a month is not signed out.
        public var refreshTokenIdleDays: Int?
        /// Basic: the query parameters that carry the username and password instead, for
        /// servers behind hosts that strip the `Authorization` header (WooCommerce's
        /// `consumer_key`/`consumer_secret`). The host moves them into the query after a
        /// 401 to a request that sent the header, or from the start when the boolean
        /// connection setting `setting` is true.
        public var queryCredentials: QueryCredentials?

        public struct QueryCredentials: Codable, Sendable, Equatable {
            public var username: String
            public var password: String
            public var setting: String?
            public init(username: String, password: String, setting: String? = nil) {
                self.username = username
                self.password = password
                self.setting = setting
            }
        }

        public init(
            scheme: Scheme, authorizeURL: String? = nil, tokenURL: String? = nil,
            rotatingRefreshTokens: Bool? = nil, keyName: String? = nil, keyIn: String? = nil,
            credentials: [String: String]? = nil, plainHTTP: Scheme? = nil, grant: String? = nil,
            refreshTokenIdleDays: Int? = nil, queryCredentials: QueryCredentials? = nil, keys: [String: String]? = nil,
            clientAuth: String? = nil
        ) {
            self.clientAuth = clientAuth
            self.queryCredentials = queryCredentials
            self.keys = keys
            self.scheme = scheme
            self.authorizeURL = authorizeURL
            self.tokenURL = tokenURL
            self.rotatingRefreshTokens = rotatingRefreshTokens
            self.keyName = keyName
            self.keyIn = keyIn
            self.credentials = credentials
            self.plainHTTP = plainHTTP
            self.grant = grant
            self.refreshTokenIdleDays = refreshTokenIdleDays
        }

        enum CodingKeys: String, CodingKey {
            case scheme, credentials, grant, keys
            case authorizeURL = "authorize_url"
            case tokenURL = "token_url"
            case rotatingRefreshTokens = "rotating_refresh_tokens"
            case keyName = "key_name"
            case keyIn = "key_in"
            case plainHTTP = "plain_http"
            case refreshTokenIdleDays = "refresh_token_idle_days"
            case queryCredentials = "query_credentials"
            case clientAuth = "client_auth"
        }
    }

    /// A known limit of the remote API, e.g. 60 calls a minute per division.
    /// At most `limit` answers with one of `statuses` per endpoint (a path without its
    /// key and query) in `perSeconds`: Exact Online blocks an endpoint for an hour after
    /// ten 400, 401, 403 or 404 answers in one.
    public struct ErrorBudget: Codable, Sendable, Equatable {
        public var limit: Int
        public var perSeconds: Int
        public var statuses: [Int]
        public init(limit: Int, perSeconds: Int, statuses: [Int]) {
            self.limit = limit
            self.perSeconds = perSeconds
            self.statuses = statuses
        }
        enum CodingKeys: String, CodingKey {
            case limit, statuses
            case perSeconds = "per_seconds"
        }
    }

    public struct RateLimit: Codable, Sendable, Equatable {
        public var scope: String
        public var limit: Int
        public var perSeconds: Int
        public init(scope: String, limit: Int, perSeconds: Int) {
            self.scope = scope
            self.limit = limit
            self.perSeconds = perSeconds
        }
        enum CodingKeys: String, CodingKey {
            case scope, limit
            case perSeconds = "per_seconds"
        }
    }

    /// How webhook deliveries are signed; the host verifies them before the plugin sees one.
    public struct Webhooks: Codable, Sendable, Equatable {
        /// "hmac-sha256-base64" (WooCommerce) or "hmac-sha256-hex": the HMAC of the raw
        /// body in `header`; "hmac-sha256-hex-envelope" (Exact Online): the HMAC of the
        /// raw text of the body's member `signedMember`, in its member `signatureMember`;
        /// "url-token" (a sender that signs nothing, as Boekuwzending's portal webhooks):
        /// the delivery URL ends in the secret, `/webhooks/{connection}/{secret}`.
        public var signature: String
        /// The header carrying the signature (header schemes).
        public var header: String?
        /// The secret setting (declared `"secret": true` in the config schema) holding
        /// the shared webhook secret.
        public var secret: String
        /// The member of the JSON body whose raw text is signed (envelope scheme).
        public var signedMember: String?
        /// The member of the JSON body holding the signature (envelope scheme).
        public var signatureMember: String?
        /// The header carrying the sender's id of a delivery; a redelivery with the same
        /// id is absorbed before it reaches the plugin.
        public var deliveryIDHeader: String?
        /// An unsigned body starting with this is the sender's test ping when a webhook is
        /// created (WooCommerce: `webhook_id=`): answered 200, nothing more.
        public var pingBodyPrefix: String?
        /// The subscription carries the secret (WooCommerce's `secret`, a URL token): the
        /// host makes one and keeps it in the vault before subscribing. Otherwise the
        /// secret is the sender's (Exact's app secret) and the merchant gives it.
        public var generateSecret: Bool?
        /// The sender delivers only to https addresses (a loopback address excepted).
        public var httpsOnly: Bool?

        /// A signature over the raw body, in a header.
        public init(
            signature: String, header: String, secret: String = "webhook_secret", deliveryIDHeader: String? = nil,
            pingBodyPrefix: String? = nil, generateSecret: Bool? = nil
        ) {
            self.signature = signature
            self.header = header
            self.secret = secret
            self.deliveryIDHeader = deliveryIDHeader
            self.pingBodyPrefix = pingBodyPrefix
            self.generateSecret = generateSecret
        }

        /// Unsigned deliveries authenticated by the secret as the URL's last segment; the
        /// host makes the secret.
        public init(urlTokenSecret secret: String = "webhook_secret") {
            self.signature = "url-token"
            self.secret = secret
            self.generateSecret = true
        }

        /// A signature inside a JSON envelope: `{ signedMember: {...}, signatureMember: "hex" }`.
        public init(
            envelopeSignedMember signed: String, signatureMember: String, secret: String = "webhook_secret", httpsOnly: Bool? = nil
        ) {
            self.signature = "hmac-sha256-hex-envelope"
            self.signedMember = signed
            self.signatureMember = signatureMember
            self.secret = secret
            self.httpsOnly = httpsOnly
        }

        enum CodingKeys: String, CodingKey {
            case signature, header, secret
            case signedMember = "signed_member"
            case signatureMember = "signature_member"
            case deliveryIDHeader = "delivery_id_header"
            case pingBodyPrefix = "ping_body_prefix"
            case generateSecret = "generate_secret"
            case httpsOnly = "https_only"
        }
    }
}
