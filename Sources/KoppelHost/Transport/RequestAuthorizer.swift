import Crypto
import Foundation

/// Adds a connection's credentials to each outgoing request.
public protocol RequestAuthorizer: Sendable {
    /// Adds credentials to `request`.
    func authorize(_ request: inout OutboundRequest) throws(PluginCallError)
    /// Called when the server answered 401 to a request authorized by this; returns true
    /// when new credentials were obtained and one more attempt makes sense.
    func renewAfterRejection(of request: OutboundRequest) throws(PluginCallError) -> Bool
}

extension RequestAuthorizer {
    public func renewAfterRejection(of request: OutboundRequest) throws(PluginCallError) -> Bool { false }
}

/// HTTP Basic authentication; where the server names query parameters for the same
/// credentials, moved into the query after a 401 to a request that carried the header
/// (many shared hosts strip `Authorization` before PHP sees it: WooCommerce's documented
/// fallback), or from the start when the connection asks for it.
public final class BasicAuthorizer: RequestAuthorizer, @unchecked Sendable {
    /// The query parameter names for the username and password.
    public struct QueryNames: Sendable {
        public var username: String
        public var password: String
        public init(username: String, password: String) {
            self.username = username
            self.password = password
        }
    }

    let username: String
    let password: String
    let queryNames: QueryNames?
    private let lock = NSLock()
    private var inQuery: Bool
    private let onSwitch: @Sendable () -> Void

    public init(username: String, password: String, queryNames: QueryNames? = nil, inQuery: Bool = false, onSwitch: @escaping @Sendable () -> Void = {}) {
        self.username = username
        self.password = password
        self.queryNames = queryNames
        self.inQuery = inQuery && queryNames != nil
        self.onSwitch = onSwitch
    }

    /// Whether the credentials now travel in the query.
    public var sendsInQuery: Bool { lock.withLock { inQuery } }

    public func authorize(_ request: inout OutboundRequest) throws(PluginCallError) {
        if let names = queryNames, sendsInQuery {
            let separator = request.url.contains("?") ? "&" : "?"
            request.url += separator + URLEncoding.query([(names.username, username), (names.password, password)])
        } else {
            request.setHeader("Authorization", "Basic " + Data("\(username):\(password)".utf8).base64EncodedString())
        }
    }

    public func renewAfterRejection(of request: OutboundRequest) throws(PluginCallError) -> Bool {
        guard queryNames != nil, request.headers.contains(where: { $0.name == "Authorization" }) else { return false }
        let switched = lock.withLock { () -> Bool in
            if inQuery { return false }
            inQuery = true
            return true
        }
        if switched { onSwitch() }
        return true
    }
}

/// A static bearer token.
public struct BearerAuthorizer: RequestAuthorizer {
    let token: String

    public init(token: String) {
        self.token = token
    }

    public func authorize(_ request: inout OutboundRequest) throws(PluginCallError) {
        request.setHeader("Authorization", "Bearer \(token)")
    }
}

/// API keys in headers or query parameters (one, or several sent together).
public struct APIKeyAuthorizer: RequestAuthorizer {
    public enum Placement: String, Sendable { case header, query }
    let keys: [(name: String, value: String)]
    let placement: Placement

    public init(name: String, value: String, placement: Placement) {
        self.init(keys: [(name, value)], placement: placement)
    }

    public init(keys: [(name: String, value: String)], placement: Placement) {
        self.keys = keys
        self.placement = placement
    }

    public func authorize(_ request: inout OutboundRequest) throws(PluginCallError) {
        switch placement {
        case .header:
            for key in keys { request.setHeader(key.name, key.value) }
        case .query:
            let separator = request.url.contains("?") ? "&" : "?"
            request.url += separator + URLEncoding.query(keys.map { ($0.name, $0.value) })
        }
    }
}

