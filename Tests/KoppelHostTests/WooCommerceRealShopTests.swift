import Foundation
import HTTPTypes
import Hummingbird
import KoppelHost
import KoppelSandbox
import Logging
import NIOCore
import XCTest

/// WooCommerce as a real shop answers (the captured answers of a WooCommerce 11 shop in
/// `Fixtures/woocommerce-captured`): staff users and users WooCommerce never touched,
/// refunds after booking, variable products, a shop with plain permalinks or behind a
/// host that strips the `Authorization` header, and the official client's request
/// shapes. Checked the way a merchant would: what Exact holds, what the shop holds.
final class WooCommerceRealShopTests: XCTestCase {
    var deployment: SandboxDeployment!
    var options = Sandbox.Options()
    var woo: String { deployment.wooURL }

    override func setUp() async throws {
        options.seed.orders = 30
        options.seed.customers = 12
        options.seed.testOrderEvery = 0
        options.exact.minutelyLimit = 100_000
        options.exact.dailyLimit = 1_000_000
        deployment = try await SandboxDeployment(options)
        let shop = #"base_url: "\#(woo)", consumer_key: \#(options.wooCommerce.consumerKey)"#
        try deployment.fixture.write(
            load: ["woocommerce", "exact-online", "null"],
            connections: """
                shop:
                  plugin: woocommerce
                  settings: { \(shop), recheck_days: 800, recheck_hours: 0 }
                quiet-shop:
                  plugin: woocommerce
                  settings: { \(shop), create_customers: false }
                exact:
                  plugin: exact-online
                  settings: { base_url: "\(deployment.exactURL)", division: \(deployment.division), client_id: \(options.exact.clientID), warehouse: "1" }
                sink:
                  plugin: "null"
                """,
            flows: """
                invoices: { from: shop.orders, to: exact.sales_invoices, schedule: manual }
                entries: { from: shop.orders, to: exact.sales_entries, schedule: manual }
                sales-orders: { from: shop.orders, to: exact.sales_orders, schedule: manual }
                customers-to-exact: { from: shop.customers, to: exact.accounts, schedule: manual }
                accounts-to-shop: { from: exact.accounts, to: shop.customers, schedule: manual }
                accounts-to-quiet-shop: { from: exact.accounts, to: quiet-shop.customers, schedule: manual }
                products: { from: shop.products, to: sink.records, schedule: manual }
                """)
        for connection in ["shop", "quiet-shop"] {
            XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", connection, "consumer_secret"], stdin: options.wooCommerce.consumerSecret + "\n").status, 0)
        }
        try deployment.signInToExact("exact")
    }

    override func tearDown() async throws {
        deployment.stop()
    }

    func sync(_ flow: String, _ extra: [String] = []) throws -> TestSupport.Output {
        let run = try deployment.sync(flow, extra)
        XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
        return run
    }

    // MARK: Customers

