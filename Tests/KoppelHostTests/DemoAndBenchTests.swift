import Foundation
import KoppelHost
import KoppelSandbox
import XCTest

/// `koppel demo` as a newcomer runs it, and a smoke run of the benchmark with tiny sizes.
final class DemoAndBenchTests: XCTestCase {
    let client = CurlHTTPClient()

    func get(_ url: String, headers: [(String, String)] = []) throws -> Any? {
        guard case .response(let answer) = client.send(OutboundRequest(method: "GET", url: url, headers: headers, idempotent: true, timeout: 10)) else {
            throw TestFailure("no answer from \(url)")
        }
        return try? JSONSerialization.jsonObject(with: answer.body)
    }

    /// The order numbers on the invoices of an Exact administration, through the
    /// sandbox's inspection door.
    func invoiceRefs(exact: String, division: Int) throws -> [String] {
        var url: String? = "\(exact)/_sandbox/exact/\(division)/salesinvoice/SalesInvoices"
        var refs: [String] = []
        while let next = url {
            let d = (try get(next) as? [String: Any])?["d"] as? [String: Any]
            refs += (d?["results"] as? [[String: Any]] ?? []).compactMap { $0["YourRef"] as? String }
            url = (d?["__next"] as? String).map { $0.replacingOccurrences(of: "/api/v1/", with: "/_sandbox/exact/") }
        }
        return refs
    }

    /// The line of `output` that starts with `prefix` (after its indentation).
    func line(_ prefix: String, in output: String, after marker: String = "") -> String? {
        let text = marker.isEmpty ? output[...] : output[(output.range(of: marker)?.upperBound ?? output.startIndex)...]
        return text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.first { $0.hasPrefix(prefix) }
    }

