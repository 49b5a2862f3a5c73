import Foundation
import KoppelHost
import KoppelSandbox
import XCTest

/// Nothing booked twice without a crash: a run slower than its lease, a server that
/// commits and then answers 5xx, a lost state file. Each runs the real `koppel` binary
/// against the sandbox and counts what a bookkeeper would count: the invoices in Exact,
/// one per order.
final class BookedOnceTests: XCTestCase {
    var deployment: SandboxDeployment!
    var options: Sandbox.Options { deployment.options }
    var invoicesPath: String { "POST /api/v1/\(deployment.division)/salesinvoice/SalesInvoices" }

    func start(orders: Int, leaseSeconds: Int? = nil, warehouse: Bool = false) async throws {
        var options = Sandbox.Options()
        options.seed.orders = orders
        options.seed.customers = max(10, orders / 5)
        options.seed.testOrderEvery = 0
        options.exact.minutelyLimit = 1_000_000
        options.exact.dailyLimit = 10_000_000
        deployment = try await SandboxDeployment(options)
        try deployment.writeShopAndExact(flows: """
            invoices:
              from: shop.orders
              to: exact.sales_invoices
              schedule: manual
              mapping: { options: { revenue_accounts: { NL: "8000", BE: "8020", DE: "8020" } } }
            """, exactSettings: warehouse ? ", warehouse: \"1\"" : "")
        if let leaseSeconds {
            let text = try String(contentsOfFile: deployment.fixture.configFile, encoding: .utf8)
                .replacingOccurrences(of: "  path: state/koppel.sqlite", with: "  path: state/koppel.sqlite\n  lease_seconds: \(leaseSeconds)")
            try text.write(toFile: deployment.fixture.configFile, atomically: true, encoding: .utf8)
        }
        try signIn()
    }

    func signIn() throws {
        let stored = try deployment.fixture.koppel(["secrets", "set", "shop", "consumer_secret"], stdin: options.wooCommerce.consumerSecret + "\n")
        XCTAssertEqual(stored.status, 0, stored.stderr)
        try deployment.signInToExact("exact")
    }

    override func tearDown() async throws {
        deployment?.stop()
    }

