import Foundation

/// How often and how patiently something is tried again: exponential backoff, with full
/// jitter where many clients may recover at once. Every retry in the host takes one of the
/// presets below, so the policies are read (and changed) in one place.
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
    /// A random wait up to the ceiling (so that clients do not retry in step), or the
    /// ceiling itself.
    public var jitter: Bool

    public init(
        maxAttempts: Int = 6, baseDelay: TimeInterval = 0.5, maxDelay: TimeInterval = 30, maxServerWait: TimeInterval = 120, jitter: Bool = true
    ) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.maxServerWait = maxServerWait
        self.jitter = jitter
    }

    /// A request to a remote API: six attempts, 0.5 s doubling to 30 s, jittered.
    public static let http = RetryPolicy()
    /// A record held up by a passing failure, tried again by later runs: 15 s after the
    /// first attempt, doubling up to an hour, for as long as it takes.
    public static let heldRecord = RetryPolicy(maxAttempts: .max, baseDelay: 15, maxDelay: 3600, jitter: false)
    /// A token request that could not be sent (connection refused, DNS): four attempts,
    /// half a second apart. One that was sent is never repeated (refresh tokens rotate).
    public static let tokenRequest = RetryPolicy(maxAttempts: 4, baseDelay: 0.5, maxDelay: 0.5, jitter: false)
    /// An alert POST: three attempts, 1 s then 2 s apart.
    public static let alert = RetryPolicy(maxAttempts: 3, baseDelay: 1, maxDelay: 2, jitter: false)
    /// Opening a state file another process is creating (WAL mode ignores the busy
    /// timeout): up to five seconds, a tenth apart.
    public static let stateFileOpen = RetryPolicy(maxAttempts: 51, baseDelay: 0.1, maxDelay: 0.1, jitter: false)
    /// Migrating a state file another process migrates at the same moment.
    public static let stateFileMigration = RetryPolicy(maxAttempts: 6, baseDelay: 0.1, maxDelay: 0.1, jitter: false)

    /// The wait before attempt `attempt + 1`, having made `attempt` attempts.
    public func backoff(after attempt: Int) -> TimeInterval {
        let ceiling = min(maxDelay, baseDelay * pow(2, Double(min(max(0, attempt - 1), 30))))
        return jitter ? Double.random(in: 0...ceiling) : ceiling
    }

    /// Runs `body` (given the attempt number, from 1) until it returns, throws an error
    /// `retryable` does not take, or the attempts run out (the last error is thrown),
    /// waiting `backoff` between attempts.
    public func run<T>(retryable: (any Error) -> Bool, _ body: (Int) throws -> T) throws -> T {
        var attempt = 1
        while true {
            do {
                return try body(attempt)
            } catch where attempt < maxAttempts && retryable(error) {
                Thread.sleep(forTimeInterval: backoff(after: attempt))
                attempt += 1
            }
        }
    }

    /// Runs `body` until `again` says its result needs no other attempt or the attempts
    /// run out, waiting `backoff` between attempts; returns the last result.
    public func repeating<T>(_ body: () -> T, while again: (T) -> Bool) -> T {
        var result = body()
        var attempt = 1
        while attempt < maxAttempts && again(result) {
            Thread.sleep(forTimeInterval: backoff(after: attempt))
            result = body()
            attempt += 1
        }
        return result
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
