import Crypto
import Foundation
import Hummingbird
import Logging
import NIOCore

/// The HTTP server of `koppel run` (Hummingbird): webhook deliveries in
/// (`POST /webhooks/{connection}`), the dashboard, `GET /metrics` and `GET /healthz`.
///
/// It listens on loopback unless the deployment says otherwise; anywhere else the
/// dashboard and /metrics require the server token (`Authorization: Bearer ...`, or once
/// as `?token=...`, which sets a cookie). Webhooks are authenticated by their signatures
/// instead. Every form carries a per-process token against cross-site posts.
public struct KoppelServer: Sendable {
    /// Why the server cannot start.
    public enum SetupError: Error, CustomStringConvertible {
        case tokenRequired(listen: String)
        case unreadableToken(file: String, reason: String)

        public var description: String {
            switch self {
            case .tokenRequired(let listen):
                "server.listen \(listen) is reachable from other machines, so the dashboard needs a token: set KOPPEL_SERVER_TOKEN or server.token_file"
            case .unreadableToken(let file, let reason):
                "server.token_file \(file) cannot be read: \(reason)"
            }
        }
    }

    let runtime: Runtime
    let settings: ServerSettings
    let token: String?
    let dashboard: Dashboard
    let intake: WebhookIntake

    /// Prepares the server; throws when it would be reachable from elsewhere without a token.
    /// `settings` default to the deployment's `server` section.
    public init(
        runtime: Runtime, scheduler: Scheduler, settings: ServerSettings? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws {
        self.runtime = runtime
        let settings = settings ?? runtime.deployment.server
        self.settings = settings
        var token = environment["KOPPEL_SERVER_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        if token == nil, let file = settings.tokenFile {
            do {
                token = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            } catch {
                throw SetupError.unreadableToken(file: file, reason: (error as NSError).localizedDescription)
            }
        }
        if token == nil && !settings.isLoopback { throw SetupError.tokenRequired(listen: "\(settings.host):\(settings.port)") }
        self.token = token
        dashboard = Dashboard(runtime: runtime, alerts: scheduler.alerts)
        intake = WebhookIntake(runtime: runtime, wake: { [weak scheduler] in scheduler?.wake(flow: $0) })
    }

    /// The Hummingbird application; run it (or add it to a service group) to serve.
    public func application() -> some ApplicationProtocol {
        let router = Router(context: ServerContext.self)
        router.get("/healthz") { _, _ in "ok\n" }
        router.post("/webhooks/:connection") { request, context -> Response in
            try await self.receiveWebhook(request, context, urlToken: nil)
        }
        // Senders that sign nothing are told a URL ending in the connection's secret.
        router.post("/webhooks/:connection/:token") { request, context -> Response in
            try await self.receiveWebhook(request, context, urlToken: context.parameters.get("token") ?? "")
        }
        let protected = router.group()
            .add(middleware: OriginCheckMiddleware(acceptedHosts: settings.acceptedHosts))
            .add(middleware: TokenMiddleware(token: token))
        protected.get("/metrics") { _, _ -> Response in
            Self.text(self.runtime.metrics.exposition(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        }
        protected.get("/") { _, _ -> Response in
            Self.html(await Blocking.run { self.dashboard.overview() })
        }
        protected.get("/flows/:flow") { _, context -> Response in
            let name = context.parameters.get("flow") ?? ""
            guard let page = await Blocking.run({ self.dashboard.flowPage(name) }) else {
                return Self.html(Dashboard.notFound("There is no flow named \(name)."), status: .notFound)
            }
            return Self.html(page)
        }
        protected.post("/flows/:flow/replay") { request, context -> Response in
            let name = context.parameters.get("flow") ?? ""
            guard let form = try await self.form(request) else { return Self.text("stale or forged form; reload the page\n", status: .forbidden) }
            let record = form["record"].flatMap { $0.isEmpty ? nil : $0 }
            await Blocking.run { self.dashboard.replay(flow: name, record: record) }
            return Response(status: .seeOther, headers: [.location: "/flows/\(Dashboard.urlPath(name))"])
        }
        protected.post("/connections/:connection/check") { request, context -> Response in
            let name = context.parameters.get("connection") ?? ""
            guard try await self.form(request) != nil else { return Self.text("stale or forged form; reload the page\n", status: .forbidden) }
            await Blocking.run { self.dashboard.check(connection: name) }
            return Response(status: .seeOther, headers: [.location: "/#connections"])
        }
        var logger = runtime.logger
        logger[metadataKey: "component"] = "server"
        return Application(
            router: router, configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "koppel"),
            logger: logger)
    }

    /// A posted form, when its anti-forgery token is this process's.
    private func form(_ request: Request) async throws -> [String: String]? {
        var request = request
        let body = String(buffer: try await request.collectBody(upTo: 64 << 10))
        let form = FormEncoding.decode(body)
        guard let csrf = form["csrf"], Self.equal(csrf, dashboard.formToken) else { return nil }
        return form
    }

    static func equal(_ a: String, _ b: String) -> Bool {
        // Compared as MACs of the same key: constant time whatever the lengths.
        let key = SymmetricKey(size: .bits256)
        return HMAC<SHA256>.isValidAuthenticationCode(HMAC<SHA256>.authenticationCode(for: Data(a.utf8), using: key), authenticating: Data(b.utf8), using: key)
    }

    /// One webhook delivery: its body read (at most `largestWebhook`), then the intake.
    private func receiveWebhook(_ request: Request, _ context: ServerContext, urlToken: String?) async throws -> Response {
        let connection = context.parameters.get("connection") ?? ""
        var request = request
        let body: Data
        do {
            body = Data(buffer: try await request.collectBody(upTo: Self.largestWebhook))
        } catch is NIOTooManyBytesError {
            // Answered, then the connection is closed: the rest of the body is not read
            // (Hummingbird would read it to its end to keep the connection). Nothing more
            // is read now; the whole connection closes once the answer is on its way.
            let channel = context.channel
            try? await channel.close(mode: .input)
            channel.eventLoop.scheduleTask(in: .milliseconds(100)) { channel.close(mode: .all, promise: nil) }
            self.runtime.metrics.webhookDelivery(connection: connection, outcome: "too_large")
            return Self.text(
                "a webhook delivery is at most \(Self.largestWebhook >> 20) MiB\n", status: .contentTooLarge, closing: true)
        }
        let headers = Dictionary(request.headers.map { ($0.name.canonicalName, $0.value) }) { first, _ in first }
        let intake = self.intake
        let outcome = await Blocking.run { intake.receive(connection: connection, headers: headers, body: body, urlToken: urlToken) }
        let text: String = switch outcome {
        case .accepted(let flows): "accepted for \(flows) flow(s)\n"
        case .duplicate: "already received\n"
        case .ping: "pong\n"
        case .refused(let reason), .unknown(let reason): reason + "\n"
        }
        return Self.text(text, status: HTTPResponse.Status(code: outcome.httpStatus))
    }

    /// The largest webhook body read.
    static let largestWebhook = 4 << 20

    static func text(_ text: String, status: HTTPResponse.Status = .ok, contentType: String = "text/plain; charset=utf-8", closing: Bool = false) -> Response {
        var headers: HTTPFields = [.contentType: contentType]
        if closing { headers[.connection] = "close" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func html(_ html: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}

/// The request context of Koppel's server: Hummingbird's basics plus the client's
/// connection, so that an oversized delivery's connection can be closed.
public struct ServerContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The client's connection.
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// Requires the server token on every request it guards.
struct TokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token else { return try await next(request, context) }
        if let offered = request.uri.queryParameters["token"].map(String.init), KoppelServer.equal(offered, token) {
            return Response(status: .seeOther, headers: [
                .location: request.uri.path, .setCookie: "koppel_token=\(token); Path=/; HttpOnly; SameSite=Strict",
            ])
        }
        let bearer = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
        let cookie = request.headers[values: .cookie].flatMap { $0.split(separator: ";") }
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .first { $0.hasPrefix("koppel_token=") }
            .map { String($0.dropFirst("koppel_token=".count)) }
        guard let offered = bearer ?? cookie, KoppelServer.equal(offered, token) else {
            return KoppelServer.text("this Koppel server needs its token: open it once with ?token=... or send Authorization: Bearer ...\n", status: .unauthorized)
        }
        return try await next(request, context)
    }
}

/// `application/x-www-form-urlencoded` bodies.
enum FormEncoding {
    static func decode(_ body: String) -> [String: String] {
        var form: [String: String] = [:]
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func value(_ text: Substring) -> String {
                text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(text)
            }
            form[value(parts[0])] = parts.count > 1 ? value(parts[1]) : ""
        }
        return form
    }
}

/// Runs blocking work (plugin calls, SQLite) on a thread of its own, off the async pool.
enum Blocking {
    static func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: work()) }.start()
        }
    }
}
