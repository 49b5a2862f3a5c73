import Foundation

/// How often and how patiently the transport tries a request again: exponential backoff
/// with full jitter, so that many clients recovering at once do not retry in step.
public struct RetryPolicy: Sendable {
    /// Attempts in all, the first included.
    public var maxAttempts: Int
    /// The first backoff ceiling; it doubles with each attempt.
    public var baseDelay: TimeInterval
    /// The largest backoff.
    public var maxDelay: TimeInterval
    /// The longest wait the transport accepts from a server (Retry-After, reset); a
    /// longer one ends the call as rate-limited so the engine can come back later.
    public var maxServerWait: TimeInterval

    public init(maxAttempts: Int = 6, baseDelay: TimeInterval = 0.5, maxDelay: TimeInterval = 30, maxServerWait: TimeInterval = 120) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.maxServerWait = maxServerWait
    }

    /// The wait before attempt `attempt + 1`, having made `attempt` attempts.
    public func backoff(after attempt: Int) -> TimeInterval {
        let ceiling = min(maxDelay, baseDelay * pow(2, Double(max(0, attempt - 1))))
        return Double.random(in: 0...ceiling)
    }

    /// Whether a response status is worth another attempt, given whether the request may
    /// be sent twice. Any 5xx may come after the server committed the work (a 500 or 503
    /// from a server under load, a 502 or 504 from a gateway that passed the request on),
    /// so for a non-idempotent request its outcome is unknown, not a failure: it is
    /// reconciled, never sent again blindly.
    public static func classify(status: Int, idempotent: Bool) -> StatusClass {
        switch status {
        case 429: .rateLimited
        case 500...599: idempotent ? .retry : .unknownOutcome
        default: .final
        }
    }

    /// What a response status means for retrying.
    public enum StatusClass: Sendable {
        case final, retry, rateLimited, unknownOutcome
    }
}
