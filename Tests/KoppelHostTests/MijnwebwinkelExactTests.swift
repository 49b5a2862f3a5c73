import Foundation
import KoppelHost
import KoppelSandbox
import XCTest

/// Mijnwebwinkel -> Exact Online end to end: the `koppel` binary with the real plugins,
/// against the sandbox's MyOnlineStore Connect API over HTTP, partly driven by the
/// example deployment file that ships in `examples/`.
final class MijnwebwinkelExactTests: XCTestCase {
    var deployment: SandboxDeployment!
    var options = Sandbox.Options()

    override func setUp() async throws {
        options.seed.orders = 150
        options.seed.testOrderEvery = 15
        options.exact.minutelyLimit = 100_000
        options.exact.dailyLimit = 1_000_000
        deployment = try await SandboxDeployment(options)
    }

    override func tearDown() async throws {
        deployment.stop()
    }

    var mwwConnection: String {
        """
        mww:
          plugin: mijnwebwinkel
          settings: { base_url: "\(deployment.mijnwebwinkelURL)" }
        """
    }

    var exactConnection: String {
        """
        exact:
          plugin: exact-online
          settings: { base_url: "\(deployment.exactURL)", division: \(deployment.division), client_id: \(options.exact.clientID), warehouse: "1" }
        """
    }

    func signIn() throws {
        for (name, value) in [("api_token", options.mijnwebwinkel.token), ("partner_token", options.mijnwebwinkel.partnerToken)] {
            XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", "mww", name], stdin: value + "\n").status, 0)
        }
        try deployment.signInToExact("exact")
    }

    /// A call to the shop's API with both tokens, as the merchant's other tools would make it.
    func api(_ path: String, _ query: String = "") throws -> Any? {
        let tokens = "token=\(options.mijnwebwinkel.token)&partner_token=\(options.mijnwebwinkel.partnerToken)"
        return try deployment.json("GET", "\(deployment.mijnwebwinkelURL)/v1/\(path)?\(tokens)\(query.isEmpty ? "" : "&" + query)")
    }

    /// Every order in the shop as its API returns it (test orders too, when asked).
    func shopOrders(test: Bool = false) throws -> [[String: Any]] {
        var all: [[String: Any]] = []
        for offset in stride(from: 0, to: 100_000, by: 100) {
            let page = try api("orders", "limit=100&offset=\(offset)\(test ? "&test=true" : "")") as? [[String: Any]] ?? []
            all += page
            if page.count < 100 { break }
        }
        return all
    }

    /// An order's number as text, whichever shape it came in (R3.7).
    func number(_ order: [String: Any]) -> String { (order["number"] as? String) ?? "\(order["number"]!)" }

    /// An order's total including VAT.
    func total(_ order: [String: Any]) -> Decimal { decimal((order["price"] as? [String: Any])?["total"]) }