    func testDemoBooksBothShopsThenServesTheDashboardAndWebhookOrders() throws {
        let directory = try TestSupport.makeTemporaryDirectory("koppel-demo")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let port = try TestSupport.freePort()
        let demo = try TestSupport.start(
            TestSupport.koppel, ["demo", "--directory", "\(directory)/demo", "--orders", "45", "--listen", "127.0.0.1:\(port)"])
        defer { if demo.process.isRunning { demo.process.terminate() } }
        XCTAssertNotNil(demo.waitForLine(timeout: 180) { $0 == "Ctrl-C stops." }, "the demo did not reach its dashboard:\n\(demo.outputSoFar)")
        let output = demo.outputSoFar
        func url(_ name: String) throws -> String {
            let found = line(name, in: output)?.split(separator: " ").last.map(String.init)
            return try XCTUnwrap(found, "the demo names the sandbox's \(name):\n\(output)")
        }
        let exact = try url("exact-online"), woo = try url("woocommerce"), mww = try url("mijnwebwinkel")

        // WooCommerce: every processing or completed order is one invoice in the first administration.
        let wooOptions = WooCommerceSandbox.Options()
        let basic = Data("\(wooOptions.consumerKey):\(wooOptions.consumerSecret)".utf8).base64EncodedString()
        let wooOrders = try get("\(woo)/wp-json/wc/v3/orders?per_page=100", headers: [("Authorization", "Basic \(basic)"), ("X-Forwarded-Proto", "https")]) as? [[String: Any]] ?? []
        XCTAssertEqual(wooOrders.count, 42, "45 generated, every 15th a test order the shop never had")
        let billable = Set(wooOrders.filter { ["processing", "completed"].contains($0["status"] as? String ?? "") }.compactMap { $0["number"] as? String })
        let wooRefs = try invoiceRefs(exact: exact, division: 123456)
        XCTAssertEqual(wooRefs.count, billable.count, "each order booked once")
        XCTAssertEqual(Set(wooRefs), billable)
        let wooSummary = "WooCommerce -> Exact Online"
        XCTAssertEqual(line("orders read", in: output, after: wooSummary), "orders read         42")
        XCTAssertEqual(line("invoices created", in: output, after: wooSummary), "invoices created    \(billable.count)")
        XCTAssertEqual(line("skipped", in: output, after: wooSummary), "skipped             \(42 - billable.count)")
        XCTAssertTrue(output.contains("x status cancelled is not one of completed, processing"), output)
        let calls = try XCTUnwrap(line("Exact calls", in: output, after: wooSummary))
        XCTAssertTrue(calls.contains("per invoice"), calls)

        // Mijnwebwinkel: its API leaves the test orders out; cancelled orders are skipped with their reason.
        let mwwOptions = MijnwebwinkelSandbox.Options()
        let token = mwwOptions.token
        let mwwOrders = try get("\(mww)/v1/orders?limit=100&token=\(token)&partner_token=\(mwwOptions.partnerToken)") as? [[String: Any]] ?? []
        XCTAssertEqual(mwwOrders.count, 42, "45 generated, 3 of them test orders the API does not list")
        let number = { (order: [String: Any]) in (order["number"] as? String) ?? "\(order["number"]!)" }
        let bookable = Set(mwwOrders.filter { $0["status"] as? Int != 7 }.map(number))
        XCTAssertEqual(Set(try invoiceRefs(exact: exact, division: 234567)), bookable)
        XCTAssertTrue(output.contains("x status cancelled is not one of paid, pending, shipped"), output)
        XCTAssertEqual(line("failed", in: output, after: "Mijnwebwinkel -> Exact Online"), "failed              0")

        // Mijnwebwinkel -> Boekuwzending: each paid order waits in the portal once; the five
        // the demo labels are Verzonden in the shop with their track and trace.
        let buz = try url("boekuwzending")
        // The shop's list was read after the demo: the five labelled orders are Verzonden
        // (2) by now, every other paid order still Betaald (3).
        let stillPaid = Set(mwwOrders.filter { $0["status"] as? Int == 3 }.map(number))
        let portal = try get("\(buz)/_sandbox/boekuwzending/orders") as? [[String: Any]] ?? []
        let labelled = portal.filter { !($0["shipments"] as? [Any] ?? []).isEmpty }.compactMap { $0["externalId"] as? String }
        let unlabelled = portal.filter { ($0["shipments"] as? [Any] ?? []).isEmpty }.compactMap { $0["externalId"] as? String }
        XCTAssertEqual(labelled.count, 5)
        XCTAssertEqual(unlabelled.sorted(), stillPaid.sorted(), "each paid order once")
        XCTAssertEqual(Set(labelled + unlabelled).count, portal.count, "no order twice")
        for shipped in labelled {
            let order = try get("\(mww)/_sandbox/mijnwebwinkel/orders/\(shipped)") as? [String: Any]
            XCTAssertEqual(order?["status"] as? Int, 2, "\(shipped) is Verzonden")
            XCTAssertTrue(((order?["comments"] as? [String: Any])?["internal"] as? String ?? "").hasPrefix("PostNL: 3SBUZ"))
        }
        let shipSummary = "Mijnwebwinkel -> Boekuwzending -> Mijnwebwinkel"
        XCTAssertEqual(line("paid orders read", in: output, after: shipSummary), "paid orders read          \(portal.count)")
        XCTAssertTrue(line("waiting in the portal", in: output, after: shipSummary)?.hasPrefix("waiting in the portal     \(portal.count) ") == true, output)
        XCTAssertTrue(line("orders marked shipped", in: output, after: shipSummary)?.hasPrefix("orders marked shipped     5 ") == true, output)

        // The deployment it wrote works with the other commands, and holds no secret.
        let config = try String(contentsOfFile: "\(directory)/demo/koppel.yaml", encoding: .utf8)
        for secret in [wooOptions.consumerSecret, token, mwwOptions.partnerToken, ExactSandbox.Options().clientSecret] {
            XCTAssertFalse(config.contains(secret), "a secret in the deployment file")
        }
        let status = try TestSupport.run(TestSupport.koppel, ["status", "-c", "\(directory)/demo/koppel.yaml"])
        XCTAssertTrue(status.stdout.contains("shop-invoices") && status.stdout.contains("mww-invoices"), status.stdout + status.stderr)

        // The demo made its webhooks as `koppel webhooks register` makes them: through the
        // shop's and the portal's APIs, pointing at the demo; none was made by hand.
        XCTAssertTrue(output.contains("$ koppel webhooks register"), output)
        for made in ["shop: created the subscription to order.created", "shop: created the subscription to order.updated",
                     "buz: created the subscription to webhook-label-create", "buz: created the subscription to webhook-label-update"] {
            XCTAssertTrue(output.contains(made), output)
        }

        // The dashboard is served, and a new shop order arrives by webhook.
        let dashboard = try XCTUnwrap(line("Dashboard:", in: output)).split(separator: " ").last.map(String.init) ?? ""
        guard case .response(let page) = client.send(OutboundRequest(method: "GET", url: dashboard, headers: [], idempotent: true, timeout: 10)) else {
            return XCTFail("no dashboard at \(dashboard)")
        }
        let html = String(decoding: page.body, as: UTF8.self)
        XCTAssertTrue(html.contains("shop-invoices") && html.contains("mww-invoices"), html)
        var place = OutboundRequest(method: "POST", url: "\(woo)/_sandbox/woocommerce/orders", headers: [], idempotent: false, timeout: 10)
        place.body = Data("{}".utf8)
        guard case .response(let placed) = client.send(place),
            let number = ((try? JSONSerialization.jsonObject(with: placed.body)) as? [[String: Any]])?.first?["number"] as? String
        else { return XCTFail("the sandbox shop took no order") }
        let deadline = Date().addingTimeInterval(30)
        while try !invoiceRefs(exact: exact, division: 123456).contains(number) && Date() < deadline { usleep(50_000) }
        XCTAssertTrue(try invoiceRefs(exact: exact, division: 123456).contains(number), "order \(number) was not booked by its webhook")

        // The command the demo offers labels a waiting order; Boekuwzending's webhook marks it shipped.
        let offered = try XCTUnwrap(output.split(separator: "\n").first { $0.contains("/_sandbox/boekuwzending/orders/") }, output)
        let labelURL = try XCTUnwrap(offered.split(separator: " ").last.map(String.init))
        let waitingID = labelURL.components(separatedBy: "/orders/").last?.replacingOccurrences(of: "/ship", with: "") ?? ""
        let waitingNumber = try XCTUnwrap(portal.first { $0["id"] as? String == waitingID }?["externalId"] as? String)
        guard case .response(let made) = client.send(OutboundRequest(method: "POST", url: labelURL, headers: [], idempotent: false, timeout: 10)), made.status == 201 else {
            return XCTFail("the offered command made no label")
        }
        let shippedBy = Date().addingTimeInterval(30)
        func shopStatus() -> Int? { (try? get("\(mww)/_sandbox/mijnwebwinkel/orders/\(waitingNumber)") as? [String: Any])?["status"] as? Int }
        while shopStatus() != 2 && Date() < shippedBy { usleep(50_000) }
        XCTAssertEqual(shopStatus(), 2, "order \(waitingNumber) was not marked shipped by Boekuwzending's webhook")

        kill(demo.process.processIdentifier, SIGINT)
        let ended = demo.wait()
        XCTAssertEqual(ended.status, 0, ended.stdout + ended.stderr)
        XCTAssertTrue(ended.stdout.contains("Stopped."), ended.stdout)
    }

