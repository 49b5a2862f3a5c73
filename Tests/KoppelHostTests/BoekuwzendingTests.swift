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
                shipped: { from: buz.shipments, to: mww.shipment_status, schedule: every 5m }
                """)
        let secrets = [("mww", "api_token", options.mijnwebwinkel.token), ("mww", "partner_token", options.mijnwebwinkel.partnerToken),
                       ("buz", "client_secret", options.boekuwzending.clientSecret)]
        for (connection, name, value) in secrets {
            XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", connection, name], stdin: value + "\n").status, 0)
        }
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
