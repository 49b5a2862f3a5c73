import Foundation
import Logging

/// Keeps a connection's OAuth 2 access token fresh.
///
/// Some providers (Exact Online among them) issue single-use refresh tokens: each refresh
/// returns a new one and the old one dies, and using an old one loses the consent for
/// good. So a refresh is single-flight: one at a time per connection inside the process
/// (a lock) and across processes (a lease in the state store); whoever waited re-reads the
/// stored tokens instead of refreshing again; and the new tokens are committed to the vault
/// before the access token is used.
public final class OAuth2TokenManager: @unchecked Sendable {
    /// Where and as whom to ask for tokens.
    public struct Client: Sendable {
        public var connection: String
        public var tokenURL: String
        public var authorizeURL: String?
        public var clientID: String
        public var clientSecret: String
        /// For the password grant: the account tokens are asked for, whenever there are
        /// none or the refresh token is refused. Nil: a person consents (`koppel auth`).
        public var account: Account?
        /// How long the provider keeps an unused refresh token (Exact: 30 days), if it
        /// limits it; `keepAlive` refreshes well before.
        public var refreshTokenIdleLifetime: TimeInterval?
        /// The client-credentials grant: the app's own id and secret get a token whenever
        /// one is needed; it is kept in memory for its life only, and no refresh token
        /// is expected (Boekuwzending).
        public var clientCredentials = false
        /// The app's id and secret go to the token endpoint as HTTP Basic rather than in
        /// the form (Optiply).
        public var basicClientAuth = false

        /// An account's sign-in for the password grant.
        public struct Account: Sendable {
            public var username: String
            public var password: String
            public init(username: String, password: String) {
                self.username = username
                self.password = password
            }
        }

        public init(
            connection: String, tokenURL: String, authorizeURL: String?, clientID: String, clientSecret: String, account: Account? = nil,
            refreshTokenIdleLifetime: TimeInterval? = nil
        ) {
            self.refreshTokenIdleLifetime = refreshTokenIdleLifetime
            self.connection = connection
            self.tokenURL = tokenURL
            self.authorizeURL = authorizeURL
            self.clientID = clientID
            self.clientSecret = clientSecret
            self.account = account
        }
    }

    /// The tokens as stored, sealed, in the vault.
    struct Tokens: Codable {
        var accessToken: String
        var refreshToken: String
        var expiresAt: Date
        /// Set when the provider refused the refresh token: when and why. Such tokens are
        /// not offered again; the connection waits for a person (`koppel auth`).
        var refused: String?
        /// When the provider issued the refresh token (nil in tokens stored before this
        /// was kept: they count as issued when first read).
        var obtainedAt: Date?
    }

    /// The vault entry holding the connection's tokens.
    public static let vaultName = "oauth2_tokens"

    public let client: Client
    private let vault: Vault
    private let store: any StateStore
    private let http: CurlHTTPClient
    private let activity: ActivityRecorder?
    private let logger: Logger
    /// Refresh when less than this is left of the access token's life.
    private let margin: TimeInterval
    private let refreshLock = NSLock()
    private let cacheLock = NSLock()
    private var cached: Tokens?
    /// What the token endpoint's last failed answer said about the grant (under `refreshLock`).
    private var lastAnswer: TokenAnswer?

    private var lastAnswerWasTooEarly: Bool {
        if case .tooEarly? = lastAnswer { true } else { false }
    }

    /// A token endpoint's refusal, as far as it concerns the stored tokens.
    private enum TokenAnswer {
        /// The grant itself was refused (a used, expired or revoked refresh token): why.
        case refused(String)
        /// "Too early": the provider gives a new token only some minutes after the last
        /// one (Exact: 570 s), or no more today (Exact: 200 calls a day); the current
        /// tokens stay good.
        case tooEarly
    }
    /// An access token the server refused while it was too early to replace it: refused
    /// again, it is not taken to the token endpoint again (each early ask counts against
    /// the provider's error budget).
    private var refusedTooEarly: String?

    public init(
        client: Client, vault: Vault, store: any StateStore, http: CurlHTTPClient = CurlHTTPClient(),
        activity: ActivityRecorder? = nil, logger: Logger, margin: TimeInterval = 30
    ) {
        self.client = client
        self.vault = vault
        self.store = store
        self.http = http
        self.activity = activity
        self.logger = logger
        self.margin = margin
    }

    private var reauthorize: String {
        client.account == nil
            ? "sign in again with `koppel auth \(client.connection)`"
            : "check the connection's username and password (`koppel secrets set \(client.connection) password`)"
    }

