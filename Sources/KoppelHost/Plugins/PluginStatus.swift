import KoppelPluginABI

/// The classified status of a plugin call, as the ABI defines it.
public enum PluginStatus: Equatable, Sendable, CustomStringConvertible {
    case ok, transient, rateLimited, auth, invalidData, notFound, conflict, `internal`, cancelled, uncertain
    /// A code this host does not know: a contract violation by the plugin.
    case unknown(Int32)

    /// The status for an ABI code.
    public init(code: koppel_status) {
        switch code {
        case KOPPEL_OK: self = .ok
        case KOPPEL_TRANSIENT: self = .transient
        case KOPPEL_RATE_LIMITED: self = .rateLimited
        case KOPPEL_AUTH: self = .auth
        case KOPPEL_INVALID_DATA: self = .invalidData
        case KOPPEL_NOT_FOUND: self = .notFound
        case KOPPEL_CONFLICT: self = .conflict
        case KOPPEL_INTERNAL: self = .internal
        case KOPPEL_CANCELLED: self = .cancelled
        case KOPPEL_UNCERTAIN: self = .uncertain
        default: self = .unknown(code)
        }
    }

    /// The ABI code.
    public var code: koppel_status {
        switch self {
        case .ok: KOPPEL_OK
        case .transient: KOPPEL_TRANSIENT
        case .rateLimited: KOPPEL_RATE_LIMITED
        case .auth: KOPPEL_AUTH
        case .invalidData: KOPPEL_INVALID_DATA
        case .notFound: KOPPEL_NOT_FOUND
        case .conflict: KOPPEL_CONFLICT
        case .internal: KOPPEL_INTERNAL
        case .cancelled: KOPPEL_CANCELLED
        case .uncertain: KOPPEL_UNCERTAIN
        case .unknown(let code): code
        }
    }

    /// What the host does about a call that ended so. This is the whole table; the
    /// header's status section says the same to plugin authors.
    public enum Reaction: Sendable, Equatable {
        /// The call did what was asked.
        case done
        /// Tried again later: a write stays `uncertain` and is looked up (reconciled)
        /// before it is sent again; a read is repeated from the cursor by the next run.
        case retryLater
        /// As `retryLater`, and the run stops at once: the remote limit is spent.
        case waitForLimit
        /// As `retryLater`, and the flow stops, naming the connection that needs
        /// `koppel auth` (or its credentials).
        case signInNeeded
        /// The host asked the call to stop; the next run continues where it stopped.
        case stopped
        /// A write is parked as failed with the message, for `koppel replay` once the
        /// cause is fixed; a read fails its run with the message.
        case park
    }

    /// The host's reaction to this status.
    public var reaction: Reaction {
        switch self {
        case .ok: .done
        case .transient, .uncertain: .retryLater
        case .rateLimited: .waitForLimit
        case .auth: .signInNeeded
        case .cancelled: .stopped
        case .invalidData, .notFound, .conflict, .internal, .unknown: .park
        }
    }

    /// The name used in logs and the ABI documentation ("invalid-data").
    public var description: String {
        switch self {
        case .ok: "ok"
        case .transient: "transient"
        case .rateLimited: "rate-limited"
        case .auth: "auth"
        case .invalidData: "invalid-data"
        case .notFound: "not-found"
        case .conflict: "conflict"
        case .internal: "internal"
        case .cancelled: "cancelled"
        case .uncertain: "uncertain"
        case .unknown(let code): "unknown status \(code)"
        }
    }
}

/// A plugin call that did not return OK: its class and the plugin's message.
public struct PluginCallError: Error, Equatable, Sendable, CustomStringConvertible {
    public var status: PluginStatus
    public var message: String

    public init(_ status: PluginStatus, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { "\(status): \(message)" }
}
