import Foundation
import GRDB
import KoppelHost
import XCTest

/// Flows driven through the real `koppel` binary with the C example connector on both
/// ends: its target appends each delivered record to a file, which is what these tests
/// check — the target's side, not Koppel's own ledger.
final class FlowTests: XCTestCase {
    var fixture: DeploymentFixture!
    var sink: String { "\(fixture.directory)/sink.tsv" }

    override func setUpWithError() throws {
        fixture = try DeploymentFixture()
        let plugins = "\(fixture.directory)/plugins"
        try FileManager.default.createDirectory(atPath: plugins, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        _ = try TestSupport.buildCExample(into: plugins)
    }

    override func tearDownWithError() throws {
        fixture.remove()
    }

    func writeDeployment(count: Int, mapping: String = "") throws {
        try """
            state:
              path: state/koppel.sqlite
            plugins:
              directories: [plugins]
              load: [example-c]
            connections:
              shop:
                plugin: example-c
                settings: { count: \(count) }
              books:
                plugin: example-c
                settings: { sink: "\(sink)" }
            flows:
              items:
                from: shop.items
                to: books.items
                schedule: every 1m
            \(mapping)
            """.write(toFile: fixture.configFile, atomically: true, encoding: .utf8)
        try fixture.createState()
    }

    /// The idempotency keys in the target's file, in order.
    func delivered() throws -> [String] {
        guard FileManager.default.fileExists(atPath: sink) else { return [] }
        return try String(contentsOfFile: sink, encoding: .utf8).split(separator: "\n").map { String($0.split(separator: "\t")[0]) }
    }

    func testEveryRecordArrivesExactlyOnceThroughRepeatedKills() throws {
        // Enough records that a run is still busy whenever the kill comes.
        try writeDeployment(count: 5000)
        var random = SystemRandomNumberGenerator()
        var kills = 0
        var attempts = 0
        while kills < 20 && attempts < 60 {
            attempts += 1
            let running = try TestSupport.start(TestSupport.koppel, ["sync", "items"], environment: fixture.environment)
            usleep(UInt32.random(in: 20_000...160_000, using: &random))
            if running.process.isRunning {
                kill(running.process.processIdentifier, SIGKILL)
                kills += 1
            }
            _ = running.wait()
        }
        XCTAssertGreaterThanOrEqual(kills, 20, "the runs finished before they could be killed")
        var finished = try fixture.koppel(["sync", "items"])
        for _ in 0..<3 where finished.status != 0 { finished = try fixture.koppel(["sync", "items"]) }
        XCTAssertEqual(finished.status, 0, finished.stdout + finished.stderr)

        let keys = try delivered()
        XCTAssertEqual(keys.count, 5000, "records were delivered more than once or not at all")
        XCTAssertEqual(Set(keys), Set((1...5000).map { "item-\($0)" }))
        let again = try fixture.koppel(["sync", "items"])
        XCTAssertTrue(again.stdout.contains("written 0"), again.stdout)
        XCTAssertEqual(try delivered().count, 5000)
    }

    func testRejectedRecordIsParkedAndReplayedOnceAfterTheMappingIsFixed() throws {
        try writeDeployment(count: 3, mapping: "    mapping:\n      set: { name: \"\" }")
        let first = try fixture.koppel(["sync", "items"])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stdout.contains("failed 3"), first.stdout)
        XCTAssertTrue(first.stdout.contains("koppel replay items --all-failed"), first.stdout)
        XCTAssertEqual(try delivered(), [])
        let failed = try fixture.koppel(["failed", "items"])
        XCTAssertEqual(failed.stdout.split(separator: "\n").filter { $0.contains("refused by books.items: the record has no name") }.count, 3, failed.stdout)
        let log = try fixture.koppel(["log", "items", "--record", "item-2"])
        XCTAssertTrue(log.stdout.contains("failed    item-2  refused by books.items: the record has no name"), log.stdout)

        // Unchanged, the parked records are not retried blindly.
        XCTAssertTrue(try fixture.koppel(["sync", "items"]).stdout.contains("written 0"))
        try writeDeployment(count: 3)
        let replay = try fixture.koppel(["replay", "items", "--all-failed"])
        XCTAssertEqual(replay.status, 0, replay.stdout + replay.stderr)
        XCTAssertEqual(replay.stdout, "items: replayed 3, delivered 3, still failing 0\n")
        XCTAssertEqual(try delivered(), ["item-1", "item-2", "item-3"])
        XCTAssertEqual(try fixture.koppel(["replay", "items", "--all-failed"]).stdout, "items: replayed 0, delivered 0, still failing 0\n")
        XCTAssertEqual(try fixture.koppel(["replay", "items", "--record", "item-9"]).status, 1)
        XCTAssertEqual(try delivered().count, 3)
    }

