import Foundation
import Logging

/// A request as a plugin asks for it through the ABI: a path below the connection's base
/// URL, query parameters, headers and an optional UTF-8 body.
public struct PluginHTTPRequest: Codable, Sendable {
    public var method: String
    public var path: String
    public var query: [String: String]?
    public var headers: [String: String]?
    public var body: String?
    public var idempotent: Bool?

    public init(method: String = "GET", path: String, query: [String: String]? = nil, headers: [String: String]? = nil, body: String? = nil, idempotent: Bool? = nil) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.idempotent = idempotent
    }
}

/// The HTTP service of one connection: it resolves paths against the base URL, adds the
/// credentials, paces requests under the rate limit, retries what is safe to retry, and
/// records every call (never its secrets) in the activity log.
///
/// What it retries: requests that never left (no connection), 429s (after the wait the
/// server names); idempotent requests also after a 5xx, a timeout or a dropped
/// connection. What it never does: send a non-idempotent request again when it may have
/// been processed (a timeout or reset after sending, any 5xx). That is reported as
/// `uncertain`, and the engine reconciles before writing again.
public final class HTTPTransport: Sendable {
    public let connection: String
    public let baseURL: String
    let authorizer: (any RequestAuthorizer)?
    let governor: RateLimitGovernor
    let errorBudget: EndpointErrorBudget?
    let retry: RetryPolicy
    let client: CurlHTTPClient
    let activity: ActivityRecorder?
    let metrics: KoppelMetrics?
    let logger: Logger
    let timeout: TimeInterval

    public init(
        connection: String, baseURL: String, authorizer: (any RequestAuthorizer)?, governor: RateLimitGovernor = RateLimitGovernor(),
        errorBudget: EndpointErrorBudget? = nil, retry: RetryPolicy = .http, client: CurlHTTPClient = CurlHTTPClient(), activity: ActivityRecorder? = nil,
        metrics: KoppelMetrics? = nil,
        logger: Logger, timeout: TimeInterval = 60
    ) {
        self.connection = connection
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.authorizer = authorizer
        self.governor = governor
        self.errorBudget = errorBudget
        self.retry = retry
        self.client = client
        self.activity = activity
        self.metrics = metrics
        self.logger = logger
        self.timeout = timeout
    }

    /// The transport as the ABI's `http_request` service: request JSON in, response JSON out.
    public func pluginService(cancellation: CancellationFlag? = nil) -> @Sendable (Data) -> Result<Data, PluginCallError> {
        { [self] json in
            let request: PluginHTTPRequest
            do {
                request = try JSONDecoder().decode(PluginHTTPRequest.self, from: json)
            } catch {
                return .failure(PluginCallError(.invalidData, "the HTTP request is not {method, path, query, headers, body, idempotent}: \(error)"))
            }
            return perform(request, cancellation: cancellation).map { response in
                let object: [String: Any] = [
                    "status": response.status, "headers": response.headers,
                    "body": String(decoding: response.body, as: UTF8.self),
                ]
                return (try? JSONSerialization.data(withJSONObject: object)) ?? Data("{}".utf8)
            }
        }
    }

    /// The full URL for a plugin's path and query.
    func url(for request: PluginHTTPRequest) throws(PluginCallError) -> String {
        var url: String
        if request.path.hasPrefix("http://") || request.path.hasPrefix("https://") {
            guard let host = URLComponents(string: request.path)?.host, host == URLComponents(string: baseURL)?.host else {
                throw PluginCallError(.invalidData, "refusing a request to \(request.path): it is not on the connection's host")
            }
            url = request.path
        } else {
            url = baseURL + (request.path.hasPrefix("/") ? "" : "/") + request.path
        }
        if let query = request.query, !query.isEmpty {
            let items = query.sorted { $0.key < $1.key }.map { "\(URLEncoding.queryComponent($0.key))=\(URLEncoding.queryComponent($0.value))" }
            url += (url.contains("?") ? "&" : "?") + items.joined(separator: "&")
        }
        return url
    }

    /// Performs a request with pacing, credentials and retries.
    public func perform(_ pluginRequest: PluginHTTPRequest, cancellation: CancellationFlag? = nil) -> Result<InboundResponse, PluginCallError> {
        Result { () throws(PluginCallError) in try send(pluginRequest, cancellation: cancellation) }
    }

