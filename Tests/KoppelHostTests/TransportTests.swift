import Foundation
import HTTPTypes
import Hummingbird
import KoppelHost
import Logging
import XCTest

/// The libcurl transport against a real local server: it waits as the server says,
/// retries what is safe, never re-sends what may have been processed, paces under known
/// limits, and does not serialise concurrent callers.
final class TransportTests: XCTestCase {
    /// What the server saw: arrival times per path, and requests in flight.
    struct Log {
        var arrivals: [String: [Date]] = [:]
        var inFlight = 0
        var maxInFlight = 0
        var script: [String: [Int]] = [:]
        var resetAt: Date?
    }

    var server: TestHTTPServer!
    let log = Shared(Log())

    override func setUp() async throws {
        let log = self.log
        server = try await TestHTTPServer.start { router in
            // Answers with the statuses scripted for the path, then 200.
            let scripted: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, context in
                let name = context.parameters.get("name") ?? ""
                let now = Date()
                let status = log.with { l -> Int in
                    l.arrivals[name, default: []].append(now)
                    return l.script[name]?.isEmpty == false ? l.script[name]!.removeFirst() : 200
                }
                switch status {
                case 429:
                    // Exact's headers: the minutely budget is spent until the reset (epoch ms).
                    let reset = now.addingTimeInterval(1.5)
                    log.with { $0.resetAt = reset }
                    return .json(["error": "Too many requests"], status: .tooManyRequests, headers: [
                        HTTPField.Name("X-RateLimit-Minutely-Remaining")!: "0",
                        HTTPField.Name("X-RateLimit-Minutely-Reset")!: String(Int64(reset.timeIntervalSince1970 * 1000)),
                        HTTPField.Name("X-RateLimit-Remaining")!: "4000",
                        HTTPField.Name("X-RateLimit-Reset")!: String(Int64(now.addingTimeInterval(86_400).timeIntervalSince1970 * 1000)),
                    ])
                case 200:
                    return .json(["ok": true])
                default:
                    return Response(status: .init(code: status))
                }
            }
            router.get("/scripted/:name", use: scripted)
            router.post("/scripted/:name", use: scripted)
            // Takes the request, then is slow to answer.
            router.post("/slow") { request, _ -> Response in
                log.with { $0.arrivals["slow", default: []].append(Date()) }
                try await Task.sleep(for: .seconds(2))
                return .json(["created": true], status: .created)
            }
            router.get("/slow") { request, _ -> Response in
                log.with { $0.arrivals["slow-get", default: []].append(Date()) }
                try await Task.sleep(for: .seconds(2))
                return .json(["ok": true])
            }
            // Holds each request a moment, counting how many overlap.
            router.get("/hold") { _, _ -> Response in
                log.with { l in
                    l.inFlight += 1
                    l.maxInFlight = max(l.maxInFlight, l.inFlight)
                }
                try await Task.sleep(for: .milliseconds(400))
                log.with { $0.inFlight -= 1 }
                return .json(["ok": true])
            }
            // Allows three requests a second, like a strict API; more get 429.
            router.get("/limited") { _, _ -> Response in
                let now = Date()
                let allowed = log.with { l -> Bool in
                    let recent = (l.arrivals["limited"] ?? []).filter { now.timeIntervalSince($0) < 1 }
                    l.arrivals["limited", default: []].append(now)
                    return recent.count < 3
                }
                return allowed ? .json(["ok": true]) : Response(status: .tooManyRequests)
            }
        }
    }

    override func tearDown() async throws {
        server.stop()
    }

    private func transport(
        timeout: TimeInterval = 10, governor: RateLimitGovernor = RateLimitGovernor(), errorBudget: EndpointErrorBudget? = nil,
        activity: ActivityRecorder? = nil
    ) -> HTTPTransport {
        var logger = Logger(label: "test")
        logger.logLevel = .error
        return HTTPTransport(
            connection: "test", baseURL: server.baseURL, authorizer: nil, governor: governor, errorBudget: errorBudget,
            retry: RetryPolicy(maxAttempts: 6, baseDelay: 0.05, maxDelay: 0.2), activity: activity, logger: logger, timeout: timeout)
    }

    func testWaitsOutA429AndRetries503sUntilItSucceeds() throws {
        log.with { $0.script["orders"] = [429, 503, 503] }
        let response = try transport().perform(PluginHTTPRequest(path: "/scripted/orders")).get()
        XCTAssertEqual(response.status, 200)
        let arrivals = log.current.arrivals["orders"] ?? []
        XCTAssertEqual(arrivals.count, 4)
        let reset = try XCTUnwrap(log.current.resetAt)
        XCTAssertGreaterThanOrEqual(arrivals[1].timeIntervalSince(reset), -0.05, "the retry came before the reset the server named")
    }

    func testPostWhoseAnswerIsLostIsUncertainAndNotSentAgain() throws {
        let result = transport(timeout: 0.5).perform(PluginHTTPRequest(method: "POST", path: "/slow", body: #"{"YourRef":"1001"}"#))
        guard case .failure(let error) = result else { return XCTFail("expected a failure, got \(result)") }
        XCTAssertEqual(error.status, .uncertain)
        XCTAssertTrue(error.message.contains("was sent but its answer was lost"), error.message)
        Thread.sleep(forTimeInterval: 2.5)
        XCTAssertEqual(log.current.arrivals["slow"]?.count, 1, "the POST was sent again")
    }

    func testIdempotentRequestIsRetriedAfterATimeout() {
        let result = transport(timeout: 0.3).perform(PluginHTTPRequest(path: "/slow"))
        guard case .failure(let error) = result else { return XCTFail("expected a failure") }
        XCTAssertEqual(error.status, .transient)
        XCTAssertEqual(log.current.arrivals["slow-get"]?.count, 6)
    }

    func testPostGetting502FromAGatewayIsUncertain() {
        log.with { $0.script["gateway"] = [502] }
        let result = transport().perform(PluginHTTPRequest(method: "POST", path: "/scripted/gateway"))
        guard case .failure(let error) = result else { return XCTFail("expected a failure") }
        XCTAssertEqual(error.status, .uncertain)
    }

    func testConcurrentRequestsRunInParallel() {
        let transport = transport()
        let statuses = Shared<[Int]>([])
        let threads = (0..<4).map { _ in
            Thread {
                let status = (try? transport.perform(PluginHTTPRequest(path: "/hold")).get().status) ?? 0
                statuses.with { $0.append(status) }
            }
        }
        threads.forEach { $0.start() }
        let deadline = Date().addingTimeInterval(30)
        while statuses.current.count < 4 && Date() < deadline { usleep(10_000) }
        XCTAssertEqual(statuses.current, [200, 200, 200, 200], "all four answered within 30 s")
        XCTAssertGreaterThanOrEqual(log.current.maxInFlight, 3, "requests were serialised")
    }

    func testDeclaredLimitIsKeptWithoutA429() throws {
        let transport = transport(governor: RateLimitGovernor(declared: [.init(limit: 3, period: 1)]))
        for _ in 0..<7 {
            XCTAssertEqual(try transport.perform(PluginHTTPRequest(path: "/limited")).get().status, 200)
        }
        XCTAssertEqual(log.current.arrivals["limited"]?.count, 7, "a request was refused with 429 and sent again")
    }

    /// R-RATE-6: an API that blocks an endpoint after ten error answers an hour never
    /// gets the eleventh call; other endpoints, and the same endpoint with another key,
    /// stay open.
    func testAnEndpointThatSpentItsErrorBudgetIsNotCalledAgain() throws {
        log.with { $0.script["missing"] = Array(repeating: 404, count: 20) }
        let directory = try TestSupport.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteStateStore(path: "\(directory)/state.sqlite", create: true)
        let activity = ActivityRecorder(store: store, redactor: SecretRedactor(), logger: Logger(label: "test"))
        let transport = transport(errorBudget: EndpointErrorBudget(limit: 10, period: 3600, statuses: [400, 401, 403, 404]), activity: activity)
        for index in 0..<10 {
            XCTAssertEqual(try transport.perform(PluginHTTPRequest(path: "/scripted/missing", query: ["n": "\(index)"])).get().status, 404)
        }
        switch transport.perform(PluginHTTPRequest(path: "/scripted/missing")) {
        case .success(let response): XCTFail("called an endpoint past its error budget: HTTP \(response.status)")
        case .failure(let error):
            XCTAssertEqual(error.status, .rateLimited)
            XCTAssertTrue(error.message.contains("/scripted/missing") && error.message.contains("calls it again from"), error.message)
        }
        XCTAssertEqual(log.current.arrivals["missing"]?.count, 10)
        let notSent = try store.activities(ActivityQuery(connection: "test", kinds: [.http])).filter { $0.message.contains("not sent") }
        XCTAssertEqual(notSent.count, 1, "the activity log (and so the dashboard) says why the call was not made")
        XCTAssertEqual(try transport.perform(PluginHTTPRequest(path: "/scripted/other")).get().status, 200)
    }

    func testAnErrorBudgetCountsEndpointsWithoutKeyAndForgetsAfterItsPeriod() {
        XCTAssertEqual(EndpointErrorBudget.endpoint("/api/v1/1/crm/Accounts(guid'a1')?$select=ID"), "/api/v1/1/crm/accounts")
        let budget = EndpointErrorBudget(limit: 2, period: 60, statuses: [404])
        let start = Date(timeIntervalSince1970: 1_000_000)
        budget.record(status: 200, endpoint: "/a", now: start)
        budget.record(status: 500, endpoint: "/a", now: start)
        budget.record(status: 404, endpoint: "/a", now: start)
        XCTAssertNil(budget.blockedUntil("/a", now: start), "only the counted statuses count")
        budget.record(status: 404, endpoint: "/a", now: start.addingTimeInterval(10))
        XCTAssertEqual(budget.blockedUntil("/a", now: start.addingTimeInterval(11)), start.addingTimeInterval(60))
        XCTAssertNil(budget.blockedUntil("/b", now: start.addingTimeInterval(11)))
        XCTAssertNil(budget.blockedUntil("/a", now: start.addingTimeInterval(60)), "free once the oldest error is a period old")
    }

    /// A declared day's limit is kept like a minute's: the call that would exceed it is
    /// not sent, and the failure says when the budget is back.
    func testADeclaredDailyLimitStopsTheRunInsteadOfMeetingA429() throws {
        let transport = transport(governor: RateLimitGovernor(declared: [.init(limit: 1000, period: 60), .init(limit: 3, period: 86_400)]))
        for _ in 0..<3 { XCTAssertEqual(try transport.perform(PluginHTTPRequest(path: "/scripted/daily")).get().status, 200) }
        switch transport.perform(PluginHTTPRequest(path: "/scripted/daily")) {
        case .success: XCTFail("a fourth call went out under a limit of three a day")
        case .failure(let error): XCTAssertEqual(error.status, .rateLimited, error.message)
        }
        XCTAssertEqual(log.current.arrivals["daily"]?.count, 3)
    }

    func testEveryCallIsInTheActivityLog() throws {
        let directory = try TestSupport.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteStateStore(path: "\(directory)/state.sqlite", create: true)
        let activity = ActivityRecorder(store: store, redactor: SecretRedactor(), logger: Logger(label: "test"))
        log.with { $0.script["audit"] = [503] }
        _ = try transport(activity: activity).perform(PluginHTTPRequest(path: "/scripted/audit", query: ["$filter": "Code eq 'A&B'"])).get()
        let entries = try store.activities(ActivityQuery(connection: "test", kinds: [.http]))
        XCTAssertEqual(entries.map { $0.message.replacingOccurrences(of: #" in \d+ ms"#, with: "", options: .regularExpression) },
                       ["GET /scripted/audit -> HTTP 200", "GET /scripted/audit -> HTTP 503"])
    }
}
