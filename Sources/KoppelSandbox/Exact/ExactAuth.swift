import Foundation

/// The fake's OAuth 2 server, as strict as Exact Online's: authorization codes are
/// single-use, access tokens live ten minutes, and every refresh returns a new refresh
/// token while the old one dies; using a dead one is refused with 401 "Old refresh token
/// used." (R-AUTH-4). A new token is given only 570 s after the previous token answer
/// (R-AUTH-5). A refresh token unused for 30 days expires (R-AUTH-7). At most 200 token
/// calls a day (R-AUTH-8). Time is the fake's own clock, which tests can move forward.
final class ExactAuth: @unchecked Sendable {
    struct Client {
        var id: String
        var secret: String
    }

    private let lock = NSLock()
    let client: Client
    let accessLifetime: TimeInterval
    private var codes: [String: String] = [:]
    private var accessTokens: [String: Date] = [:]
    /// Live refresh tokens, with when each was issued.
    private var refreshTokens: [String: Date] = [:]
    private var usedRefreshTokens: Set<String> = []
    private(set) var refreshCount = 0
    private(set) var staleRefreshAttempts = 0
    private(set) var tooEarlyAttempts = 0
    /// When the token endpoint last gave tokens (the test door's tokens do not count).
    private var lastTokenAnswer: Date?
    /// How far the fake's clock is ahead of the machine's.
    private var offset: TimeInterval = 0
    /// R-AUTH-5: the least time between two token answers.
    static let refreshFloor: TimeInterval = 570
    /// R-AUTH-7: how long a refresh token lives unused.
    static let refreshIdleLifetime: TimeInterval = 30 * 86_400
    /// R-AUTH-8: token-endpoint calls an app may make per user a day (code exchanges and
    /// refreshes alike). The fake has one user.
    static let dailyTokenCalls = 200
    /// Token-endpoint calls by UTC day of the fake's clock.
    private var tokenCalls: [Int: Int] = [:]

    /// The fake's time.
    var now: Date { lock.withLock { Date().addingTimeInterval(offset) } }

    /// Moves the fake's clock forward (tokens expire, the refresh floor passes).
    func advance(by seconds: TimeInterval) {
        lock.withLock { offset += max(0, seconds) }
    }

    init(client: Client, accessLifetime: TimeInterval) {
        self.client = client
        self.accessLifetime = accessLifetime
    }

    /// A code for the consent screen's redirect (the fake consents at once).
    func issueCode(redirectURI: String) -> String {
        lock.withLock {
            let code = "code-" + ExactJSON.guid()
            codes[code] = redirectURI
            return code
        }
    }

    /// Tokens issued directly, as if the merchant had just signed in (for tests and the demo).
    func issueTokens() -> [String: Any] {
        lock.withLock { issue() }
    }

    private func issue() -> [String: Any] {
        let access = "sandbox-access-" + ExactJSON.guid()
        let refresh = "sandbox-refresh-" + ExactJSON.guid()
        accessTokens[access] = Date().addingTimeInterval(offset + accessLifetime)
        refreshTokens[refresh] = Date().addingTimeInterval(offset)
        return ["access_token": access, "token_type": "bearer", "expires_in": String(Int(accessLifetime)), "refresh_token": refresh]
    }

    /// Handles a token request; returns the status, the JSON body and extra headers.
    func token(form: [String: String]) -> (Int, [String: Any], [String: String]) {
        lock.withLock {
            let (status, body) = answer(form)
            if status == 200 { lastTokenAnswer = Date().addingTimeInterval(offset) }
            let reason = status == 400 && body["error"] as? String == "access_denied"
                ? ["Reason": "TooEarlyToRefreshTokens: Rate limit exceeded: access_token not expired"] : [:]
            return (status, body, reason)
        }
    }

