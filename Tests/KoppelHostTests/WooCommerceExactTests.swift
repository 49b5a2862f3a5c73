import Foundation
import KoppelHost
import KoppelSandbox
import XCTest

/// WooCommerce -> Exact Online end to end: the `koppel` binary with the real plugins,
/// against the sandbox over HTTP. What is checked is what a bookkeeper would check in
/// Exact: one document per order, lines and totals equal to the shop's to the cent,
/// accounts reused by email, items by SKU.
final class WooCommerceExactTests: XCTestCase {
    var deployment: SandboxDeployment!
    var sandbox: Sandbox { deployment.sandbox }
    var division: Int { deployment.division }

    override func setUp() async throws {
        var options = Sandbox.Options()
        options.seed.orders = 200
        options.seed.customers = 40
        options.seed.testOrderEvery = 0
        options.exact.minutelyLimit = 100_000
        options.exact.dailyLimit = 1_000_000
        deployment = try await SandboxDeployment(options)
        let exact = deployment.exactURL, woo = deployment.wooURL
        let paymentConditions = """
            value_maps:
              payment_condition:
                from: payment_method
                to: payment_condition
                values: { ideal: ID, paypal: PP, bacs: "14", cod: "00" }
            """
        var flows = ""
        for (name, stream) in [("invoices", "sales_invoices"), ("orders", "sales_orders"), ("entries", "sales_entries")] {
            flows += """
                \(name):
                  from: shop.orders
                  to: exact.\(stream)
                  schedule: manual
                  mapping:
                \(paymentConditions.indented(4))
                    options: { revenue_accounts: { NL: "8000", BE: "8020", DE: "8020" }, cost_center: "WEB" }

                """
        }
        flows += """
            completed: { from: completed-shop.orders, to: exact.sales_invoices, schedule: manual }
            wrong-journal:
              from: shop.orders
              to: exact.sales_invoices
              schedule: manual
              mapping: { options: { journal: "99" } }
            processed:
              from: completed-shop.orders
              to: exact.sales_invoices
              schedule: manual
              mapping: { options: { process_invoices: true } }
            refresh:
              from: shop.orders
              to: exact.sales_orders
              schedule: manual
              mapping: { options: { update_accounts: true, update_items: true } }
            debtor:
              from: shop.orders
              to: exact.sales_entries
              schedule: manual
              mapping: { options: { default_debtor: WEBSHOP, journal: "70" } }
            accounts-to-shop: { from: exact.accounts, to: shop.customers, schedule: manual }
            customers-to-exact: { from: shop.customers, to: exact.accounts, schedule: manual }
            """
        try deployment.fixture.write(
            load: ["woocommerce", "exact-online"],
            connections: """
                shop:
                  plugin: woocommerce
                  settings: { base_url: "\(woo)", consumer_key: \(options.wooCommerce.consumerKey) }
                completed-shop:
                  plugin: woocommerce
                  settings: { base_url: "\(woo)", consumer_key: \(options.wooCommerce.consumerKey), order_statuses: [completed] }
                exact:
                  plugin: exact-online
                  settings: { base_url: "\(exact)", division: \(division), client_id: \(options.exact.clientID), warehouse: "1" }
                """,
            flows: flows)
        for shop in ["shop", "completed-shop"] {
            XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", shop, "consumer_secret"], stdin: options.wooCommerce.consumerSecret + "\n").status, 0)
        }
        try deployment.signInToExact("exact")
    }

    override func tearDown() async throws {
        deployment.stop()
    }

    // MARK: Tests

