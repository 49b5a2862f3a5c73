import Foundation

/// Paces one connection's requests so that its remote rate limits are used without
/// running into 429s. It learns the budget from response headers (Exact's
/// `X-RateLimit-Minutely-Remaining/Reset` and `X-RateLimit-Remaining/Reset`, the common
/// `X-RateLimit-*` and `Retry-After`) and, before any header arrives, keeps to the limits
/// the plugin's manifest declares.
public final class RateLimitGovernor: @unchecked Sendable {
    /// A limit known in advance: `limit` requests per `period` seconds.
    public struct Limit: Sendable {
        public var limit: Int
        public var period: TimeInterval
        public init(limit: Int, period: TimeInterval) {
            self.limit = limit
            self.period = period
        }
    }

    /// A budget the server reported: how many requests are left until `resetAt`.
    struct Window {
        var remaining: Int
        var resetAt: Date
    }

    private let lock = NSLock()
    private let declared: [Limit]
    private var sent: [Date] = []
    private var windows: [String: Window] = [:]
    private var blockedUntil: Date?

    public init(declared: [Limit] = []) {
        self.declared = declared
    }

    /// The requests left in the tightest budget the server last reported, or, before it
    /// reported any, under the tightest declared limit; nil when nothing limits them.
    public func remaining(now: Date = Date()) -> Int? {
        lock.withLock {
            let reported = windows.values.filter { $0.resetAt > now }.map { max(0, $0.remaining) }
            if !reported.isEmpty { return reported.min() }
            return declared.map { limit in max(0, limit.limit - sent.filter { now.timeIntervalSince($0) < limit.period }.count) }.min()
        }
    }

    /// Claims the right to send one request: returns 0 to send now, or how long to wait
    /// before asking again.
    public func reserve(now: Date = Date()) -> TimeInterval {
        lock.withLock {
            if let blockedUntil, blockedUntil > now { return blockedUntil.timeIntervalSince(now) }
            var wait: TimeInterval = 0
            for (name, window) in windows {
                if window.resetAt <= now {
                    windows[name] = nil
                } else if window.remaining <= 0 {
                    wait = max(wait, window.resetAt.timeIntervalSince(now))
                }
            }
            let horizon = declared.map(\.period).max() ?? 0
            sent.removeAll { now.timeIntervalSince($0) >= horizon }
            // Once the server has reported its budget, that budget rules.
            for limit in declared where windows.isEmpty {
                let recent = sent.filter { now.timeIntervalSince($0) < limit.period }
                if recent.count >= limit.limit, let oldest = recent.min() {
                    wait = max(wait, limit.period - now.timeIntervalSince(oldest))
                }
            }
            guard wait <= 0 else { return wait }
            for name in windows.keys { windows[name]?.remaining -= 1 }
            if !declared.isEmpty { sent.append(now) }
            return 0
        }
    }

    /// Moves a request's place in the declared windows from when its turn was taken to
    /// when it finished: the server counts it when it arrived, somewhere in between, so
    /// a window measured from the finish never lets the next request arrive early (a
    /// slow network or a busy machine would otherwise cost a 429).
    public func settle(reservedAt: Date, now: Date = Date()) {
        lock.withLock {
            if let index = sent.firstIndex(of: reservedAt) { sent[index] = now }
        }
    }

    /// Learns from a response's headers and status.
    public func observe(status: Int, headers: [String: String], now: Date = Date()) {
        lock.withLock {
            // Exact Online: per-minute and per-day budgets, resets as epoch milliseconds.
            for (name, remainingHeader, resetHeader) in [
                ("minutely", "x-ratelimit-minutely-remaining", "x-ratelimit-minutely-reset"),
                ("window", "x-ratelimit-remaining", "x-ratelimit-reset"),
            ] {
                guard let remaining = headers[remainingHeader].flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }),
                    let reset = headers[resetHeader].flatMap({ Self.resetDate($0, now: now) })
                else { continue }
                windows[name] = Window(remaining: remaining, resetAt: reset)
            }
            if status == 429 || status == 503, let retryAfter = headers["retry-after"].flatMap({ Self.retryAfter($0, now: now) }) {
                blockedUntil = max(blockedUntil ?? now, retryAfter)
            } else if status == 429 {
                // No Retry-After: wait for the window the server says is spent, else a second.
                let reset = windows.values.filter { $0.remaining <= 0 && $0.resetAt > now }.map(\.resetAt).min() ?? now.addingTimeInterval(1)
                blockedUntil = max(blockedUntil ?? now, reset)
            }
        }
    }

    /// When the server says the budget is back, if it says.
    public func resumeDate(now: Date = Date()) -> Date? {
        lock.withLock {
            ([blockedUntil] + windows.values.filter { $0.remaining <= 0 }.map { Optional($0.resetAt) }).compactMap { $0 }.filter { $0 > now }.max()
        }
    }

    /// A reset header: epoch milliseconds (Exact), epoch seconds, or seconds from now.
    static func resetDate(_ text: String, now: Date) -> Date? {
        guard let value = Double(text.trimmingCharacters(in: .whitespaces)) else { return nil }
        if value > 1e12 { return Date(timeIntervalSince1970: value / 1000) }
        if value > 1e9 { return Date(timeIntervalSince1970: value) }
        return now.addingTimeInterval(value)
    }

    /// Retry-After: seconds, or an HTTP date.
    static func retryAfter(_ text: String, now: Date) -> Date? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let seconds = Double(trimmed) { return now.addingTimeInterval(seconds) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: trimmed)
    }
}