    func testCustomersRunBothWaysWithStaffAndUsersWooCommerceNeverTouched() throws {
        let users = try XCTUnwrap(try deployment.woo("customers?role=all&per_page=100") as? [[String: Any]])
        let staff = users.filter { $0["role"] as? String != "customer" }
        XCTAssertEqual(Set(staff.compactMap { $0["role"] as? String }), ["administrator", "shop_manager"])
        let untouched = users.filter { $0["date_modified_gmt"] is NSNull }
        XCTAssertGreaterThan(untouched.count, staff.count, "buyers WooCommerce never touched are in the shop too")
        let buyers = Set(users.filter { $0["role"] as? String == "customer" }.compactMap { ($0["email"] as? String)?.lowercased() })
        XCTAssertEqual(buyers.count, 12)

        // Into Exact: every buyer once, no staff account, nothing parked.
        let first = try sync("customers-to-exact")
        XCTAssertTrue(first.stdout.contains("written 12"), first.stdout)
        XCTAssertTrue(first.stdout.contains("failed 0"), first.stdout)
        XCTAssertEqual(Set(try deployment.exactRecords("crm/Accounts").compactMap { ($0["Email"] as? String)?.lowercased() }), buyers)
        // The users without a modification time were read once, not on every run (only
        // the overlap window's last customer is read again).
        let again = try sync("customers-to-exact")
        XCTAssertTrue(again.stdout.contains("read 1, written 0, unchanged 1,"), again.stdout)

        // Back into the shop: WooCommerce e-mails a customer it creates, so `koppel check`
        // says so, and a connection that must not create only updates.
        let account = try deployment.exactCreate("crm/Accounts", [
            "Name": "Nieuwe Klant", "Status": "C", "Email": "nieuwe.klant@example.nl", "Country": "NL", "City": "Utrecht",
        ])
        XCTAssertNotNil(account["ID"])
        let check = try deployment.fixture.koppel(["check", "quiet-shop"])
        XCTAssertEqual(check.status, 0, check.stdout + check.stderr)
        XCTAssertTrue(check.stdout.contains("note for flow accounts-to-quiet-shop: WooCommerce e-mails every customer it creates"), check.stdout)
        let quiet = try sync("accounts-to-quiet-shop")
        XCTAssertTrue(quiet.stdout.contains("written 0"), quiet.stdout)
        XCTAssertTrue(try deployment.fixture.koppel(["log", "accounts-to-quiet-shop"]).stdout.contains("create_customers is false"))
        XCTAssertEqual(try accountEmails(), [], "nobody was e-mailed")
        XCTAssertEqual((try deployment.woo("customers?email=nieuwe.klant@example.nl") as? [[String: Any]])?.count, 0)

        let loud = try sync("accounts-to-shop")
        XCTAssertTrue(loud.stdout.contains("written 1"), loud.stdout)
        XCTAssertEqual(try accountEmails(), ["nieuwe.klant@example.nl"], "only the new customer got WooCommerce's e-mail")
        let created = try XCTUnwrap((try deployment.woo("customers?email=nieuwe.klant@example.nl") as? [[String: Any]])?.first)
        XCTAssertEqual(created["role"] as? String, "customer")
    }

    func accountEmails() throws -> [String] {
        (try deployment.json("GET", "\(woo)/_sandbox/woocommerce/emails") as? [String: Any])?["account_created"] as? [String] ?? []
    }

    // MARK: Refunds

    /// A refund after booking becomes one credit note, whether it moved the order's
    /// modification time (a full refund sets the status) or not (a partial refund on
    /// classic order storage, found by the recheck of recent orders).
    func testARefundedOrderBecomesOneCreditNote() throws {
        let booked = try sync("invoices")
        XCTAssertTrue(booked.stdout.contains("written 30"), booked.stdout)
        let orders = try deployment.wooOrders().sorted { ($0["id"] as! Int) < ($1["id"] as! Int) }
        let partial = try XCTUnwrap(orders.first { ($0["line_items"] as? [Any])?.count ?? 0 >= 2 && $0["status"] as? String == "processing" })
        let full = try XCTUnwrap(orders.first { $0["status"] as? String == "completed" })
        let partialRefund = try refund(partial, ["lines": [["line": 0, "quantity": 1]], "reason": "Kapot aangekomen"])
        let fullRefund = try refund(full, ["amount": full["total"] as! String, "reason": "Retour"])
        XCTAssertEqual((try deployment.woo("orders/\(full["id"]!)") as? [String: Any])?["status"] as? String, "refunded")

        let credited = try sync("invoices")
        XCTAssertTrue(credited.stdout.contains("written 2"), credited.stdout)
        let notes = try deployment.exactRecords("salesinvoice/SalesInvoices", expand: "SalesInvoiceLines").filter { ($0["Type"] as? NSNumber)?.intValue == 8021 }
        XCTAssertEqual(notes.count, 2)
        for (order, refund) in [(partial, partialRefund), (full, fullRefund)] {
            let ref = "\(order["number"]!)-R\(refund["id"]!)"
            let note = try XCTUnwrap(notes.first { $0["YourRef"] as? String == ref }, ref)
            XCTAssertEqual(decimal(note["AmountFC"]), -decimal(refund["amount"]), "\(ref): the credit note gives back what the shop refunded")
            let lines = (note["SalesInvoiceLines"] as? [String: Any])?["results"] as? [[String: Any]] ?? []
            XCTAssertFalse(lines.isEmpty)
            for line in lines { XCTAssertLessThan(decimal(line["AmountFC"]), 0, "\(ref): every line is negative") }
            XCTAssertTrue((note["Description"] as? String ?? "").contains("order \(order["number"]!)"))
        }
        // The refund of one line names that line's item and VAT.
        let partialNote = try XCTUnwrap(notes.first { $0["YourRef"] as? String == "\(partial["number"]!)-R\(partialRefund["id"]!)" })
        let line = try XCTUnwrap(((partialNote["SalesInvoiceLines"] as? [String: Any])?["results"] as? [[String: Any]])?.first)
        let item = try XCTUnwrap(((partial["line_items"] as? [[String: Any]])?.first))
        XCTAssertEqual(line["ItemCode"] as? String, item["sku"] as? String)
        XCTAssertEqual((line["Quantity"] as? NSNumber)?.intValue, -1)

        // Once: the next runs find nothing new.
        XCTAssertTrue(try sync("invoices").stdout.contains("written 0"))
        XCTAssertEqual(try deployment.exactRecords("salesinvoice/SalesInvoices").filter { ($0["Type"] as? NSNumber)?.intValue == 8021 }.count, 2)

        // As sales entries, the credits are entries of type 21; sales orders hold no refunds.
        let entries = try sync("entries")
        XCTAssertTrue(entries.stdout.contains("written 32"), entries.stdout)
        let credits = try deployment.exactRecords("salesentry/SalesEntries").filter { ($0["Type"] as? NSNumber)?.intValue == 21 }
        XCTAssertEqual(Set(credits.compactMap { $0["YourRef"] as? String }),
                       ["\(partial["number"]!)-R\(partialRefund["id"]!)", "\(full["number"]!)-R\(fullRefund["id"]!)"])
        let salesOrders = try sync("sales-orders")
        XCTAssertTrue(salesOrders.stdout.contains("written 30"), salesOrders.stdout)
        XCTAssertTrue(salesOrders.stdout.contains("skipped 2"), salesOrders.stdout)
        XCTAssertEqual(try deployment.exactRecords("salesorder/SalesOrders").count, 30)
    }