/// OAuth 1.0a one-legged request signing (HMAC-SHA256), as WooCommerce requires over
/// plain HTTP: the consumer key and a signature go in the query string.
public struct OAuth1Authorizer: RequestAuthorizer {
    let consumerKey: String
    let consumerSecret: String
    let clock: @Sendable () -> Date

    public init(consumerKey: String, consumerSecret: String, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.consumerKey = consumerKey
        self.consumerSecret = consumerSecret
        self.clock = clock
    }

    public func authorize(_ request: inout OutboundRequest) throws(PluginCallError) {
        guard let components = URLComponents(string: request.url) else {
            throw PluginCallError(.invalidData, "cannot sign a request to a malformed URL")
        }
        var parameters = (components.percentEncodedQueryItems ?? []).map { item in
            (URLEncoding.decode(item.name), URLEncoding.decode(item.value ?? ""))
        }
        let oauth: [(String, String)] = [
            ("oauth_consumer_key", consumerKey),
            ("oauth_nonce", UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()),
            ("oauth_signature_method", "HMAC-SHA256"),
            ("oauth_timestamp", String(Int(clock().timeIntervalSince1970))),
        ]
        parameters += oauth
        let signature = Self.signature(
            method: request.method, baseURL: Self.baseURL(components), parameters: parameters, consumerSecret: consumerSecret)
        let extra = (oauth + [("oauth_signature", signature)]).map { "\(URLEncoding.component($0.0))=\(URLEncoding.component($0.1))" }
        request.url += (request.url.contains("?") ? "&" : "?") + extra.joined(separator: "&")
    }

    /// The URL without query or fragment, as the signature base string wants it.
    static func baseURL(_ components: URLComponents) -> String {
        var base = components
        base.query = nil
        base.fragment = nil
        return base.string ?? ""
    }

    /// RFC 5849 signature over method, base URL and the sorted, encoded parameters.
    public static func signature(method: String, baseURL: String, parameters: [(String, String)], consumerSecret: String) -> String {
        let encoded: [(name: String, value: String)] = parameters.map { (URLEncoding.component($0.0), URLEncoding.component($0.1)) }
        let sorted = encoded.sorted { a, b in a.name == b.name ? a.value < b.value : a.name < b.name }
        let normalized = sorted.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
        let base = [method.uppercased(), URLEncoding.component(baseURL), URLEncoding.component(normalized)].joined(separator: "&")
        let key = SymmetricKey(data: Data((URLEncoding.component(consumerSecret) + "&").utf8))
        let mac = HMAC<SHA256>.authenticationCode(for: Data(base.utf8), using: key)
        return Data(mac).base64EncodedString()
    }
}

/// OAuth 2 bearer tokens from the token manager, renewed on a 401.
public struct OAuth2Authorizer: RequestAuthorizer {
    let tokens: OAuth2TokenManager

    public init(tokens: OAuth2TokenManager) {
        self.tokens = tokens
    }

    public func authorize(_ request: inout OutboundRequest) throws(PluginCallError) {
        request.setHeader("Authorization", "Bearer \(try tokens.accessToken())")
    }

    public func renewAfterRejection(of request: OutboundRequest) throws(PluginCallError) -> Bool {
        let sent = request.headers.first { $0.name == "Authorization" }?.value.replacingOccurrences(of: "Bearer ", with: "")
        _ = try tokens.accessToken(replacingRejected: sent)
        return true
    }
}

/// Percent-encoding as RFC 3986 wants it: everything but unreserved characters.
public enum URLEncoding {
    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// Encodes one query name or value, or a path segment.
    public static func component(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }

    /// Decodes a percent-encoded component ('+' is taken literally).
    public static func decode(_ text: String) -> String {
        text.removingPercentEncoding ?? text
    }

    /// `name=value&...` in the given order.
    public static func query(_ items: [(String, String)]) -> String {
        items.map { "\(component($0.0))=\(component($0.1))" }.joined(separator: "&")
    }
}
