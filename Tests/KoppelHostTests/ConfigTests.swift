import Foundation
import KoppelHost
import XCTest

/// A deployment file's mistakes are all reported at once, each as `file:line: key: what`.
final class ConfigTests: XCTestCase {
    func testThreeMistakesGiveThreeLocatedMessages() throws {
        let fixture = try DeploymentFixture()
        defer { fixture.remove() }
        let plugins = "\(fixture.directory)/plugins"
        try FileManager.default.createDirectory(atPath: plugins, withIntermediateDirectories: true)
        _ = try TestSupport.buildCExample(into: plugins)
        try fixture.write(load: ["exact-online", "example-c"], connections: """
            exact:
              plugin: exact-online
              settings:
                region: mars
                divison: 12
            demo:
              plugin: example-c
              settings: { count: 3 }
            """, flows: """
            nightly:
              from: demo.items
              to: demo.items
              schedule: every fortnight
            """)
        let text = try String(contentsOfFile: fixture.configFile, encoding: .utf8)
            .replacingOccurrences(of: "directories: [\(TestSupport.productsDirectory)]", with: "directories: [\(TestSupport.productsDirectory), plugins]")
        try text.write(toFile: fixture.configFile, atomically: true, encoding: .utf8)

        let file = fixture.configFile
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        func line(_ needle: String) -> Int { (lines.firstIndex { $0.contains(needle) } ?? -1) + 1 }
        let expected = [
            "\(file):\(line("region: mars")): connections.exact.settings.region: \"mars\" is not one of nl, be, uk, de, fr, es, us",
            "\(file):\(line("divison")): connections.exact.settings.divison: unknown setting (known settings: base_url, client_id, client_secret, cost_center, cost_unit, currency, default_debtor, discounts, division, item_attributes, journal, payment_costs, process_invoices, redirect_uri, region, revenue_accounts, sales_order_statuses, shipping, update_accounts, update_items, vat_codes, warehouse, webhook_secret)",
            "\(file):\(line("every fortnight")): flows.nightly.schedule: \"every fortnight\": the interval must be a number with s, m or h, such as every 15m",
        ]

        XCTAssertThrowsError(try fixture.runtime()) { error in
            guard case .invalid(let issues)? = error as? ConfigError else { return XCTFail("\(error)") }
            XCTAssertEqual(issues.map(\.description), expected)
        }
        // The CLI says the same, one line each, and exits non-zero.
        let check = try fixture.koppel(["check"])
        XCTAssertNotEqual(check.status, 0)
        XCTAssertEqual(check.stderr.split(separator: "\n").map { $0.replacingOccurrences(of: "Error: ", with: "") }, expected, check.stderr)
    }