    func testOneHundredFortyDocumentsInEachFlavourAndTestOrdersLeftOut() throws {
        var flows = ""
        for (name, stream) in [("invoices", "sales_invoices"), ("orders", "sales_orders"), ("entries", "sales_entries")] {
            flows += "\(name): { from: mww.orders, to: exact.\(stream), schedule: manual }\n"
        }
        flows += "with-tests: { from: mww.orders, to: exact.sales_orders, schedule: manual, read_options: { test_orders: true } }\n"
        try deployment.fixture.write(load: ["mijnwebwinkel", "exact-online"], connections: mwwConnection + "\n" + exactConnection, flows: flows)
        try signIn()
        let orders = try shopOrders()
        XCTAssertEqual(orders.count, 140, "the API leaves test orders out unless asked")
        let tests = try shopOrders(test: true).map(number).filter { $0.hasPrefix("T-") }
        XCTAssertEqual(tests.count, 10)
        XCTAssertTrue(orders.contains { $0["number"] is String }, "some orders come in the live API's shape")
        let real = Dictionary(uniqueKeysWithValues: orders.map { (number($0), $0) })

        for (flow, entitySet, lines, vatField) in [
            ("invoices", "salesinvoice/SalesInvoices", "SalesInvoiceLines", "VATAmountFC"),
            ("orders", "salesorder/SalesOrders", "SalesOrderLines", "VATAmount"),
            ("entries", "salesentry/SalesEntries", "SalesEntryLines", "VATAmountFC"),
        ] {
            let run = try deployment.sync(flow)
            XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
            XCTAssertTrue(run.stdout.contains("written 140,"), run.stdout)
            let documents = try deployment.exactRecords(entitySet, expand: lines)
            XCTAssertEqual(documents.count, 140, flow)
            XCTAssertEqual(Set(documents.compactMap { $0["YourRef"] as? String }), Set(real.keys), flow)
            for document in documents {
                let order = try XCTUnwrap(real[document["YourRef"] as? String ?? ""])
                let documentLines = ((document[lines] as? [String: Any])?["results"] as? [[String: Any]]) ?? []
                XCTAssertEqual(documentLines.count, (order["orderlines"] as! [Any]).count, "\(flow) \(number(order))")
                let net = documentLines.reduce(Decimal.zero) { $0 + decimal($1["AmountFC"]) }
                let vat = documentLines.reduce(Decimal.zero) { $0 + decimal($1[vatField]) }
                let taxes = (order["price"] as? [String: Any])?["tax"]
                let shopVAT = ((taxes as? [[String: Any]]) ?? [taxes as? [String: Any] ?? [:]]).reduce(Decimal.zero) { $0 + decimal($1["amount"]) }
                XCTAssertEqual(vat, shopVAT, "\(flow) \(number(order)): the shop's VAT to the cent")
                XCTAssertEqual(net + vat, total(order), "\(flow) \(number(order)): total to the cent")
                XCTAssertEqual(decimal(document["AmountFC"]), total(order), "\(flow) \(number(order)): document total")
            }
            XCTAssertTrue(try deployment.sync(flow).stdout.contains("written 0,"))
        }

        // A flow that opts in reads the test orders too; the host still skips them unless
        // the flow's filter lets them through, with the reason in the log.
        let withTests = try deployment.sync("with-tests")
        XCTAssertTrue(withTests.stdout.contains("skipped 10,"), withTests.stdout)
        let log = try deployment.fixture.koppel(["log", "with-tests", "--limit", "1000"])
        for number in tests { XCTAssertTrue(log.stdout.contains("skipped: test order \(number)"), "\(number) in\n\(log.stdout)") }

        // Debtors reused by email, with their VAT numbers.
        let buyers = Dictionary(real.values.map { order -> (String, [String: Any]) in
            let debtor = order["debtor"] as! [String: Any]
            return ((debtor["email"] as! String).lowercased(), (debtor["address"] as! [String: Any])["invoice"] as! [String: Any])
        }, uniquingKeysWith: { a, _ in a })
        let accounts = try deployment.exactRecords("crm/Accounts")
        XCTAssertEqual(accounts.count, buyers.count)
        for account in accounts {
            let invoice = try XCTUnwrap(buyers[(account["Email"] as? String ?? "").lowercased()])
            if let vat = invoice["taxnumber"] as? String, !vat.isEmpty { XCTAssertEqual(account["VATNumber"] as? String, vat) }
        }
    }

