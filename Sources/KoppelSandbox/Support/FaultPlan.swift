import Foundation

/// The faults a fake injects, as shares of requests (0 to 1), plus faults queued for the
/// next matching requests. Random choices come from a seeded generator, so a run with
/// the same seed and the same requests sees the same faults.
public struct FaultPlan: Sendable, Equatable {
    /// Answer 500 or 503 without doing anything.
    public var serverErrors: Double = 0
    /// Answer after `slowDelay` seconds.
    public var slow: Double = 0
    public var slowDelay: TimeInterval = 2
    /// Close the connection without doing anything or answering.
    public var resets: Double = 0
    /// For POST, PUT and DELETE: do the work, then close the connection without answering.
    public var dropAfterCommit: Double = 0
    /// For POST, PUT and DELETE: do the work, then answer 500 or 503 (a server under load
    /// does; so does Exact Online).
    public var commitThenServerErrors: Double = 0
    /// Answer 429 with Retry-After without doing anything.
    public var rateLimitBursts: Double = 0
    /// The token endpoint answers 503 without using the refresh token.
    public var tokenFailures: Double = 0

    public init() {}

    /// The kinds of fault, as they are named on the command line and in the control API.
    public enum Kind: String, Sendable, CaseIterable, Codable {
        case serverError = "5xx"
        case slow
        case reset
        case dropAfterCommit = "drop-after-commit"
        case commitThenServerError = "commit-then-5xx"
        case rateLimitBurst = "429"
        case tokenFailure = "token"
        /// Queued only: the answer's first record (the first object in the first list of
        /// objects in the JSON body) gets `field` replaced by `value`, or loses it: a
        /// record the service stores broken, as real shops do (an order without a
        /// number, a date that is not one).
        case breakRecord = "break-record"
    }

    /// Why a fault specification could not be read.
    public struct ParseError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Parses `5xx=0.1,slow=0.05,reset=0.02,drop-after-commit=0.1,commit-then-5xx=0.1,429=0.05,token=0.1`
    /// (any subset; `slow-delay=3` sets the delay in seconds).
    public init(parsing text: String) throws(ParseError) {
        for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
            let pieces = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard pieces.count == 2, let value = Double(pieces[1]), value >= 0 else {
                throw ParseError(description: "fault \"\(part)\" is not name=share, such as 5xx=0.1")
            }
            if pieces[0] == "slow-delay" {
                slowDelay = value
                continue
            }
            guard value <= 1 else { throw ParseError(description: "fault \"\(part)\": a share is between 0 and 1") }
            switch Kind(rawValue: pieces[0]) {
            case .serverError: serverErrors = value
            case .slow: slow = value
            case .reset: resets = value
            case .dropAfterCommit: dropAfterCommit = value
            case .commitThenServerError: commitThenServerErrors = value
            case .rateLimitBurst: rateLimitBursts = value
            case .tokenFailure: tokenFailures = value
            case .breakRecord:
                throw ParseError(description: "break-record is queued with the field it breaks (POST /_sandbox/faults), not given as a share")
            case nil:
                throw ParseError(description: "unknown fault \"\(pieces[0])\"; known: \(Kind.allCases.map(\.rawValue).joined(separator: ", ")), slow-delay")
            }
        }
    }

    func share(of kind: Kind) -> Double {
        switch kind {
        case .serverError: serverErrors
        case .slow: slow
        case .reset: resets
        case .dropAfterCommit: dropAfterCommit
        case .commitThenServerError: commitThenServerErrors
        case .rateLimitBurst: rateLimitBursts
        case .tokenFailure: tokenFailures
        case .breakRecord: 0
        }
    }
}

/// Decides, request by request, which fault (if any) to inject.
public final class FaultInjector: @unchecked Sendable {
    /// A fault queued for the next requests whose "METHOD /path" contains `match`.
    public struct Queued: Codable, Sendable {
        public var match: String
        public var fault: FaultPlan.Kind
        public var count: Int
        /// For `break-record`: the field to break, and its broken value (nil: removed).
        public var field: String?
        public var value: String?
        public init(match: String, fault: FaultPlan.Kind, count: Int = 1, field: String? = nil, value: String? = nil) {
            self.match = match
            self.fault = fault
            self.count = count
            self.field = field
            self.value = value
        }
    }

    private let lock = NSLock()
    private var plan: FaultPlan
    private var queued: [Queued] = []
    private var random: SplitMix64
    private var injected: [FaultPlan.Kind: Int] = [:]

    public init(plan: FaultPlan = FaultPlan(), seed: UInt64 = 1) {
        self.plan = plan
        self.random = SplitMix64(seed: seed ^ 0x5EED_FA17)
    }

    /// Replaces the shares.
    public func set(_ plan: FaultPlan) { lock.withLock { self.plan = plan } }
    public var current: FaultPlan { lock.withLock { plan } }

    /// Queues faults for the next matching requests.
    public func queue(_ fault: Queued) { lock.withLock { queued.append(fault) } }

    /// How many faults of each kind were injected.
    public var counts: [FaultPlan.Kind: Int] { lock.withLock { injected } }

    /// The fault for this request, if any. Write faults apply to POST, PUT and DELETE
    /// only; token failures to the token endpoint only, which gets no other fault.
    func decide(method: String, path: String, isTokenEndpoint: Bool) -> Queued? {
        lock.withLock {
            let label = "\(method) \(path)"
            if let index = queued.firstIndex(where: { label.contains($0.match) }) {
                let fault = queued[index]
                queued[index].count -= 1
                if queued[index].count <= 0 { queued.remove(at: index) }
                injected[fault.fault, default: 0] += 1
                return fault
            }
            let isWrite = ["POST", "PUT", "DELETE"].contains(method)
            let candidates: [FaultPlan.Kind] = isTokenEndpoint
                ? [.tokenFailure]
                : [.reset, .serverError, .rateLimitBurst, .slow] + (isWrite ? [.dropAfterCommit, .commitThenServerError] : [])
            for kind in candidates where plan.share(of: kind) > 0 {
                if random.nextUnit() < plan.share(of: kind) {
                    injected[kind, default: 0] += 1
                    return Queued(match: label, fault: kind)
                }
            }
            return nil
        }
    }
}

/// A small, fast, seedable generator (SplitMix64): deterministic test data and faults.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in [0, 1).
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) / Double(1 << 53)
    }
}