    /// A valid access token, refreshed first if it expires within the margin, or if it
    /// is the one the server just rejected.
    public func accessToken(replacingRejected rejected: String? = nil) throws(PluginCallError) -> String {
        if rejected == nil, let tokens = cacheLock.withLock({ cached }), isFresh(tokens) {
            return tokens.accessToken
        }
        if client.clientCredentials { return try clientCredentialsToken(replacing: rejected) }
        refreshLock.lock()
        defer { refreshLock.unlock() }
        // Another thread may have refreshed while this one waited.
        if let tokens = try loadIfSignedIn(), isFresh(tokens), tokens.accessToken != rejected { return remember(tokens) }
        if let rejected, rejected == refusedTooEarly { throw Self.permissionProblem(client.connection) }
        var current: Tokens?
        try withLease { () throws(PluginCallError) in
            // Another process may have refreshed while this one waited.
            let stored = try loadIfSignedIn()
            if let stored, isFresh(stored), stored.accessToken != rejected {
                current = stored
                return
            }
            let renewed: Tokens
            do throws(PluginCallError) {
                renewed = try renew(stored)
            } catch where lastAnswerWasTooEarly {
                guard let stored else { throw error }
                if rejected == nil, stored.expiresAt > Date() {
                    // Refreshed ahead of expiry, too early for the provider: keep the token.
                    current = stored
                    return
                }
                if let rejected {
                    // A token too fresh to replace was refused: not an expired sign-in.
                    refusedTooEarly = rejected
                    throw Self.permissionProblem(client.connection)
                }
                throw error
            }
            try save(renewed)
            current = renewed
        }
        guard let current else { throw PluginCallError(.internal, "connection \(client.connection): no tokens after renewing them") }
        return remember(current)
    }

    /// A token of the client-credentials grant: the one in memory while it lives and was
    /// not just refused, else a new one. Nothing goes to the vault: there is no sign-in
    /// to keep, only the app's id and secret, which are there already.
    private func clientCredentialsToken(replacing rejected: String?) throws(PluginCallError) -> String {
        refreshLock.lock()
        defer { refreshLock.unlock() }
        if let tokens = cacheLock.withLock({ cached }), isFresh(tokens), tokens.accessToken != rejected { return tokens.accessToken }
        return remember(try requestTokens([("grant_type", "client_credentials")], what: "app's client credentials"))
    }

    /// Refreshes the tokens of a connection that has been quiet for half the time its
    /// provider keeps an unused refresh token (Exact: 30 days, R-AUTH-7), so that a shop
    /// that sold nothing for a month is not signed out. Returns whether it refreshed.
    /// Tokens refused before, or of a connection never signed in, are left alone.
    @discardableResult
    public func keepAlive(now: Date = Date()) throws(PluginCallError) -> Bool {
        guard let lifetime = client.refreshTokenIdleLifetime, client.account == nil else { return false }
        refreshLock.lock()
        defer { refreshLock.unlock() }
        guard let stored = try loadIfSignedIn(), stored.refused == nil else { return false }
        guard let obtained = stored.obtainedAt else {
            // Stored before issue times were kept: count from now. Read again under the
            // lease, so that tokens another process just renewed are not written over.
            try withLease { () throws(PluginCallError) in
                var current = try load()
                guard current.obtainedAt == nil else { return }
                current.obtainedAt = now
                try save(current)
            }
            return false
        }
        guard now.timeIntervalSince(obtained) >= lifetime / 2 else { return false }
        var refreshed = false
        try withLease { () throws(PluginCallError) in
            let current = try load()
            guard current.obtainedAt.map({ now.timeIntervalSince($0) >= lifetime / 2 }) ?? false else { return }
            let renewed = try renew(current)
            try save(renewed)
            _ = remember(renewed)
            refreshed = true
        }
        if refreshed {
            logger.info("refreshed the tokens of \(client.connection) ahead of their \(Int(lifetime / 86_400))-day idle expiry")
        }
        return refreshed
    }

    /// A 401 on an access token the provider will not replace yet: the sign-in is fine,
    /// the call is not allowed. Parked per record (replayable once the right is granted),
    /// not a reason to sign in again.
    static func permissionProblem(_ connection: String) -> PluginCallError {
        PluginCallError(
            .invalidData,
            "connection \(connection) was refused with 401 on an access token too new to replace; the sign-in is fine, so the signed-in user or the app lacks the right for this call (the tokens are kept)")
    }

