import Foundation
import KoppelHost
import KoppelSandbox
import XCTest

/// One record a source serves broken, amid good ones, for every source plugin: the
/// broken one is parked with its reason (`koppel failed`), every other record is
/// delivered, the cursor goes on, and once the source serves it whole a replay
/// delivers it, once. The sandbox's `break-record` fault breaks the first record of the
/// next matching answer, as a shop that stored it broken would serve it.
final class UnreadableRecordTests: XCTestCase {
    var deployment: SandboxDeployment!
    var options = Sandbox.Options()

    override func setUp() async throws {
        options.seed.orders = 25
        options.seed.testOrderEvery = 0
        options.exact.minutelyLimit = 100_000
        options.exact.dailyLimit = 1_000_000
        deployment = try await SandboxDeployment(options)
        try deployment.fixture.write(
            load: ["woocommerce", "mijnwebwinkel", "winstore", "exact-online", "null"],
            connections: """
                shop:
                  plugin: woocommerce
                  settings: { base_url: "\(deployment.wooURL)", consumer_key: \(options.wooCommerce.consumerKey) }
                mww:
                  plugin: mijnwebwinkel
                  settings: { base_url: "\(deployment.mijnwebwinkelURL)" }
                winstore:
                  plugin: winstore
                  settings: { base_url: "\(deployment.endpoint("winstore").baseURL)/iposws/api/osd", username: \(options.winstore.username) }
                exact:
                  plugin: exact-online
                  settings: { base_url: "\(deployment.exactURL)", division: \(deployment.division), client_id: \(options.exact.clientID) }
                sink:
                  plugin: "null"
                """,
            flows: """
                woo-orders: { from: shop.orders, to: sink.records, schedule: manual }
                mww-orders: { from: mww.orders, to: sink.records, schedule: manual }
                winstore-products: { from: winstore.products, to: sink.records, schedule: manual }
                exact-items: { from: exact.items, to: sink.records, schedule: manual }
                """)
        let secrets = [("shop", "consumer_secret", options.wooCommerce.consumerSecret), ("mww", "api_token", options.mijnwebwinkel.token), ("mww", "partner_token", options.mijnwebwinkel.partnerToken),
                       ("winstore", "password", options.winstore.password)]
        for (connection, name, value) in secrets {
            XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", connection, name], stdin: value + "\n").status, 0)
        }
        try deployment.signInToExact("exact")
    }

    override func tearDown() async throws {
        deployment.stop()
    }

    /// Breaks `field` of the first record of the next answer to `match` from `fake`,
    /// runs `flow`, and checks what a merchant would: one record parked with a reason
    /// naming the field, the rest delivered, and a replay that delivers it once.
    func checkOneBrokenRecord(flow: String, fake: String, match: String, field: String, value: String?) throws {
        // What the source holds: a run before the fault reads it all (into a throwaway flow state).
        let dry = try deployment.wouldWrite(flow)
        XCTAssertGreaterThan(dry.count, 3, flow)
        var fault: [String: Any] = ["match": match, "fault": "break-record", "field": field]
        if let value { fault["value"] = value }
        XCTAssertEqual((try deployment.json("POST", "\(fake)/_sandbox/faults", body: ["queue": [fault]]) as? [String: Any])?["ok"] as? Bool, true)

        let run = try deployment.sync(flow)
        XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
        XCTAssertTrue(run.stdout.contains("written \(dry.count - 1),"), "\(flow): every other record: \(run.stdout)")
        XCTAssertTrue(run.stdout.contains("failed 1"), "\(flow): \(run.stdout)")
        let failed = try deployment.fixture.koppel(["failed", flow])
        XCTAssertTrue(failed.stdout.contains("not readable"), "\(flow): \(failed.stdout)")
        XCTAssertTrue(failed.stdout.contains(field), "\(flow): the reason names the field: \(failed.stdout)")
        XCTAssertTrue(try deployment.sync(flow).stdout.contains("failed 0"), "\(flow): the next run goes on past it")

        let replay = try deployment.fixture.koppel(["replay", flow, "--all-failed"])
        XCTAssertEqual(replay.status, 0, "\(flow): " + replay.stdout + replay.stderr)
        XCTAssertTrue(replay.stdout.contains("delivered 1, still failing 0"), "\(flow): \(replay.stdout)")
        XCTAssertFalse(try deployment.fixture.koppel(["failed", flow]).stdout.contains("not readable"), flow)
        XCTAssertTrue(try deployment.sync(flow).stdout.contains("written 0"), "\(flow): delivered once")
    }

    func testWooCommerceOrders() throws {
        try checkOneBrokenRecord(flow: "woo-orders", fake: deployment.wooURL, match: "GET /wp-json/wc/v3/orders", field: "date_created_gmt", value: "gisteren")
    }

    func testMijnwebwinkelOrders() throws {
        try checkOneBrokenRecord(flow: "mww-orders", fake: deployment.mijnwebwinkelURL, match: "GET /v1/orders", field: "date", value: "gisteren")
    }

    func testWinstoreProducts() throws {
        try checkOneBrokenRecord(flow: "winstore-products", fake: deployment.endpoint("winstore").baseURL, match: "GET /iposws/api/osd/GetArticleDataChangesByDate", field: "Changed", value: "soon")
    }

    func testExactItems() throws {
        for i in 1...6 {
            try deployment.exactCreate("logistics/Items", ["Code": "ART-\(i)", "Description": "Artikel \(i)", "IsSalesItem": true])
        }
        try checkOneBrokenRecord(flow: "exact-items", fake: deployment.exactURL, match: "sync/Logistics/Items", field: "Modified", value: "garbage")
    }
}