    func testDryRunWritesNothingAndSinceBackfillsOnlyThatPeriod() throws {
        try writeDeployment(count: 100)
        let dry = try fixture.koppel(["sync", "items", "--dry-run"])
        XCTAssertEqual(dry.status, 0, dry.stderr)
        XCTAssertEqual(dry.stdout.split(separator: "\n").filter { $0.hasPrefix("would write") }.count, 100)
        XCTAssertFalse(FileManager.default.fileExists(atPath: sink))
        let runtime = try fixture.runtime()
        XCTAssertEqual(try runtime.store.ledgerCounts(flow: "items"), [:])
        XCTAssertNil(try runtime.store.cursor(flow: "items", stream: "items"))
        XCTAssertEqual(try runtime.store.runs(flow: "items", limit: 5), [])

        // Item i was updated i seconds after midnight: the minute from 00:01:00 holds items 60 to 69 of the first ten seconds.
        let backfill = ["sync", "items", "--since", "2026-01-01T00:01:00Z", "--until", "2026-01-01T00:01:09Z"]
        XCTAssertEqual(try fixture.koppel(backfill).status, 0)
        XCTAssertEqual(try delivered(), (60...69).map { "item-\($0)" })
        XCTAssertTrue(try fixture.koppel(backfill).stdout.contains("written 0, unchanged 10"))
        XCTAssertEqual(try delivered().count, 10)
        XCTAssertNil(try runtime.store.cursor(flow: "items", stream: "items"), "a backfill moved the flow's position")

        // The regular run then delivers the rest, and nothing twice.
        XCTAssertEqual(try fixture.koppel(["sync", "items"]).status, 0)
        XCTAssertEqual(Set(try delivered()), Set((1...100).map { "item-\($0)" }))
        XCTAssertEqual(try delivered().count, 100)
    }

    func testTwoProcessesNeverRunTheSameFlowAtOnce() throws {
        // Long enough that the second process surely starts while the first delivers.
        let total = 4_000
        try writeDeployment(count: total)
        let first = try TestSupport.start(TestSupport.koppel, ["sync", "items"], environment: fixture.environment)
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, (try? delivered().count) ?? 0 < 100 { usleep(10_000) }
        let midway = try delivered().count
        XCTAssertTrue((100..<total / 2).contains(midway), "the first run is under way (\(midway) delivered)")
        let second = try fixture.koppel(["sync", "items"])
        let firstResult = first.wait()
        XCTAssertEqual(firstResult.status, 0, firstResult.stderr)
        XCTAssertNotEqual(second.status, 0, "a second process ran the flow while the first did")
        XCTAssertTrue(second.stderr.contains("flow items is running in another process"), second.stderr)
        let runs = try fixture.runtime().store.runs(flow: "items", limit: 10)
        for a in runs {
            for b in runs where a.id < b.id {
                let overlap = a.startedAt < (b.finishedAt ?? .distantFuture) && b.startedAt < (a.finishedAt ?? .distantFuture)
                XCTAssertFalse(overlap, "runs \(a.id) and \(b.id) of one flow overlapped")
            }
        }
        XCTAssertEqual(try delivered().count, total)
    }

    /// `koppel run`: the scheduler as a service, shared by two processes, stopped gracefully.
    func testTwoRunProcessesShareAFlowAndStopGracefully() throws {
        let flows = self
        try flows.writeDeployment(count: 2500)
        let config = try String(contentsOfFile: flows.fixture.configFile, encoding: .utf8).replacingOccurrences(of: "every 1m", with: "every 1s")
        try config.write(toFile: flows.fixture.configFile, atomically: true, encoding: .utf8)

        // Each process serves its own dashboard; a taken address is named, not hung on.
        let ports = try [TestSupport.freePort(), TestSupport.freePort()]
        let first = try TestSupport.start(TestSupport.koppel, ["run", "--listen", "127.0.0.1:\(ports[0])"], environment: flows.fixture.environment)
        let second = try TestSupport.start(TestSupport.koppel, ["run", "--listen", "127.0.0.1:\(ports[1])"], environment: flows.fixture.environment)
        usleep(1_000_000)
        let clash = try flows.fixture.koppel(["run", "--listen", "127.0.0.1:\(ports[0])"])
        XCTAssertEqual(clash.status, 1)
        XCTAssertTrue(clash.stderr.contains("could not listen on 127.0.0.1:\(ports[0]): another program uses it"), clash.stderr)
        usleep(2_000_000)
        kill(first.process.processIdentifier, SIGTERM)
        kill(second.process.processIdentifier, SIGTERM)
        let results = [first.wait(), second.wait()]
        XCTAssertEqual(results.map(\.status), [0, 0], results.map(\.stderr).joined())
        XCTAssertTrue(results.contains { $0.stderr.contains("koppel run: stopped") })

        let runs = try flows.fixture.runtime().store.runs(flow: "items", limit: 100)
        XCTAssertFalse(runs.isEmpty)
        for a in runs {
            for b in runs where a.id < b.id {
                let overlap = a.startedAt < (b.finishedAt ?? .distantFuture) && b.startedAt < (a.finishedAt ?? .distantFuture)
                XCTAssertFalse(overlap, "runs \(a.id) and \(b.id) overlapped")
            }
        }
        XCTAssertTrue(runs.allSatisfy { $0.status != .running }, "a run was left unfinished")

        // Whatever the stop interrupted, the next run completes it without duplicates.
        XCTAssertEqual(try flows.fixture.koppel(["sync", "items"]).status, 0)
        XCTAssertEqual(try flows.delivered().count, 2500)
        XCTAssertEqual(Set(try flows.delivered()).count, 2500)
    }