    /// The number of invoices in Exact for each shop order number.
    func invoicesPerOrder() throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for invoice in try deployment.exactRecords("salesinvoice/SalesInvoices") {
            counts[invoice["YourRef"] as? String ?? "?", default: 0] += 1
        }
        return counts
    }

    func queue(_ fault: FaultPlan.Kind, count: Int) {
        deployment.sandbox.faults.queue(.init(match: invoicesPath, fault: fault, count: count))
    }

    /// A record whose calls take longer than the lease: the heartbeat keeps the lease, so
    /// a second `koppel sync` started meanwhile is turned away instead of taking the flow
    /// over and booking the same orders again.
    func testARunSlowerThanItsLeaseKeepsItAndASecondProcessBooksNothing() async throws {
        try await start(orders: 6, leaseSeconds: 1)
        var plan = FaultPlan()
        plan.slowDelay = 2.5
        deployment.sandbox.faults.set(plan)
        queue(.slow, count: 2)

        let first = try TestSupport.start(TestSupport.koppel, ["sync", "invoices"], environment: deployment.fixture.environment)
        let deadline = Date().addingTimeInterval(60)
        while deployment.sandbox.faults.counts[.slow, default: 0] < 1 && Date() < deadline { usleep(20_000) }
        XCTAssertEqual(deployment.sandbox.faults.counts[.slow], 1, "the first invoice's answer was not slowed")
        usleep(1_600_000)  // past the lease: only the heartbeat can have kept it
        let second = try deployment.sync("invoices")
        let firstResult = first.wait()

        XCTAssertEqual(firstResult.status, 0, firstResult.stdout + firstResult.stderr)
        XCTAssertNotEqual(second.status, 0, second.stdout)
        XCTAssertTrue(second.stderr.contains("flow invoices is running in another process"), second.stderr)
        let perOrder = try invoicesPerOrder()
        XCTAssertEqual(perOrder.count, 6, "\(perOrder)")
        XCTAssertEqual(perOrder.values.filter { $0 != 1 }, [], "an order was booked twice: \(perOrder)")
    }

    /// Exact under load commits a POST and then answers 500 or 503. Sending it again
    /// would book a second invoice; the transport reports it as uncertain instead, and the
    /// next run finds the invoice by `YourRef`.
    func testAPostAnsweredWithA5xxAfterItWasBookedIsReconciledNotSentAgain() async throws {
        try await start(orders: 10)
        queue(.commitThenServerError, count: 3)
        let first = try deployment.sync("invoices")
        XCTAssertEqual(deployment.sandbox.faults.counts[.commitThenServerError], 3)
        XCTAssertTrue(first.stdout.contains("written 7"), first.stdout)
        let lastLine = first.stdout.split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertTrue(lastLine.hasPrefix("not done: 3 record(s) not delivered yet, waiting for a retry (next attempt "), lastLine)
        XCTAssertTrue(lastLine.hasSuffix("`koppel sync invoices --retry-now` retries them now"), lastLine)
        XCTAssertEqual(try invoicesPerOrder().values.reduce(0, +), 10, "the three 5xx answers were sent again")

        let retry = try deployment.sync("invoices", ["--retry-now"])
        XCTAssertEqual(retry.status, 0, retry.stdout + retry.stderr)
        XCTAssertTrue(retry.stdout.contains("retried 3"), retry.stdout)
        let log = try deployment.fixture.koppel(["log", "invoices", "--limit", "500"]).stdout
        XCTAssertEqual(log.split(separator: "\n").filter { $0.contains("  found ") }.count, 3, log)
        let perOrder = try invoicesPerOrder()
        XCTAssertEqual(perOrder.count, 10)
        XCTAssertEqual(perOrder.values.filter { $0 != 1 }, [], "an order was booked twice: \(perOrder)")
    }

    /// An item whose warehouse link failed (the POST answered 500) is found by its code
    /// on the retry, and the link is made then: no stock item stays without it.
    func testAnItemCreationInterruptedBeforeItsWarehouseLinkIsCompletedOnTheRetry() async throws {
        try await start(orders: 5, warehouse: true)
        deployment.sandbox.faults.queue(.init(match: "POST /api/v1/\(deployment.division)/inventory/ItemWarehouses", fault: .serverError, count: 1))
        let first = try deployment.sync("invoices")
        XCTAssertEqual(deployment.sandbox.faults.counts[.serverError], 1)
        XCTAssertTrue(first.stdout.contains("not delivered yet"), first.stdout)
        let retry = try deployment.sync("invoices", ["--retry-now"])
        XCTAssertEqual(retry.status, 0, retry.stdout + retry.stderr)
        XCTAssertFalse(retry.stdout.contains("not done"), retry.stdout)

        let stockItems = try deployment.exactRecords("logistics/Items").filter { ($0["IsStockItem"] as? Bool) == true || ($0["IsStockItem"] as? Int) == 1 }
        XCTAssertFalse(stockItems.isEmpty)
        let links = try deployment.exactRecords("inventory/ItemWarehouses")
        for item in stockItems {
            let id = item["ID"] as? String
            XCTAssertEqual(links.filter { $0["Item"] as? String == id }.count, 1, "item \(item["Code"] ?? "?") has no single warehouse link")
        }
        XCTAssertEqual(try invoicesPerOrder().count, 5)
        XCTAssertEqual(try invoicesPerOrder().values.filter { $0 != 1 }, [])
    }

    /// R-AUTH-5 in the host: Exact answers 401 on an access token Koppel holds as fresh,
    /// and a refresh is too early. That is a permission problem, not an expired sign-in:
    /// the orders are parked with that reason, the token endpoint is asked once, the
    /// connection is not paused, and once Exact takes the token again a replay books them.
    func testA401OnAFreshTokenIsAPermissionProblemNotASignInToRepeat() async throws {
        try await start(orders: 3)
        let check = try deployment.fixture.koppel(["check", "exact"])  // the first call refreshes the sign-in's tokens
        XCTAssertEqual(check.stdout.firstLine, "exact: ok", check.stderr)
        let sealed = try deployment.fixture.runtime().vault().get(connection: "exact", name: OAuth2TokenManager.vaultName) ?? ""
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(sealed.utf8)) as? [String: Any])
        var unknown = object
        unknown["accessToken"] = "an-access-token-exact-does-not-take"
        unknown["expiresAt"] = ISO8601DateFormatter().string(from: Date().addingTimeInterval(300))
        let text = String(decoding: try JSONSerialization.data(withJSONObject: unknown), as: UTF8.self)
        try deployment.fixture.runtime().vault().set(connection: "exact", name: OAuth2TokenManager.vaultName, value: text)

        let run = try deployment.sync("invoices")
        XCTAssertTrue(run.stdout.contains("failed 3"), run.stdout + run.stderr)
        let failed = try deployment.fixture.koppel(["failed", "invoices"]).stdout
        XCTAssertEqual(failed.components(separatedBy: "lacks the right for this call").count - 1, 3, failed)
        XCTAssertFalse(failed.contains("koppel auth"), failed)
        let stats = try deployment.json("GET", "\(deployment.exactURL)/_sandbox/exact/stats") as? [String: Any]
        XCTAssertEqual(stats?["too_early_refreshes"] as? Int, 1, "the token endpoint was asked again for a token too new to replace")
        XCTAssertFalse(try deployment.fixture.runtime().vault().get(connection: "exact", name: OAuth2TokenManager.vaultName)?.contains("refused") ?? true)

        // Minutes later Exact gives a new token; the parked orders are booked by a replay.
        _ = try deployment.json("POST", "\(deployment.exactURL)/_sandbox/exact/clock", body: ["advance": 600])
        let replay = try deployment.fixture.koppel(["replay", "invoices", "--all-failed"])
        XCTAssertEqual(replay.stdout, "invoices: replayed 3, delivered 3, still failing 0\n", replay.stderr)
        XCTAssertEqual(try invoicesPerOrder().count, 3)
    }

    /// A deleted state file is not silently created anew. Started again on purpose, the
    /// first run finds the 1,000 invoices Exact already has, with a page read per 60
    /// invoices instead of a lookup per order, and books none of them again.
    func testALostStateFileCannotBookAnythingTwice() async throws {
        try await start(orders: 1000)
        let first = try deployment.sync("invoices")
        XCTAssertEqual(first.status, 0, first.stdout + first.stderr)
        XCTAssertTrue(first.stdout.contains("written 1000"), first.stdout)
        XCTAssertEqual(try invoicesPerOrder().count, 1000)

        let stateFile = deployment.fixture.stateFile
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: stateFile + suffix) }
        let refused = try deployment.sync("invoices")
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("no state file at \(stateFile)"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("`koppel init`"), refused.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: stateFile), "a refused command created the state file")
        // An emptied file is refused the same way.
        XCTAssertTrue(FileManager.default.createFile(atPath: stateFile, contents: Data()))
        XCTAssertTrue(try deployment.fixture.koppel(["status"]).stderr.contains("no state file at \(stateFile)"))
        try FileManager.default.removeItem(atPath: stateFile)

        XCTAssertEqual(try deployment.fixture.koppel(["init"]).status, 0)
        var mode = stat()
        XCTAssertEqual(stat(stateFile, &mode), 0)
        XCTAssertEqual(mode.st_mode & 0o077, 0, "the state file is readable by others")
        try signIn()
        let callsBefore = try exactCalls()
        let again = try deployment.sync("invoices")
        XCTAssertEqual(again.status, 0, again.stdout + again.stderr)
        XCTAssertEqual(try invoicesPerOrder().count, 1000)
        XCTAssertEqual(try invoicesPerOrder().values.filter { $0 != 1 }, [], "an order was booked twice")
        let calls = try exactCalls()
        XCTAssertEqual(calls["POST salesinvoice/SalesInvoices", default: 0] - callsBefore["POST salesinvoice/SalesInvoices", default: 0], 0)
        func delta(_ label: String) -> Int { calls[label, default: 0] - callsBefore[label, default: 0] }
        XCTAssertEqual(delta("GET salesinvoice/SalesInvoices"), 0, "the invoices were looked up one by one")
        let reads = delta("GET bulk/SalesInvoice/SalesInvoices")
        XCTAssertTrue((1...3).contains(reads), "1000 booked invoices are read in bulk, 1000 a call: \(reads) reads")
        let log = try deployment.fixture.koppel(["log", "invoices", "--limit", "3000"]).stdout
        XCTAssertTrue(log.contains("first run with this state file"), log)

        // Once the first run read everything, new orders are written without a lookup.
        _ = try deployment.json("POST", "\(deployment.wooURL)/_sandbox/woocommerce/orders", body: ["count": 5, "repeat_customers": true])
        let readsBefore = try exactCalls()
        XCTAssertTrue(try deployment.sync("invoices").stdout.contains("written 5"))
        for label in ["GET salesinvoice/SalesInvoices", "GET bulk/SalesInvoice/SalesInvoices"] {
            XCTAssertEqual(try exactCalls()[label, default: 0], readsBefore[label, default: 0], label)
        }
        XCTAssertEqual(try invoicesPerOrder().count, 1005)
    }

    /// Calls made to Exact's API by "METHOD entity".
    func exactCalls() throws -> [String: Int] {
        let stats = try deployment.json("GET", "\(deployment.exactURL)/_sandbox/exact/stats") as? [String: Any]
        return (stats?["calls"] as? [String: Any] ?? [:]).compactMapValues { ($0 as? NSNumber)?.intValue }
    }
}
