import Foundation
import KoppelHost
import XCTest

/// The one retry policy of the host: its backoff, and the two ways work is tried again.
final class RetryPolicyTests: XCTestCase {
    struct Passing: Error {}
    struct Lasting: Error {}

    func testAHeldRecordWaitsFifteenSecondsDoublingToAnHour() {
        let waits = (1...10).map { RetryPolicy.heldRecord.backoff(after: $0) }
        XCTAssertEqual(waits, [15, 30, 60, 120, 240, 480, 960, 1920, 3600, 3600])
        XCTAssertEqual(RetryPolicy.heldRecord.backoff(after: 10_000), 3600, "no overflow after many attempts")
    }

    func testJitteredWaitsStayUnderTheirCeiling() {
        let policy = RetryPolicy.http
        for attempt in 1...8 {
            let ceiling = min(30, 0.5 * Double(1 << (attempt - 1)))
            let waits = (0..<200).map { _ in policy.backoff(after: attempt) }
            XCTAssertTrue(waits.allSatisfy { $0 >= 0 && $0 <= ceiling }, "attempt \(attempt)")
            XCTAssertGreaterThan(Set(waits).count, 1, "jittered, not fixed")
        }
    }

    func testRunTriesAgainOnlyWhatIsRetryableAndOnlyAsOftenAsAllowed() throws {
        let policy = RetryPolicy(maxAttempts: 3, baseDelay: 0, maxDelay: 0, jitter: false)
        var attempts: [Int] = []
        XCTAssertEqual(try policy.run(retryable: { $0 is Passing }) { attempt -> String in
            attempts.append(attempt)
            if attempt < 3 { throw Passing() }
            return "done"
        }, "done")
        XCTAssertEqual(attempts, [1, 2, 3])

        attempts = []
        XCTAssertThrowsError(try policy.run(retryable: { $0 is Passing }) { attempt -> Int in
            attempts.append(attempt)
            throw Passing()
        }) { XCTAssertTrue($0 is Passing) }
        XCTAssertEqual(attempts, [1, 2, 3], "the last error after the last attempt")

        attempts = []
        XCTAssertThrowsError(try policy.run(retryable: { $0 is Passing }) { attempt -> Int in
            attempts.append(attempt)
            throw Lasting()
        }) { XCTAssertTrue($0 is Lasting) }
        XCTAssertEqual(attempts, [1], "an error that is not retryable ends it at once")
    }

    func testRepeatingStopsAtTheFirstGoodResult() {
        let policy = RetryPolicy(maxAttempts: 4, baseDelay: 0, maxDelay: 0, jitter: false)
        var calls = 0
        XCTAssertEqual(policy.repeating({ () -> Int in calls += 1; return calls }, while: { $0 < 2 }), 2)
        XCTAssertEqual(calls, 2)
        calls = 0
        XCTAssertEqual(policy.repeating({ () -> Int in calls += 1; return calls }, while: { _ in true }), 4, "at most maxAttempts")
    }

    func testAResponseStatusIsClassedByWhetherTheRequestMaySafelyGoTwice() {
        XCTAssertEqual(RetryPolicy.classify(status: 503, idempotent: true), .retry)
        XCTAssertEqual(RetryPolicy.classify(status: 503, idempotent: false), .unknownOutcome, "a POST answered 5xx may have been booked")
        XCTAssertEqual(RetryPolicy.classify(status: 429, idempotent: false), .rateLimited)
        XCTAssertEqual(RetryPolicy.classify(status: 404, idempotent: true), .final)
    }
}