    func testTwoHundredOrdersBecomeTwoHundredDocumentsInEachFlavourWithTheShopsTotals() throws {
        let orders = try deployment.wooOrders()
        XCTAssertEqual(orders.count, 200)
        let byNumber = Dictionary(uniqueKeysWithValues: orders.map { ($0["number"] as! String, $0) })
        let countries = Set(orders.compactMap { ($0["billing"] as? [String: Any])?["country"] as? String })
        XCTAssertEqual(countries, ["NL", "BE", "DE"], "the generated orders cover three countries")

        for (flow, entitySet, lines, vatField) in [
            ("invoices", "salesinvoice/SalesInvoices", "SalesInvoiceLines", "VATAmountFC"),
            ("orders", "salesorder/SalesOrders", "SalesOrderLines", "VATAmount"),
            ("entries", "salesentry/SalesEntries", "SalesEntryLines", "VATAmountFC"),
        ] {
            let run = try deployment.sync(flow)
            XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
            XCTAssertTrue(run.stdout.contains("written 200"), run.stdout)
            let documents = try deployment.exactRecords(entitySet, expand: lines)
            XCTAssertEqual(documents.count, 200, flow)
            XCTAssertEqual(Set(documents.compactMap { $0["YourRef"] as? String }), Set(byNumber.keys), flow)
            for document in documents {
                let order = try XCTUnwrap(byNumber[document["YourRef"] as? String ?? ""])
                let documentLines = ((document[lines] as? [String: Any])?["results"] as? [[String: Any]]) ?? document[lines] as? [[String: Any]] ?? []
                let expectedLines = (order["line_items"] as! [Any]).count + (order["shipping_lines"] as! [Any]).count + (order["fee_lines"] as! [Any]).count
                XCTAssertEqual(documentLines.count, expectedLines, "\(flow) \(order["number"]!)")
                let net = documentLines.reduce(Decimal.zero) { $0 + decimal($1["AmountFC"]) }
                let vat = documentLines.reduce(Decimal.zero) { $0 + decimal($1[vatField]) }
                XCTAssertEqual(vat, decimal(order["total_tax"]), "\(flow) \(order["number"]!): VAT")
                XCTAssertEqual(net + vat, decimal(order["total"]), "\(flow) \(order["number"]!): total")
                XCTAssertEqual(decimal(document["AmountFC"]), decimal(order["total"]), "\(flow) \(order["number"]!): document total")
                let condition = ["ideal": "ID", "paypal": "PP", "bacs": "14", "cod": "00"][order["payment_method"] as! String]
                XCTAssertEqual(document["PaymentCondition"] as? String, condition)
                for line in documentLines { XCTAssertEqual(line["CostCenter"] as? String, "WEB") }
            }
            // Rerunning writes nothing.
            let again = try deployment.sync(flow)
            XCTAssertTrue(again.stdout.contains("written 0"), again.stdout)
        }

        // One account per buyer (reused by email, apostrophes included), one contact per company buyer.
        let emails = Set(orders.compactMap { (($0["billing"] as? [String: Any])?["email"] as? String)?.lowercased() })
        let accounts = try deployment.exactRecords("crm/Accounts")
        XCTAssertEqual(accounts.count, emails.count)
        XCTAssertEqual(Set(accounts.compactMap { ($0["Email"] as? String)?.lowercased() }), emails)
        XCTAssertTrue(emails.contains { $0.contains("'") }, "the data has an email address with an apostrophe")
        let companies = Set(orders.filter { !((($0["billing"] as? [String: Any])?["company"] as? String) ?? "").isEmpty }
            .compactMap { (($0["billing"] as? [String: Any])?["email"] as? String)?.lowercased() })
        XCTAssertEqual(try deployment.exactRecords("crm/Contacts").count, companies.count)
        // One item per SKU, plus the shipping and payment cost items.
        let skus = Set(orders.flatMap { ($0["line_items"] as! [[String: Any]]).compactMap { $0["sku"] as? String } })
        let items = try deployment.exactRecords("logistics/Items")
        XCTAssertEqual(Set(items.compactMap { $0["Code"] as? String }), skus.union(["VERZENDKOSTEN", "BETAALKOSTEN"]))
        XCTAssertEqual(try deployment.exactRecords("inventory/ItemWarehouses").count, skus.count, "stock items are linked to warehouse 1")

        // Steady state: known buyers and SKUs cost one Exact call per order.
        _ = try deployment.json("POST", "\(deployment.wooURL)/_sandbox/woocommerce/orders", body: ["count": 20, "repeat_customers": true])
        let before = try deployment.exactCalls()
        let steady = try deployment.sync("invoices")
        XCTAssertTrue(steady.stdout.contains("written 20"), steady.stdout)
        let perOrder = Double(try deployment.exactCalls() - before) / 20
        print("steady-state Exact calls per order (warm identity map): \(perOrder)")
        XCTAssertLessThanOrEqual(perOrder, 1.1)
    }

