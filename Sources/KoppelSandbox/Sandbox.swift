import Foundation
import Hummingbird
import Logging
import NIOCore

/// All fakes at once, each a real HTTP server on its own loopback port: Exact Online,
/// WooCommerce, Mijnwebwinkel, Winstore, Optiply and Boekuwzending, seeded with the same deterministic shop data and
/// sharing one fault plan. Used by `koppel sandbox`, `koppel demo`, tests and benchmarks.
public final class Sandbox: @unchecked Sendable {
    /// How the sandbox is set up.
    public struct Options: Sendable {
        public var seed = SeedData.Options()
        public var faults = FaultPlan()
        public var exact = ExactSandbox.Options()
        public var wooCommerce = WooCommerceSandbox.Options()
        public var mijnwebwinkel = MijnwebwinkelSandbox.Options()
        public var winstore = WinstoreSandbox.Options()
        public var optiply = OptiplySandbox.Options()
        public var boekuwzending = BoekuwzendingSandbox.Options()
        /// Loopback address to listen on.
        public var host = "127.0.0.1"
        /// First port; 0 lets the system pick free ports.
        public var basePort = 0
        public init() {}
    }

    /// One running fake: where it is and how to sign in to it.
    public struct Endpoint: Sendable {
        public var name: String
        public var baseURL: String
        public var credentials: [(String, String)]
    }

    public let exact: ExactSandbox
    public let wooCommerce: WooCommerceSandbox
    public let mijnwebwinkel: MijnwebwinkelSandbox
    public let winstore: WinstoreSandbox
    public let optiply: OptiplySandbox
    public let boekuwzending: BoekuwzendingSandbox
    public let faults: FaultInjector
    public let seed: SeedData
    public private(set) var endpoints: [Endpoint] = []
    private var tasks: [Task<Void, Error>] = []

    private init(options: Options) {
        seed = SeedData(options.seed)
        exact = ExactSandbox(options: options.exact)
        wooCommerce = WooCommerceSandbox(options: options.wooCommerce, seed: seed)
        mijnwebwinkel = MijnwebwinkelSandbox(options: options.mijnwebwinkel, seed: seed)
        winstore = WinstoreSandbox(options: options.winstore, seed: seed)
        optiply = OptiplySandbox(options: options.optiply)
        boekuwzending = BoekuwzendingSandbox(options: options.boekuwzending)
        faults = FaultInjector(plan: options.faults, seed: options.seed.seed)
    }

    /// Starts every fake and returns once all of them listen.
    public static func start(_ options: Options = Options(), logger: Logger = Logger(label: "koppel.sandbox")) async throws -> Sandbox {
        let sandbox = Sandbox(options: options)
        var quiet = logger
        quiet.logLevel = .critical
        func port(_ offset: Int) -> Int { options.basePort == 0 ? 0 : options.basePort + offset }

        let exactURL = try await sandbox.serve(port: port(0), host: options.host, tokenPath: "/api/oauth2/token", logger: quiet) {
            sandbox.exact.routes($0)
        }
        sandbox.exact.baseURL = exactURL
        let wooURL = try await sandbox.serve(port: port(1), host: options.host, tokenPath: nil, logger: quiet, front: sandbox.wooCommerce.frontDoor) { sandbox.wooCommerce.routes($0) }
        sandbox.wooCommerce.baseURL = wooURL
        let mwwURL = try await sandbox.serve(port: port(2), host: options.host, tokenPath: nil, logger: quiet) { sandbox.mijnwebwinkel.routes($0) }
        let winstoreURL = try await sandbox.serve(port: port(3), host: options.host, tokenPath: nil, logger: quiet) { sandbox.winstore.routes($0) }
        let optiplyURL = try await sandbox.serve(port: port(4), host: options.host, tokenPath: OptiplySandbox.tokenPath, logger: quiet) { sandbox.optiply.routes($0) }
        let buzURL = try await sandbox.serve(port: port(5), host: options.host, tokenPath: "/token", logger: quiet) { sandbox.boekuwzending.routes($0) }

        sandbox.endpoints = [
            Endpoint(name: "exact-online", baseURL: exactURL, credentials: [
                ("client_id", options.exact.clientID), ("client_secret", options.exact.clientSecret),
                ("division", options.exact.divisions.map(String.init).joined(separator: ", ")),
                ("authorize_url", "\(exactURL)/api/oauth2/auth"), ("token_url", "\(exactURL)/api/oauth2/token"),
            ]),
            Endpoint(name: "woocommerce", baseURL: wooURL, credentials: [
                ("consumer_key", options.wooCommerce.consumerKey), ("consumer_secret", options.wooCommerce.consumerSecret),
            ]),
            Endpoint(name: "mijnwebwinkel", baseURL: mwwURL, credentials: [("api_token", options.mijnwebwinkel.token), ("partner_token", options.mijnwebwinkel.partnerToken)]),
            Endpoint(name: "winstore", baseURL: winstoreURL, credentials: [("api_base_url", winstoreURL + "/iposws/api/osd"), ("username", options.winstore.username), ("password", options.winstore.password)]),
            Endpoint(name: "optiply", baseURL: optiplyURL, credentials: [
                ("token_url", "\(optiplyURL)\(OptiplySandbox.tokenPath)"), ("client_id", options.optiply.clientID), ("client_secret", options.optiply.clientSecret),
                ("username", options.optiply.username), ("password", options.optiply.password),
                ("account_id", String(options.optiply.accountID)), ("coupling_id", String(options.optiply.couplingID)),
            ]),
            Endpoint(name: "boekuwzending", baseURL: buzURL, credentials: [
                ("client_id", options.boekuwzending.clientID), ("client_secret", options.boekuwzending.clientSecret),
            ]),
        ]
        return sandbox
    }

