import Foundation
import KoppelHost
import XCTest

/// The two example connectors, each built the way a third party would build it, loaded
/// by the host with records round-tripping through the C ABI.
final class ExamplePluginTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = try TestSupport.makeTemporaryDirectory()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func testCExampleRoundTripsRecordsThroughTheABI() throws {
        let path = try TestSupport.buildCExample(into: directory)
        let plugin = try PluginLoader(directories: []).load(path: path)
        XCTAssertEqual(plugin.name, "example-c")
        XCTAssertEqual(plugin.manifest.readStreams.map(\.name), ["items"])
        XCTAssertEqual(plugin.abiMajor, PluginLoader.abiMajor)

        let sink = "\(directory)/sink.tsv"
        let config = try JSONSerialization.data(withJSONObject: ["count": 5, "sink": sink])
        let connection = try plugin.open(configJSON: config)
        try connection.check()

        var records: [[String: Any]] = []
        var cursors: [String] = []
        let summary = try connection.read(stream: "items", onRecord: { data in
            records.append(try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any]))
        }, onCheckpoint: { cursors.append(String(decoding: $0, as: UTF8.self)) })
        XCTAssertEqual(summary.records, 5)
        XCTAssertEqual(records.map { $0["source_key"] as? String }, ["item-1", "item-2", "item-3", "item-4", "item-5"])
        XCTAssertEqual(records[2]["price"] as? String, "3.30")
        XCTAssertEqual(cursors.last, "5")

        // Reading again from the last cursor yields nothing new.
        let resumed = try connection.read(stream: "items", cursor: summary.lastCursor, onRecord: { _ in XCTFail("no record expected") })
        XCTAssertEqual(resumed.records, 0)

        // Write every record back through the target side of the same plugin.
        for record in records {
            let key = try XCTUnwrap(record["source_key"] as? String)
            let outcome = try connection.write(stream: "items", record: JSONSerialization.data(withJSONObject: record), idempotencyKey: key)
            XCTAssertEqual(outcome.action, .created)
        }
        let lines = try String(contentsOfFile: sink, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 5)
        XCTAssertTrue(lines[0].hasPrefix("item-1\tsink-1\t{"), String(lines[0]))

        // A reconcile finds the earlier write instead of writing again.
        let again = try connection.write(stream: "items", record: JSONSerialization.data(withJSONObject: records[1]), idempotencyKey: "item-2", reconcile: true)
        XCTAssertEqual(again, WriteOutcome(targetKey: "sink-2", action: .found))
        XCTAssertEqual(try String(contentsOfFile: sink, encoding: .utf8).split(separator: "\n").count, 5)

        // A record the target cannot take is refused as invalid data, with the plugin's reason.
        XCTAssertThrowsError(try connection.write(stream: "items", record: Data(#"{"source_key":"x"}"#.utf8), idempotencyKey: "x")) { error in
            XCTAssertEqual(error as? PluginCallError, PluginCallError(.invalidData, "the record has no name"))
        }
    }

    func testSwiftExampleRoundTripsCanonicalOrdersThroughTheABI() throws {
        let path = try TestSupport.buildSwiftExample(into: directory)
        let plugin = try PluginLoader(directories: []).load(path: path)
        XCTAssertEqual(plugin.name, "example-swift")
        XCTAssertEqual(plugin.manifest.readStreams.first?.record, "order")

        let ordersFile = "\(directory)/orders.jsonl"
        let outbox = "\(directory)/outbox"
        try FileManager.default.createDirectory(atPath: outbox, withIntermediateDirectories: true)
        let orders = [
            Self.order(number: "1001", updatedAt: "2026-03-01T10:00:00Z", lines: [("SKU-1", "2", "10.10"), ("SKU-2", "1", "0.20")]),
            Self.order(number: "1002", updatedAt: "2026-03-01T10:00:00Z", lines: [("SKU-3", "3", "0.10")]),
            Self.order(number: "1003", updatedAt: "2026-03-02T08:30:00Z", lines: [("SKU-1", "1", "10.10")]),
        ]
        try orders.map { String(decoding: try JSONSerialization.data(withJSONObject: $0, options: .sortedKeys), as: UTF8.self) }
            .joined(separator: "\n").write(toFile: ordersFile, atomically: true, encoding: .utf8)

        let config = try JSONSerialization.data(withJSONObject: ["orders_file": ordersFile, "outbox": outbox])
        let connection = try plugin.open(configJSON: config)
        try connection.check()

        var read: [Data] = []
        let summary = try connection.read(stream: "orders", onRecord: { read.append($0) })
        XCTAssertEqual(summary.records, 3)
        let numbers = try read.map { try XCTUnwrap((JSONSerialization.jsonObject(with: $0) as? [String: Any])?["number"] as? String) }
        XCTAssertEqual(numbers, ["1001", "1002", "1003"])

        // Money comes through the SDK's decimal type unchanged: strings, to the cent.
        let first = try XCTUnwrap(JSONSerialization.jsonObject(with: read[0]) as? [String: Any])
        let totals = try XCTUnwrap(first["totals"] as? [String: Any])
        XCTAssertEqual(totals["lines"] as? String, "20.4")
        let firstLines = try XCTUnwrap(first["lines"] as? [[String: Any]])
        XCTAssertEqual(firstLines.map { $0["total"] as? String }, ["20.2", "0.2"])

        // The cursor after 1002 resumes at 1003 only; a `since` window selects by date.
        var afterCursor: [String] = []
        var cursorAfterTwo: Data?
        var seen = 0
        try connection.read(stream: "orders", onRecord: { _ in seen += 1 }, onCheckpoint: { if seen == 2 { cursorAfterTwo = $0 } })
        try connection.read(stream: "orders", cursor: cursorAfterTwo, onRecord: {
            afterCursor.append(try XCTUnwrap((JSONSerialization.jsonObject(with: $0) as? [String: Any])?["number"] as? String))
        })
        XCTAssertEqual(afterCursor, ["1003"])
        let since = ISO8601DateFormatter().date(from: "2026-03-02T00:00:00Z")
        XCTAssertEqual(try connection.read(stream: "orders", since: since, onRecord: { _ in }).records, 1)

        // Written to the outbox once; a reconcile finds it; a changed order is an update.
        for data in read {
            let number = try XCTUnwrap((JSONSerialization.jsonObject(with: data) as? [String: Any])?["number"] as? String)
            XCTAssertEqual(try connection.write(stream: "orders", record: data, idempotencyKey: "shop-\(number)").action, .created)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: outbox).sorted(), ["shop-1001.json", "shop-1002.json", "shop-1003.json"])
        XCTAssertEqual(try connection.write(stream: "orders", record: read[0], idempotencyKey: "shop-1001", reconcile: true).action, .found)
        XCTAssertEqual(try connection.write(stream: "orders", record: read[0], idempotencyKey: "shop-1001", targetKey: "\(outbox)/shop-1001.json").action, .updated)
        let written = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(outbox)/shop-1001.json"))) as? [String: Any])
        XCTAssertEqual((written["totals"] as? [String: Any])?["total"] as? String, "24.68")

        // An order whose lines do not add up is refused with the reason, as invalid data.
        var broken = orders[0]
        broken["totals"] = ["lines": "20.39", "shipping": "0", "payment_costs": "0", "discount": "0", "vat": "4.28", "total": "24.67"]
        XCTAssertThrowsError(try connection.write(stream: "orders", record: JSONSerialization.data(withJSONObject: broken), idempotencyKey: "shop-x")) { error in
            XCTAssertEqual(error as? PluginCallError, PluginCallError(.invalidData, "order 1001: lines add up to 20.4, totals.lines says 20.39"))
        }
        // Money as a JSON number is refused: money is a decimal string.
        var float = orders[0]
        float["totals"] = ["lines": 20.4, "shipping": "0", "payment_costs": "0", "discount": "0", "vat": "4.28", "total": "24.68"]
        XCTAssertThrowsError(try connection.write(stream: "orders", record: JSONSerialization.data(withJSONObject: float), idempotencyKey: "shop-y")) { error in
            XCTAssertEqual((error as? PluginCallError)?.status, .invalidData)
            XCTAssertTrue("\(error)".contains("$.totals.lines"), "\(error)")
        }
    }

    /// A canonical order with 21% VAT lines of (sku, quantity, unit price).
    static func order(number: String, updatedAt: String, lines: [(String, String, String)]) -> [String: Any] {
        var lineTotal = Decimal(0)
        let lineObjects: [[String: Any]] = lines.map { sku, quantity, price in
            let total = Decimal(string: quantity)! * Decimal(string: price)!
            lineTotal += total
            var vat = total * Decimal(string: "0.21")!
            var rounded = Decimal()
            NSDecimalRound(&rounded, &vat, 2, .plain)
            return ["sku": sku, "name": "Product \(sku)", "quantity": quantity, "unit_price": price, "discount": "0",
                    "vat_rate": "21", "vat_amount": "\(rounded)", "total": "\(total)"]
        }
        var vat = lineTotal * Decimal(string: "0.21")!
        var vatRounded = Decimal()
        NSDecimalRound(&vatRounded, &vat, 2, .plain)
        let address: [String: Any] = ["street": "Keizersgracht", "house_number": "1", "postcode": "1015 CJ", "city": "Amsterdam", "country": "NL"]
        return [
            "source_key": "order-\(number)", "updated_at": updatedAt, "number": number, "created_at": updatedAt,
            "status": "paid", "is_test": false, "currency": "EUR", "prices_include_vat": false,
            "customer": ["source_key": "c-\(number)", "updated_at": updatedAt, "kind": "person", "email": "o'brien@example.nl"],
            "billing_address": address, "lines": lineObjects, "shipping_costs": [], "payment_costs": [], "discounts": [],
            "totals": ["lines": "\(lineTotal)", "shipping": "0", "payment_costs": "0", "discount": "0",
                       "vat": "\(vatRounded)", "total": "\(lineTotal + vatRounded)"],
        ]
    }
}

