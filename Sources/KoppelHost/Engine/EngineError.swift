/// Why a flow run stopped, in words an operator can act on.
public enum EngineError: Error, Equatable, Sendable, CustomStringConvertible {
    case flowBusy(flow: String)
    case authRequired(flow: String, connection: String, reason: String)
    case rateLimited(flow: String, connection: String, reason: String)
    case cancelled(flow: String)
    case readFailed(flow: String, reason: String)
    case unknownRecord(flow: String, key: String)
    /// Another process took the flow over while this run was busy; this run wrote
    /// nothing after that.
    case leaseLost(flow: String, reason: String)
    /// The state file failed (damaged, full, unreadable): the run stopped.
    case stateFailed(flow: String, reason: String)

    public var description: String {
        switch self {
        case .flowBusy(let flow):
            "flow \(flow) is running in another process; not started again"
        case .authRequired(let flow, let connection, let reason):
            "flow \(flow) paused: connection \(connection) needs `koppel auth \(connection)` (\(reason))"
        case .rateLimited(let flow, let connection, let reason):
            "flow \(flow) stopped for now: \(connection) is rate limited (\(reason)); the next run continues"
        case .cancelled(let flow):
            "flow \(flow) was stopped; the next run continues where it stopped"
        case .readFailed(let flow, let reason):
            "flow \(flow): reading the source failed: \(reason)"
        case .unknownRecord(let flow, let key):
            "flow \(flow) has no parked record \(key) (see `koppel failed \(flow)`)"
        case .leaseLost(let flow, let reason):
            "flow \(flow) stopped: \(reason); the process that holds the flow now continues it"
        case .stateFailed(let flow, let reason):
            "flow \(flow) failed: \(reason)"
        }
    }
}
