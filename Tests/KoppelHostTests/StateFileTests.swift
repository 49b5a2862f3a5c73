import Foundation
import KoppelHost
import XCTest

/// The state file as an operator meets it: created only on purpose, checked when opened,
/// its errors naming it, and leases whose fencing tokens stop a writer that lost its turn.
final class StateFileTests: XCTestCase {
    var directory: String!
    var path: String { "\(directory!)/state.sqlite" }

    override func setUpWithError() throws {
        directory = try TestSupport.makeTemporaryDirectory("koppel-state")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func entry(_ key: String, _ state: LedgerEntry.State = .pending) -> LedgerEntry {
        LedgerEntry(flow: "f", sourceKey: key, contentHash: "h", state: state, updatedAt: Date())
    }

    func testAMissingOrEmptyFileIsRefusedAndCreatedOnlyOnPurpose() throws {
        XCTAssertThrowsError(try SQLiteStateStore(path: path)) { XCTAssertEqual($0 as? StateStoreError, .missing(path: path)) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        FileManager.default.createFile(atPath: path, contents: Data())
        XCTAssertThrowsError(try SQLiteStateStore(path: path)) { XCTAssertEqual($0 as? StateStoreError, .missing(path: path)) }

        let created = try SQLiteStateStore(path: path, create: true)
        try created.putLedgerEntry(entry("a", .done))
        var info = stat()
        XCTAssertEqual(stat(path, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o600, "the state file is readable by others")
        XCTAssertEqual(try SQLiteStateStore(path: path).ledgerEntry(flow: "f", sourceKey: "a")?.state, .done)
    }

    func testADamagedFileIsNamedWhenOpened() throws {
        do {
            // Closed at the end of this scope: SQLite moves the WAL into the file.
            let store = try SQLiteStateStore(path: path, create: true)
            for index in 0..<2_000 {
                var record = entry("order-\(index)", .failed)
                record.record = Data(repeating: UInt8(index % 250), count: 200)
                try store.putLedgerEntry(record)
            }
        }
        _ = try SQLiteStateStore(path: path)  // fine so far
        // Overwrite pages in the middle of the file.
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: path))
        let size = try handle.seekToEnd()
        XCTAssertGreaterThan(size, 64 * 4096, "the file is large enough to damage its middle")
        try handle.seek(toOffset: size / 2)
        handle.write(Data(repeating: 0xA5, count: 4096 * 8))
        try handle.close()

        XCTAssertThrowsError(try SQLiteStateStore(path: path)) { error in
            guard case .damaged(let named, let reason)? = error as? StateStoreError else { return XCTFail("\(error)") }
            XCTAssertEqual(named, self.path)
            XCTAssertFalse(reason.isEmpty)
            XCTAssertTrue("\(error)".contains("Restore its backup"), "\(error)")
        }
    }

    func testAWriterWhoseLeasePassedToAnotherIsRefused() throws {
        let store = try SQLiteStateStore(path: path, create: true)
        let first = Lease(name: "flow:f", store: store)
        let second = Lease(name: "flow:f", store: store)
        XCTAssertTrue(try first.acquire(ttl: 0.2))
        XCTAssertFalse(try second.acquire(ttl: 0.2), "two holders at once")
        let firstFence = try XCTUnwrap(first.fence)
        try store.putLedgerEntry(entry("a"), fence: firstFence)

        usleep(300_000)  // the first holder stalls past its lease; the second takes over
        XCTAssertTrue(try second.acquire(ttl: 5))
        let secondFence = try XCTUnwrap(second.fence)
        XCTAssertGreaterThan(secondFence.token, firstFence.token)

        XCTAssertThrowsError(try store.putLedgerEntry(entry("b"), fence: firstFence)) {
            guard case .leaseLost? = $0 as? StateStoreError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try store.commitDelivery(entry("a", .done), cursor: nil, fence: firstFence))
        XCTAssertNil(try store.ledgerEntry(flow: "f", sourceKey: "b"), "a refused write stored something")
        XCTAssertEqual(try store.ledgerEntry(flow: "f", sourceKey: "a")?.state, .pending)
        XCTAssertFalse(try first.renew(ttl: 5), "the stale holder renewed a lease it lost")
        try store.commitDelivery(entry("a", .done), cursor: nil, fence: secondFence)
        XCTAssertEqual(try store.ledgerEntry(flow: "f", sourceKey: "a")?.state, .done)

        // Released, the lease's next holder still gets a larger token.
        second.release()
        let third = Lease(name: "flow:f", store: store)
        XCTAssertTrue(try third.acquire(ttl: 5))
        XCTAssertGreaterThan(try XCTUnwrap(third.fence).token, secondFence.token)
    }

    func testAHeartbeatKeepsALeaseAliveAndStopsWhenTheLeaseIsTaken() throws {
        let store = try SQLiteStateStore(path: path, create: true)
        let holder = Lease(name: "flow:f", store: store)
        XCTAssertTrue(try holder.acquire(ttl: 0.4))
        let heartbeat = LeaseHeartbeat(lease: holder, ttl: 0.4)
        let other = Lease(name: "flow:f", store: store)
        for _ in 0..<6 {
            usleep(250_000)
            XCTAssertFalse(try other.acquire(ttl: 0.4), "the lease lapsed while its holder was alive")
        }
        XCTAssertFalse(heartbeat.lost)
        heartbeat.stop()
        usleep(600_000)
        XCTAssertTrue(try other.acquire(ttl: 30), "a stopped heartbeat still held the lease")

        // A heartbeat that finds the lease taken says so.
        let lostHeartbeat = LeaseHeartbeat(lease: holder, ttl: 0.2)
        let deadline = Date().addingTimeInterval(10)
        while !lostHeartbeat.lost && Date() < deadline { usleep(20_000) }
        XCTAssertTrue(lostHeartbeat.lost)
    }
}
