import Foundation
import KoppelHost
import KoppelSandbox
import XCTest

/// Faults are switched on per run, by share, and the CLI starts the whole sandbox.
final class SandboxFaultTests: XCTestCase {
    func testFaultSharesApplyAndAreCounted() async throws {
        var options = Sandbox.Options()
        options.faults = try FaultPlan(parsing: "5xx=0.5")
        let sandbox = try await Sandbox.start(options)
        defer { sandbox.stop() }
        let client = CurlHTTPClient()
        let url = "\(sandbox.endpoints[2].baseURL)/v1/articles?token=mww-sandbox-store-token-7c1e&partner_token=mww-sandbox-partner-token-42"
        var statuses: [Int] = []
        for _ in 0..<200 {
            guard case .response(let response) = client.send(OutboundRequest(method: "GET", url: url)) else { return XCTFail("no answer") }
            statuses.append(response.status)
        }
        let failed = statuses.filter { $0 >= 500 }.count
        XCTAssertTrue((60...140).contains(failed), "\(failed) of 200 failed with a share of 0.5")
        XCTAssertEqual(statuses.filter { $0 == 200 }.count, 200 - failed)
        XCTAssertEqual(sandbox.faults.counts[.serverError], failed)

        // Resets cut the connection; token failures hit only the token endpoint.
        sandbox.faults.set(try FaultPlan(parsing: "reset=1,token=1"))
        guard case .unknown = client.send(OutboundRequest(method: "GET", url: url)) else { return XCTFail("the connection was not reset") }
        var token = OutboundRequest(method: "POST", url: "\(sandbox.endpoints[0].baseURL)/api/oauth2/token", body: Data("grant_type=refresh_token".utf8))
        token.setHeader("Content-Type", "application/x-www-form-urlencoded")
        guard case .response(let refused) = client.send(token) else { return XCTFail("no answer from the token endpoint") }
        XCTAssertEqual(refused.status, 503)

        XCTAssertThrowsError(try FaultPlan(parsing: "5xx=2")) { XCTAssertTrue("\($0)".contains("between 0 and 1")) }
        XCTAssertThrowsError(try FaultPlan(parsing: "lightning=0.1")) { XCTAssertTrue("\($0)".contains("unknown fault")) }
    }

    func testSandboxCommandPrintsEndpointsAndStopsOnSignal() throws {
        let running = try TestSupport.start(TestSupport.koppel, ["sandbox", "--orders", "20", "--faults", "slow=0"])
        let line = try XCTUnwrap(running.waitForLine { $0.contains("api_token:") }, "the sandbox did not print its endpoints")
        XCTAssertEqual(line.trimmingCharacters(in: .whitespaces), "api_token: mww-sandbox-store-token-7c1e")
        let base = try XCTUnwrap(running.waitForLine { $0.contains("base_url:") && $0.contains("127.0.0.1") })
        let url = base.replacingOccurrences(of: "base_url:", with: "").trimmingCharacters(in: .whitespaces)
        guard case .response(let answer) = CurlHTTPClient().send(OutboundRequest(method: "POST", url: "\(url)/_sandbox/exact/tokens")) else {
            return XCTFail("the Exact fake does not answer")
        }
        XCTAssertEqual(answer.status, 200)
        kill(running.process.processIdentifier, SIGINT)
        XCTAssertEqual(running.wait().status, 0)
    }
}