    func refund(_ order: [String: Any], _ body: [String: Any]) throws -> [String: Any] {
        try XCTUnwrap(try deployment.json("POST", "\(woo)/_sandbox/woocommerce/orders/\(order["id"]!)/refund", body: body) as? [String: Any])
    }

    /// A shop whose orders were refunded before Koppel first read it: each refund is
    /// booked once, after its order, in the same run.
    func testRefundsAlreadyInTheShopAreBookedWithTheirOrders() async throws {
        deployment.stop()
        options.wooCommerce.refundedOrders = 3
        deployment = try await SandboxDeployment(options)
        try deployment.writeShopAndExact(flows: "invoices: { from: shop.orders, to: exact.sales_invoices, schedule: manual }")
        XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", "shop", "consumer_secret"], stdin: options.wooCommerce.consumerSecret + "\n").status, 0)
        try deployment.signInToExact("exact")
        let refunded = try deployment.wooOrders().filter { !(($0["refunds"] as? [Any]) ?? []).isEmpty }
        XCTAssertEqual(refunded.count, 3)
        XCTAssertTrue(try sync("invoices").stdout.contains("written 33,"))
        let notes = try deployment.exactRecords("salesinvoice/SalesInvoices").filter { ($0["Type"] as? NSNumber)?.intValue == 8021 }
        XCTAssertEqual(Set(notes.compactMap { ($0["YourRef"] as? String)?.components(separatedBy: "-R").first }), Set(refunded.compactMap { $0["number"] as? String }))
        XCTAssertTrue(try sync("invoices").stdout.contains("written 0,"))
    }

