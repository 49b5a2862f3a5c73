import Foundation

/// The host's view of a plugin's JSON manifest, validated field by field so that a
/// mistake is reported with its JSON path (`$.streams.read[1].record`). Unknown keys are
/// allowed: a plugin built for a newer minor may carry more.
public struct PluginManifest: Sendable, Equatable {
    /// One stream of records a plugin reads or writes.
    public struct Stream: Sendable, Equatable {
        public var name: String
        public var record: String
        public var incremental: Bool
        public var update: Bool
        /// An order write stream that books refunds (orders with `refund_of`).
        public var refunds: Bool = false
        /// A write stream that takes deletions (ABI 1.5): it removes or retires what it wrote.
        public var deletes: Bool = false
        /// What a merchant must know before records flow into this write stream.
        public var notice: String?
        /// A read stream fed by webhooks: the remote topics that announce its records.
        public var webhookTopics: [String] = []
    }

    /// The canonical records of plugin-sdk/schema, plus "any".
    public static let recordKinds: Set<String> = ["order", "customer", "product", "stock_level", "shipment", "supplier", "any"]
    /// The auth schemes the host implements.
    public static let authSchemes: Set<String> = ["none", "basic", "bearer", "oauth2", "oauth1", "api-key"]
    /// The webhook signature schemes the host verifies.
    public static let webhookSchemes: Set<String> = ["hmac-sha256-base64", "hmac-sha256-hex", "hmac-sha256-hex-envelope", "url-token"]

    /// Details of the auth scheme.
    public struct AuthDetails: Sendable, Equatable {
        public var authorizeURL: String?
        public var tokenURL: String?
        public var keyName: String?
        public var keyIn: String?
        /// Setting names by credential role.
        public var credentials: [String: String]
        public var plainHTTP: String?
        /// OAuth 2: `authorization_code` (the default) or `password`.
        public var grant: String?
        /// OAuth 2: the days a refresh token lives unused, when the provider limits it.
        public var refreshTokenIdleDays: Int?
        /// OAuth 2: `basic` when the app's id and secret go to the token endpoint as HTTP
        /// Basic, else (`form`, nil) in the body.
        public var clientAuth: String?
        /// Basic: the query parameters for the username and password where a server's
        /// host strips the `Authorization` header, and the boolean setting that asks for
        /// them from the start.
        public var queryCredentials: QueryCredentials?
        /// API key: several keys sent together, by parameter (or header) name, each with
        /// the setting holding its value.
        public var keys: [String: String] = [:]

        public struct QueryCredentials: Sendable, Equatable {
            public var username: String
            public var password: String
            public var setting: String?
        }

        /// The setting that holds the credential of `role`, or the conventional default.
        public func setting(for role: String) -> String {
            credentials[role] ?? role
        }
    }

    /// Where a connection's base URL comes from: a setting, else a choice by another
    /// setting's value (a region), else a template filled with that value (a shop name).
    public struct BaseURLRule: Sendable, Equatable {
        public var setting: String
        public var chosenBy: String?
        public var choices: [String: String]
        public var template: String?
        /// The base URL when no setting gives one (a service with one host for everyone).
        public var fallback: String?
    }

    /// How the remote system signs its webhook deliveries.
    public struct WebhookRule: Sendable, Equatable {
        /// One of `webhookSchemes`.
        public var scheme: String
        /// The header carrying the signature (header schemes).
        public var header: String?
        /// The secret setting holding the shared webhook secret.
        public var secretSetting: String
        /// Envelope scheme: the body member whose raw text is signed, and the member
        /// holding the signature.
        public var signedMember: String?
        public var signatureMember: String?
        /// The header with the sender's delivery id, if it sends one.
        public var deliveryIDHeader: String?
        /// How the sender's unsigned test ping begins, if it sends one.
        public var pingBodyPrefix: String?
        /// The host makes the secret (the subscription carries it); otherwise it is the
        /// sender's and must be given.
        public var generateSecret = false
        /// The sender delivers only to https addresses (loopback excepted).
        public var httpsOnly = false

        public init(
            scheme: String, header: String? = nil, secretSetting: String = "webhook_secret", signedMember: String? = nil,
            signatureMember: String? = nil, deliveryIDHeader: String? = nil, pingBodyPrefix: String? = nil
        ) {
            self.scheme = scheme
            self.header = header
            self.secretSetting = secretSetting
            self.signedMember = signedMember
            self.signatureMember = signatureMember
            self.deliveryIDHeader = deliveryIDHeader
            self.pingBodyPrefix = pingBodyPrefix
        }
    }

    /// A known request limit.
    public struct RateLimit: Sendable, Equatable {
        public var scope: String
        public var limit: Int
        public var perSeconds: Int
    }