    /// Every five minutes: orders whose status changed since the last read, and nothing
    /// else. An order the shop marks paid later is read again (and left as booked).
    func testAFrequentScheduleReadsOnlyStatusChanges() throws {
        try deployment.fixture.write(
            load: ["mijnwebwinkel", "exact-online"], connections: mwwConnection + "\n" + exactConnection,
            flows: "paid: { from: mww.orders, to: exact.sales_invoices, schedule: every 5m, read_options: { statuses: [Betaald] } }")
        try signIn()
        let paid = try shopOrders().filter { $0["status"] as? Int == 3 }
        let first = try deployment.sync("paid")
        XCTAssertTrue(first.stdout.contains("read \(paid.count), written \(paid.count),"), first.stdout)
        let again = try deployment.sync("paid")
        // Nothing changed: only the last change, inside the overlap window, is read again.
        XCTAssertTrue(again.stdout.contains("read 1, written 0, unchanged 1,"), again.stdout)
        // The shop marks a new order paid: the next read brings it, and only it.
        let open = try XCTUnwrap(try shopOrders().first { $0["status"] as? Int == 1 })
        let patched = try deployment.json(
            "PATCH", "\(deployment.mijnwebwinkelURL)/v1/orders/\(number(open))?token=\(options.mijnwebwinkel.token)&partner_token=\(options.mijnwebwinkel.partnerToken)",
            body: ["status": 3]) as? [String: Any]
        XCTAssertEqual(patched?["status"] as? Int, 3)
        let next = try deployment.sync("paid")
        XCTAssertTrue(next.stdout.contains("read 2, written 1, unchanged 1,"), "the order paid now, and the overlap's: \(next.stdout)")
        XCTAssertTrue(try deployment.exactRecords("salesinvoice/SalesInvoices").contains { $0["YourRef"] as? String == number(open) })
        try deployment.fixture.write(
            load: ["mijnwebwinkel", "exact-online"], connections: mwwConnection + "\n" + exactConnection,
            flows: "paid: { from: mww.orders, to: exact.sales_invoices, schedule: manual, read_options: { statuses: [Gratis] } }")
        let refused = try deployment.sync("paid")
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("the shop has no status \"Gratis\" (it has Betaald"), refused.stderr)
    }

    /// The shipped example, pointed at the sandbox: a month's backfill imports the orders
    /// placed in that month (not cancelled, not test), and running it again changes nothing.
    func testTheExampleDeploymentBackfillsOneMonthExactlyOnce() throws {
        var example = try String(contentsOfFile: TestSupport.repoRoot + "/examples/mijnwebwinkel-exact.yaml", encoding: .utf8)
        for (line, replacement) in [
            ("  directories: [../.build/release, ../.build/debug]", "  directories: [\(TestSupport.productsDirectory)]"),
            ("    settings: {}                            # https://api.myonlinestore.com; the tokens pick the shop",
             "    settings: { base_url: \"\(deployment.mijnwebwinkelURL)\" }"),
            ("      region: nl", "      base_url: \"\(deployment.exactURL)\"\n      division: \(deployment.division)"),
            ("      client_id: \"your-exact-app-id\"", "      client_id: \(options.exact.clientID) #"),
        ] {
            XCTAssertTrue(example.contains(line), "the example has \(line)")
            example = example.replacingOccurrences(of: line, with: replacement)
        }
        try example.write(toFile: deployment.fixture.configFile, atomically: true, encoding: .utf8)
        let initialised = try deployment.fixture.koppel(["init"])
        XCTAssertEqual(initialised.status, 0, initialised.stderr)
        XCTAssertTrue(initialised.stdout.hasPrefix("created the state file"), initialised.stdout)
        try signIn()
        let status = try deployment.fixture.koppel(["status"])
        XCTAssertTrue(status.stdout.contains("cron \"0 2 * * *\" Europe/Amsterdam"), status.stdout + status.stderr)

        let december = try shopOrders().filter { ($0["date"] as! String).hasPrefix("2025-12") }
        let expected = Set(december.filter { [2, 3, 6].contains($0["status"] as? Int ?? 0) }.map(number))
        XCTAssertGreaterThan(expected.count, 30)
        let first = try deployment.sync("mww-orders", ["--since", "2025-12-01T00:00:00+01:00", "--until", "2026-01-01T00:00:00+01:00"])
        XCTAssertEqual(first.status, 0, first.stdout + first.stderr)
        XCTAssertTrue(first.stdout.contains("read \(expected.count), written \(expected.count),"), first.stdout)
        XCTAssertEqual(Set(try deployment.exactRecords("salesinvoice/SalesInvoices").compactMap { $0["YourRef"] as? String }), expected)
        let again = try deployment.sync("mww-orders", ["--since", "2025-12-01T00:00:00+01:00", "--until", "2026-01-01T00:00:00+01:00"])
        XCTAssertTrue(again.stdout.contains("written 0,"), again.stdout)
        XCTAssertEqual(try deployment.exactRecords("salesinvoice/SalesInvoices").count, expected.count)
    }

    func testCheckSaysInOneLineWhichTokenIsWrong() throws {
        let url = deployment.mijnwebwinkelURL
        try deployment.fixture.write(load: ["mijnwebwinkel"], connections: """
            good: { plugin: mijnwebwinkel, settings: { base_url: "\(url)" } }
            bad-token: { plugin: mijnwebwinkel, settings: { base_url: "\(url)" } }
            bad-partner: { plugin: mijnwebwinkel, settings: { base_url: "\(url)" } }
            gone: { plugin: mijnwebwinkel, settings: { base_url: "http://127.0.0.1:9" } }
            """)
        let store = options.mijnwebwinkel.token, partner = options.mijnwebwinkel.partnerToken
        for (name, token, partnerToken) in [("good", store, partner), ("bad-token", "not-the-token", partner), ("bad-partner", store, "not-the-partner"), ("gone", store, partner)] {
            XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", name, "api_token"], stdin: token + "\n").status, 0)
            XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", name, "partner_token"], stdin: partnerToken + "\n").status, 0)
        }
        func check(_ name: String) throws -> TestSupport.Output { try deployment.fixture.koppel(["check", name]) }
        let good = try check("good")
        XCTAssertEqual(good.status, 0)
        XCTAssertEqual(good.stdout, "good: ok\n  shop Sandbox Winkel (PREMIUM)\n")
        for (name, says) in [("bad-token", "refused the shop's token"), ("bad-partner", "refused Koppel's partner token"), ("gone", "127.0.0.1:9")] {
            let output = try check(name)
            XCTAssertEqual(output.status, 1, name)
            XCTAssertEqual(output.stdout.split(separator: "\n").count, 1, "one line: \(output.stdout)")
            XCTAssertTrue(output.stdout.hasPrefix("\(name): ") && output.stdout.contains(says), output.stdout)
            XCTAssertFalse(output.stdout.contains("not-the-"), "a token never appears")
        }
    }

    func testProductsAndStockAreRead() throws {
        try deployment.fixture.write(load: ["mijnwebwinkel", "null"], connections: mwwConnection + "\nsink: { plugin: \"null\" }", flows: """
            products: { from: mww.products, to: sink.records, schedule: manual }
            stock: { from: mww.stock, to: sink.records, schedule: manual }
            """)
        for (name, value) in [("api_token", options.mijnwebwinkel.token), ("partner_token", options.mijnwebwinkel.partnerToken)] {
            XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", "mww", name], stdin: value + "\n").status, 0)
        }
        var list: [[String: Any]] = []
        for offset in stride(from: 0, to: 10_000, by: 100) {
            let page = try api("articles", "limit=100&offset=\(offset)") as? [[String: Any]] ?? []
            list += page
            if page.count < 100 { break }
        }
        XCTAssertEqual((try api("articles/count") as? [String: Any])?["count"] as? Int, list.count)
        let products = try deployment.wouldWrite("products")
        XCTAssertEqual(products.count, list.count)
        for article in list {
            let record = try XCTUnwrap(products["\(article["id"]!)"])
            XCTAssertEqual(record["sku"] as? String, article["sku"] as? String)
            XCTAssertEqual(decimal(record["price_incl_vat"]), decimal((article["price"] as? [String: Any])?["default"]), "the store's prices include VAT")
            XCTAssertEqual(record["ean"] as? String, ((article["extra"] as? [String: Any])?["invisible"] as? [String: Any])?["barcode"] as? String)
        }
        XCTAssertTrue(try deployment.sync("products").stdout.contains("written \(list.count),"))
        let cursor = try deployment.fixture.runtime().store.cursor(flow: "products", stream: "products")
        XCTAssertNotNil(cursor)
        XCTAssertTrue(try deployment.sync("products").stdout.contains("written 0,"), "read from the cursor on")
        let stock = try deployment.wouldWrite("stock")
        XCTAssertEqual(stock.count, list.count)
        for article in list {
            XCTAssertEqual(decimal(stock["\(article["id"]!)"]?["quantity"]), decimal(article["stock"]))
        }
        XCTAssertTrue(try deployment.sync("stock").stdout.contains("written \(list.count),"))
        XCTAssertTrue(try deployment.sync("stock").stdout.contains("written 0,"), "unchanged levels travel no further")
    }

    /// Shipped: the shop's "Verzonden" status by PATCH, the carrier and code in the
    /// internal comment (the API has no tracking field); sending it twice changes nothing.
    func testAnOrderIsMarkedShippedOnce() throws {
        try deployment.fixture.write(load: ["mijnwebwinkel"], connections: mwwConnection)
        for (name, value) in [("api_token", options.mijnwebwinkel.token), ("partner_token", options.mijnwebwinkel.partnerToken)] {
            XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", "mww", name], stdin: value + "\n").status, 0)
        }
        let order = try XCTUnwrap(try shopOrders().first { $0["status"] as? Int == 3 })
        let shipment = #"{"source_key":"s-1","updated_at":"2026-01-02T10:00:00Z","order_number":"\#(number(order))","carrier":"PostNL","tracking_code":"3SKOPP0001","lines":[]}"#
        let connection = try deployment.fixture.runtime().open(connection: "mww")
        for _ in 0..<2 {
            _ = try connection.write(stream: "shipment_status", record: Data(shipment.utf8), idempotencyKey: "s-1")
        }
        let shipped = try XCTUnwrap(try api("orders/\(number(order))") as? [String: Any])
        XCTAssertEqual(shipped["status"] as? Int, 2, "Verzonden in the shop's status list")
        XCTAssertEqual((shipped["comments"] as? [String: Any])?["internal"] as? String, "PostNL: 3SKOPP0001")
        XCTAssertThrowsError(try connection.write(stream: "shipment_status", record: Data(shipment.replacingOccurrences(of: number(order), with: "999999").utf8), idempotencyKey: "s-2")) { error in
            XCTAssertTrue("\(error)".contains("no order 999999"), "\(error)")
        }
    }
}