    func testUnderFaultsEveryOrderArrivesExactlyOnce() throws {
        var plan = FaultPlan()
        plan.serverErrors = 0.08
        plan.rateLimitBursts = 0.05
        plan.dropAfterCommit = 0.08
        sandbox.faults.set(plan)
        var runs: [TestSupport.Output] = []
        for _ in 0..<15 {
            let run = try deployment.sync("invoices", ["--retry-now"])
            runs.append(run)
            if run.status == 0, try deployment.exactRecords("salesinvoice/SalesInvoices").count == 200, run.stdout.contains("written 0") { break }
        }
        sandbox.faults.set(FaultPlan())
        let last = try deployment.sync("invoices", ["--retry-now"])
        XCTAssertEqual(last.status, 0, last.stdout + last.stderr)
        XCTAssertTrue(last.stdout.contains("written 0"), last.stdout)
        let counts = sandbox.faults.counts
        XCTAssertGreaterThan(counts[.dropAfterCommit] ?? 0, 0, "answers were lost after the commit")
        XCTAssertGreaterThan(counts[.serverError] ?? 0, 0)
        let invoices = try deployment.exactRecords("salesinvoice/SalesInvoices")
        let refs = invoices.compactMap { $0["YourRef"] as? String }
        XCTAssertEqual(refs.count, 200, "no duplicates, nothing missing: \(runs.map(\.stdout))")
        XCTAssertEqual(Set(refs).count, 200)
        let accounts = try deployment.exactRecords("crm/Accounts")
        XCTAssertEqual(Set(accounts.compactMap { $0["Email"] as? String }).count, accounts.count, "no account twice")
    }

    /// What a merchant wrote in Exact stays, unless a flow says `update_accounts` /
    /// `update_items`.
    func testEnrichedAccountsAndItemsStayUnlessTheFlowSaysUpdate() throws {
        let order = try XCTUnwrap(try deployment.wooOrders().first)
        let billing = try XCTUnwrap(order["billing"] as? [String: Any])
        let email = try XCTUnwrap(billing["email"] as? String)
        let line = try XCTUnwrap((order["line_items"] as? [[String: Any]])?.first)
        let sku = try XCTUnwrap(line["sku"] as? String)
        try deployment.exactCreate("crm/Accounts", ["Name": "Verrijkt in Exact", "Email": email, "City": "Ergens"])
        try deployment.exactCreate("logistics/Items", ["Code": sku, "Description": "Omschrijving uit Exact"])
        func account() throws -> [String: Any]? { try deployment.exactRecords("crm/Accounts").first { ($0["Email"] as? String)?.lowercased() == email.lowercased() } }
        func item() throws -> [String: Any]? { try deployment.exactRecords("logistics/Items").first { $0["Code"] as? String == sku } }

        XCTAssertEqual(try deployment.sync("invoices").status, 0)
        XCTAssertEqual(try deployment.exactRecords("crm/Accounts").filter { ($0["Email"] as? String)?.lowercased() == email.lowercased() }.count, 1, "reused by email")
        XCTAssertEqual(try account()?["City"] as? String, "Ergens")
        XCTAssertEqual(try account()?["Name"] as? String, "Verrijkt in Exact")
        XCTAssertEqual(try item()?["Description"] as? String, "Omschrijving uit Exact")

        let refresh = try deployment.sync("refresh")
        XCTAssertEqual(refresh.status, 0, refresh.stdout + refresh.stderr)
        XCTAssertEqual(try account()?["City"] as? String, billing["city"] as? String)
        let company = (billing["company"] as? String).flatMap { $0.isEmpty ? nil : $0 }
        XCTAssertEqual(try account()?["Name"] as? String, company ?? "\(billing["first_name"]!) \(billing["last_name"]!)")
        XCTAssertEqual(try item()?["Description"] as? String, line["name"] as? String)
    }