    /// At most `limit` answers with one of `statuses` per endpoint in `perSeconds`.
    public struct ErrorBudget: Sendable, Equatable {
        public var limit: Int
        public var perSeconds: Int
        public var statuses: Set<Int>
    }

    public var name: String
    public var version: String
    public var description: String
    public var readStreams: [Stream]
    public var writeStreams: [Stream]
    public var authScheme: String
    /// The manifest's `auth` object as JSON.
    public var authJSON: String
    /// The connection settings' JSON Schema as JSON.
    public var configSchemaJSON: String
    /// Names of settings marked `"secret": true`.
    public var secretSettings: [String]
    /// How webhook deliveries are signed; nil when the plugin takes none.
    public var webhooks: WebhookRule?
    public var webhookSignature: String? { webhooks?.scheme }
    /// The auth scheme's details: URLs, key placement, credential settings.
    public var auth: AuthDetails
    /// How the connection's base URL is found in its settings.
    public var baseURL: BaseURLRule
    /// Request limits the remote API is known to have.
    public var rateLimits: [RateLimit]
    /// The error answers the remote API tolerates per endpoint, if it limits them.
    public var errorBudget: ErrorBudget?
    /// The manifest exactly as the plugin gave it.
    public var rawJSON: String

    /// What is wrong with a manifest, and where.
    struct Problem: Error {
        var jsonPath: String
        var problem: String
    }