    /// A run killed with -9 cannot close its own record; the flow's next run does.
    func testARunKilledMidwayIsClosedAsInterruptedByTheNextRun() throws {
        try writeDeployment(count: 5000)
        let running = try TestSupport.start(TestSupport.koppel, ["sync", "items"], environment: fixture.environment)
        let deadline = Date().addingTimeInterval(30)
        while (try? delivered().count) ?? 0 < 10 && Date() < deadline { usleep(10_000) }
        kill(running.process.processIdentifier, SIGKILL)
        _ = running.wait()
        XCTAssertEqual(try fixture.runtime().store.runs(flow: "items", limit: 5).map(\.status), [.running])

        XCTAssertEqual(try fixture.koppel(["sync", "items"]).status, 0)
        let runs = try fixture.runtime().store.runs(flow: "items", limit: 5)
        XCTAssertEqual(runs.map(\.status), [.succeeded, .interrupted])
        XCTAssertTrue(runs[1].error?.contains("ended without finishing it") == true, "\(runs[1])")
        XCTAssertNotNil(runs[1].finishedAt)
        XCTAssertTrue(try fixture.koppel(["runs", "items"]).stdout.contains("interrupted"))
        XCTAssertEqual(try delivered().count, 5000)
    }

    /// The state file failing in the middle of a run (here SQLite refusing one ledger
    /// write) fails the run loudly, naming the file and SQLite's message; it is not
    /// reported as a normal stop.
    func testAStateFileThatFailsDuringARunFailsItNamingTheFile() throws {
        try writeDeployment(count: 100)
        let queue = try DatabaseQueue(path: fixture.stateFile)
        try queue.write { db in
            try db.execute(sql: """
                CREATE TRIGGER failing_disk BEFORE INSERT ON ledger WHEN NEW.source_key = 'item-50'
                BEGIN SELECT RAISE(ABORT, 'disk I/O error on the ledger page'); END
                """)
        }
        try queue.close()

        let run = try fixture.koppel(["sync", "items"])
        XCTAssertNotEqual(run.status, 0, run.stdout)
        XCTAssertTrue(run.stderr.contains("flow items failed: the state file \(fixture.stateFile) failed: disk I/O error on the ledger page"), run.stderr)
        XCTAssertFalse(run.stderr.contains("was stopped"), run.stderr)
        let last = try XCTUnwrap(try fixture.runtime().store.runs(flow: "items", limit: 1).first)
        XCTAssertEqual(last.status, .failed)
        XCTAssertTrue(last.error?.contains(fixture.stateFile) == true, "\(last)")
        XCTAssertEqual(try delivered().count, 49, "records after the failure were delivered")
    }

    /// `koppel sync` ends with what is left to do when records are parked or wait for a retry.
    func testSyncSaysOnItsLastLineWhatIsParkedOrWaiting() throws {
        try writeDeployment(count: 3, mapping: "    mapping:\n      set: { name: \"\" }")
        let first = try fixture.koppel(["sync", "items"])
        let lastLine = first.stdout.split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertTrue(lastLine.hasPrefix("not done: 3 record(s) parked"), first.stdout)
        // A later run that parks nothing new still says so.
        let second = try fixture.koppel(["sync", "items"])
        XCTAssertTrue(second.stdout.split(separator: "\n").last?.hasPrefix("not done: 3 record(s) parked") == true, second.stdout)
        try writeDeployment(count: 3)
        XCTAssertEqual(try fixture.koppel(["replay", "items", "--all-failed"]).status, 0)
        XCTAssertFalse(try fixture.koppel(["sync", "items"]).stdout.contains("not done"))
    }
}
