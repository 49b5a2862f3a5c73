import Foundation
import KoppelHost
import KoppelSandbox
import XCTest

/// Mijnwebwinkel -> Boekuwzending end to end: the `koppel` binary with the real plugins
/// against the sandbox's fakes. What is checked is what the merchant sees in
/// Boekuwzending's portal: each paid order waiting once, with its address and lines.
final class BoekuwzendingTests: XCTestCase {
    var deployment: SandboxDeployment!
    var options = Sandbox.Options()
    var buzURL: String { deployment.endpoint("boekuwzending").baseURL }

    override func setUp() async throws {
        options.seed.orders = 40
        options.seed.testOrderEvery = 10
        deployment = try await SandboxDeployment(options)
        try writeDeployment()
        let secrets = [("mww", "api_token", options.mijnwebwinkel.token), ("mww", "partner_token", options.mijnwebwinkel.partnerToken),
                       ("buz", "client_secret", options.boekuwzending.clientSecret)]
        for (connection, name, value) in secrets {
            XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", connection, name], stdin: value + "\n").status, 0)
        }
    }

    /// Mijnwebwinkel and Boekuwzending, the paid orders to the portal, the labels back.
    func writeDeployment(shipped schedule: String = "every 5m", extra: String = "") throws {
        try deployment.fixture.write(
            load: ["mijnwebwinkel", "boekuwzending"],
            connections: """
                mww:
                  plugin: mijnwebwinkel
                  settings: { base_url: "\(deployment.mijnwebwinkelURL)" }
                buz:
                  plugin: boekuwzending
                  settings: { base_url: "\(buzURL)", client_id: \(options.boekuwzending.clientID) }
                """,
            flows: """
                to-ship: { from: mww.orders, to: buz.orders, schedule: every 5m, read_options: { statuses: [Betaald] } }
                shipped: { from: buz.shipments, to: mww.shipment_status, schedule: \(schedule) }
                """,
            extra: extra)
    }

    override func tearDown() async throws {
        deployment.stop()
    }

    /// The orders waiting in Boekuwzending's portal.
    func portal() throws -> [[String: Any]] {
        try deployment.json("GET", "\(buzURL)/_sandbox/boekuwzending/orders") as? [[String: Any]] ?? []
    }

    func testEachPaidOrderWaitsInThePortalOnceEvenWhenAnswersAreLost() throws {
        let check = try deployment.fixture.koppel(["check", "buz"])
        XCTAssertTrue(check.stdout.hasPrefix("buz: ok\n  Boekuwzending account Sandbox Verzender\n"), check.stdout + check.stderr)
        XCTAssertTrue(check.stdout.contains("note for flow to-ship: if Boekuwzending's own Mijnwebwinkel link is switched on too, every order arrives there twice"), check.stdout)
        XCTAssertTrue(try deployment.fixture.koppel(["check", "mww"]).stdout.contains("note for flow shipped: Mijnwebwinkel sends the buyer no e-mail"))
        let paid = try XCTUnwrap(try deployment.json(
            "GET", "\(deployment.mijnwebwinkelURL)/v1/orders?limit=100&status_id=3&token=\(options.mijnwebwinkel.token)&partner_token=\(options.mijnwebwinkel.partnerToken)") as? [[String: Any]])
        let numbers = Set(paid.map { ($0["number"] as? String) ?? "\($0["number"]!)" })
        XCTAssertGreaterThan(numbers.count, 10)
        // Three creates are done by Boekuwzending but their answers never arrive.
        let queued = try deployment.json("POST", "\(buzURL)/_sandbox/faults", body: ["queue": [["match": "POST /orders", "fault": "drop-after-commit", "count": 3]]]) as? [String: Any]
        XCTAssertEqual(queued?["ok"] as? Bool, true)

        let first = try deployment.sync("to-ship")
        XCTAssertEqual(first.status, 0, first.stdout + first.stderr)
        XCTAssertTrue(first.stdout.contains("written \(numbers.count - 3),"), first.stdout)
        let retried = try deployment.sync("to-ship", ["--retry-now"])
        XCTAssertEqual(retried.status, 0, retried.stdout + retried.stderr)
        let orders = try portal()
        XCTAssertEqual(orders.count, numbers.count, "each paid order once, the three lost answers found by externalId")
        XCTAssertEqual(Set(orders.compactMap { $0["externalId"] as? String }), numbers)
        XCTAssertTrue(try deployment.sync("to-ship").stdout.contains("written 0,"))
        XCTAssertEqual(try portal().count, numbers.count)
        XCTAssertEqual(deployment.sandbox.boekuwzending.tokensIssued, 3, "one token for each process that called Boekuwzending (check, two syncs); none stored")

        // The order as the portal shows it: the shop's number, the buyer, the address, the lines.
        let shop = try XCTUnwrap(paid.first)
        let number = (shop["number"] as? String) ?? "\(shop["number"]!)"
        let waiting = try XCTUnwrap(orders.first { $0["externalId"] as? String == number })
        XCTAssertEqual(waiting["reference"] as? String, number)
        XCTAssertTrue((waiting["createdAtSource"] as? String ?? "").hasPrefix("\(shop["date"]!) \(shop["time"]!)"))
        let debtor = try XCTUnwrap(shop["debtor"] as? [String: Any])
        let address = try XCTUnwrap((debtor["address"] as? [String: Any])?["delivery"] as? [String: Any] ?? (debtor["address"] as? [String: Any])?["invoice"] as? [String: Any])
        let shipTo = try XCTUnwrap(waiting["shipTo"] as? [String: Any])
        XCTAssertEqual((shipTo["contact"] as? [String: Any])?["emailAddress"] as? String, (debtor["email"] as? String)?.lowercased())
        XCTAssertEqual((shipTo["address"] as? [String: Any])?["postcode"] as? String, address["zipcode"] as? String)
        XCTAssertEqual((shipTo["address"] as? [String: Any])?["number"] as? String, address["number"] as? String)
        let articleLines = (shop["orderlines"] as? [[String: Any]] ?? []).filter { $0["type"] as? String == "article" }
        XCTAssertEqual((waiting["orderLines"] as? [Any])?.count, articleLines.count)
    }