    /// Parses and validates a manifest.
    static func parse(_ json: String) throws(Problem) -> PluginManifest {
        let fail = { (path: String, problem: String) in Problem(jsonPath: path, problem: problem) }
        guard let data = json.data(using: .utf8),
            let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { throw fail("$", "not a JSON object") }

        let reader = Reader()
        let name = try reader.string(root, "name", "$")
        if name.wholeMatch(of: /[a-z][a-z0-9-]*/) == nil {
            throw fail("$.name", "\"\(name)\" must be lowercase letters, digits and '-'")
        }
        let version = try reader.string(root, "version", "$")
        let description = try reader.optionalString(root, "description", "$") ?? ""

        var readStreams: [Stream] = []
        var writeStreams: [Stream] = []
        if let streams = root["streams"] {
            guard let streams = streams as? [String: Any] else { throw fail("$.streams", "must be an object") }
            readStreams = try reader.streams(streams["read"], "$.streams.read")
            writeStreams = try reader.streams(streams["write"], "$.streams.write")
        }

        guard let schema = root["config_schema"] as? [String: Any] else {
            throw fail("$.config_schema", root["config_schema"] == nil ? "is missing" : "must be a JSON Schema object")
        }
        if let type = schema["type"], type as? String != "object" {
            throw fail("$.config_schema.type", "must be \"object\"")
        }
        let properties = schema["properties"] as? [String: Any] ?? [:]
        let secrets = properties.compactMap { key, value in
            ((value as? [String: Any])?["secret"] as? Bool) == true ? key : nil
        }.sorted()

        guard let auth = root["auth"] as? [String: Any] else {
            throw fail("$.auth", root["auth"] == nil ? "is missing" : "must be an object")
        }
        let scheme = try reader.string(auth, "scheme", "$.auth")
        guard authSchemes.contains(scheme) else {
            throw fail("$.auth.scheme", "\"\(scheme)\" is not one of \(authSchemes.sorted().joined(separator: ", "))")
        }
        if scheme == "oauth2" { _ = try reader.string(auth, "token_url", "$.auth") }

        let details = AuthDetails(
            authorizeURL: try reader.optionalString(auth, "authorize_url", "$.auth"),
            tokenURL: try reader.optionalString(auth, "token_url", "$.auth"),
            keyName: try reader.optionalString(auth, "key_name", "$.auth"),
            keyIn: try reader.optionalString(auth, "key_in", "$.auth"),
            credentials: (auth["credentials"] as? [String: String]) ?? [:],
            plainHTTP: try reader.optionalString(auth, "plain_http", "$.auth"),
            grant: try reader.optionalString(auth, "grant", "$.auth"),
            refreshTokenIdleDays: try reader.optionalPositiveInteger(auth, "refresh_token_idle_days", "$.auth"),
            clientAuth: try reader.optionalString(auth, "client_auth", "$.auth"),
            queryCredentials: try reader.queryCredentials(auth["query_credentials"], "$.auth.query_credentials"),
            keys: (auth["keys"] as? [String: String]) ?? [:])
        if let clientAuth = details.clientAuth, !["form", "basic"].contains(clientAuth) {
            throw fail("$.auth.client_auth", "\"\(clientAuth)\" is not form or basic")
        }
        if let grant = details.grant, !["authorization_code", "password", "client_credentials"].contains(grant) {
            throw fail("$.auth.grant", "\"\(grant)\" is not authorization_code, password or client_credentials")
        }
        if scheme == "api-key" {
            guard details.keyName != nil || !details.keys.isEmpty else { throw fail("$.auth.key_name", "is missing: name the header or query parameter") }
            guard ["header", "query"].contains(details.keyIn ?? "header") else { throw fail("$.auth.key_in", "must be header or query") }
        }
        if let plain = details.plainHTTP, !authSchemes.contains(plain) {
            throw fail("$.auth.plain_http", "\"\(plain)\" is not one of \(authSchemes.sorted().joined(separator: ", "))")
        }

        var rateLimits: [RateLimit] = []
        if let limits = root["rate_limits"] {
            guard let limits = limits as? [Any] else { throw fail("$.rate_limits", "must be an array") }
            for (i, limit) in limits.enumerated() {
                let path = "$.rate_limits[\(i)]"
                guard let limit = limit as? [String: Any] else { throw fail(path, "must be an object") }
                let scope = try reader.string(limit, "scope", path)
                rateLimits.append(RateLimit(
                    scope: scope, limit: try reader.positiveInteger(limit, "limit", path), perSeconds: try reader.positiveInteger(limit, "per_seconds", path)))
            }
        }

        var errorBudget: ErrorBudget?
        if let budget = root["error_budget"], !(budget is NSNull) {
            let path = "$.error_budget"
            guard let budget = budget as? [String: Any] else { throw fail(path, "must be an object") }
            let limit = try reader.positiveInteger(budget, "limit", path), period = try reader.positiveInteger(budget, "per_seconds", path)
            guard let statuses = budget["statuses"] as? [Int], !statuses.isEmpty, statuses.allSatisfy({ (400..<600).contains($0) }) else {
                throw fail("\(path).statuses", "must be a list of HTTP error statuses (400-599)")
            }
            errorBudget = ErrorBudget(limit: limit, perSeconds: period, statuses: Set(statuses))
        }

        var baseURL = BaseURLRule(setting: "base_url", chosenBy: nil, choices: [:], template: nil)
        if let rule = root["base_url"], !(rule is NSNull) {
            guard let rule = rule as? [String: Any] else { throw fail("$.base_url", "must be an object") }
            baseURL.setting = try reader.optionalString(rule, "setting", "$.base_url") ?? "base_url"
            baseURL.chosenBy = try reader.optionalString(rule, "chosen_by", "$.base_url")
            baseURL.choices = (rule["choices"] as? [String: String]) ?? [:]
            baseURL.template = try reader.optionalString(rule, "template", "$.base_url")
            baseURL.fallback = try reader.optionalString(rule, "default", "$.base_url")
        }

        var webhookRule: WebhookRule?
        if let webhooks = root["webhooks"], !(webhooks is NSNull) {
            guard let webhooks = webhooks as? [String: Any] else { throw fail("$.webhooks", "must be an object") }
            let signature = try reader.string(webhooks, "signature", "$.webhooks")
            guard webhookSchemes.contains(signature) else {
                throw fail("$.webhooks.signature", "\"\(signature)\" is not one of \(webhookSchemes.sorted().joined(separator: ", "))")
            }
            let secret = try reader.optionalString(webhooks, "secret", "$.webhooks") ?? "webhook_secret"
            guard secrets.contains(secret) else {
                throw fail("$.webhooks.secret", "\"\(secret)\" must be a setting of config_schema marked \"secret\": true")
            }
            var rule = WebhookRule(
                scheme: signature, header: nil, secretSetting: secret,
                deliveryIDHeader: try reader.optionalString(webhooks, "delivery_id_header", "$.webhooks"),
                pingBodyPrefix: try reader.optionalString(webhooks, "ping_body_prefix", "$.webhooks"))
            rule.generateSecret = try reader.optionalBool(webhooks, "generate_secret", "$.webhooks") ?? false
            rule.httpsOnly = try reader.optionalBool(webhooks, "https_only", "$.webhooks") ?? false
            if signature == "hmac-sha256-hex-envelope" {
                rule.signedMember = try reader.string(webhooks, "signed_member", "$.webhooks")
                rule.signatureMember = try reader.string(webhooks, "signature_member", "$.webhooks")
            } else if signature != "url-token" {
                rule.header = try reader.string(webhooks, "header", "$.webhooks")
            }
            webhookRule = rule
        }

        if webhookRule == nil, let index = readStreams.firstIndex(where: { !$0.webhookTopics.isEmpty }) {
            throw fail("$.streams.read[\(index)].webhook_topics", "needs \"webhooks\": how the deliveries to these topics are signed")
        }
        return PluginManifest(
            name: name, version: version, description: description, readStreams: readStreams,
            writeStreams: writeStreams, authScheme: scheme, authJSON: Self.pretty(auth),
            configSchemaJSON: Self.pretty(schema), secretSettings: secrets,
            webhooks: webhookRule, auth: details, baseURL: baseURL, rateLimits: rateLimits, errorBudget: errorBudget, rawJSON: json)
    }

