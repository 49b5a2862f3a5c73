import Foundation

/// A named lease in the state store, held by one process at a time: a flow being run, an
/// OAuth refresh under way. Its holder is `host:pid:random`, so a lease left behind by a
/// process on this machine that no longer exists (killed, crashed) is taken over at once
/// instead of blocking until it expires.
public struct Lease: Sendable {
    public let name: String
    public let holder: String
    let store: any StateStore

    public init(name: String, store: any StateStore) {
        self.name = name
        self.store = store
        holder = "\(Self.hostName):\(getpid()):\(UUID().uuidString.prefix(8))"
    }

    static let hostName = ProcessInfo.processInfo.hostName

    /// Takes the lease if it is free, expired, ours, or held by a dead local process.
    public func acquire(ttl: TimeInterval) throws -> Bool {
        if try store.acquireLease(name, holder: holder, ttl: ttl) { return true }
        guard let current = try store.leaseHolder(name), Self.isDeadLocalHolder(current) else { return false }
        return try store.takeOverLease(name, from: current, holder: holder, ttl: ttl)
    }

    public func release() {
        try? store.releaseLease(name, holder: holder)
    }

    static func isDeadLocalHolder(_ holder: String) -> Bool {
        let parts = holder.split(separator: ":")
        guard parts.count == 3, String(parts[0]) == hostName, let pid = pid_t(parts[1]) else { return false }
        return kill(pid, 0) != 0 && errno == ESRCH
    }
}