    /// Stops every fake.
    public func stop() {
        tasks.forEach { $0.cancel() }
    }

    /// What a fake's web server does with a request before its routes see it.
    enum FrontDoor {
        /// Route this request (perhaps rewritten).
        case route(Request)
        /// Answer at once (the web server's own page, not the API's).
        case answer(Response)
    }

    private func serve(
        port: Int, host: String, tokenPath: String?, logger: Logger, front: (@Sendable (Request) -> FrontDoor)? = nil,
        routes: (Router<SandboxContext>) -> Void
    ) async throws -> String {
        let router = Router(context: SandboxContext.self)
        router.add(middleware: FaultMiddleware(injector: faults, tokenPath: tokenPath))
        routes(router)
        controlRoutes(router)
        let routed = router.buildResponder()
        let responder = CallbackResponder<SandboxContext> { request, context in
            guard let front, !request.uri.path.hasPrefix("/_sandbox") else { return try await routed.respond(to: request, context: context) }
            switch front(request) {
            case .route(let rewritten): return try await routed.respond(to: rewritten, context: context)
            case .answer(let response): return response
            }
        }
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            responder: responder, configuration: .init(address: .hostname(host, port: port)),
            onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: logger)
        let task = Task { try await app.run() }
        tasks.append(task)
        var iterator = ports.makeAsyncIterator()
        guard let bound = await iterator.next(), bound > 0 else { throw SandboxError.couldNotListen(host: host, port: port) }
        return "http://\(host):\(bound)"
    }

    /// `/_sandbox/faults`: read the fault counts, set shares, queue faults.
    private func controlRoutes(_ router: Router<SandboxContext>) {
        router.get("/_sandbox/faults") { _, _ -> Response in
            .json(Dictionary(uniqueKeysWithValues: self.faults.counts.map { ($0.key.rawValue, $0.value) }))
        }
        router.post("/_sandbox/faults") { request, _ -> Response in
            var request = request
            let body = SandboxJSON.object(Data(buffer: try await request.collectBody(upTo: 1 << 16))) ?? [:]
            if let spec = body["plan"] as? String {
                do {
                    self.faults.set(try FaultPlan(parsing: spec))
                } catch {
                    return .json(["error": "\(error)"], status: 400)
                }
            }
            for item in body["queue"] as? [[String: Any]] ?? [] {
                guard let match = item["match"] as? String, let kind = (item["fault"] as? String).flatMap(FaultPlan.Kind.init(rawValue:)) else {
                    return .json(["error": "queue items are {match, fault, count}"], status: 400)
                }
                let count = (item["count"] as? Decimal).map { NSDecimalNumber(decimal: $0).intValue } ?? 1
                if kind == .breakRecord && item["field"] as? String == nil {
                    return .json(["error": "a break-record fault names the field it breaks: {match, fault, field, value}"], status: 400)
                }
                self.faults.queue(.init(match: match, fault: kind, count: count, field: item["field"] as? String, value: item["value"] as? String))
            }
            return .json(["ok": true])
        }
    }
}

/// Why the sandbox could not start.
public enum SandboxError: Error, CustomStringConvertible {
    case couldNotListen(host: String, port: Int)

    public var description: String {
        switch self {
        case .couldNotListen(let host, let port): "the sandbox could not listen on \(host):\(port); is the port in use?"
        }
    }
}
