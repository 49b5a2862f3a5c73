import Crypto
import Foundation
import KoppelHost
import KoppelSandbox
import XCTest

/// `koppel run` as a merchant runs it, against the sandbox: WooCommerce webhooks in,
/// invoices out to Exact, the fallback to polling when the shop disables its webhook,
/// the dashboard in a real headless Chromium, /metrics and alerts.
final class LiveServiceTests: XCTestCase {
    var deployment: SandboxDeployment!
    var service: TestSupport.Running?
    var port = 0
    let webhookSecret = "whsec-koppel-test-9f2c"
    var server: String { "http://127.0.0.1:\(port)" }

    override func setUp() async throws {
        var options = Sandbox.Options()
        options.seed.orders = 5
        options.seed.customers = 10
        options.seed.testOrderEvery = 0
        options.exact.minutelyLimit = 100_000
        options.exact.dailyLimit = 1_000_000
        deployment = try await SandboxDeployment(options)
        port = try TestSupport.freePort()
    }

    override func tearDown() async throws {
        if let service, service.process.isRunning {
            service.process.terminate()
            _ = service.wait()
        }
        deployment.stop()
    }

    /// Writes the deployment: shop (WooCommerce) -> exact (Exact Online) with `flows`.
    /// `shopWebhookSecret`: the shop's webhook secret is stored by hand (as for a webhook
    /// made in wp-admin); otherwise `koppel webhooks register` makes it. `publicURL`: the
    /// server's address is set, so `koppel run` keeps the subscriptions itself.
    func writeDeployment(flows: String, extra: String = "", shopWebhookSecret: Bool = true, publicURL: Bool = false) throws {
        let options = deployment.options
        let server = publicURL ? "server: { listen: \"127.0.0.1:\(port)\", public_url: \"\(self.server)\" }" : "server: { listen: \"127.0.0.1:\(port)\" }"
        try deployment.writeShopAndExact(flows: flows, exactSettings: ", warehouse: \"1\"", extra: server + "\n" + extra)
        XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", "shop", "consumer_secret"], stdin: options.wooCommerce.consumerSecret + "\n").status, 0)
        if shopWebhookSecret {
            XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", "shop", "webhook_secret"], stdin: webhookSecret + "\n").status, 0)
        }
        try deployment.signInToExact("exact")
    }