    private static func pretty(_ object: Any) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]) else {
            return "{}"
        }
        return String(decoding: data, as: UTF8.self)
    }

    private struct Reader {
        func fail(_ path: String, _ problem: String) -> Problem { Problem(jsonPath: path, problem: problem) }

        func string(_ object: [String: Any], _ key: String, _ path: String) throws(Problem) -> String {
            guard let value = object[key] else { throw fail("\(path).\(key)", "is missing") }
            guard let string = value as? String, !string.isEmpty else {
                throw fail("\(path).\(key)", "must be a non-empty string")
            }
            return string
        }

        func optionalPositiveInteger(_ object: [String: Any], _ key: String, _ path: String) throws(Problem) -> Int? {
            guard let value = object[key], !(value is NSNull) else { return nil }
            guard let number = value as? Int, number > 0, !(value is Bool) else { throw fail("\(path).\(key)", "must be a positive integer") }
            return number
        }

        func positiveInteger(_ object: [String: Any], _ key: String, _ path: String) throws(Problem) -> Int {
            guard let number = try optionalPositiveInteger(object, key, path) else { throw fail("\(path).\(key)", "must be a positive integer") }
            return number
        }

        func optionalString(_ object: [String: Any], _ key: String, _ path: String) throws(Problem) -> String? {
            guard let value = object[key], !(value is NSNull) else { return nil }
            guard let string = value as? String else { throw fail("\(path).\(key)", "must be a string") }
            return string
        }

        func optionalBool(_ object: [String: Any], _ key: String, _ path: String) throws(Problem) -> Bool? {
            guard let value = object[key], !(value is NSNull) else { return nil }
            guard let flag = value as? Bool else { throw fail("\(path).\(key)", "must be true or false") }
            return flag
        }

        func queryCredentials(_ value: Any?, _ path: String) throws(Problem) -> AuthDetails.QueryCredentials? {
            guard let value, !(value is NSNull) else { return nil }
            guard let object = value as? [String: Any] else { throw fail(path, "must be an object") }
            return AuthDetails.QueryCredentials(
                username: try string(object, "username", path), password: try string(object, "password", path),
                setting: try optionalString(object, "setting", path))
        }

        func streams(_ value: Any?, _ path: String) throws(Problem) -> [Stream] {
            guard let value, !(value is NSNull) else { return [] }
            guard let list = value as? [Any] else { throw fail(path, "must be an array") }
            var seen = Set<String>()
            var streams: [Stream] = []
            for (i, item) in list.enumerated() {
                let itemPath = "\(path)[\(i)]"
                guard let item = item as? [String: Any] else { throw fail(itemPath, "must be an object") }
                let name = try string(item, "name", itemPath)
                guard seen.insert(name).inserted else { throw fail("\(itemPath).name", "stream \"\(name)\" is declared twice") }
                let record = try string(item, "record", itemPath)
                guard PluginManifest.recordKinds.contains(record) else {
                    throw fail("\(itemPath).record", "\"\(record)\" is not one of \(PluginManifest.recordKinds.sorted().joined(separator: ", "))")
                }
                streams.append(Stream(
                    name: name, record: record,
                    incremental: item["incremental"] as? Bool ?? false,
                    update: item["update"] as? Bool ?? false,
                    refunds: item["refunds"] as? Bool ?? false,
                    deletes: item["deletes"] as? Bool ?? false,
                    notice: item["notice"] as? String,
                    webhookTopics: try topics(item["webhook_topics"], "\(itemPath).webhook_topics")))
            }
            return streams
        }

        func topics(_ value: Any?, _ path: String) throws(Problem) -> [String] {
            guard let value, !(value is NSNull) else { return [] }
            guard let topics = value as? [String], topics.allSatisfy({ !$0.isEmpty }) else { throw fail(path, "must be a list of topic names") }
            return topics
        }
    }

    /// Whether the plugin keeps webhook subscriptions itself (ABI 1.5): some read stream
    /// names the topics that feed it.
    public var subscribesWebhooks: Bool { webhooks != nil && readStreams.contains { !$0.webhookTopics.isEmpty } }
}
