import Foundation
import KoppelHost
import KoppelSandbox
import XCTest

/// Mijnwebwinkel -> Exact Online end to end: the `koppel` binary with the real plugins,
/// against the sandbox over HTTP, partly driven by the example deployment file that
/// ships in `examples/`.
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
        XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", "mww", "api_token"], stdin: options.mijnwebwinkel.token + "\n").status, 0)
        try deployment.signInToExact("exact")
    }

    /// Every order in the shop, as its API returns it.
    func shopOrders() throws -> [[String: Any]] {
        var all: [[String: Any]] = []
        for page in 1... {
            let answer = try deployment.json("GET", "\(deployment.mijnwebwinkelURL)/api/v1/orders?limit=250&page=\(page)&token=\(options.mijnwebwinkel.token)") as? [String: Any]
            all += answer?["orders"] as? [[String: Any]] ?? []
            if page >= (answer?["pages"] as? Int ?? 1) { break }
        }
        return all
    }

    func testOneHundredFortyDocumentsInEachFlavourAndTenTestOrdersSkipped() throws {
        var flows = ""
        for (name, stream) in [("invoices", "sales_invoices"), ("orders", "sales_orders"), ("entries", "sales_entries")] {
            flows += "\(name): { from: mww.orders, to: exact.\(stream), schedule: manual }\n"
        }
        try deployment.fixture.write(load: ["mijnwebwinkel", "exact-online"], connections: mwwConnection + "\n" + exactConnection, flows: flows)
        try signIn()
        let orders = try shopOrders()
        XCTAssertEqual(orders.count, 150)
        let testNumbers = Set(orders.compactMap { $0["number"] as? String }.filter { $0.hasSuffix("-T") })
        XCTAssertEqual(testNumbers.count, 10)
        let real = Dictionary(uniqueKeysWithValues: orders.compactMap { order -> (String, [String: Any])? in
            guard let number = order["number"] as? String, !testNumbers.contains(number) else { return nil }
            return (number, order)
        })

        for (flow, entitySet, lines, vatField) in [
            ("invoices", "salesinvoice/SalesInvoices", "SalesInvoiceLines", "VATAmountFC"),
            ("orders", "salesorder/SalesOrders", "SalesOrderLines", "VATAmount"),
            ("entries", "salesentry/SalesEntries", "SalesEntryLines", "VATAmountFC"),
        ] {
            let run = try deployment.sync(flow)
            XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
            XCTAssertTrue(run.stdout.contains("written 140,") && run.stdout.contains("skipped 10,"), run.stdout)
            let documents = try deployment.exactRecords(entitySet, expand: lines)
            XCTAssertEqual(documents.count, 140, flow)
            XCTAssertEqual(Set(documents.compactMap { $0["YourRef"] as? String }), Set(real.keys), flow)
            for document in documents {
                let order = try XCTUnwrap(real[document["YourRef"] as? String ?? ""])
                let documentLines = ((document[lines] as? [String: Any])?["results"] as? [[String: Any]]) ?? []
                let shipping = decimal((order["shipping"] as? [String: Any])?["cost_incl"]), payment = decimal((order["payment"] as? [String: Any])?["cost_incl"])
                let expectedLines = (order["lines"] as! [Any]).count + (shipping > 0 ? 1 : 0) + (payment > 0 ? 1 : 0)
                XCTAssertEqual(documentLines.count, expectedLines, "\(flow) \(order["number"]!)")
                let net = documentLines.reduce(Decimal.zero) { $0 + decimal($1["AmountFC"]) }
                let vat = documentLines.reduce(Decimal.zero) { $0 + decimal($1[vatField]) }
                XCTAssertEqual(net + vat, decimal(order["total_incl"]), "\(flow) \(order["number"]!): total to the cent")
                XCTAssertEqual(decimal(document["AmountFC"]), decimal(order["total_incl"]), "\(flow) \(order["number"]!): document total")
            }
            XCTAssertTrue(try deployment.sync(flow).stdout.contains("written 0,"))
        }

        // The reason is in the flow's log, once per test order.
        let log = try deployment.fixture.koppel(["log", "invoices", "--limit", "1000"])
        for number in testNumbers {
            XCTAssertTrue(log.stdout.contains("skipped   \(number)  skipped: test order \(number): test orders are not imported"), "\(number) in\n\(log.stdout)")
        }
        // Debtors reused by email, with their VAT and chamber of commerce numbers.
        let buyers = Dictionary(real.values.map { (($0["customer"] as! [String: Any])["email"] as! String, $0["customer"] as! [String: Any]) }, uniquingKeysWith: { a, _ in a })
        let accounts = try deployment.exactRecords("crm/Accounts")
        XCTAssertEqual(accounts.count, buyers.count)
        for account in accounts {
            let buyer = try XCTUnwrap(buyers[(account["Email"] as? String ?? "").lowercased()])
            if let vat = buyer["vat_number"] as? String, !vat.isEmpty { XCTAssertEqual(account["VATNumber"] as? String, vat) }
            if let coc = buyer["coc_number"] as? String, !coc.isEmpty { XCTAssertEqual(account["ChamberOfCommerce"] as? String, coc) }
        }
    }

    /// The shipped example, pointed at the sandbox: a month's backfill imports the orders
    /// placed in that month (not cancelled, not test), and running it again changes nothing.
    func testTheExampleDeploymentBackfillsOneMonthExactlyOnce() throws {
        var example = try String(contentsOfFile: TestSupport.repoRoot + "/examples/mijnwebwinkel-exact.yaml", encoding: .utf8)
        for (line, replacement) in [
            ("  directories: [../.build/release, ../.build/debug]", "  directories: [\(TestSupport.productsDirectory)]"),
            ("      shop: mijn-winkel", "      base_url: \"\(deployment.mijnwebwinkelURL)\" #"),
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

        let december = try shopOrders().filter { order in
            let created = ISO8601DateFormatter().date(from: order["created"] as! String)!
            return created >= ISO8601DateFormatter().date(from: "2025-12-01T00:00:00Z")! && created < ISO8601DateFormatter().date(from: "2026-01-01T00:00:00Z")!
        }
        let expected = Set(december.filter { !($0["number"] as! String).hasSuffix("-T") && $0["status"] as? String != "cancelled" }.map { $0["number"] as! String })
        XCTAssertGreaterThan(expected.count, 30)
        let first = try deployment.sync("mww-orders", ["--since", "2025-12-01", "--until", "2026-01-01"])
        XCTAssertEqual(first.status, 0, first.stdout + first.stderr)
        XCTAssertTrue(first.stdout.contains("read \(december.count), written \(expected.count),"), first.stdout)
        XCTAssertEqual(Set(try deployment.exactRecords("salesinvoice/SalesInvoices").compactMap { $0["YourRef"] as? String }), expected)
        let again = try deployment.sync("mww-orders", ["--since", "2025-12-01", "--until", "2026-01-01"])
        XCTAssertTrue(again.stdout.contains("written 0,"), again.stdout)
        XCTAssertEqual(try deployment.exactRecords("salesinvoice/SalesInvoices").count, expected.count)
        let cancelled = december.first { $0["status"] as? String == "cancelled" }.map { $0["number"] as! String }
        if let cancelled {
            let log = try deployment.fixture.koppel(["log", "mww-orders", "--record", cancelled])
            XCTAssertTrue(log.stdout.contains("status cancelled is not one of paid, pending, shipped"), log.stdout)
        }
    }

    func testCheckSaysInOneLineWhatIsWrong() throws {
        let port = URL(string: deployment.mijnwebwinkelURL)!.port!
        try deployment.fixture.write(load: ["mijnwebwinkel"], connections: """
            good: { plugin: mijnwebwinkel, settings: { base_url: "\(deployment.mijnwebwinkelURL)" } }
            bad-token: { plugin: mijnwebwinkel, settings: { base_url: "\(deployment.mijnwebwinkelURL)" } }
            other-shop: { plugin: mijnwebwinkel, settings: { base_url: "http://some-other-shop.localhost:\(port)" } }
            gone: { plugin: mijnwebwinkel, settings: { base_url: "http://127.0.0.1:9" } }
            """)
        for (name, token) in [("good", options.mijnwebwinkel.token), ("bad-token", "not-the-token"), ("other-shop", options.mijnwebwinkel.token), ("gone", options.mijnwebwinkel.token)] {
            XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", name, "api_token"], stdin: token + "\n").status, 0)
        }
        func check(_ name: String) throws -> TestSupport.Output { try deployment.fixture.koppel(["check", name]) }
        let good = try check("good")
        XCTAssertEqual(good.status, 0)
        XCTAssertEqual(good.stdout.firstLine, "good: ok")
        for (name, says) in [("bad-token", "refused the API token"), ("other-shop", "there is no Mijnwebwinkel shop"), ("gone", "127.0.0.1:9")] {
            let output = try check(name)
            XCTAssertEqual(output.status, 1, name)
            XCTAssertEqual(output.stdout.split(separator: "\n").count, 1, "one line: \(output.stdout)")
            XCTAssertTrue(output.stdout.hasPrefix("\(name): ") && output.stdout.contains(says), output.stdout)
            XCTAssertFalse(output.stdout.contains("not-the-token"), "the token never appears")
        }
    }

    func testProductsAndStockAreRead() throws {
        try deployment.fixture.write(load: ["mijnwebwinkel", "null"], connections: mwwConnection + "\nsink: { plugin: \"null\" }", flows: """
            products: { from: mww.products, to: sink.records, schedule: manual }
            stock: { from: mww.stock, to: sink.records, schedule: manual }
            """)
        XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", "mww", "api_token"], stdin: options.mijnwebwinkel.token + "\n").status, 0)
        let token = options.mijnwebwinkel.token
        let shopProducts = try deployment.json("GET", "\(deployment.mijnwebwinkelURL)/api/v1/products?limit=250&token=\(token)") as? [String: Any]
        let list = try XCTUnwrap(shopProducts?["products"] as? [[String: Any]])
        let products = try deployment.wouldWrite("products")
        XCTAssertEqual(products.count, list.count)
        for product in list {
            let sku = product["sku"] as! String
            let record = try XCTUnwrap(products[sku])
            XCTAssertEqual(decimal(record["price_incl_vat"]), decimal(product["price_incl"]))
            let excl = decimal(record["price_excl_vat"]), rate = decimal(product["vat_rate"])
            var vat = excl * rate / 100, rounded = Decimal()
            NSDecimalRound(&rounded, &vat, 2, .plain)
            XCTAssertLessThanOrEqual(abs(NSDecimalNumber(decimal: excl + rounded - decimal(product["price_incl"])).doubleValue), 0.01, sku)
        }
        XCTAssertTrue(try deployment.sync("products").stdout.contains("written \(list.count),"))
        let cursor = try deployment.fixture.runtime().store.cursor(flow: "products", stream: "products")
        XCTAssertNotNil(cursor)
        XCTAssertTrue(try deployment.sync("products").stdout.contains("written 0,"), "read from the cursor on")
        XCTAssertEqual(try deployment.fixture.runtime().store.cursor(flow: "products", stream: "products"), cursor,
                       "a read that overlaps the last one does not move the cursor back")
        let stock = try deployment.wouldWrite("stock")
        XCTAssertEqual(stock.count, list.count)
        for product in list {
            XCTAssertEqual(decimal(stock[product["sku"] as! String]?["quantity"]), decimal(product["stock"]))
        }
        XCTAssertTrue(try deployment.sync("stock").stdout.contains("written \(list.count),"))
        XCTAssertTrue(try deployment.sync("stock").stdout.contains("written 0,"), "unchanged levels travel no further")
    }

    func testAnOrderIsMarkedShippedOnce() throws {
        try deployment.fixture.write(load: ["mijnwebwinkel"], connections: mwwConnection)
        XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", "mww", "api_token"], stdin: options.mijnwebwinkel.token + "\n").status, 0)
        let number = try XCTUnwrap(try shopOrders().first { $0["status"] as? String == "paid" }?["number"] as? String)
        let shipment = #"{"source_key":"s-1","updated_at":"2026-01-02T10:00:00Z","order_number":"\#(number)","carrier":"PostNL","tracking_code":"3SKOPP0001","lines":[]}"#
        let connection = try deployment.fixture.runtime().open(connection: "mww")
        for _ in 0..<2 {
            _ = try connection.write(stream: "shipment_status", record: Data(shipment.utf8), idempotencyKey: "s-1")
        }
        let order = try deployment.json("GET", "\(deployment.mijnwebwinkelURL)/_sandbox/mijnwebwinkel/orders/\(number)") as? [String: Any]
        XCTAssertEqual(order?["status"] as? String, "shipped")
        XCTAssertEqual((order?["shipment"] as? [String: Any])?["track_and_trace"] as? String, "3SKOPP0001")
        XCTAssertThrowsError(try connection.write(stream: "shipment_status", record: Data(shipment.replacingOccurrences(of: number, with: "999999").utf8), idempotencyKey: "s-2")) { error in
            XCTAssertTrue("\(error)".contains("no order 999999"), "\(error)")
        }
    }
}