    /// A label made in the portal marks the shop's order shipped, with the carrier and
    /// the track-and-trace code in its internal note, once.
    func testEachLabelMarksItsOrderShippedOnce() throws {
        XCTAssertEqual(try deployment.sync("to-ship").status, 0)
        let waiting = try portal()
        XCTAssertGreaterThan(waiting.count, 3)
        var labelled: [String: String] = [:]
        for order in waiting.prefix(3) {
            let shipment = try XCTUnwrap(try deployment.json("POST", "\(buzURL)/_sandbox/boekuwzending/orders/\(order["id"]!)/ship", body: ["carrier": "PostNL"]) as? [String: Any])
            labelled[order["externalId"] as! String] = ((shipment["labels"] as? [[String: Any]])?.first?["waybill"] as? String)
        }
        let run = try deployment.sync("shipped")
        XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
        XCTAssertTrue(run.stdout.contains("written 3,"), run.stdout)
        for (number, waybill) in labelled {
            let order = try XCTUnwrap(try deployment.json("GET", "\(deployment.mijnwebwinkelURL)/_sandbox/mijnwebwinkel/orders/\(number)") as? [String: Any])
            XCTAssertEqual(order["status"] as? Int, 2, "\(number) is Verzonden")
            XCTAssertEqual((order["comments"] as? [String: Any])?["internal"] as? String, "PostNL: \(waybill)")
        }
        XCTAssertTrue(try deployment.sync("shipped").stdout.contains("written 0,"), "each shipment marks its order once")
    }

    /// Orders reach the portal once although `koppel sync` is killed with -9 again and
    /// again mid-run while some create answers are lost and answers come late.
    func testEachOrderArrivesOnceThroughKillsAndLostAnswers() throws {
        let paid = try XCTUnwrap(try deployment.json(
            "GET", "\(deployment.mijnwebwinkelURL)/v1/orders?limit=100&status_id=3&token=\(options.mijnwebwinkel.token)&partner_token=\(options.mijnwebwinkel.partnerToken)") as? [[String: Any]])
        let numbers = Set(paid.map { ($0["number"] as? String) ?? "\($0["number"]!)" })
        XCTAssertGreaterThan(numbers.count, 10)
        _ = try deployment.json("POST", "\(buzURL)/_sandbox/faults", body: ["plan": "slow=0.3,slow-delay=0.15,drop-after-commit=0.15"])
        var random = SystemRandomNumberGenerator()
        var kills = 0
        for _ in 0..<30 where kills < 8 {
            let running = try TestSupport.start(TestSupport.koppel, ["sync", "to-ship", "--retry-now"], environment: deployment.fixture.environment)
            usleep(UInt32.random(in: 100_000...900_000, using: &random))
            if running.process.isRunning {
                kill(running.process.processIdentifier, SIGKILL)
                kills += 1
            }
            _ = running.wait()
        }
        XCTAssertGreaterThan(kills, 2, "the runs were killed midway")
        let midway = try portal().compactMap { $0["externalId"] as? String }
        XCTAssertEqual(midway.count, Set(midway).count, "no order twice, even between the kills")
        _ = try deployment.json("POST", "\(buzURL)/_sandbox/faults", body: ["plan": ""])
        let final = try deployment.sync("to-ship", ["--retry-now"])
        XCTAssertEqual(final.status, 0, final.stdout + final.stderr)
        let externalIDs = try portal().compactMap { $0["externalId"] as? String }
        XCTAssertEqual(externalIDs.count, numbers.count, "no order twice")
        XCTAssertEqual(Set(externalIDs), numbers, "every paid order")
        XCTAssertTrue(try deployment.sync("to-ship").stdout.contains("written 0,"))
    }