    /// A refund of an order the flow did not book (placed before its start) is not booked
    /// either: there is nothing to credit.
    func testARefundOfAnOrderTheFlowNeverBookedIsSkipped() throws {
        let orders = try deployment.wooOrders().sorted { ($0["date_created_gmt"] as! String) < ($1["date_created_gmt"] as! String) }
        let old = orders[0]
        let start = (orders[1]["date_created_gmt"] as! String).prefix(10)
        try deployment.fixture.write(
            load: ["woocommerce", "exact-online"],
            connections: """
                shop:
                  plugin: woocommerce
                  settings: { base_url: "\(woo)", consumer_key: \(options.wooCommerce.consumerKey), recheck_days: 800, recheck_hours: 0 }
                exact:
                  plugin: exact-online
                  settings: { base_url: "\(deployment.exactURL)", division: \(deployment.division), client_id: \(options.exact.clientID), warehouse: "1" }
                """,
            flows: "invoices: { from: shop.orders, to: exact.sales_invoices, schedule: manual, start_date: \"\(start)T23:59:59Z\" }")
        try deployment.signInToExact("exact")
        _ = try sync("invoices")
        let before = try deployment.exactRecords("salesinvoice/SalesInvoices").count
        XCTAssertFalse(try deployment.exactRecords("salesinvoice/SalesInvoices").contains { $0["YourRef"] as? String == old["number"] as? String })
        _ = try refund(old, ["amount": "5.00"])
        let run = try sync("invoices")
        XCTAssertTrue(run.stdout.contains("written 0"), run.stdout)
        XCTAssertEqual(try deployment.exactRecords("salesinvoice/SalesInvoices").count, before)
    }

    /// A connection that reads only paid orders still sees an order refunded in full
    /// (its status is `refunded` then), for the refund's sake.
    func testAnOrderRefundedInFullOutsideTheConnectionsStatusesBringsItsCreditNote() throws {
        try deployment.fixture.write(
            load: ["woocommerce", "exact-online"],
            connections: """
                shop:
                  plugin: woocommerce
                  settings: { base_url: "\(woo)", consumer_key: \(options.wooCommerce.consumerKey), order_statuses: [processing, completed] }
                exact:
                  plugin: exact-online
                  settings: { base_url: "\(deployment.exactURL)", division: \(deployment.division), client_id: \(options.exact.clientID), warehouse: "1" }
                """,
            flows: "invoices: { from: shop.orders, to: exact.sales_invoices, schedule: manual }")
        try deployment.signInToExact("exact")
        let paid = try deployment.wooOrders().filter { ["processing", "completed"].contains($0["status"] as? String) }
        XCTAssertTrue(try sync("invoices").stdout.contains("written \(paid.count),"))
        let order = try XCTUnwrap(paid.first)
        let refund = try refund(order, ["amount": order["total"] as! String])
        let run = try sync("invoices")
        XCTAssertTrue(run.stdout.contains("written 1,"), run.stdout)
        let note = try XCTUnwrap(try deployment.exactRecords("salesinvoice/SalesInvoices").first { ($0["Type"] as? NSNumber)?.intValue == 8021 })
        XCTAssertEqual(note["YourRef"] as? String, "\(order["number"]!)-R\(refund["id"]!)")
        XCTAssertEqual(decimal(note["AmountFC"]), -decimal(order["total"]))
    }

    // MARK: One broken record

    /// An order the plugin cannot decode is parked with its reason while every other
    /// order is booked; once the shop serves it whole, a replay books it, once.
    func testAnOrderThatCannotBeReadIsParkedAndTheOthersAreBooked() throws {
        let queued = try deployment.json("POST", "\(woo)/_sandbox/faults", body: [
            "queue": [["match": "GET /wp-json/wc/v3/orders", "fault": "break-record", "field": "line_items", "value": "broken"]],
        ]) as? [String: Any]
        XCTAssertEqual(queued?["ok"] as? Bool, true)
        let run = try sync("invoices")
        XCTAssertTrue(run.stdout.contains("written 29"), run.stdout)
        XCTAssertTrue(run.stdout.contains("failed 1"), run.stdout)
        XCTAssertEqual(try deployment.exactRecords("salesinvoice/SalesInvoices").count, 29)
        let failed = try deployment.fixture.koppel(["failed", "invoices"])
        XCTAssertTrue(failed.stdout.contains("not readable: $.line_items"), failed.stdout)

        let replay = try deployment.fixture.koppel(["replay", "invoices", "--all-failed"])
        XCTAssertEqual(replay.status, 0, replay.stdout + replay.stderr)
        XCTAssertTrue(replay.stdout.contains("delivered 1, still failing 0"), replay.stdout)
        let invoices = try deployment.exactRecords("salesinvoice/SalesInvoices")
        XCTAssertEqual(invoices.count, 30)
        XCTAssertEqual(Set(invoices.compactMap { $0["YourRef"] as? String }).count, 30)
        XCTAssertFalse(try deployment.fixture.koppel(["failed", "invoices"]).stdout.contains("not readable"), "nothing is parked any more")
        XCTAssertTrue(try sync("invoices").stdout.contains("written 0"))
    }