    /// Exchanges an authorization code (from the consent screen) for tokens and stores them.
    public func exchange(code: String, redirectURI: String) throws(PluginCallError) {
        refreshLock.lock()
        defer { refreshLock.unlock() }
        let tokens = try requestTokens([("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirectURI)], what: "authorization code")
        try withLease { () throws(PluginCallError) in try save(tokens) }
        _ = remember(tokens)
    }

    /// The consent URL to open in a browser.
    public func authorizationURL(redirectURI: String, state: String) throws(PluginCallError) -> String {
        guard let authorizeURL = client.authorizeURL else {
            throw PluginCallError(.auth, "connection \(client.connection) has no authorization URL")
        }
        let query = URLEncoding.query([("client_id", client.clientID), ("redirect_uri", redirectURI), ("response_type", "code"), ("state", state)])
        return authorizeURL + (authorizeURL.contains("?") ? "&" : "?") + query
    }

    private func isFresh(_ tokens: Tokens) -> Bool {
        tokens.expiresAt.timeIntervalSinceNow > margin
    }

    private func remember(_ tokens: Tokens) -> String {
        cacheLock.withLock { cached = tokens }
        return tokens.accessToken
    }

    /// New tokens: refreshed, or with the password grant asked for again when there are
    /// none yet or the refresh token is refused.
    private func renew(_ tokens: Tokens?) throws(PluginCallError) -> Tokens {
        guard let account = client.account else {
            guard let tokens else { throw PluginCallError(.auth, "connection \(client.connection) is not signed in; \(reauthorize)") }
            // A refused refresh token stays refused: asking again burns the provider's
            // token calls and can block the app (Exact allows 200 a day per user).
            if let refused = tokens.refused {
                throw PluginCallError(.auth, "connection \(client.connection) is paused: its refresh token was refused \(refused); Koppel asks no more until you \(reauthorize)")
            }
            do {
                return try refresh(tokens.refreshToken)
            } catch {
                guard case .refused(let refusal)? = lastAnswer else { throw error }
                var dead = tokens
                dead.refused = "at \(RFC3339.string(Date())) (\(refusal))"
                try save(dead)
                throw error
            }
        }
        // With the account at hand, a token that ran out is replaced by signing in again,
        // as every client of such a provider does (Optiply offers no refresh grant to rely
        // on); a refresh token it gives is not used.
        vault.redactor.register(account.password)
        let signedIn = try requestTokens([("grant_type", "password"), ("username", account.username), ("password", account.password)], what: "account sign-in")
        activity?.record(ActivityEntry(at: Date(), kind: .auth, connection: client.connection, message: "signed in with the account (password grant)"))
        return signedIn
    }

    /// The stored tokens, or nil when the connection was never signed in.
    private func loadIfSignedIn() throws(PluginCallError) -> Tokens? {
        do {
            return try load()
        } catch where error.status == .auth && client.account != nil {
            return nil
        }
    }

    private func load() throws(PluginCallError) -> Tokens {
        let json: String?
        do {
            json = try vault.get(connection: client.connection, name: Self.vaultName)
        } catch {
            throw PluginCallError(.auth, "connection \(client.connection): the stored tokens cannot be read: \(error)")
        }
        guard let json, let tokens = try? JSONDecoder.iso.decode(Tokens.self, from: Data(json.utf8)) else {
            throw PluginCallError(.auth, "connection \(client.connection) is not signed in; \(reauthorize)")
        }
        vault.redactor.register(tokens.accessToken)
        vault.redactor.register(tokens.refreshToken)
        return tokens
    }

    private func save(_ tokens: Tokens) throws(PluginCallError) {
        do {
            let json = String(decoding: try JSONEncoder.iso.encode(tokens), as: UTF8.self)
            try vault.set(connection: client.connection, name: Self.vaultName, value: json)
        } catch {
            // The old refresh token is already spent; say so plainly.
            throw PluginCallError(.auth, "connection \(client.connection): new tokens could not be stored (\(error)); \(reauthorize)")
        }
    }

    /// Runs `body` holding the connection's refresh lease, shared by every process on
    /// the same state store.
    private func withLease(_ body: () throws(PluginCallError) -> Void) throws(PluginCallError) {
        let lease = Lease(name: "oauth2:\(client.connection)", store: store)
        let deadline = Date().addingTimeInterval(90)
        while true {
            let acquired: Bool
            do {
                acquired = try lease.acquire(ttl: 60)
            } catch {
                throw PluginCallError(.transient, "the token lease for \(client.connection) could not be taken: \(error)")
            }
            if acquired { break }
            guard Date() < deadline else {
                throw PluginCallError(.transient, "another process has been refreshing the tokens of \(client.connection) for over 90 seconds")
            }
            usleep(25_000)
        }
        defer { lease.release() }
        try body()
    }

    private func refresh(_ refreshToken: String) throws(PluginCallError) -> Tokens {
        let tokens: Tokens
        do {
            tokens = try requestTokens([("grant_type", "refresh_token"), ("refresh_token", refreshToken)], what: "refresh token")
        } catch {
            activity?.record(ActivityEntry(at: Date(), kind: .auth, connection: client.connection, message: "token refresh failed: \(error.message)"))
            throw error
        }
        logger.info("refreshed the access token of \(client.connection)")
        activity?.record(ActivityEntry(at: Date(), kind: .auth, connection: client.connection, message: "refreshed the OAuth access token"))
        return tokens
    }

    private func requestTokens(_ grant: [(String, String)], what: String) throws(PluginCallError) -> Tokens {
        var headers = [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")]
        var form = grant
        if client.basicClientAuth {
            let pair = Data("\(client.clientID):\(client.clientSecret)".utf8).base64EncodedString()
            vault.redactor.register(pair)
            headers.append(("Authorization", "Basic \(pair)"))
        } else {
            form += [("client_id", client.clientID), ("client_secret", client.clientSecret)]
        }
        let request = OutboundRequest(
            method: "POST", url: client.tokenURL, headers: headers,
            body: Data(URLEncoding.query(form).utf8), idempotent: false, timeout: 30)
        lastAnswer = nil
        let outcome = RetryPolicy.tokenRequest.repeating({ http.send(request) }) { if case .notSent = $0 { true } else { false } }
        switch outcome {
        case .notSent(let reason):
            throw PluginCallError(.transient, "the token endpoint of \(client.connection) cannot be reached: \(reason)")
        case .unknown(let reason):
            throw PluginCallError(.auth, "the token endpoint of \(client.connection) took the \(what) but its answer was lost (\(reason)); if the next attempt is refused, \(reauthorize)")
        case .response(let response):
            let object = (try? JSONSerialization.jsonObject(with: response.body)) as? [String: Any] ?? [:]
            guard response.status == 200 else {
                let error = [object["error"] as? String, object["error_description"] as? String].compactMap { $0 }.joined(separator: ": ")
                let detail = vault.redactor.redact(error.isEmpty ? "HTTP \(response.status)" : error)
                if response.status >= 500 {
                    throw PluginCallError(.transient, "the token endpoint of \(client.connection) failed (\(detail))")
                }
                // Too many token calls (Exact: 200 a day per user, R-AUTH-8): the sign-in
                // stands, and the current token serves while it lives.
                if response.status == 429 {
                    lastAnswer = .tooEarly
                    throw PluginCallError(
                        .rateLimited, "the token endpoint of \(client.connection) takes no more calls for now (\(detail)); the sign-in is kept and tried again later")
                }
                // Exact answers a refresh within 570 s of the last token with 400
                // access_denied and `Reason: TooEarlyToRefreshTokens` (R-AUTH-5): the
                // current tokens stay good, so this is no refusal of the sign-in.
                if response.headers["reason"]?.hasPrefix("TooEarlyToRefreshTokens") == true
                    || (object["error_description"] as? String)?.contains("access_token not expired") == true {
                    lastAnswer = .tooEarly
                    throw PluginCallError(.transient, "the token endpoint of \(client.connection) gives no new token this soon after the last (\(detail)); the current one is kept")
                }
                // A wrong client id or secret is the app's problem, not a dead sign-in:
                // `invalid_client`, or Exact's bare `invalid_request` (R-AUTH-9; an expired
                // refresh token says so in the description, R-AUTH-7).
                let code = object["error"] as? String
                let description = (object["error_description"] as? String ?? "").lowercased()
                if code == "invalid_client" || (code == "invalid_request" && !description.contains("token")) {
                    throw PluginCallError(
                        .auth,
                        "the token endpoint of \(client.connection) refused the app's credentials (\(detail)); check the connection's client_id and its secret (`koppel secrets set \(client.connection) client_secret`); the sign-in itself is kept")
                }
                lastAnswer = .refused(detail)
                throw PluginCallError(.auth, "the token endpoint of \(client.connection) refused the \(what) (\(detail)); \(reauthorize)")
            }
            // The password grant may come without a refresh token (the account signs in
            // again), the client-credentials grant always does.
            guard let access = object["access_token"] as? String,
                  let refresh = object["refresh_token"] as? String ?? (client.account != nil || client.clientCredentials ? "" : nil)
            else {
                throw PluginCallError(.auth, "the token endpoint of \(client.connection) answered without access and refresh tokens")
            }
            let lifetime = (object["expires_in"] as? Int) ?? (object["expires_in"] as? String).flatMap(Int.init) ?? 600
            vault.redactor.register(access)
            if !refresh.isEmpty { vault.redactor.register(refresh) }
            return Tokens(accessToken: access, refreshToken: refresh, expiresAt: Date().addingTimeInterval(TimeInterval(lifetime)), obtainedAt: Date())
        }
    }
}

extension JSONEncoder {
    static var iso: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }
}

extension JSONDecoder {
    static var iso: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