    /// Shipments by Boekuwzending's webhook: a label made in the portal marks the order
    /// shipped while `koppel run` serves, without a poll; the portal's unsigned webhooks
    /// are authenticated by the secret at the end of their URL, anything else gets 401.
    func testALabelMarksItsOrderShippedByWebhook() throws {
        let port = try TestSupport.freePort(), server = "http://127.0.0.1:\(port)"
        let secret = "buz-hook-8f31c2"
        try writeDeployment(shipped: "webhook", extra: "server: { listen: \"127.0.0.1:\(port)\" }")
        XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", "buz", "webhook_secret"], stdin: secret + "\n").status, 0)
        XCTAssertEqual(try deployment.sync("to-ship").status, 0)
        // The first poll of the webhook flow reads what is there (nothing is labelled yet).
        XCTAssertTrue(try deployment.sync("shipped").stdout.contains("written 0,"))

        let service = try TestSupport.start(TestSupport.koppel, ["run"], environment: deployment.fixture.environment)
        defer {
            service.process.terminate()
            _ = service.wait()
        }
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if case .response(let r) = deployment.client.send(OutboundRequest(method: "GET", url: "\(server)/healthz", timeout: 2)), r.status == 200 { break }
            usleep(50_000)
        }
        // What the merchant sets up in the portal.
        var tokenRequest = OutboundRequest(method: "POST", url: "\(buzURL)/token", headers: [("Content-Type", "application/x-www-form-urlencoded")], idempotent: false, timeout: 5)
        tokenRequest.body = Data("grant_type=client_credentials&client_id=\(options.boekuwzending.clientID)&client_secret=\(options.boekuwzending.clientSecret)".utf8)
        guard case .response(let tokenAnswer) = deployment.client.send(tokenRequest) else { return XCTFail("no token") }
        let token = (try JSONSerialization.jsonObject(with: tokenAnswer.body) as? [String: Any])?["access_token"] as? String
        let hook = try deployment.json("POST", "\(buzURL)/webhooks", body: ["url": "\(server)/webhooks/buz/\(secret)", "event": "webhook-label-create"],
                                       headers: [("Authorization", "Bearer \(try XCTUnwrap(token))")]) as? [String: Any]
        XCTAssertEqual(hook?["event"] as? String, "webhook-label-create")

        let order = try XCTUnwrap(try portal().first)
        let number = try XCTUnwrap(order["externalId"] as? String)
        let shipment = try XCTUnwrap(try deployment.json("POST", "\(buzURL)/_sandbox/boekuwzending/orders/\(order["id"]!)/ship", body: ["carrier": "DPD"]) as? [String: Any])
        let waybill = try XCTUnwrap((shipment["labels"] as? [[String: Any]])?.first?["waybill"] as? String)
        func shopOrder() throws -> [String: Any] {
            try deployment.json("GET", "\(deployment.mijnwebwinkelURL)/_sandbox/mijnwebwinkel/orders/\(number)") as? [String: Any] ?? [:]
        }
        let shippedBy = Date().addingTimeInterval(30)
        while Date() < shippedBy, (try? shopOrder()["status"] as? Int) != 2 { usleep(50_000) }
        XCTAssertEqual(try shopOrder()["status"] as? Int, 2, "\(number) is Verzonden by the webhook; koppel run said:\n\(service.outputSoFar)")
        XCTAssertEqual((try shopOrder()["comments"] as? [String: Any])?["internal"] as? String, "DPD: \(waybill)")
        let sent = try XCTUnwrap(try deployment.json("GET", "\(buzURL)/_sandbox/boekuwzending/webhooks/sent") as? [[String: Any]])
        XCTAssertEqual(sent.map { $0["status"] as? Int }, [200], "the delivery was taken")