    // MARK: Variations

    func testVariationsAreProductsByPollingAndByWebhook() throws {
        let read = try deployment.wouldWrite("products")
        let parent = try XCTUnwrap(read["9000"])
        XCTAssertEqual(parent["kind"] as? String, "variable")
        for (id, size, price) in [("9001", "S", "15.00"), ("9002", "M", "17.50")] {
            let variation = try XCTUnwrap(read[id], id)
            XCTAssertEqual(variation["kind"] as? String, "variant")
            XCTAssertEqual(variation["sku"] as? String, "TSHIRT-\(size)")
            XCTAssertEqual(variation["name"] as? String, "T-shirt Koppel - \(size)")
            XCTAssertEqual(decimal(variation["price_excl_vat"]), Decimal(string: price)!)
            XCTAssertEqual((variation["attributes"] as? [String: String])?["parent_sku"], "TSHIRT")
        }
        // A webhook that names a variation brings the same record as polling does.
        let connection = try deployment.fixture.runtime().open(connection: "shop")
        var delivered: [[String: Any]] = []
        try connection.webhook(
            stream: "products", headers: ["x-wc-webhook-resource": "product", "x-wc-webhook-event": "updated"], body: Data(#"{"id": 9002}"#.utf8),
            onRecord: { delivered.append(try JSONSerialization.jsonObject(with: $0) as! [String: Any]) })
        XCTAssertEqual(delivered.count, 1)
        XCTAssertEqual(delivered.first?["name"] as? String, "T-shirt Koppel - M")
        XCTAssertEqual(delivered.first?["kind"] as? String, "variant")
    }

    // MARK: How the shop is hosted

    func testAShopWithPlainPermalinksIsFoundAtRestRoute() throws {
        _ = try deployment.json("POST", "\(woo)/_sandbox/woocommerce/host", body: ["plain_permalinks": true])
        let html = try deployment.client.send(OutboundRequest(method: "GET", url: "\(woo)/wp-json/wc/v3/orders"))
        guard case .response(let notFound) = html else { return XCTFail("no answer") }
        XCTAssertEqual(notFound.status, 404)
        let check = try deployment.fixture.koppel(["check", "shop"])
        XCTAssertEqual(check.status, 0, check.stdout + check.stderr)
        XCTAssertTrue(check.stdout.contains("/?rest_route=/wc/v3 (plain permalinks)"), check.stdout)
        let run = try sync("invoices")
        XCTAssertTrue(run.stdout.contains("written 30"), run.stdout)
    }

    /// Behind a host that drops the `Authorization` header, the credentials move into the
    /// query (WooCommerce's documented fallback over HTTPS) after the first refusal.
    func testAHostThatStripsTheAuthorizationHeaderGetsTheKeyInTheQuery() throws {
        _ = try deployment.json("POST", "\(woo)/_sandbox/woocommerce/host", body: ["strips_authorization": true])
        let key = options.wooCommerce.consumerKey, secret = options.wooCommerce.consumerSecret
        func transport(_ authorizer: BasicAuthorizer) -> HTTPTransport {
            HTTPTransport(connection: "shop", baseURL: woo, authorizer: authorizer, logger: Logger(label: "test"))
        }
        // As WordPress behind a TLS proxy believes it: the request came over HTTPS.
        let request = PluginHTTPRequest(method: "GET", path: "/wp-json/wc/v3/orders", query: ["per_page": "1"], headers: ["X-Forwarded-Proto": "https"])
        let headerOnly = BasicAuthorizer(username: key, password: secret)
        XCTAssertEqual(try transport(headerOnly).perform(request).get().status, 401, "the header alone does not arrive")
        let withFallback = BasicAuthorizer(username: key, password: secret, queryNames: .init(username: "consumer_key", password: "consumer_secret"))
        let answer = try transport(withFallback).perform(request).get()
        XCTAssertEqual(answer.status, 200)
        XCTAssertTrue(withFallback.sendsInQuery)
        XCTAssertEqual(try transport(withFallback).perform(request).get().status, 200, "the next request goes the same way at once")
    }

    // MARK: The fake as the real shop answers

    /// The official `woocommerce` Python client repeats every query parameter in the
    /// signed URL and pages with `offset`; WooCommerce takes both.
    func testTheOfficialClientsRequestShapesAreAccepted() throws {
        let url = "\(woo)/wp-json/wc/v3/orders"
        var parameters = [("per_page", "5"), ("offset", "5"), ("orderby", "id"), ("order", "asc")]
        parameters += [("oauth_consumer_key", options.wooCommerce.consumerKey), ("oauth_nonce", UUID().uuidString),
                       ("oauth_signature_method", "HMAC-SHA256"), ("oauth_timestamp", String(Int(Date().timeIntervalSince1970)))]
        let signature = OAuth1Authorizer.signature(method: "GET", baseURL: url, parameters: parameters, consumerSecret: options.wooCommerce.consumerSecret)
        let query = URLEncoding.query(parameters + [("oauth_signature", signature), ("per_page", "5"), ("offset", "5"), ("orderby", "id"), ("order", "asc")])
        let page = try XCTUnwrap(try deployment.json("GET", "\(url)?\(query)") as? [[String: Any]])
        let ids = try deployment.wooOrders().compactMap { $0["id"] as? Int }.sorted()
        XCTAssertEqual(page.compactMap { $0["id"] as? Int }, Array(ids[5..<10]))
    }

    func testTheFakeAnswersAsTheCapturedShopDoes() throws {
        // The same fields as the real shop's records (links and rendering aside).
        let captured = { (name: String) throws -> [[String: Any]] in
            let file = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: TestSupport.fixture("woocommerce-captured/\(name).json")))) as! [String: Any]
            return file["body"] as? [[String: Any]] ?? []
        }
        let cosmetic: Set<String> = ["_links", "avatar_url", "permalink", "price_html", "images", "image", "related_ids", "categories", "tags", "brands"]
        func missing(_ real: [String: Any], _ fake: [String: Any]) -> Set<String> {
            Set(real.keys).subtracting(fake.keys).subtracting(cosmetic)
        }
        let fakeOrder = try XCTUnwrap(try deployment.wooOrders().first)
        XCTAssertEqual(missing(try captured("orders-page")[0], fakeOrder), [], "order fields")
        let realUsers = try captured("customers-role-all")
        let fakeUsers = try XCTUnwrap(try deployment.woo("customers?role=all&per_page=100") as? [[String: Any]])
        XCTAssertEqual(missing(realUsers[0], try XCTUnwrap(fakeUsers.first { $0["role"] as? String == "administrator" })), [], "staff user fields")
        XCTAssertTrue(try XCTUnwrap(fakeUsers.first { $0["role"] as? String == "administrator" })["date_modified_gmt"] is NSNull)
        XCTAssertEqual(missing(realUsers[1], try XCTUnwrap(fakeUsers.first { $0["role"] as? String == "customer" })), [], "customer fields")
        let fakeProducts = try XCTUnwrap(try deployment.woo("products?per_page=100") as? [[String: Any]])
        XCTAssertEqual(missing(try captured("products-page")[0], try XCTUnwrap(fakeProducts.first { $0["type"] as? String == "variable" })), [], "product fields")
        XCTAssertFalse(fakeProducts.contains { $0["type"] as? String == "variation" }, "variations are listed under their parent only")
        let fakeVariations = try XCTUnwrap(try deployment.woo("products/9000/variations") as? [[String: Any]])
        XCTAssertEqual(missing(try captured("product-variations")[0], try XCTUnwrap(fakeVariations.first)), [], "variation fields")

        // WooCommerce's error bodies.
        let tooMany = try XCTUnwrap(try deployment.woo("orders?per_page=200") as? [String: Any])
        let realError = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: TestSupport.fixture("woocommerce-captured/error-per-page-200.json")))) as! [String: Any]
        XCTAssertEqual(tooMany as NSDictionary, realError["body"] as! NSDictionary)
        let noRoute = try XCTUnwrap(try deployment.woo("nothing-here") as? [String: Any])
        XCTAssertEqual(noRoute["code"] as? String, "rest_no_route")
        let basic = Data("\(options.wooCommerce.consumerKey):\(options.wooCommerce.consumerSecret)".utf8).base64EncodedString()
        let badTopic = try XCTUnwrap(try deployment.json(
            "POST", "\(woo)/wp-json/wc/v3/webhooks", body: ["topic": "order.exploded", "delivery_url": "http://127.0.0.1:9/x"],
            headers: [("Authorization", "Basic \(basic)"), ("X-Forwarded-Proto", "https")]) as? [String: Any])
        XCTAssertEqual(badTopic["code"] as? String, "woocommerce_rest_webhook_invalid_topic")

        // An order made through the API is numbered, priced and totalled by the shop.
        let product = try XCTUnwrap(fakeProducts.first { $0["type"] as? String == "simple" && $0["tax_class"] as? String == "" })
        let created = try XCTUnwrap(try deployment.json(
            "POST", "\(woo)/wp-json/wc/v3/orders",
            body: ["set_paid": true, "billing": ["country": "NL", "email": "api@example.nl"], "line_items": [["product_id": product["id"]!, "quantity": 2]]],
            headers: [("Authorization", "Basic \(basic)"), ("X-Forwarded-Proto", "https")]) as? [String: Any])
        let net = decimal(product["price"]) * 2
        var tax = net * 21 / 100, rounded = Decimal()
        NSDecimalRound(&rounded, &tax, 2, .plain)
        XCTAssertEqual(created["number"] as? String, String(created["id"] as! Int))
        XCTAssertEqual(created["status"] as? String, "processing")
        XCTAssertEqual(decimal(created["total"]), net + rounded)
        XCTAssertEqual(decimal(created["total_tax"]), rounded)
    }

    /// Every captured answer of the real shop goes through the real plugin: orders,
    /// users of every role (null dates included), products and variations all read,
    /// none parked.
    func testTheCapturedShopsAnswersAreReadByThePlugin() async throws {
        func body(_ name: String) throws -> Data {
            let file = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: TestSupport.fixture("woocommerce-captured/\(name).json")))) as! [String: Any]
            return try JSONSerialization.data(withJSONObject: file["body"]!)
        }
        let answers = try [
            "/wp-json/wc/v3": Data(#"{"namespace": "wc/v3", "routes": {}}"#.utf8), "/wp-json/wc/v3/orders": body("orders-page"), "/wp-json/wc/v3/customers": body("customers-role-all"),
            "/wp-json/wc/v3/products": body("products-page"), "/wp-json/wc/v3/products/15/variations": body("product-variations"),
        ]
        let server = try await TestHTTPServer.start { router in
            for (path, data) in answers {
                router.get(RouterPath(path)) { _, _ in
                    Response(status: .ok, headers: [.contentType: "application/json", HTTPField.Name("X-WP-TotalPages")!: "1"],
                             body: .init(byteBuffer: ByteBuffer(data: data)))
                }
            }
        }
        defer { server.stop() }
        try deployment.fixture.write(
            load: ["woocommerce", "null"],
            connections: """
                real:
                  plugin: woocommerce
                  settings: { base_url: "\(server.baseURL)", consumer_key: ck_test, customer_role: all }
                sink:
                  plugin: "null"
                """,
            flows: """
                orders: { from: real.orders, to: sink.records, schedule: manual }
                customers: { from: real.customers, to: sink.records, schedule: manual }
                products: { from: real.products, to: sink.records, schedule: manual }
                """)
        XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", "real", "consumer_secret"], stdin: "cs_test\n").status, 0)
        let orders = try deployment.wouldWrite("orders")
        XCTAssertEqual(Set(orders.keys), ["20", "21", "22"])
        XCTAssertEqual(decimal((orders["20"]?["totals"] as? [String: Any])?["total"]), Decimal(string: "90.58")!)
        XCTAssertEqual(decimal((orders["20"]?["totals"] as? [String: Any])?["vat"]), Decimal(string: "13.74")!)
        let customers = try deployment.wouldWrite("customers")
        XCTAssertEqual(customers.count, 5, "the administrator with null dates included")
        XCTAssertEqual(customers["1"]?["email"] as? String, "admin@example.com", "the administrator, whose dates are null")
        let products = try deployment.wouldWrite("products")
        XCTAssertEqual(Set(products.keys), ["15", "14", "13", "12", "16", "17"])
        XCTAssertEqual(products["17"]?["name"] as? String, "T-shirt Koppel - M")
        XCTAssertEqual(products["14"]?["sku"] as? String, "woo-14", "a product without SKU gets one")
    }
}