    private func send(_ pluginRequest: PluginHTTPRequest, cancellation: CancellationFlag?) throws(PluginCallError) -> InboundResponse {
        let base = OutboundRequest(
            method: pluginRequest.method, url: try url(for: pluginRequest),
            headers: (pluginRequest.headers ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
            body: pluginRequest.body.map { Data($0.utf8) }, idempotent: pluginRequest.idempotent, timeout: timeout)
        let label = "\(base.method) \(pluginRequest.path)"
        let endpoint = EndpointErrorBudget.endpoint(URLComponents(string: base.url)?.path ?? pluginRequest.path)
        if let errorBudget, let until = errorBudget.blockedUntil(endpoint) {
            let reason = "\(connection) answered \(errorBudget.limit) calls to \(endpoint) with errors in the last \(Int(errorBudget.period / 60)) minutes; "
                + "the service blocks an endpoint beyond that, so Koppel calls it again from \(ISO8601DateFormatter().string(from: until))"
            let detail = #"{"rests": "\#(endpoint)", "until": "\#(ISO8601DateFormatter().string(from: until))"}"#
            activity?.record(ActivityEntry(at: Date(), kind: .http, connection: connection, message: "\(label) not sent: \(reason)", detail: detail))
            throw PluginCallError(.rateLimited, "\(label): \(reason)")
        }
        var attempt = 0
        var renewedCredentials = false
        while true {
            attempt += 1
            let turn = try waitForTurn(label: label, cancellation: cancellation)
            var request = base
            try authorizer?.authorize(&request)
            let outcome = client.send(request)
            governor.settle(reservedAt: turn)
            record(label: label, attempt: attempt, outcome: outcome)
            let exhausted = attempt >= retry.maxAttempts

            switch outcome {
            case .notSent(let reason):
                if exhausted {
                    let components = URLComponents(string: base.url)
                    let server = (components?.host ?? "the server") + (components?.port.map { ":\($0)" } ?? "")
                    throw PluginCallError(.transient, "\(label) failed after \(attempt) attempts: could not reach \(server): \(reason)")
                }
                try pause(retry.backoff(after: attempt), cancellation: cancellation)

            case .unknown(let reason):
                guard request.idempotent else {
                    throw PluginCallError(.uncertain, "\(label) was sent but its answer was lost (\(reason)); it was not sent again")
                }
                if exhausted { throw PluginCallError(.transient, "\(label) failed after \(attempt) attempts: \(reason)") }
                try pause(retry.backoff(after: attempt), cancellation: cancellation)

            case .response(let response):
                governor.observe(status: response.status, headers: response.headers)
                errorBudget?.record(status: response.status, endpoint: endpoint)
                if response.status == 401, let authorizer, !renewedCredentials, try authorizer.renewAfterRejection(of: request) {
                    renewedCredentials = true
                    attempt -= 1
                    continue
                }
                switch RetryPolicy.classify(status: response.status, idempotent: request.idempotent) {
                case .final:
                    return response
                case .unknownOutcome:
                    let said = String(decoding: response.body.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                    throw PluginCallError(
                        .uncertain, "\(label) got HTTP \(response.status)\(said.isEmpty ? "" : " (\(said))"); the server may have processed it, so it was not sent again")
                case .rateLimited:
                    if exhausted { throw rateLimited(label) }
                case .retry:
                    if exhausted { throw PluginCallError(.transient, "\(label) failed after \(attempt) attempts: HTTP \(response.status)") }
                    if governor.resumeDate() == nil { try pause(retry.backoff(after: attempt), cancellation: cancellation) }
                }
            }
        }
    }

    private func rateLimited(_ label: String) -> PluginCallError {
        let resume = governor.resumeDate().map { " until \(ISO8601DateFormatter().string(from: $0))" } ?? ""
        return PluginCallError(.rateLimited, "\(label): the rate limit of \(connection) is used up\(resume)")
    }

    /// Waits until the governor lets the request go, or gives up when the wait is longer
    /// than the policy accepts; returns the moment the turn was taken.
    private func waitForTurn(label: String, cancellation: CancellationFlag?) throws(PluginCallError) -> Date {
        while true {
            let now = Date()
            let wait = governor.reserve(now: now)
            if wait <= 0 { return now }
            if wait > retry.maxServerWait { throw rateLimited(label) }
            logger.debug("\(connection): waiting \(String(format: "%.1f", wait)) s for the rate limit")
            try pause(wait, cancellation: cancellation)
        }
    }

    private func pause(_ seconds: TimeInterval, cancellation: CancellationFlag?) throws(PluginCallError) {
        let until = Date().addingTimeInterval(seconds)
        while Date() < until {
            if cancellation?.isCancelled == true { throw PluginCallError(.cancelled, "stopped while waiting to retry") }
            usleep(UInt32(min(max(until.timeIntervalSinceNow, 0), 0.05) * 1_000_000))
        }
    }

    private func record(label: String, attempt: Int, outcome: SendOutcome) {
        let (status, result, duration): (Int?, String, TimeInterval?) = switch outcome {
        case .response(let r): (r.status, "HTTP \(r.status)", r.duration)
        case .notSent(let reason): (nil, "not sent: \(reason)", nil)
        case .unknown(let reason): (nil, "no answer: \(reason)", nil)
        }
        let ms = duration.map { " in \(Int($0 * 1000)) ms" } ?? ""
        var detail: [String: Any] = ["attempt": attempt]
        if let status { detail["status"] = status }
        if let duration { detail["ms"] = Int(duration * 1000) }
        // The budget the API reports for its longest window (Exact: the day's calls), for
        // `koppel status`.
        if case .response(let response) = outcome, let left = response.headers["x-ratelimit-remaining"].flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }),
           let back = response.headers["x-ratelimit-reset"].flatMap({ RateLimitGovernor.resetDate($0, now: Date()) }) {
            detail["budget_left"] = left
            detail["budget_back"] = ISO8601DateFormatter().string(from: back)
        }
        let detailJSON = (try? JSONSerialization.data(withJSONObject: detail, options: .sortedKeys)).map { String(decoding: $0, as: UTF8.self) }
        activity?.record(ActivityEntry(at: Date(), kind: .http, connection: connection, message: "\(label) -> \(result)\(ms)", detail: detailJSON))
        if let metrics {
            metrics.httpCall(connection: connection, status: status)
            if let remaining = governor.remaining() { metrics.rateLimitRemaining(connection: connection, remaining) }
        }
        logger.trace("\(connection): \(label) attempt \(attempt) -> \(result)\(ms)")
    }
}

extension URLEncoding {
    private static let queryAllowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~$'(),:@/")

    /// Encodes a query name or value, leaving OData's `$`, quotes and parentheses readable.
    public static func queryComponent(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: queryAllowed) ?? text
    }
}