        // Unsigned deliveries without the secret are refused and noted.
        for url in ["\(server)/webhooks/buz", "\(server)/webhooks/buz/not-the-secret"] {
            var request = OutboundRequest(method: "POST", url: url, headers: [("Content-Type", "application/json")], idempotent: false, timeout: 5)
            request.body = Data(#"{"event":"webhook-label-create","payload":{"reference":"\#(number)"}}"#.utf8)
            guard case .response(let refused) = deployment.client.send(request) else { return XCTFail("no answer from \(url)") }
            XCTAssertEqual(refused.status, 401, url)
        }
        service.process.terminate()
        let said = service.wait()
        XCTAssertTrue(said.stderr.contains("buz: refused a webhook delivery (401): no signature: the token at the end of the webhook URL"), said.stderr)
        XCTAssertFalse(said.stderr.contains(secret) || said.stdout.contains(secret), "the secret is never logged")
        XCTAssertTrue(try deployment.sync("shipped").stdout.contains("written 0,"), "the shipment marked its order once")
    }

    /// `koppel plugins validate` against the real service behind a connection: check, a
    /// first read of the shipments, and a sample order written and written again as a
    /// retry, which finds the first: one sample order in the portal, however often it runs.
    func testValidateRunsLiveReadAndWriteCasesThroughAConnection() throws {
        let order = try XCTUnwrap(try { () throws -> [String: Any]? in
            XCTAssertEqual(try deployment.sync("to-ship").status, 0)
            return try portal().first
        }())
        _ = try deployment.json("POST", "\(buzURL)/_sandbox/boekuwzending/orders/\(order["id"]!)/ship")
        let plugin = "\(TestSupport.productsDirectory)/libKoppelBoekuwzending.so"
        let arguments = ["plugins", "validate", plugin, "--connection", "buz", "--deployment", deployment.fixture.configFile, "--write"]
        for round in 1...2 {
            let validated = try TestSupport.run(TestSupport.koppel, arguments, environment: deployment.fixture.environment)
            XCTAssertEqual(validated.status, 0, validated.stdout + validated.stderr)
            let lines = validated.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            XCTAssertTrue(lines.contains("PASS  live-check: check through buz: ok"), validated.stdout)
            XCTAssertTrue(lines.contains("PASS  live-read:shipments: first read of shipments: ok; 1 records, well formed"), validated.stdout)
            let write = try XCTUnwrap(lines.first { $0.hasPrefix("PASS  live-write:orders:order: sample order koppel-validate-1 ") }, validated.stdout)
            XCTAssertTrue(write.contains(round == 1 ? " created as " : " found as "), write)
            XCTAssertTrue(write.hasSuffix("a retry found it (found), nothing made twice"), write)
        }
        let samples = try portal().filter { $0["externalId"] as? String == "koppel-validate-1" }
        XCTAssertEqual(samples.count, 1, "the sample order once")
        let shipTo = try XCTUnwrap(samples.first?["shipTo"] as? [String: Any])
        XCTAssertEqual((shipTo["address"] as? [String: Any])?["numberAddition"] as? String, "A")

        // Without --deployment, or with a connection of another plugin, it says so.
        let mww = try TestSupport.run(TestSupport.koppel, ["plugins", "validate", plugin, "--connection", "mww", "--deployment", deployment.fixture.configFile],
                                      environment: deployment.fixture.environment)
        XCTAssertEqual(mww.status, 1)
        XCTAssertTrue(mww.stdout.contains("FAIL  live-check: could not open the connection: connection mww uses plugin mijnwebwinkel, not boekuwzending"), mww.stdout)
        let writeAlone = try TestSupport.run(TestSupport.koppel, ["plugins", "validate", plugin, "--write"])
        XCTAssertEqual(writeAlone.status, 64)
        XCTAssertTrue(writeAlone.stderr.contains("--write needs --connection"), writeAlone.stderr)
    }