/// The canonical record schemas in plugin-sdk/schema describe what the SDK produces.
final class RecordSchemaTests: XCTestCase {
    func testOrdersWrittenThroughTheSDKMatchTheOrderSchema() throws {
        let directory = try TestSupport.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = try TestSupport.buildSwiftExample(into: directory)
        let outbox = "\(directory)/outbox"
        try FileManager.default.createDirectory(atPath: outbox, withIntermediateDirectories: true)
        let connection = try PluginLoader(directories: []).load(path: path).open(configJSON: JSONSerialization.data(withJSONObject: ["outbox": outbox]))
        var order = ExamplePluginTests.order(number: "A-1", updatedAt: "2026-04-01T09:00:00Z", lines: [("X", "2", "4.99"), ("Y", "1", "0.01")])
        order["shipping_costs"] = [["description": "PostNL", "amount": "4.95", "vat_rate": "21", "vat_amount": "1.04"]]
        order["customer"] = ["source_key": "c1", "updated_at": "2026-04-01T09:00:00Z", "kind": "company", "company_name": "Bakkerij 't Hoekje",
                             "vat_number": "NL123456789B01", "coc_number": "12345678", "email": "info@hoekje.nl"]
        _ = try connection.write(stream: "orders", record: JSONSerialization.data(withJSONObject: order), idempotencyKey: "A-1")

        let written = "\(outbox)/A-1.json"
        let valid = try TestSupport.run("/usr/bin/env", ["python3", "\(TestSupport.repoRoot)/plugin-sdk/schema/validate.py", "order", written])
        XCTAssertEqual(valid.status, 0, valid.stdout + valid.stderr)

        // The schema does reject what the contract forbids: money as a JSON number, a
        // missing source key, a time without offset.
        var bad = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: written))) as? [String: Any])
        var totals = try XCTUnwrap(bad["totals"] as? [String: Any])
        totals["total"] = 15.23
        bad["totals"] = totals
        bad["source_key"] = nil
        bad["updated_at"] = "2026-04-01T09:00:00"
        let badFile = "\(directory)/bad.json"
        try JSONSerialization.data(withJSONObject: bad).write(to: URL(fileURLWithPath: badFile))
        let invalid = try TestSupport.run("/usr/bin/env", ["python3", "\(TestSupport.repoRoot)/plugin-sdk/schema/validate.py", "order", badFile])
        XCTAssertEqual(invalid.status, 1, invalid.stdout + invalid.stderr)
        let problems = invalid.stdout.split(separator: "\n").map { $0.replacingOccurrences(of: "\(badFile):1: ", with: "") }
        XCTAssertEqual(Set(problems.map { $0.prefix { $0 != ":" } }), ["$", "$.totals.total", "$.updated_at"], invalid.stdout)
        XCTAssertTrue(problems.contains { $0.hasPrefix("$: 'source_key' is a required property") }, invalid.stdout)
        XCTAssertTrue(problems.contains { $0.hasPrefix("$.totals.total: 15.23 is not of type 'string'") }, invalid.stdout)
        XCTAssertTrue(problems.contains { $0.hasPrefix("$.updated_at:") }, invalid.stdout)
    }
}