    /// Starts `koppel run` and waits until its server answers.
    func startService() throws {
        let running = try TestSupport.start(TestSupport.koppel, ["run"], environment: deployment.fixture.environment)
        service = running
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if case .response(let r) = deployment.client.send(OutboundRequest(method: "GET", url: "\(server)/healthz", headers: [], idempotent: true, timeout: 2)), r.status == 200 { return }
            guard running.process.isRunning else { throw TestFailure("koppel run ended: \(running.wait().stderr)") }
            usleep(50_000)
        }
        throw TestFailure("koppel run did not answer on \(server)")
    }

    /// WooCommerce's REST API with Basic auth over "HTTPS".
    func wooCall(_ method: String, _ path: String, _ body: [String: Any]) throws -> [String: Any] {
        let woo = deployment.endpoint("woocommerce")
        let basic = Data("\(woo.credentials[0].1):\(woo.credentials[1].1)".utf8).base64EncodedString()
        return try deployment.json(method, "\(woo.baseURL)/wp-json/wc/v3/\(path)", body: body,
                                   headers: [("Authorization", "Basic \(basic)"), ("X-Forwarded-Proto", "https")]) as? [String: Any] ?? [:]
    }

    /// Registers the shop's webhook for new orders, pointing at Koppel.
    func createWebhook() throws -> Int {
        let hook = try wooCall("POST", "webhooks", ["name": "Koppel", "topic": "order.created", "delivery_url": "\(server)/webhooks/shop", "secret": webhookSecret])
        return try XCTUnwrap(hook["id"] as? Int)
    }

    func newOrder() throws -> String {
        let created = try deployment.json("POST", "\(deployment.wooURL)/_sandbox/woocommerce/orders", body: ["count": 1]) as? [[String: Any]]
        return try XCTUnwrap(created?.first?["number"] as? String)
    }

    /// The Exact invoices' YourRef values (the shop's order numbers).
    func invoiceRefs() throws -> [String] {
        try deployment.exactRecords("salesinvoice/SalesInvoices").compactMap { $0["YourRef"] as? String }
    }

    func wait(timeout: TimeInterval = 30, _ what: String, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if (try? condition()) == true { return }
            usleep(20_000)
        }
        XCTFail("\(what): not within \(Int(timeout)) s; koppel run said:\n\(service.map { $0.outputSoFar } ?? "")")
    }

    /// POSTs a delivery to Koppel's webhook endpoint as WooCommerce would.
    func deliver(_ body: Data, signature: String?, deliveryID: String, topic: String = "order.created") -> (status: Int, body: String) {
        var headers = [("Content-Type", "application/json"), ("X-WC-Webhook-Topic", topic), ("X-WC-Webhook-Resource", "order"),
                       ("X-WC-Webhook-Event", "created"), ("X-WC-Webhook-Delivery-ID", deliveryID)]
        if let signature { headers.append(("X-WC-Webhook-Signature", signature)) }
        var request = OutboundRequest(method: "POST", url: "\(server)/webhooks/shop", headers: headers, idempotent: false, timeout: 10)
        request.body = body
        guard case .response(let response) = deployment.client.send(request) else { return (0, "") }
        return (response.status, String(decoding: response.body, as: UTF8.self))
    }

    func sign(_ body: Data, secret: String) -> String {
        Data(HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(secret.utf8)))).base64EncodedString()
    }

    func get(_ path: String) throws -> String {
        guard case .response(let r) = deployment.client.send(OutboundRequest(method: "GET", url: server + path, headers: [], idempotent: true, timeout: 10)) else {
            throw TestFailure("no answer from \(path)")
        }
        return String(decoding: r.body, as: UTF8.self)
    }

    static let invoiceFlow = """
        invoices:
          from: shop.orders
          to: exact.sales_invoices
          schedule: %@
          mapping:
            options: { revenue_accounts: { NL: "8000", BE: "8020", DE: "8020" } }
        """

    // MARK: Tests

    func testSignedWebhooksBookInvoicesAndForgedUnsignedAndReplayedDeliveriesChangeNothing() throws {
        try writeDeployment(flows: Self.invoiceFlow.replacingOccurrences(of: "%@", with: "webhook"))
        try startService()
        // The first poll books what the shop had; after that only webhooks bring orders
        // (the safety poll is 15 minutes away).
        try wait("the 5 existing orders booked") { try invoiceRefs().count == 5 }
        let hook = try createWebhook()
        try wait("the ping answered") {
            let state = try deployment.json("GET", "\(deployment.wooURL)/_sandbox/woocommerce/webhooks") as? [String: Any]
            return (state?["deliveries"] as? [[String: Any]])?.contains { $0["topic"] as? String == "action.woocommerce_webhook_ping" && $0["status"] as? Int == 200 } == true
        }

        var latencies: [Double] = []
        for _ in 0..<20 {
            let started = Date()
            let number = try newOrder()
            try wait("order \(number) booked by its webhook") { try invoiceRefs().contains(number) }
            latencies.append(Date().timeIntervalSince(started) * 1000)
        }
        latencies.sort()
        print(String(format: "webhook-to-invoice latency over %d orders: p50 %.0f ms, max %.0f ms", latencies.count, latencies[latencies.count / 2], latencies.last!))

        // With the webhook paused, an order is only known to the shop.
        _ = try wooCall("PUT", "webhooks/\(hook)", ["status": "paused"])
        let quiet = try newOrder()
        let quietID = try XCTUnwrap(Int(quiet))
        let body = Data(#"{"id":\#(quietID),"number":"\#(quiet)","status":"processing"}"#.utf8)
        let forged = deliver(body, signature: sign(body, secret: "not-the-secret"), deliveryID: "forged-1")
        XCTAssertEqual(forged.status, 401, forged.body)
        let unsigned = deliver(body, signature: nil, deliveryID: "unsigned-1")
        XCTAssertEqual(unsigned.status, 401, unsigned.body)
        let tampered = deliver(Data(#"{"id":\#(quietID)}"#.utf8), signature: sign(body, secret: webhookSecret), deliveryID: "tampered-1")
        XCTAssertEqual(tampered.status, 401, tampered.body)
        usleep(1_500_000)
        XCTAssertFalse(try invoiceRefs().contains(quiet), "a refused delivery was booked")
        let refusals = try deployment.fixture.runtime().store.activities(ActivityQuery(connection: "shop", kinds: [.warning]))
            .filter { $0.message.contains("refused a webhook delivery (401)") }
        // One note per kind of refusal (a second "does not match" within the minute is only counted).
        XCTAssertEqual(refusals.count, 2, refusals.map(\.message).joined(separator: "\n"))
        XCTAssertTrue(refusals.contains { $0.message.contains("no signature") })
        XCTAssertTrue(refusals.contains { $0.message.contains("does not match") })

        // A genuine delivery is booked once, however often it comes.
        let genuine = sign(body, secret: webhookSecret)
        XCTAssertEqual(deliver(body, signature: genuine, deliveryID: "d-1").status, 200)
        try wait("the genuine delivery booked") { try invoiceRefs().contains(quiet) }
        XCTAssertEqual(deliver(body, signature: genuine, deliveryID: "d-1").body, "already received\n")
        XCTAssertEqual(deliver(body, signature: genuine, deliveryID: "d-2").status, 200, "a resend under a new id is accepted")
        // WooCommerce gives every delivery of a webhook within a second the same id: two
        // orders under one id are two deliveries, and both are booked.
        let pair = try (0..<2).map { _ in try newOrder() }
        for number in pair {
            let order = Data(#"{"id":\#(Int(number)!),"number":"\#(number)","status":"processing"}"#.utf8)
            let answer = deliver(order, signature: sign(order, secret: webhookSecret), deliveryID: "same-second")
            XCTAssertEqual(answer.body, "accepted for 1 flow(s)\n", number)
        }
        try wait("both orders of one second booked") { try Set(invoiceRefs()).isSuperset(of: pair) }
        usleep(1_000_000)
        let refs = try invoiceRefs()
        XCTAssertEqual(refs.count, Set(refs).count, "an order was booked twice")
        XCTAssertEqual(Set(refs), Set(try deployment.wooOrders().compactMap { $0["number"] as? String }))

        let metrics = try get("/metrics")
        XCTAssertTrue(metrics.contains(#"koppel_webhook_deliveries_total{connection="shop",outcome="refused"} 3"#), metrics)
        XCTAssertTrue(metrics.contains(#"koppel_webhook_deliveries_total{connection="shop",outcome="duplicate"} 1"#), metrics)
        XCTAssertTrue(metrics.contains(#"koppel_webhook_deliveries_total{connection="shop",outcome="accepted"} 24"#), metrics)
        XCTAssertTrue(metrics.contains(#"koppel_records_written_total{flow="invoices"} 28"#), metrics)
        XCTAssertTrue(metrics.contains(#"koppel_http_requests_total{connection="exact",status="2xx"}"#), metrics)
        XCTAssertTrue(metrics.contains("koppel_flow_run_duration_seconds_bucket"), metrics)
        XCTAssertTrue(metrics.contains(#"koppel_rate_limit_remaining{connection="exact"}"#), metrics)
    }

    /// A delivered order whose invoice POST failed (Exact answered 500) is retried at
    /// its own retry time, well before the safety poll 15 minutes away.
    func testAWebhookRecordHeldUpByAFailureIsRetriedOnItsOwnSchedule() throws {
        try writeDeployment(flows: Self.invoiceFlow.replacingOccurrences(of: "%@", with: "webhook"))
        try startService()
        try wait("the 5 existing orders booked") { try invoiceRefs().count == 5 }
        _ = try createWebhook()
        deployment.sandbox.faults.queue(.init(match: "POST /api/v1/\(deployment.division)/salesinvoice/SalesInvoices", fault: .serverError, count: 1))
        let number = try newOrder()
        try wait(timeout: 10, "the invoice POST refused once") { deployment.sandbox.faults.counts[.serverError] == 1 }
        XCTAssertFalse(try invoiceRefs().contains(number))
        let waiting = try deployment.fixture.runtime().store.ledgerEntries(flow: "invoices", states: [.uncertain], limit: 10)
        XCTAssertEqual(waiting.count, 1)
        try wait(timeout: 45, "order \(number) booked by the retry") { try invoiceRefs().contains(number) }
        let refs = try invoiceRefs()
        XCTAssertEqual(refs.count, Set(refs).count, "an order was booked twice")
        XCTAssertEqual(try deployment.fixture.runtime().store.ledgerEntries(flow: "invoices", states: [.uncertain], limit: 10).count, 0)
    }

    func testAWebhookTheShopDisablesLosesNoOrderAndKoppelPollsUntilItIsBack() throws {
        try writeDeployment(flows: Self.invoiceFlow.replacingOccurrences(of: "%@", with: "webhook, poll every 2s"))
        try startService()
        try wait("the 5 existing orders booked") { try invoiceRefs().count == 5 }
        let hook = try createWebhook()
        var numbers: [String] = []
        for _ in 0..<5 { numbers.append(try newOrder()) }
        try wait("webhook orders booked") { Set(try invoiceRefs()).isSuperset(of: numbers) }

        // The secret is changed in the shop only: Koppel refuses the deliveries, and
        // WooCommerce disables the webhook after five failures in a row.
        _ = try wooCall("PUT", "webhooks/\(hook)", ["secret": "rotated-in-the-shop-only"])
        for _ in 0..<12 {
            numbers.append(try newOrder())
            usleep(250_000)
        }
        try wait("WooCommerce disabled the webhook") {
            let state = try deployment.json("GET", "\(deployment.wooURL)/_sandbox/woocommerce/webhooks") as? [String: Any]
            return (state?["webhooks"] as? [[String: Any]])?.first?["status"] as? String == "disabled"
        }
        for _ in 0..<5 { numbers.append(try newOrder()) }
        try wait("every order booked while the webhook was off") { Set(try invoiceRefs()).isSuperset(of: numbers) }
        try wait("the flow says it polls") { try get("/").contains("polling since") }

        // The merchant fixes the secret and re-activates the webhook.
        _ = try wooCall("PUT", "webhooks/\(hook)", ["secret": webhookSecret, "status": "active"])
        for _ in 0..<5 { numbers.append(try newOrder()) }
        try wait("orders after the fix booked") { Set(try invoiceRefs()).isSuperset(of: numbers) }
        try wait("back on webhooks") { !(try get("/").contains("polling since")) }

        let refs = try invoiceRefs()
        XCTAssertEqual(refs.count, Set(refs).count, "an order was booked twice")
        XCTAssertEqual(refs.count, 5 + numbers.count)
        let log = try deployment.fixture.runtime().store.activities(ActivityQuery(flow: "invoices", limit: 10_000)).map(\.message)
        XCTAssertTrue(log.contains { $0.contains("the webhook of shop seems disabled; invoices now polls every 2s") }, log.joined(separator: "\n"))
        XCTAssertTrue(log.contains { $0.contains("is back on webhooks") }, log.joined(separator: "\n"))
    }

    /// Exact Online's notifications carry only the key, signed over the raw `Content`
    /// text (`HashCode`, upper-case hex); Koppel fetches the record itself. The delivery
    /// is posted here as Exact posts it.
    func testExactWebhookNamesAnAccountAndKoppelFetchesIt() throws {
        try writeDeployment(flows: "accounts-to-shop: { from: exact.accounts, to: shop.customers, schedule: webhook }")
        XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", "exact", "webhook_secret"], stdin: "exact-hook-secret\n").status, 0)
        try startService()
        let created = try deployment.exactCreate("crm/Accounts", [
            "Code": "7001", "Name": "Bakkerij de Korenschoof", "Email": "inkoop@korenschoof.nl", "Status": "C", "Country": "NL",
            "City": "Zwolle", "VATNumber": "NL001234567B01"])
        let key = try XCTUnwrap(created["ID"] as? String)
        let content = #"{"Topic":"Accounts","ClientId":"\#(deployment.options.exact.clientID)","Division":\#(deployment.division),"Action":"Create","Key":"\#(key)","ExactOnlineEndpoint":"\#(deployment.exactURL)/api/v1/\#(deployment.division)/crm/Accounts(guid'\#(key)')","EventCreatedOn":"2026-11-24T10:00:00.000"}"#
        func post(_ hash: String) -> Int {
            var request = OutboundRequest(method: "POST", url: "\(server)/webhooks/exact", headers: [("Content-Type", "application/json")], idempotent: false, timeout: 10)
            request.body = Data(#"{"Content":\#(content),"HashCode":"\#(hash)"}"#.utf8)
            guard case .response(let response) = deployment.client.send(request) else { return 0 }
            return response.status
        }
        let good = HMAC<SHA256>.authenticationCode(for: Data(content.utf8), using: SymmetricKey(data: Data("exact-hook-secret".utf8)))
            .map { String(format: "%02X", $0) }.joined()
        // R-HOOK-2: a second after a subscription is made, Exact posts an empty body and
        // keeps the subscription only when it is answered 2xx.
        var validation = OutboundRequest(method: "POST", url: "\(server)/webhooks/exact", headers: [("Content-Length", "0")], idempotent: false, timeout: 10)
        validation.body = Data()
        guard case .response(let validated) = deployment.client.send(validation) else { return XCTFail("no answer to the validation POST") }
        XCTAssertEqual(validated.status, 200)
        XCTAssertEqual(post(String(repeating: "0", count: 64)), 401)
        XCTAssertEqual(post(good), 200)
        try wait("the account reached the shop") {
            (try deployment.woo("customers?email=inkoop@korenschoof.nl") as? [[String: Any]])?.count == 1
        }
        XCTAssertEqual(post(good), 200)
        usleep(1_000_000)
        XCTAssertEqual((try deployment.woo("customers?email=inkoop@korenschoof.nl") as? [[String: Any]])?.count, 1, "the account was created twice")
    }

    func testDashboardInChromiumShowsParkedOrdersAndReplayDeliversThem() throws {
        let alerts = try TestSupport.makeTemporaryDirectory("koppel-alerts")
        defer { try? FileManager.default.removeItem(atPath: alerts) }
        try writeDeployment(
            flows: """
                entries:
                  from: shop.orders
                  to: exact.sales_entries
                  schedule: every 1h
                  mapping: { options: { default_debtor: KASSA, journal: "70", revenue_accounts: { NL: "8000", BE: "8020", DE: "8020" } } }
                """,
            extra: "alerts: { command: \"cat >> \(alerts)/alerts.jsonl\" }")
        try startService()
        try wait("the 5 orders parked") { try deployment.fixture.runtime().store.ledgerCounts(flow: "entries")[.failed] == 5 }
        try wait("the failure alert") { ((try? String(contentsOfFile: "\(alerts)/alerts.jsonl", encoding: .utf8)) ?? "").contains("failing") }

        let browser = try HeadlessChromium()
        try browser.open("\(server)/")
        let overview = try browser.text()
        XCTAssertTrue(overview.contains("entries"), overview)
        XCTAssertTrue(overview.contains("5 parked"), overview)
        XCTAssertTrue(overview.contains("every 1h"), overview)
        try browser.press("tr[data-connection=exact] button.check")
        let checked = try browser.evaluate("document.querySelector('tr[data-connection=exact] .check-result').innerText") as? String ?? ""
        XCTAssertTrue(checked.hasPrefix("ok"), checked)

        try browser.open("\(server)/flows/entries")
        let parked = try browser.evaluate("[...document.querySelectorAll('tr.parked')].map(r => r.dataset.record)") as? [String] ?? []
        let page = try browser.text()
        XCTAssertEqual(parked.count, 5, page)
        XCTAssertTrue(page.contains("the default debtor KASSA does not exist"), page)

        // The merchant adds the debtor in Exact and presses Replay on one order.
        try deployment.exactCreate("crm/Accounts", ["Code": "KASSA", "Name": "Kassaverkopen", "Status": "C", "Country": "NL"])
        let first = parked[0]
        try browser.press("tr.parked[data-record='\(first)'] button.replay")
        let after = try browser.text()
        XCTAssertTrue(after.contains("Replayed \(first): delivered."), after)
        let remote = try browser.value(
            "[...document.querySelectorAll('tr.activity.written')].filter(r => r.dataset.record === '\(first)').map(r => r.querySelector('.remote').innerText)",
            as: [String].self) { !$0.isEmpty } ?? []
        XCTAssertEqual(remote.count, 1, after)
        // In Exact: that order, once, under the remote id the dashboard shows.
        let order = try XCTUnwrap(try deployment.wooOrders().first { "\($0["id"] ?? "")" == first })
        let booked = try deployment.exactRecords("salesentry/SalesEntries").filter { $0["YourRef"] as? String == order["number"] as? String }
        XCTAssertEqual(booked.count, 1)
        XCTAssertEqual(booked.first?["EntryID"] as? String, remote.first)

        // Replay all: every order is in the books once; the incident is over.
        try browser.press("button.replay-all")
        let replayed = try browser.text()
        XCTAssertTrue(replayed.contains("Replayed 4: 4 delivered, 0 still failing."), replayed)
        XCTAssertEqual(try browser.evaluate("document.querySelectorAll('tr.parked').length") as? Int, 0)
        let refs = try deployment.exactRecords("salesentry/SalesEntries").compactMap { $0["YourRef"] as? String }
        XCTAssertEqual(refs.sorted(), try deployment.wooOrders().compactMap { $0["number"] as? String }.sorted())

        // With nothing parked any more, the recovery is announced, once.
        try wait("the recovery alert") { ((try? String(contentsOfFile: "\(alerts)/alerts.jsonl", encoding: .utf8)) ?? "").contains("recovered") }
        let sent = try String(contentsOfFile: "\(alerts)/alerts.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(sent.count, 2, sent.joined(separator: "\n"))
        let failing = try JSONSerialization.jsonObject(with: Data(sent[0].utf8)) as? [String: Any]
        XCTAssertEqual(failing?["event"] as? String, "failing")
        XCTAssertEqual(failing?["parked"] as? Int, 5)
        XCTAssertTrue((failing?["reason"] as? String ?? "").contains("KASSA"), "\(failing ?? [:])")
    }

    /// The server as an attacker on the network or in the operator's browser meets it:
    /// unsigned deliveries are refused and counted without filling the log, the dashboard
    /// answers only to its own names and forms, and an oversized delivery ends its
    /// connection instead of being read to its end.
    func testUnsignedDeliveriesOtherSitesAndOversizedBodiesAreTurnedAwayCheaply() throws {
        try writeDeployment(flows: String(format: Self.invoiceFlow, "webhook"))
        try startService()

        let forged = Data(#"{"id": 1, "number": "1"}"#.utf8)
        let statuses = (0..<300).map { deliver(forged, signature: "forged", deliveryID: "forged-\($0)").status }
        XCTAssertEqual(Set(statuses), [401])
        let warnings = try deployment.fixture.runtime().store.activities(ActivityQuery(connection: "shop", kinds: [.warning], limit: 1_000))
        let refusals = warnings.filter { $0.message.contains("refused a webhook delivery") }
        XCTAssertEqual(refusals.count, 1, "every refused delivery was written to the activity log: \(warnings.map(\.message))")
        XCTAssertEqual(service?.outputSoFar.components(separatedBy: "refused a webhook delivery").count, 2, "every refusal was logged")
        XCTAssertTrue(try get("/metrics").contains(#"koppel_webhook_deliveries_total{connection="shop",outcome="refused"} 300"#))

        // A page whose own name was pointed at 127.0.0.1 (DNS rebinding) gets nothing.
        func status(_ method: String, _ path: String, _ headers: [(String, String)]) -> (Int, String) {
            guard case .response(let r) = deployment.client.send(OutboundRequest(method: method, url: server + path, headers: headers, idempotent: true, timeout: 10)) else { return (0, "") }
            return (r.status, String(decoding: r.body, as: UTF8.self))
        }
        XCTAssertEqual(status("GET", "/", []).0, 200)
        XCTAssertEqual(status("GET", "/", [("Host", "localhost:\(port)")]).0, 200)
        let rebound = status("GET", "/flows/invoices", [("Host", "rebind.example:\(port)")])
        XCTAssertEqual(rebound.0, 403)
        XCTAssertTrue(rebound.1.contains("set server.public_url"), rebound.1)
        XCTAssertEqual(status("GET", "/metrics", [("Host", "rebind.example:\(port)")]).0, 403)
        let crossSite = status("POST", "/flows/invoices/replay", [("Origin", "http://rebind.example"), ("Content-Type", "application/x-www-form-urlencoded")])
        XCTAssertEqual(crossSite.0, 403)
        XCTAssertTrue(crossSite.1.contains("posted from another site"), crossSite.1)
        XCTAssertTrue(service?.outputSoFar.contains("refused a dashboard request for host \"rebind.example:\(port)\"") == true)

        // 5 of a promised 10 MiB: answered 413, and the connection closed at once.
        let answer = try RawHTTP.send(
            host: "127.0.0.1", port: port,
            head: "POST /webhooks/shop HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nContent-Type: application/json\r\nContent-Length: \(10 << 20)\r\n\r\n",
            body: Data(repeating: 0x20, count: 5 << 20), timeout: 10)
        XCTAssertTrue(answer.text.hasPrefix("HTTP/1.1 413"), answer.text)
        XCTAssertTrue(answer.closedByServer, "the connection stayed open after the 413")
        XCTAssertEqual(status("GET", "/healthz", []).0, 200)
    }

    // MARK: Webhook subscriptions

    /// The shop's webhooks (with what the shop keeps of each) and Exact's subscriptions.
    func wooWebhooks() throws -> [[String: Any]] {
        (try deployment.json("GET", "\(deployment.wooURL)/_sandbox/woocommerce/webhooks") as? [String: Any])?["webhooks"] as? [[String: Any]] ?? []
    }

    func exactSubscriptions() throws -> [[String: Any]] {
        try deployment.exactRecords("webhooks/WebhookSubscriptions")
    }

    static let accountsFlow = "accounts-to-shop: { from: exact.accounts, to: shop.customers, schedule: \"webhook, poll every 1h\" }"

    /// Creates an account in Exact as a bookkeeper would in Exact's screens.
    @discardableResult
    func exactAccount(_ index: Int) throws -> String {
        try XCTUnwrap(try deployment.exactCreate("crm/Accounts", [
            "Code": "\(8000 + index)", "Name": "Klant \(index)", "Email": "klant\(index)@example.nl", "Status": "C", "Country": "NL", "City": "Utrecht"])["ID"] as? String)
    }

    func wooCustomers(_ email: String) throws -> Int {
        (try deployment.woo("customers?email=\(email)") as? [[String: Any]])?.count ?? -1
    }

    /// `koppel webhooks register|list|remove`: the subscriptions each webhook flow needs
    /// are made through the remote APIs (the shop's with a secret Koppel makes and keeps
    /// sealed), Exact's validation POST is answered, and only Koppel's own are removed;
    /// a webhook someone else made in the shop is listed and left alone.
    func testWebhooksCommandMakesListsAndRemovesOnlyKoppelsOwnSubscriptions() throws {
        try writeDeployment(flows: Self.invoiceFlow.replacingOccurrences(of: "%@", with: "webhook") + "\n" + Self.accountsFlow, shopWebhookSecret: false)
        XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", "exact", "webhook_secret"], stdin: deployment.options.exact.webhookSecret + "\n").status, 0)
        let foreign = try wooCall("POST", "webhooks", ["name": "Boekhouder", "topic": "order.created", "delivery_url": "https://hooks.example.org/orders", "secret": "theirs"])
        let foreignID = try XCTUnwrap(foreign["id"] as? Int)

        // Nothing answers at the callback yet: Exact's validation POST fails, and Exact
        // refuses the subscription (R-HOOK-2); the shop's are made all the same.
        let early = try deployment.fixture.koppel(["webhooks", "register"])
        XCTAssertNotEqual(early.status, 0)
        XCTAssertTrue(early.stdout.contains("shop: created the subscription to order.created"), early.stdout)
        XCTAssertTrue(early.stderr.contains("exact: ") && early.stderr.contains("Post to callback URL endpoint returns"), early.stderr)
        XCTAssertEqual(try exactSubscriptions().count, 0)

        try startService()
        let made = try deployment.fixture.koppel(["webhooks", "register"])
        XCTAssertEqual(made.status, 0, made.stderr)
        XCTAssertEqual(made.stdout.split(separator: "\n").map { $0.replacingOccurrences(of: #" \(.*\)$"#, with: "", options: .regularExpression) },
                       ["exact: created the subscription to Accounts"])
        XCTAssertEqual(try exactSubscriptions().map { $0["CallbackURL"] as? String }, ["\(server)/webhooks/exact"])
        XCTAssertEqual(try deployment.fixture.koppel(["webhooks", "register"]).stdout, "every subscription is in place\n")

        let listed = try deployment.fixture.koppel(["webhooks", "list"])
        XCTAssertEqual(listed.status, 0, listed.stderr)
        let rows = listed.stdout.split(separator: "\n").dropFirst().map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
        XCTAssertEqual(rows.map { Array($0.prefix(4)) }, [
            ["shop", "order.created", "active", "yes"], ["shop", "order.updated", "active", "yes"], ["shop", "order.created", "other", "no"],
            ["exact", "Accounts", "active", "yes"],
        ], listed.stdout)
        XCTAssertTrue(listed.stdout.contains("https://hooks.example.org/orders"), listed.stdout)

        // The secret Koppel made signs the shop's deliveries, and appears nowhere.
        let secret = try XCTUnwrap(try deployment.fixture.runtime().vault().get(connection: "shop", name: "webhook_secret"))
        for output in [early, made, listed] { XCTAssertFalse((output.stdout + output.stderr).contains(secret)) }
        try wait("the 5 existing orders booked") { try invoiceRefs().count == 5 }
        let number = try newOrder()
        try wait("order \(number) booked by the webhook Koppel made") { try invoiceRefs().contains(number) }
        try exactAccount(1)
        try wait("the account in the shop by Exact's webhook") { try wooCustomers("klant1@example.nl") == 1 }

        let removed = try deployment.fixture.koppel(["webhooks", "remove"])
        XCTAssertEqual(removed.status, 0, removed.stderr)
        XCTAssertEqual(removed.stdout.split(separator: "\n").count, 3, removed.stdout)
        XCTAssertEqual(try wooWebhooks().map { $0["id"] as? Int }, [foreignID], "only the other's webhook is left")
        XCTAssertEqual(try exactSubscriptions().count, 0)
    }

    /// A shop on the internet cannot deliver to an address of this machine: registering
    /// without `server.public_url` says so, and makes nothing.
    func testWebhooksForAShopElsewhereNeedAnAddressItCanReach() throws {
        try deployment.fixture.write(
            load: ["woocommerce", "exact-online"],
            connections: """
                shop: { plugin: woocommerce, settings: { base_url: "https://winkel.example.nl", consumer_key: ck_live } }
                exact: { plugin: exact-online, settings: { region: nl, division: 1, client_id: app } }
                """,
            flows: "invoices: { from: shop.orders, to: exact.sales_invoices, schedule: webhook }",
            extra: "server: { listen: \"127.0.0.1:\(port)\" }")
        XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", "shop", "consumer_secret"], stdin: "cs_live\n").status, 0)
        let refused = try deployment.fixture.koppel(["webhooks", "register"])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("shop: shop's system cannot reach http://127.0.0.1:\(port), an address of this machine only: set server.public_url"), refused.stderr)
    }

    /// `koppel run` with a public URL makes its subscriptions at start; a burst of 50
    /// shop orders (delivered by WooCommerce in batches, many sharing a delivery id) and
    /// 20 accounts made in Exact (key-only envelopes) are each delivered once, by
    /// webhook alone: the safety polls are an hour away.
    func testABurstOfOrdersAndAccountChangesIsDeliveredOnceByWebhooksKoppelMade() throws {
        try writeDeployment(
            flows: Self.invoiceFlow.replacingOccurrences(of: "%@", with: "\"webhook, poll every 1h\"") + "\n" + Self.accountsFlow,
            shopWebhookSecret: false, publicURL: true)
        XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", "exact", "webhook_secret"], stdin: deployment.options.exact.webhookSecret + "\n").status, 0)
        try startService()
        try wait("the subscriptions made at start") {
            try wooWebhooks().filter { $0["status"] as? String == "active" }.count == 2 && exactSubscriptions().count == 1
        }
        try wait("the 5 existing orders booked") { try invoiceRefs().count == 5 }

        let burst = Date()
        let placed = try deployment.json("POST", "\(deployment.wooURL)/_sandbox/woocommerce/orders", body: ["count": 50]) as? [[String: Any]]
        let numbers = Set(try XCTUnwrap(placed).compactMap { $0["number"] as? String })
        XCTAssertEqual(numbers.count, 50)
        let accounts = Set(try (1...20).map { try exactAccount($0) })
        try wait(timeout: 90, "every order booked and every account in the shop") {
            try Set(invoiceRefs()).isSuperset(of: numbers) && (1...20).allSatisfy { (try? self.wooCustomers("klant\($0)@example.nl")) == 1 }
        }
        print(String(format: "burst: 50 shop orders and 20 Exact accounts delivered by webhook in %.1f s", Date().timeIntervalSince(burst)))
        usleep(1_500_000)
        let refs = try invoiceRefs()
        XCTAssertEqual(refs.count, Set(refs).count, "an order was booked twice")
        XCTAssertEqual(refs.count, 55)
        for index in 1...20 { XCTAssertEqual(try wooCustomers("klant\(index)@example.nl"), 1, "account \(index) once") }
        // WooCommerce gave deliveries of one second one id: many orders shared one.
        let state = try deployment.json("GET", "\(deployment.wooURL)/_sandbox/woocommerce/webhooks") as? [String: Any]
        let ids = (state?["deliveries"] as? [[String: Any]] ?? []).filter { $0["topic"] as? String == "order.created" }.compactMap { $0["delivery_id"] as? String }
        XCTAssertEqual(ids.count, 50)
        XCTAssertLessThan(Set(ids).count, 50, "deliveries of one second share an id")
        let sent = try deployment.json("GET", "\(deployment.exactURL)/_sandbox/exact/webhooks/sent") as? [[String: Any]] ?? []
        // (The buyers the invoices brought into Exact are announced too.)
        let announced = sent.filter { accounts.contains($0["key"] as? String ?? "") }
        XCTAssertEqual(announced.count, 20, "\(sent)")
        XCTAssertTrue(announced.allSatisfy { $0["topic"] as? String == "Accounts" && $0["status"] as? Int == 200 }, "\(announced)")
        let log = try deployment.fixture.runtime().store.activities(ActivityQuery(limit: 10_000)).map(\.message)
        XCTAssertTrue(log.contains("created the webhook subscription to Accounts of exact"), log.joined(separator: "\n"))
        XCTAssertFalse(log.contains { $0.contains("seems disabled") }, "no poll found what a webhook should have brought")
    }

    /// While Koppel is down the shop's deliveries fail, and WooCommerce disables the
    /// webhook once more than five failed in a row. The next `koppel run` finds it
    /// disabled, enables it again through the API and reads the gap: no order is lost,
    /// none is booked twice, and later orders come by webhook again.
    func testAWebhookTheShopDisabledIsEnabledAgainAndItsGapRead() throws {
        try writeDeployment(flows: Self.invoiceFlow.replacingOccurrences(of: "%@", with: "\"webhook, poll every 1h\""), shopWebhookSecret: false, publicURL: true)
        try startService()
        try wait("the subscriptions made at start") { try wooWebhooks().filter { $0["status"] as? String == "active" }.count == 2 }
        try wait("the 5 existing orders booked") { try invoiceRefs().count == 5 }
        service?.process.terminate()
        _ = service?.wait()

        var numbers: [String] = []
        for _ in 0..<7 { numbers.append(try newOrder()) }
        try wait("WooCommerce disabled the webhook") {
            try wooWebhooks().contains { $0["topic"] as? String == "order.created" && $0["status"] as? String == "disabled" }
        }
        XCTAssertGreaterThan(try wooWebhooks().first { $0["topic"] as? String == "order.created" }?["failure_count"] as? Int ?? 0, 5)
        for _ in 0..<3 { numbers.append(try newOrder()) }  // a disabled webhook sends nothing

        try startService()
        try wait("the missed orders booked") { Set(try invoiceRefs()).isSuperset(of: numbers) }
        let hookID = try XCTUnwrap(try wooWebhooks().first { $0["topic"] as? String == "order.created" }?["id"] as? Int)
        let hooks = try XCTUnwrap(try deployment.woo("webhooks/\(hookID)") as? [String: Any])
        XCTAssertEqual(hooks["status"] as? String, "active")
        let later = try newOrder()
        try wait("a later order booked by webhook") { try invoiceRefs().contains(later) }
        let refs = try invoiceRefs()
        XCTAssertEqual(refs.count, Set(refs).count, "an order was booked twice")
        XCTAssertEqual(refs.count, 5 + numbers.count + 1)
        let log = try deployment.fixture.runtime().store.activities(ActivityQuery(flow: "invoices", limit: 10_000)).map(\.message)
        XCTAssertTrue(log.contains { $0.contains("the webhook subscription to order.created of shop was disabled by the sender; enabled it again") }, log.joined(separator: "\n"))
        XCTAssertFalse(log.contains { $0.contains("seems disabled") }, log.joined(separator: "\n"))
        XCTAssertTrue(try get("/flows/invoices").contains("was disabled by the sender; enabled it again"), "the dashboard says it")
    }

    /// `koppel run` listens on an IPv6 address given as `[::1]:port`.
    func testTheServerListensOnAnIPv6Address() throws {
        try writeDeployment(flows: String(format: Self.invoiceFlow, "manual"))
        let running = try TestSupport.start(TestSupport.koppel, ["run", "--listen", "[::1]:\(port)"], environment: deployment.fixture.environment)
        service = running
        var answered = 0
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline && running.process.isRunning {
            if case .response(let r) = deployment.client.send(OutboundRequest(method: "GET", url: "http://[::1]:\(port)/", headers: [], idempotent: true, timeout: 2)) {
                answered = r.status
                break
            }
            usleep(50_000)
        }
        XCTAssertEqual(answered, 200, running.outputSoFar)
        let invalid = try deployment.fixture.koppel(["run", "--listen", "[::1:\(port)"])
        XCTAssertNotEqual(invalid.status, 0)
        XCTAssertTrue(invalid.stderr.contains("is not host:port"), invalid.stderr)
    }
}

/// A raw HTTP/1.1 exchange over a socket, for what an HTTP client library hides: whether
/// the server closed the connection.
enum RawHTTP {
    struct Answer {
        var text: String
        var closedByServer: Bool
    }

    /// Sends `head` and as much of `body` as the server takes, then reads until the
    /// server closes the connection or `timeout` passes.
    static func send(host: String, port: Int, head: String, body: Data, timeout: TimeInterval) throws -> Answer {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("no socket") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr(host)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw TestFailure("could not connect to \(host):\(port)") }
        var wait = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        var ignore = sigaction()
        ignore.__sigaction_handler.sa_handler = SIG_IGN
        sigaction(SIGPIPE, &ignore, nil)
        let payload = Data(head.utf8) + body
        var offset = 0
        while offset < payload.count {
            let sent = payload.withUnsafeBytes { Foundation.send(fd, $0.baseAddress! + offset, min(65_536, payload.count - offset), 0) }
            if sent <= 0 { break }  // the server stopped reading (or closed): the answer tells
            offset += sent
        }
        var received = Data()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count == 0 { return Answer(text: String(decoding: received, as: UTF8.self), closedByServer: true) }
            if count < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { continue }
                return Answer(text: String(decoding: received, as: UTF8.self), closedByServer: errno == ECONNRESET)
            }
            received.append(contentsOf: buffer[0..<count])
        }
        return Answer(text: String(decoding: received, as: UTF8.self), closedByServer: false)
    }
}
