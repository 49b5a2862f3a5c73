import Foundation

/// A named lease in the state store, held by one process at a time: a flow being run, an
/// OAuth refresh under way. Its holder is `host:pid:random`, so a lease left behind by a
/// process on this machine that no longer exists (killed, crashed) is taken over at once
/// instead of blocking until it expires.
///
/// Each time the lease passes to a new holder its fencing token grows. Writes made under
/// the lease carry its `fence`, and the store refuses them once another holder has it, so
/// a process that lost its lease (paused, or a call slower than the lease) cannot record
/// a delivery on top of the process that took over.
public final class Lease: @unchecked Sendable {
    public let name: String
    public let holder: String
    let store: any StateStore
    private let lock = NSLock()
    private var token: Int64?

    public init(name: String, store: any StateStore) {
        self.name = name
        self.store = store
        holder = "\(Self.hostName):\(getpid()):\(UUID().uuidString.prefix(8))"
    }

    static let hostName = ProcessInfo.processInfo.hostName

    /// Takes the lease if it is free, expired, ours, or held by a dead local process.
    public func acquire(ttl: TimeInterval) throws -> Bool {
        var token = try store.acquireLease(name, holder: holder, ttl: ttl)
        if token == nil, let current = try store.leaseHolder(name), Self.isDeadLocalHolder(current) {
            token = try store.takeOverLease(name, from: current, holder: holder, ttl: ttl)
        }
        lock.withLock { self.token = token }
        return token != nil
    }

    /// The lease as taken, for fenced writes; nil when it is not held.
    public var fence: LeaseFence? {
        lock.withLock { token.map { LeaseFence(name: name, holder: holder, token: $0) } }
    }

    /// Extends the lease; false (and the lease no longer ours) when another holder took it.
    public func renew(ttl: TimeInterval) throws -> Bool {
        guard let fence else { return false }
        if try store.renewLease(fence, ttl: ttl) { return true }
        lock.withLock { token = nil }
        return false
    }

    public func release() {
        lock.withLock { token = nil }
        try? store.releaseLease(name, holder: holder)
    }

    static func isDeadLocalHolder(_ holder: String) -> Bool {
        let parts = holder.split(separator: ":")
        guard parts.count == 3, String(parts[0]) == hostName, let pid = pid_t(parts[1]) else { return false }
        return kill(pid, 0) != 0 && errno == ESRCH
    }
}

/// Keeps a lease alive from a thread of its own while its holder works, so that a record
/// whose calls take longer than the lease (slow answers, retries, rate-limit waits) does
/// not lose it. When a renewal finds the lease taken, `lost` is set and the heartbeat
/// ends; the holder stops before its next write.
public final class LeaseHeartbeat: @unchecked Sendable {
    private let lease: Lease
    private let ttl: TimeInterval
    private let interval: TimeInterval
    private let condition = NSCondition()
    private var stopped = false
    private var lostFlag = false

    /// Renews `lease` every `ttl / 4` seconds until `stop()`.
    public init(lease: Lease, ttl: TimeInterval) {
        self.lease = lease
        self.ttl = ttl
        interval = max(0.05, ttl / 4)
        let thread = Thread { [self] in beat() }
        thread.name = "koppel-lease-\(lease.name)"
        thread.start()
    }

    /// True once a renewal found the lease in other hands.
    public var lost: Bool { condition.withLock { lostFlag } }

    public func stop() {
        condition.withLock {
            stopped = true
            condition.broadcast()
        }
    }

    private func beat() {
        while true {
            let done = condition.withLock { () -> Bool in
                if !stopped { _ = condition.wait(until: Date().addingTimeInterval(interval)) }
                return stopped
            }
            if done { return }
            // A store error (busy, I/O) is not a lost lease: the next beat tries again, and
            // the fenced write decides.
            guard let renewed = try? lease.renew(ttl: ttl), !renewed else { continue }
            condition.withLock { lostFlag = true; stopped = true }
            return
        }
    }
}