    func testBenchmarkPrintsAllFourFigures() throws {
        let bench = try TestSupport.run("\(TestSupport.productsDirectory)/koppel-bench", [
            "--records", "200", "--orders", "20", "--deliveries", "5", "--read-orders", "300",
        ])
        XCTAssertEqual(bench.status, 0, bench.stdout + bench.stderr)
        let table = bench.stdout.components(separatedBy: "\nmeasure").last ?? ""
        func value(_ measure: String) -> String? {
            table.split(separator: "\n").first { $0.hasPrefix(measure) }.map { $0.dropFirst(measure.count).trimmingCharacters(in: .whitespaces) }
        }
        /// The figure a row starts with, in the unit it names.
        func number(_ measure: String, unit: String) -> Double? {
            guard let text = value(measure), text.hasSuffix(unit) else { return nil }
            return Double(text.prefix { $0.isNumber || $0 == "." })
        }
        XCTAssertTrue(value("(1) null -> null: records delivered")?.hasPrefix("200 in ") == true, table)
        XCTAssertGreaterThan(number("(1) null -> null: records/s, first delivery", unit: "/s") ?? 0, 0, table)
        XCTAssertGreaterThan(number("(1) null -> null: peak RSS", unit: " MiB") ?? 0, 1, table)
        XCTAssertTrue(value("(2) WooCommerce -> Exact, warm: orders booked")?.hasPrefix("20 in ") == true, "every new order booked: \(table)")
        let warmCalls = Decimal(string: value("(2) WooCommerce -> Exact, warm: Exact calls per order") ?? "") ?? 0
        let coldCalls = Decimal(string: value("(2) WooCommerce -> Exact, cold: Exact calls per order") ?? "") ?? 0
        XCTAssertGreaterThanOrEqual(warmCalls, 1, table)
        XCTAssertLessThan(warmCalls, coldCalls, "a warm identity map saves calls: \(table)")
        let p50 = number("(3) webhook -> invoice latency, p50", unit: " ms") ?? 0, p99 = number("(3) webhook -> invoice latency, p99", unit: " ms") ?? 0
        XCTAssertGreaterThan(p50, 0, table)
        XCTAssertLessThanOrEqual(p50, p99, table)
        XCTAssertTrue(value("(4) WooCommerce read: orders read")?.hasPrefix("300 in ") == true, table)
        XCTAssertGreaterThan(number("(4) WooCommerce read: peak RSS", unit: " MiB") ?? 0, 1, table)
    }
}