    /// The bookkeeper deletes (or merges away) accounts and items Koppel created and
    /// remembers: the next orders of the same buyers with the same products are booked on
    /// accounts and items found or made again, not parked on the old GUIDs.
    func testAccountsAndItemsDeletedInExactAreMadeAgainForTheNextOrders() throws {
        XCTAssertEqual(try deployment.sync("invoices").status, 0)
        for (set, key) in [("crm/Accounts", "ID"), ("logistics/Items", "ID")] {
            for record in try deployment.exactRecords(set) {
                _ = try deployment.json("DELETE", "\(deployment.exactInspect)/\(set)(guid'\(record[key] as! String)')")
            }
        }
        XCTAssertEqual(try deployment.exactRecords("logistics/Items").count, 0)
        let placed = try deployment.json("POST", "\(deployment.wooURL)/_sandbox/woocommerce/orders", body: ["count": 5, "repeat_customers": true]) as? [[String: Any]]
        let numbers = Set(placed?.compactMap { $0["number"] as? String } ?? [])
        XCTAssertEqual(numbers.count, 5)
        let run = try deployment.sync("invoices")
        XCTAssertTrue(run.stdout.contains("written 5,") && run.stdout.contains("failed 0"), run.stdout + run.stderr)
        let accounts = Set(try deployment.exactRecords("crm/Accounts").compactMap { ($0["ID"] as? String)?.lowercased() })
        let items = Set(try deployment.exactRecords("logistics/Items").compactMap { ($0["ID"] as? String)?.lowercased() })
        let invoices = try deployment.exactRecords("salesinvoice/SalesInvoices", expand: "SalesInvoiceLines").filter { numbers.contains($0["YourRef"] as? String ?? "") }
        XCTAssertEqual(invoices.count, 5)
        for invoice in invoices {
            XCTAssertTrue(accounts.contains((invoice["OrderedBy"] as? String ?? "").lowercased()), "booked on an account that exists")
            let lines = (invoice["SalesInvoiceLines"] as? [String: Any])?["results"] as? [[String: Any]] ?? []
            XCTAssertFalse(lines.isEmpty)
            for line in lines { XCTAssertTrue(items.contains((line["Item"] as? String ?? "").lowercased()), "on items that exist") }
        }
    }

    /// Exact answers a wrong client secret with a bare `invalid_request` (R-AUTH-9): Koppel
    /// names the app's credentials, keeps the sign-in, and works again once the secret is
    /// right, without signing in again.
    func testAWrongClientSecretIsNamedAndTheSignInSurvivesIt() throws {
        XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", "exact", "client_secret"], stdin: "not-the-secret\n").status, 0)
        let wrong = try deployment.fixture.koppel(["check", "exact"])
        XCTAssertNotEqual(wrong.status, 0)
        let said = wrong.stdout + wrong.stderr
        XCTAssertTrue(said.contains("refused the app's credentials (invalid_request)") && said.contains("koppel secrets set exact client_secret"), said)
        XCTAssertFalse(said.contains("not-the-secret"), said)
        XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", "exact", "client_secret"], stdin: sandbox.exact.options.clientSecret + "\n").status, 0)
        let right = try deployment.fixture.koppel(["check", "exact"])
        XCTAssertEqual(right.stdout.firstLine, "exact: ok", right.stdout + right.stderr)
    }

    /// Exact takes at most 200 token calls per user a day (R-AUTH-8). When another
    /// program has spent them, Koppel says so and keeps the sign-in: a day later it
    /// refreshes without `koppel auth`.
    func testTheDaysTokenCallsSpentElsewhereKeepTheSignIn() throws {
        let exact = sandbox.exact.options
        var statuses: [Int] = []
        for attempt in 0...200 {
            var request = OutboundRequest(
                method: "POST", url: "\(deployment.exactURL)/api/oauth2/token", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                idempotent: false, timeout: 10)
            request.body = Data("grant_type=refresh_token&refresh_token=other-\(attempt)&client_id=\(exact.clientID)&client_secret=\(exact.clientSecret)".utf8)
            guard case .response(let answer) = deployment.client.send(request) else { return XCTFail("no answer from the token endpoint") }
            statuses.append(answer.status)
        }
        XCTAssertEqual(Set(statuses.prefix(200)), [400], "the other program's refreshes are refused, and counted")
        XCTAssertEqual(statuses.last, 429, "the 201st call of the day")

        let spent = try deployment.fixture.koppel(["check", "exact"])
        XCTAssertNotEqual(spent.status, 0)
        let said = spent.stdout + spent.stderr
        XCTAssertTrue(said.contains("takes no more calls for now") && said.contains("the sign-in is kept"), said)
        XCTAssertFalse(said.contains("koppel auth"), said)
        _ = try deployment.json("POST", "\(deployment.exactURL)/_sandbox/exact/clock", body: ["advance": 86_400])
        let nextDay = try deployment.fixture.koppel(["check", "exact"])
        XCTAssertEqual(nextDay.stdout.firstLine, "exact: ok", nextDay.stdout + nextDay.stderr)
    }