    private func answer(_ form: [String: String]) -> (Int, [String: Any]) {
        // R-AUTH-9: a wrong client id or secret gets a bare `invalid_request`.
        guard form["client_id"] == client.id, form["client_secret"] == client.secret else {
            return (400, ["error": "invalid_request"])
        }
        // R-AUTH-8: the 201st call of a day is refused. How Exact answers it is not
        // documented: assumed 429 with an OAuth error body (sandbox README).
        let day = Int(Date().addingTimeInterval(offset).timeIntervalSince1970 / 86_400)
        tokenCalls[day, default: 0] += 1
        guard tokenCalls[day]! <= Self.dailyTokenCalls else {
            return (429, ["error": "invalid_request", "error_description": "Rate limit exceeded: at most \(Self.dailyTokenCalls) token requests a day"])
        }
        switch form["grant_type"] {
        case "authorization_code":
            guard let code = form["code"], let redirect = codes.removeValue(forKey: code) else {
                return (400, ["error": "invalid_grant", "error_description": "Authorization code is invalid or was used already."])
            }
            guard form["redirect_uri"] == redirect else {
                return (400, ["error": "invalid_grant", "error_description": "redirect_uri does not match."])
            }
            return (200, issue())
        case "refresh_token":
            guard let refresh = form["refresh_token"] else { return (400, ["error": "invalid_request"]) }
            guard let issued = refreshTokens[refresh] else {
                staleRefreshAttempts += 1
                // R-AUTH-4: a rotated refresh token is refused with 401.
                guard usedRefreshTokens.contains(refresh) else { return (400, ["error": "invalid_request"]) }
                return (401, ["error": "unauthorized_client", "error_description": "Old refresh token used."])
            }
            let now = Date().addingTimeInterval(offset)
            let expiry = issued.addingTimeInterval(Self.refreshIdleLifetime)
            if now >= expiry {
                refreshTokens[refresh] = nil
                return (400, ["error": "invalid_request",
                              "error_description": "The refresh token expired at \(Self.usDate(expiry)) and it is now \(Self.usDate(now))."])
            }
            // R-AUTH-5: no new token within 570 s of the last one; the refresh token
            // stays good.
            if let last = lastTokenAnswer, Date().addingTimeInterval(offset).timeIntervalSince(last) < Self.refreshFloor {
                tooEarlyAttempts += 1
                return (400, ["error": "access_denied", "error_description": "Rate limit exceeded: access_token not expired"])
            }
            refreshTokens[refresh] = nil
            usedRefreshTokens.insert(refresh)
            refreshCount += 1
            return (200, issue())
        default:
            return (400, ["error": "unsupported_grant_type"])
        }
    }

    /// Exact's US-style time in its token errors: `3/5/2026 1:04:09 PM` (UTC here).
    static func usDate(_ date: Date) -> String {
        ExactJSON.formatter("M/d/yyyy h:mm:ss a").string(from: date)
    }

    /// True when the bearer token is one the fake issued and it has not expired.
    func valid(_ authorization: String?) -> Bool {
        guard let authorization, authorization.hasPrefix("Bearer ") else { return false }
        let token = String(authorization.dropFirst(7))
        return lock.withLock { (accessTokens[token] ?? .distantPast) > Date().addingTimeInterval(offset) }
    }

    var stats: [String: Int] {
        lock.withLock { ["refreshes": refreshCount, "stale_refresh_attempts": staleRefreshAttempts, "too_early_refreshes": tooEarlyAttempts] }
    }
}

/// Exact's per-division budgets: so many calls a minute and a day. Every answer carries
/// the budget in Exact's headers; a call over budget gets 429.
final class ExactRateLimiter: @unchecked Sendable {
    let minutely: Int
    let daily: Int
    private let lock = NSLock()
    private var windows: [Int: (minuteStart: Date, minuteUsed: Int, dayStart: Date, dayUsed: Int)] = [:]
    private(set) var refused = 0

    init(minutely: Int, daily: Int) {
        self.minutely = minutely
        self.daily = daily
    }

    /// Takes one call from the division's budget; returns whether it was allowed and the
    /// headers to send.
    func take(division: Int, now: Date = Date()) -> (allowed: Bool, headers: [String: String]) {
        lock.withLock {
            var w = windows[division] ?? (now, 0, Self.startOfDay(now), 0)
            if now.timeIntervalSince(w.minuteStart) >= 60 { w.minuteStart = now; w.minuteUsed = 0 }
            if now >= w.dayStart.addingTimeInterval(86_400) { w.dayStart = Self.startOfDay(now); w.dayUsed = 0 }
            let allowed = w.minuteUsed < minutely && w.dayUsed < daily
            if allowed {
                w.minuteUsed += 1
                w.dayUsed += 1
            } else {
                refused += 1
            }
            windows[division] = w
            let ms = { (date: Date) in String(Int64(date.timeIntervalSince1970 * 1000)) }
            return (allowed, [
                "X-RateLimit-Limit": String(daily),
                "X-RateLimit-Remaining": String(max(0, daily - w.dayUsed)),
                "X-RateLimit-Reset": ms(w.dayStart.addingTimeInterval(86_400)),
                "X-RateLimit-Minutely-Limit": String(minutely),
                "X-RateLimit-Minutely-Remaining": String(max(0, minutely - w.minuteUsed)),
                "X-RateLimit-Minutely-Reset": ms(w.minuteStart.addingTimeInterval(60)),
            ])
        }
    }

    static func startOfDay(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 / 86_400).rounded(.down) * 86_400)
    }
}
