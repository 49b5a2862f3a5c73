import CKoppelPlugin

/// A failure a connector reports to the host. The case is the class the host acts on
/// (retry, pause, park); the message is what a person reads, so say what to do.
public enum ConnectorError: Error, Equatable, Sendable {
    /// A temporary failure (network, 5xx); the host retries later.
    case transient(String)
    /// The remote rate limit was hit; the host waits for its reset.
    case rateLimited(String)
    /// Credentials are missing, wrong or expired; a person must re-authorise.
    case auth(String)
    /// The config, cursor, record or stream is malformed or cannot be mapped.
    case invalidData(String)
    /// The thing looked up does not exist.
    case notFound(String)
    /// The remote system refuses because of its state (duplicate, locked period).
    case conflict(String)
    /// A bug or an unexpected answer.
    case `internal`(String)
    /// The host asked the call to stop.
    case cancelled
    /// A write was sent and its answer lost; the host reconciles before writing again.
    case uncertain(String)

    /// The ABI status code of this class.
    public var status: koppel_status {
        switch self {
        case .transient: KOPPEL_TRANSIENT
        case .rateLimited: KOPPEL_RATE_LIMITED
        case .auth: KOPPEL_AUTH
        case .invalidData: KOPPEL_INVALID_DATA
        case .notFound: KOPPEL_NOT_FOUND
        case .conflict: KOPPEL_CONFLICT
        case .internal: KOPPEL_INTERNAL
        case .cancelled: KOPPEL_CANCELLED
        case .uncertain: KOPPEL_UNCERTAIN
        }
    }

    /// The human-readable message.
    public var message: String {
        switch self {
        case .transient(let m), .rateLimited(let m), .auth(let m), .invalidData(let m),
             .notFound(let m), .conflict(let m), .internal(let m), .uncertain(let m):
            m
        case .cancelled:
            "cancelled by the host"
        }
    }

    /// Builds the error for a non-OK status returned by a host service.
    init(status: koppel_status, message: String) {
        switch status {
        case KOPPEL_TRANSIENT: self = .transient(message)
        case KOPPEL_RATE_LIMITED: self = .rateLimited(message)
        case KOPPEL_AUTH: self = .auth(message)
        case KOPPEL_INVALID_DATA: self = .invalidData(message)
        case KOPPEL_NOT_FOUND: self = .notFound(message)
        case KOPPEL_CONFLICT: self = .conflict(message)
        case KOPPEL_CANCELLED: self = .cancelled
        case KOPPEL_UNCERTAIN: self = .uncertain(message)
        default: self = .internal(message)
        }
    }
}

extension ConnectorError: CustomStringConvertible {
    public var description: String { message }
}