    /// `sign_in_with` must name another connection of the same plugin that signs in
    /// itself, and only an OAuth sign-in can be shared.
    func testASharedSignInMustNameAConnectionThatSignsIn() throws {
        let fixture = try DeploymentFixture()
        defer { fixture.remove() }
        try fixture.write(load: ["exact-online", "null"], connections: """
            exact: { plugin: exact-online, settings: { region: nl } }
            second: { plugin: exact-online, settings: { region: nl }, sign_in_with: exact }
            third: { plugin: exact-online, settings: { region: nl }, sign_in_with: second }
            fourth: { plugin: exact-online, settings: { region: nl }, sign_in_with: nobody }
            sink: { plugin: null, sign_in_with: exact }
            """)
        let lines = try String(contentsOfFile: fixture.configFile, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        func line(_ needle: String) -> Int { (lines.firstIndex { $0.contains(needle) } ?? -1) + 1 }
        let file = fixture.configFile
        XCTAssertThrowsError(try fixture.runtime()) { error in
            guard case .invalid(let issues)? = error as? ConfigError else { return XCTFail("\(error)") }
            XCTAssertEqual(issues.map(\.description), [
                "\(file):\(line("third:")): connections.third.sign_in_with: second uses the sign-in of exact itself; name exact here",
                "\(file):\(line("fourth:")): connections.fourth.sign_in_with: no other connection named nobody",
                "\(file):\(line("sink:")): connections.sink.sign_in_with: exact uses plugin exact-online, not null; only a connection of the same plugin can share its sign-in",
                "\(file):\(line("sink:")): connections.sink.sign_in_with: null has no OAuth sign-in to share; remove sign_in_with",
            ])
        }
    }

    func testSecretSettingInTheFileIsRefused() throws {
        let fixture = try DeploymentFixture()
        defer { fixture.remove() }
        try fixture.write(load: ["exact-online"], connections: """
            exact:
              plugin: exact-online
              settings: { region: nl, client_secret: "oops-in-clear-text" }
            """)
        XCTAssertThrowsError(try fixture.runtime()) { error in
            XCTAssertTrue("\(error)".contains("connections.exact.settings.client_secret: is a secret and does not belong in this file; store it with `koppel secrets set exact client_secret`"), "\(error)")
        }
    }

    /// The names the dashboard answers to (the DNS-rebinding guard), from `server`.
    func testTheDashboardsNamesFollowListenAndPublicURL() throws {
        XCTAssertEqual(ServerSettings.address("[::1]:8720")?.host, "::1")
        XCTAssertEqual(ServerSettings.address("[::]:9000")?.port, 9000)
        XCTAssertNil(ServerSettings.address("[::1:8720"))
        XCTAssertNil(ServerSettings.address("example.nl"))
        let directory = try TestSupport.makeTemporaryDirectory("koppel-server")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func accepted(_ server: String) throws -> Set<String>? {
            let file = "\(directory)/koppel.yaml"
            try "plugins: { directories: [], load: [] }\nserver: \(server)\n".write(toFile: file, atomically: true, encoding: .utf8)
            return try Deployment.load(file: file).server.acceptedHosts
        }
        let loopback = try XCTUnwrap(try accepted("{ listen: \"127.0.0.1:8720\" }"))
        XCTAssertTrue(loopback.isSuperset(of: ["127.0.0.1:8720", "localhost:8720", "[::1]:8720", "localhost"]))
        XCTAssertFalse(loopback.contains("rebind.example:8720"))
        XCTAssertNil(try accepted("{ listen: \"0.0.0.0:8720\" }"), "every address and no public URL: the token guards it")
        let published = try XCTUnwrap(try accepted("{ listen: \"0.0.0.0:8720\", public_url: \"https://Koppel.Example.nl\" }"))
        XCTAssertTrue(published.contains("koppel.example.nl"))
        XCTAssertTrue(published.contains("127.0.0.1:8720"))
        XCTAssertFalse(published.contains("0.0.0.0:8720"))
    }

    func testSchedulesParse() throws {
        XCTAssertEqual(try FlowSchedule(parsing: "every 15m"), .every(900))
        XCTAssertEqual(try FlowSchedule(parsing: "daily 02:00").description, "cron \"0 2 * * *\"")
        let cron = try CronExpression("0 2 * * *")
        let next = cron.next(after: ISO8601DateFormatter().date(from: "2026-03-01T02:00:00Z")!)
        XCTAssertEqual(ISO8601DateFormatter().string(from: next), "2026-03-02T02:00:00Z")
        XCTAssertThrowsError(try CronExpression("61 * * * *"))
        XCTAssertEqual(try FlowSchedule(parsing: "webhook"), .webhook(poll: 900))
        XCTAssertEqual(try FlowSchedule(parsing: "webhook, poll every 2m"), .webhook(poll: 120))
        XCTAssertEqual(try FlowSchedule(parsing: "webhook, poll every 2m").description, "webhook, poll every 2m")
        XCTAssertThrowsError(try FlowSchedule(parsing: "webhook, every 2m"))
    }

    /// A merchant's 02:00 is Amsterdam's: 01:00 UTC in winter, 00:00 UTC in summer; on the
    /// night summer time starts 02:00 does not exist and the run comes at the jump; on the
    /// night it ends 02:00 comes twice and the run comes once.
    func testDailySchedulesFollowTheMerchantsClock() throws {
        let schedule = try FlowSchedule(parsing: "daily 02:00 Europe/Amsterdam")
        XCTAssertEqual(schedule.description, "cron \"0 2 * * *\" Europe/Amsterdam")
        guard case .cron(let cron) = schedule else { return XCTFail("\(schedule)") }
        let iso = ISO8601DateFormatter()
        func after(_ text: String) -> String { iso.string(from: cron.next(after: iso.date(from: text)!)) }
        XCTAssertEqual(after("2026-01-10T12:00:00Z"), "2026-01-11T01:00:00Z")
        XCTAssertEqual(after("2026-06-10T12:00:00Z"), "2026-06-11T00:00:00Z")
        XCTAssertEqual(after("2026-03-28T12:00:00Z"), "2026-03-29T01:00:00Z", "summer time starts: at the jump to 03:00")
        XCTAssertEqual(after("2026-10-24T12:00:00Z"), "2026-10-25T00:00:00Z", "the first 02:00 of the night summer time ends")
        XCTAssertEqual(after("2026-10-25T00:00:00Z"), "2026-10-26T01:00:00Z", "not the second 02:00")
        XCTAssertEqual(try FlowSchedule(parsing: "cron \"30 6 * * 1-5\" Europe/Amsterdam").description, "cron \"30 6 * * 1-5\" Europe/Amsterdam")
        XCTAssertThrowsError(try FlowSchedule(parsing: "daily 02:00 Europe/Amsterdan")) { error in
            XCTAssertTrue("\(error)".contains("Europe/Amsterdan is not a time zone"), "\(error)")
        }
    }
}
