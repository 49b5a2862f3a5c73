import Foundation

/// Counts a connection's error answers per endpoint, for an API that blocks an endpoint
/// once too many of its calls failed (Exact Online: ten 400, 401, 403 or 404 answers per
/// endpoint in an hour block it for an hour, longer if errors go on). The transport asks
/// before each call and stops calling an endpoint that has spent its budget until the
/// oldest counted error is older than the period: Koppel never causes the block.
public final class EndpointErrorBudget: @unchecked Sendable {
    public let limit: Int
    public let period: TimeInterval
    public let statuses: Set<Int>
    private let lock = NSLock()
    private var errors: [String: [Date]] = [:]

    public init(limit: Int, period: TimeInterval, statuses: Set<Int>) {
        self.limit = limit
        self.period = period
        self.statuses = statuses
    }

    /// The endpoint of a request path: without its query, its entity key (`(guid'…')`,
    /// `(42)`) and letter case, as the API counts it.
    public static func endpoint(_ path: String) -> String {
        var endpoint = String(path.split(separator: "?", maxSplits: 1).first ?? "")
        if let open = endpoint.firstIndex(of: "("), let close = endpoint[open...].firstIndex(of: ")") {
            endpoint.removeSubrange(open...close)
        }
        return endpoint.lowercased()
    }

    /// Notes an answer; only statuses the budget counts are kept.
    public func record(status: Int, endpoint: String, now: Date = Date()) {
        guard statuses.contains(status) else { return }
        lock.withLock { errors[endpoint, default: []].append(now) }
    }

    /// When the endpoint may be called again, or nil when it may be called now.
    public func blockedUntil(_ endpoint: String, now: Date = Date()) -> Date? {
        lock.withLock {
            let recent = (errors[endpoint] ?? []).filter { now.timeIntervalSince($0) < period }
            errors[endpoint] = recent.isEmpty ? nil : recent
            guard recent.count >= limit, let oldest = recent.min() else { return nil }
            return oldest.addingTimeInterval(period)
        }
    }

    /// The endpoints not to be called now, with when each is free again.
    public func blocked(now: Date = Date()) -> [String: Date] {
        let endpoints = lock.withLock { Array(errors.keys) }
        return endpoints.reduce(into: [:]) { result, endpoint in result[endpoint] = blockedUntil(endpoint, now: now) }
    }
}