    /// Exact blocks an endpoint for an hour after ten error answers in one (R-RATE-6).
    /// Two hundred orders that Exact refuses (a journal it does not have) cost ten
    /// refused calls: Koppel stops calling the endpoint before the block, the other
    /// orders wait, and `koppel status` says which endpoint rests and until when.
    func testTenRefusalsAnHourAndKoppelStopsCallingTheEndpoint() throws {
        let run = try deployment.sync("wrong-journal")
        XCTAssertTrue(run.stderr.contains("flow wrong-journal stopped for now") && run.stderr.contains("Koppel calls it again from"), run.stdout + run.stderr)
        XCTAssertEqual(try deployment.exactCalls(label: "POST salesinvoice/SalesInvoices"), 10, "an eleventh refusal would block the endpoint")
        XCTAssertEqual(try deployment.exactRecords("salesinvoice/SalesInvoices").count, 0)
        let status = try deployment.fixture.koppel(["status"])
        XCTAssertNotNil(status.stdout.range(of: #"exact: /api/v1/\d+/salesinvoice/salesinvoices rests until \d{4}-\d\d-\d\dT\d\d:\d\d"#, options: .regularExpression), status.stdout)
        XCTAssertNotNil(status.stdout.range(of: #"wrong-journal .* 0 +10 +\d+\n"#, options: .regularExpression), "ten parked, the rest waiting: \(status.stdout)")
        // The day's budget as Exact last reported it.
        XCTAssertNotNil(status.stdout.range(of: #"exact: \d+ calls left until \d{4}-\d\d-\d\dT00:00"#, options: .regularExpression), status.stdout)
        let failed = try deployment.fixture.koppel(["failed", "wrong-journal"]).stdout
        XCTAssertTrue(failed.contains("Journal '99' does not exist"), failed)
    }

    /// An invoice posted through the API waits "to be processed" in Exact (status 20, no
    /// receivable, R-BIZ-1); with `process_invoices` Koppel processes each one it books,
    /// dated the order's date (R-BIZ-2), so the bookkeeper finds it booked and receivable.
    func testProcessedInvoicesAreBookedOnTheOrdersDateWithAReceivable() throws {
        let waiting = try deployment.sync("completed")
        XCTAssertEqual(waiting.status, 0, waiting.stdout + waiting.stderr)
        let invoices = try deployment.exactRecords("salesinvoice/SalesInvoices")
        XCTAssertFalse(invoices.isEmpty)
        XCTAssertEqual(Set(invoices.compactMap { $0["Status"] as? Int }), [20], "without the option they wait to be processed")
        XCTAssertEqual(try deployment.exactRecords("cashflow/Receivables").count, 0)

        for invoice in invoices {
            _ = try deployment.json("DELETE", "\(deployment.exactInspect)/salesinvoice/SalesInvoices(guid'\(invoice["InvoiceID"] as! String)')")
        }
        // The first processing fails (a 503): that invoice stays booked and is processed
        // before the next invoice is written.
        _ = try deployment.json("POST", "\(deployment.exactURL)/_sandbox/faults",
                                body: ["queue": [["match": "POST /api/v1/\(division)/salesinvoice/PrintedSalesInvoices", "fault": "5xx", "count": 1]]])
        let run = try deployment.sync("processed")
        XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
        let orders = Dictionary(uniqueKeysWithValues: try deployment.wooOrders().map { ($0["number"] as! String, $0) })
        let processed = try deployment.exactRecords("salesinvoice/SalesInvoices")
        XCTAssertEqual(processed.count, invoices.count)
        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        for invoice in processed {
            let order = try XCTUnwrap(orders[invoice["YourRef"] as? String ?? ""])
            XCTAssertEqual(invoice["Status"] as? Int, 50, "processed")
            let dated = try XCTUnwrap((invoice["InvoiceDate"] as? String).flatMap { $0.wholeMatch(of: /\/Date\((\d+)\)\//) }.flatMap { Double($0.1) })
            XCTAssertEqual(day.string(from: Date(timeIntervalSince1970: dated / 1000)), String((order["date_created_gmt"] as! String).prefix(10)))
        }
        let receivables = try deployment.exactRecords("cashflow/Receivables")
        XCTAssertEqual(Set(receivables.compactMap { $0["InvoiceNumber"] as? Int }), Set(processed.compactMap { $0["InvoiceNumber"] as? Int }))
        XCTAssertEqual(processed.count, invoices.count, "the failed processing booked nothing twice")
        XCTAssertGreaterThan(invoices.count, 1)
        let faults = try deployment.json("GET", "\(deployment.exactURL)/_sandbox/faults") as? [String: Any]
        XCTAssertEqual((faults?["5xx"] as? NSNumber)?.intValue, 1, "the first processing met the fault")
        // A faulted request never reaches the fake's counters: each invoice was processed
        // once, the one that met the fault on a later write.
        XCTAssertEqual(try deployment.exactCalls(label: "POST salesinvoice/PrintedSalesInvoices"), processed.count, "each processed once")
    }

    func testTheShopsStatusFilterReadsOnlyThoseOrders() throws {
        let completed = try deployment.wooOrders().filter { $0["status"] as? String == "completed" }.compactMap { $0["number"] as? String }
        XCTAssertFalse(completed.isEmpty)
        let run = try deployment.sync("completed")
        XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
        XCTAssertTrue(run.stdout.contains("read \(completed.count),"), run.stdout)
        XCTAssertEqual(Set(try deployment.exactRecords("salesinvoice/SalesInvoices").compactMap { $0["YourRef"] as? String }), Set(completed))
    }

    /// The state file is restored from a copy made before the last run: the orders that
    /// run booked are unknown to the copy, and `--reconcile` finds them in Exact instead
    /// of booking them again.
    func testAfterRestoringAnOlderStateFileReconcileBooksNothingTwice() throws {
        XCTAssertEqual(try deployment.sync("completed").status, 0)
        let before = try deployment.exactRecords("salesinvoice/SalesInvoices").count
        let state = deployment.fixture.stateFile
        let files = FileManager.default
        for suffix in ["", "-wal"] where files.fileExists(atPath: state + suffix) {
            try files.copyItem(atPath: state + suffix, toPath: state + suffix + ".copy")
        }
        let placed = try deployment.json("POST", "\(deployment.wooURL)/_sandbox/woocommerce/orders", body: ["count": 3, "status": "completed"]) as? [[String: Any]]
        let numbers = Set(placed?.compactMap { $0["number"] as? String } ?? [])
        XCTAssertEqual(numbers.count, 3)
        XCTAssertTrue(try deployment.sync("completed").stdout.contains("written 3,"))
        XCTAssertEqual(try deployment.exactRecords("salesinvoice/SalesInvoices").count, before + 3)

        for suffix in ["", "-wal", "-shm"] { try? files.removeItem(atPath: state + suffix) }
        for suffix in ["", "-wal"] where files.fileExists(atPath: state + suffix + ".copy") {
            try files.moveItem(atPath: state + suffix + ".copy", toPath: state + suffix)
        }
        let reconciled = try deployment.sync("completed", ["--reconcile"])
        XCTAssertEqual(reconciled.status, 0, reconciled.stdout + reconciled.stderr)
        let invoices = try deployment.exactRecords("salesinvoice/SalesInvoices").compactMap { $0["YourRef"] as? String }
        XCTAssertEqual(invoices.count, before + 3, "nothing booked twice: \(reconciled.stdout)")
        XCTAssertEqual(invoices.count, Set(invoices).count)
        for number in numbers {
            let log = try deployment.fixture.koppel(["log", "completed", "--record", number])
            XCTAssertTrue(log.stdout.contains("found "), "order \(number) was found in Exact: \(log.stdout)")
        }
        XCTAssertTrue(try deployment.sync("completed").stdout.contains("written 0,"), "the restored ledger knows them now")
    }

    func testADefaultDebtorBooksEveryOrderOnOneAccount() throws {
        let debtor = try XCTUnwrap(try deployment.exactCreate("crm/Accounts", ["Code": "WEBSHOP", "Name": "Webshop debiteuren"])["ID"] as? String)
        let run = try deployment.sync("debtor")
        XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
        let entries = try deployment.exactRecords("salesentry/SalesEntries")
        XCTAssertEqual(entries.count, 200)
        XCTAssertEqual(Set(entries.compactMap { $0["Customer"] as? String }), [debtor])
        XCTAssertEqual(try deployment.exactRecords("crm/Accounts").count, 1, "no account per buyer")
    }

    func testACustomerChangedInExactReachesWooCommerceAndDoesNotBounceBack() throws {
        XCTAssertEqual(try deployment.sync("invoices").status, 0)
        for flow in ["accounts-to-shop", "customers-to-exact"] {
            let settle = try deployment.sync(flow)
            XCTAssertEqual(settle.status, 0, settle.stdout + settle.stderr)
        }
        let account = try XCTUnwrap(try deployment.exactRecords("crm/Accounts").first { ($0["Email"] as? String)?.hasSuffix(".nl") == true })
        let id = try XCTUnwrap(account["ID"] as? String)
        let email = try XCTUnwrap(account["Email"] as? String)
        try deployment.exactUpdate("crm/Accounts", id: id, ["AddressLine1": "Nieuwe Weg 1", "Postcode": "8011 AA", "City": "Zwolle"])
        let modified = try XCTUnwrap(try deployment.exactRecords("crm/Accounts").first { $0["ID"] as? String == id }?["Modified"] as? String)

        let toShop = try deployment.sync("accounts-to-shop")
        XCTAssertTrue(toShop.stdout.contains("updated 1"), toShop.stdout)
        let customers = try deployment.woo("customers?email=\(email)") as? [[String: Any]]
        let billing = try XCTUnwrap(customers?.first?["billing"] as? [String: Any])
        XCTAssertEqual(billing["address_1"] as? String, "Nieuwe Weg 1")
        XCTAssertEqual(billing["city"] as? String, "Zwolle")

        // WooCommerce's copy changed, so the reverse flow reads it, and finds nothing to send.
        let puts = sandbox.exact.callCounts["PUT crm/Accounts"] ?? 0
        let back = try deployment.sync("customers-to-exact")
        XCTAssertEqual(back.status, 0, back.stdout + back.stderr)
        XCTAssertTrue(back.stdout.contains("written 0"), back.stdout)
        XCTAssertFalse(back.stdout.contains("updated"), back.stdout)
        XCTAssertEqual(sandbox.exact.callCounts["PUT crm/Accounts"] ?? 0, puts, "nothing was written back to Exact")
        XCTAssertEqual(try deployment.exactRecords("crm/Accounts").first { $0["ID"] as? String == id }?["Modified"] as? String, modified)
        XCTAssertTrue(try deployment.sync("accounts-to-shop").stdout.contains("written 0"))
    }

    /// An account deleted in Exact (read from `sync/Deleted`, R-SYNC-2) does not delete the
    /// shop's customer, which WooCommerce cannot take back: the deletion is noted once,
    /// and the customer stays. An account made and deleted before the flow delivered it
    /// leaves no trace.
    func testAnAccountDeletedInExactIsNotedOnceAndTheShopsCustomerStays() throws {
        XCTAssertEqual(try deployment.sync("invoices").status, 0)
        XCTAssertEqual(try deployment.sync("accounts-to-shop").status, 0)
        let account = try XCTUnwrap(try deployment.exactRecords("crm/Accounts").first { ($0["Email"] as? String)?.hasSuffix(".nl") == true })
        let id = try XCTUnwrap(account["ID"] as? String), email = try XCTUnwrap(account["Email"] as? String)
        let brief = try XCTUnwrap(try deployment.exactCreate("crm/Accounts", ["Name": "Kort", "Status": "C", "Email": "kort@example.nl"])["ID"] as? String)
        for gone in [id, brief] { _ = try deployment.json("DELETE", "\(deployment.exactInspect)/crm/Accounts(guid'\(gone)')") }

        let deleted = try deployment.sync("accounts-to-shop")
        XCTAssertEqual(deleted.status, 0, deleted.stdout + deleted.stderr)
        XCTAssertTrue(deleted.stdout.contains("written 0,") && deleted.stdout.contains("skipped 1,"), deleted.stdout)
        XCTAssertEqual((try deployment.woo("customers?email=\(email)") as? [[String: Any]])?.count, 1, "the customer stays")
        let log = try deployment.fixture.koppel(["log", "accounts-to-shop"]).stdout
        XCTAssertEqual(log.components(separatedBy: "deleted in exact; shop.customers keeps").count - 1, 1, log)
        XCTAssertFalse(log.contains(brief), "a deletion of an account never delivered leaves no trace")
        let again = try deployment.sync("accounts-to-shop")
        XCTAssertTrue(again.stdout.contains("skipped 0,"), again.stdout)
        XCTAssertEqual(try deployment.fixture.koppel(["log", "accounts-to-shop"]).stdout.components(separatedBy: "deleted in exact;").count - 1, 1)
    }
}