    /// The same pair with a WooCommerce shop: its orders wait in the portal once, and a
    /// label completes the order with a private note holding the track and trace, once.
    func testWooCommerceOrdersShipAndAreCompletedWithTheTrackAndTrace() throws {
        try deployment.fixture.write(
            load: ["woocommerce", "boekuwzending"],
            connections: """
                shop:
                  plugin: woocommerce
                  settings: { base_url: "\(deployment.wooURL)", consumer_key: \(options.wooCommerce.consumerKey), order_statuses: [processing] }
                buz:
                  plugin: boekuwzending
                  settings: { base_url: "\(buzURL)", client_id: \(options.boekuwzending.clientID) }
                """,
            flows: """
                to-ship: { from: shop.orders, to: buz.orders, schedule: every 5m }
                shipped: { from: buz.shipments, to: shop.shipment_status, schedule: every 5m }
                """)
        XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", "shop", "consumer_secret"], stdin: options.wooCommerce.consumerSecret + "\n").status, 0)
        let processing = try deployment.wooOrders().filter { $0["status"] as? String == "processing" }
        XCTAssertTrue(try deployment.sync("to-ship").stdout.contains("written \(processing.count),"))
        let waiting = try portal()
        XCTAssertEqual(Set(waiting.compactMap { $0["externalId"] as? String }), Set(processing.compactMap { $0["number"] as? String }))
        let order = try XCTUnwrap(waiting.first)
        let shipment = try XCTUnwrap(try deployment.json("POST", "\(buzURL)/_sandbox/boekuwzending/orders/\(order["id"]!)/ship", body: ["carrier": "DHL"]) as? [String: Any])
        let label = try XCTUnwrap((shipment["labels"] as? [[String: Any]])?.first)
        for expected in ["written 1,", "written 0,"] {
            let run = try deployment.sync("shipped")
            XCTAssertTrue(run.stdout.contains(expected), run.stdout + run.stderr)
        }
        let number = try XCTUnwrap(order["externalId"] as? String)
        let id = try XCTUnwrap(processing.first { $0["number"] as? String == number }?["id"] as? Int)
        let completed = try XCTUnwrap(try deployment.woo("orders/\(id)") as? [String: Any])
        XCTAssertEqual(completed["status"] as? String, "completed")
        let notes = try XCTUnwrap(try deployment.woo("orders/\(id)/notes") as? [[String: Any]])
        XCTAssertEqual(notes.compactMap { $0["note"] as? String }, ["Verzonden met DHL: \(label["waybill"]!) (\(label["trackAndTraceLink"]!))"])
        XCTAssertEqual(notes.first?["customer_note"] as? Bool, false)
    }

    /// The shipped example, pointed at the sandbox, runs both flows.
    func testTheExampleDeploymentRunsBothFlows() throws {
        var example = try String(contentsOfFile: TestSupport.repoRoot + "/examples/mijnwebwinkel-boekuwzending.yaml", encoding: .utf8)
        for (line, replacement) in [
            ("  directories: [../.build/release, ../.build/debug]", "  directories: [\(TestSupport.productsDirectory)]"),
            ("    settings: {}                            # https://api.myonlinestore.com; the tokens pick the shop",
             "    settings: { base_url: \"\(deployment.mijnwebwinkelURL)\" }"),
            ("      client_id: \"your-boekuwzending-client-id\"", "      client_id: \(options.boekuwzending.clientID)\n      base_url: \"\(buzURL)\""),
        ] {
            XCTAssertTrue(example.contains(line), "the example has \(line)")
            example = example.replacingOccurrences(of: line, with: replacement)
        }
        try example.write(toFile: deployment.fixture.configFile, atomically: true, encoding: .utf8)
        XCTAssertEqual(try deployment.fixture.koppel(["init"]).status, 0)
        let secrets = [("mww", "api_token", options.mijnwebwinkel.token), ("mww", "partner_token", options.mijnwebwinkel.partnerToken),
                       ("buz", "client_secret", options.boekuwzending.clientSecret)]
        for (connection, name, value) in secrets {
            XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", connection, name], stdin: value + "\n").status, 0)
        }
        let first = try deployment.sync("to-ship")
        XCTAssertEqual(first.status, 0, first.stdout + first.stderr)
        let waiting = try portal()
        XCTAssertFalse(waiting.isEmpty)
        _ = try deployment.json("POST", "\(buzURL)/_sandbox/boekuwzending/orders/\(waiting[0]["id"]!)/ship")
        XCTAssertTrue(try deployment.sync("shipped").stdout.contains("written 1,"))
    }
}
