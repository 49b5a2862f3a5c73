import Foundation
import KoppelHost
import XCTest

/// `koppel plugins validate`, the conformance kit a third party runs against their
/// plugin, driven as the real binary.
final class ValidateCommandTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = try TestSupport.makeTemporaryDirectory()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func lines(_ output: TestSupport.Output, _ mark: String) -> [String] {
        output.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.hasPrefix(mark) }
    }

    func testCExamplePassesWithAndWithoutConfig() throws {
        let path = try TestSupport.buildCExample(into: directory)
        let bare = try TestSupport.run(TestSupport.koppel, ["plugins", "validate", path])
        XCTAssertEqual(bare.status, 0, bare.stdout)
        XCTAssertEqual(lines(bare, "FAIL"), [])
        XCTAssertTrue(bare.stdout.contains("PASS  read-unknown-stream"), bare.stdout)

        let config = "\(directory)/config.json"
        try #"{"count": 3, "sink": "\#(directory)/sink.tsv"}"#.write(toFile: config, atomically: true, encoding: .utf8)
        let withConfig = try TestSupport.run(TestSupport.koppel, ["plugins", "validate", path, "--config", config])
        XCTAssertEqual(withConfig.status, 0, withConfig.stdout)
        XCTAssertTrue(withConfig.stdout.contains("PASS  read:items: first read of items: ok; 3 valid records emitted"), withConfig.stdout)
    }

    func testSwiftExamplePassesWithConfig() throws {
        let path = try TestSupport.buildSwiftExample(into: directory)
        let orders = "\(directory)/orders.jsonl"
        let order = ExamplePluginTests.order(number: "7", updatedAt: "2026-05-01T12:00:00Z", lines: [("A", "1", "1.00")])
        try JSONSerialization.data(withJSONObject: order).write(to: URL(fileURLWithPath: orders))
        let config = "\(directory)/config.json"
        try #"{"orders_file": "\#(orders)", "outbox": "\#(directory)"}"#.write(toFile: config, atomically: true, encoding: .utf8)

        let result = try TestSupport.run(TestSupport.koppel, ["plugins", "validate", path, "--config", config, "--json"])
        XCTAssertEqual(result.status, 0, result.stdout)
        let report = try JSONDecoder().decode(ConformanceRunner.Report.self, from: Data(result.stdout.utf8))
        XCTAssertEqual(report.results.filter { $0.verdict != .pass }, [])
        XCTAssertEqual(report.results.count, 13)
    }

    func testBrokenPluginIsReportedCaseByCase() throws {
        let path = "\(directory)/libbroken.so"
        try TestSupport.compileSharedObject(source: TestSupport.fixture("broken_contract.c"), to: path)
        let result = try TestSupport.run(TestSupport.koppel, ["plugins", "validate", path])
        XCTAssertEqual(result.status, 1, result.stdout)
        XCTAssertEqual(lines(result, "FAIL"), [
            "FAIL  open-malformed-config: leaked text it was given into an error or log line: \"cannot parse config {\"api_token\": \"koppel-canary-7f3a9c\", \"",
            "FAIL  open-empty-config: crashed the process with SIGSEGV",
            "FAIL  read-unknown-stream: read of an undeclared stream: returned ok, expected invalid-data",
            "FAIL  read-malformed-cursor:orders: read orders with a malformed cursor: returned status 42, which the ABI does not define",
            "FAIL  write-unknown-stream: write to an undeclared stream: returned invalid-data without reporting an error message",
            "FAIL  write-malformed-record:orders: write orders with a malformed record: returned invalid-data without reporting an error message",
            "FAIL  write-empty-record:orders: write orders with {}: returned invalid-data without reporting an error message",
        ])
        XCTAssertTrue(result.stdout.contains("PASS  read:orders"), result.stdout)
    }

    func testFileThatCannotLoadExitsWithTwo() throws {
        let path = "\(directory)/libfuture.so"
        try TestSupport.compileSharedObject(source: TestSupport.fixture("wrong_abi.c"), to: path)
        let result = try TestSupport.run(TestSupport.koppel, ["plugins", "validate", path])
        XCTAssertEqual(result.status, 2, result.stdout)
        XCTAssertTrue(result.stdout.contains("FAIL  load: \(path): built for Koppel plugin ABI 2.3, but this host speaks ABI \(PluginLoader.abiMajor).\(PluginLoader.abiMinor)"), result.stdout)
    }

    func testKoppelsOwnConnectorsAllLoadAndKeepTheContract() throws {
        let list = try TestSupport.run(TestSupport.koppel, ["plugins", "list", "--plugin-dir", TestSupport.productsDirectory])
        XCTAssertEqual(list.status, 0, list.stderr)
        let names = list.stdout.split(separator: "\n").dropFirst().compactMap { $0.split(separator: " ").first.map(String.init) }
        XCTAssertEqual(names, ["boekuwzending", "exact-online", "mijnwebwinkel", "null", "optiply", "winstore", "woocommerce"])
        // Settings each connector opens with (its required ones), so that every case runs.
        let directory = try TestSupport.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let settings = [
            "ExactOnline": #"{"region": "nl", "division": 1}"#, "WooCommerce": #"{"base_url": "https://winkel.example.nl"}"#,
            "Optiply": #"{"account_id": 98, "coupling_id": 1234}"#,
        ]
        for file in ["ExactOnline", "WooCommerce", "Mijnwebwinkel", "Winstore", "Optiply", "Boekuwzending", "Null"] {
            var arguments = ["plugins", "validate", "\(TestSupport.productsDirectory)/libKoppel\(file).so"]
            if let config = settings[file] {
                try config.write(toFile: "\(directory)/\(file).json", atomically: true, encoding: .utf8)
                arguments += ["--config", "\(directory)/\(file).json"]
            }
            let result = try TestSupport.run(TestSupport.koppel, arguments)
            XCTAssertFalse(result.stdout.contains("SKIP"), "\(file): every case runs: \(result.stdout)")
            XCTAssertEqual(result.status, 0, result.stdout)
            // Every connector has streams, and each stream its cases: not a pass by absence.
            let kept = result.stdout.firstMatch(of: /(\d+) checks kept the contract, 0 broke it/).flatMap { Int($0.output.1) } ?? 0
            XCTAssertGreaterThanOrEqual(kept, 10, "\(file): \(result.stdout)")
            XCTAssertTrue(result.stdout.contains("PASS  read:") || result.stdout.contains("PASS  write-empty-record:"), "\(file): \(result.stdout)")
        }
    }
}
