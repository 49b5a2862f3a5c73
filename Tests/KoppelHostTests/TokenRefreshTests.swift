import Foundation
import KoppelHost
import XCTest

/// Single-use, rotating refresh tokens (Exact Online's kind) shared by threads and by
/// processes: one refresh per expiry, and never an old refresh token on the wire.
final class TokenRefreshTests: XCTestCase {
    var fixture: DeploymentFixture!
    var oauth: FakeOAuthServer!

    override func setUp() async throws {
        fixture = try DeploymentFixture()
        oauth = try await FakeOAuthServer.start()
        try fixture.write(load: ["exact-online"], connections: oauth.connectionYAML)
        let secret = try fixture.koppel(["secrets", "set", "exact", "client_secret"], stdin: "client-secret-value\n")
        XCTAssertEqual(secret.status, 0, secret.stderr)
    }

    override func tearDown() async throws {
        oauth.stop()
        fixture.remove()
    }

    /// Stores tokens as if the access token had just expired, with the server's current
    /// refresh token.
    private func storeExpiredTokens() throws {
        let current = oauth.state.current
        let tokens = #"{"accessToken":"\#(current.accessToken)","refreshToken":"\#(current.refreshToken)","expiresAt":"2020-01-01T00:00:00Z"}"#
        try fixture.runtime().vault().set(connection: "exact", name: OAuth2TokenManager.vaultName, value: tokens)
    }

    /// Ten threads of this process and two `koppel check` processes want a token at once.
    private func stampede() throws -> (tokens: [String], checks: [TestSupport.Output]) {
        let runtime = try fixture.runtime()
        let manager = try runtime.tokenManager("exact")
        let checks = Shared<[TestSupport.Output]>([])
        let tokens = Shared<[String]>([])
        let group = DispatchGroup()
        let fixture = self.fixture!
        for _ in 0..<2 {
            DispatchQueue.global().async(group: group) {
                if let output = try? fixture.koppel(["check", "exact"]) { checks.with { $0.append(output) } }
            }
        }
        DispatchQueue.concurrentPerform(iterations: 10) { _ in
            if let token = try? manager.accessToken() { tokens.with { $0.append(token) } }
        }
        group.wait()
        return (tokens.current, checks.current)
    }

    /// Two divisions under one Exact user: the second connection uses the first one's
    /// sign-in, so a token is refreshed once for both (Exact counts token calls per user).
    func testConnectionsSharingASignInRefreshOnce() throws {
        try fixture.write(load: ["exact-online"], connections: oauth.connectionYAML + """

            second:
              plugin: exact-online
              sign_in_with: exact
              settings: { base_url: \(oauth.baseURL), client_id: client-1, division: 43 }
            """)
        try storeExpiredTokens()
        let runtime = try fixture.runtime()
        XCTAssertTrue(try runtime.tokenManager("second") === runtime.tokenManager("exact"))
        for connection in ["exact", "second", "exact", "second"] {
            let check = try fixture.koppel(["check", connection])
            XCTAssertEqual(check.stdout.firstLine, "\(connection): ok", check.stderr)
        }
        XCTAssertEqual(oauth.state.current.refreshes, 1, "one refresh serves both connections")
        XCTAssertEqual(oauth.state.current.staleRefreshTokens, [])
    }

    /// Exact lets a refresh token expire after 30 unused days (R-AUTH-7): a connection
    /// quiet for half that is refreshed by the keep-alive, and only then.
    func testAQuietConnectionIsRefreshedBeforeItsRefreshTokenExpiresIdle() throws {
        try storeExpiredTokens()
        let manager = try fixture.runtime().tokenManager("exact")
        let now = Date()
        XCTAssertFalse(try manager.keepAlive(now: now), "tokens stored without an issue time count from now")
        XCTAssertFalse(try manager.keepAlive(now: now.addingTimeInterval(14 * 86_400)))
        XCTAssertEqual(oauth.state.current.refreshes, 0)
        XCTAssertTrue(try manager.keepAlive(now: now.addingTimeInterval(16 * 86_400)))
        XCTAssertEqual(oauth.state.current.refreshes, 1)
        XCTAssertEqual(try manager.accessToken(), oauth.state.current.accessToken, "the refreshed tokens are the ones used")
        XCTAssertFalse(try manager.keepAlive(now: Date()), "just refreshed")
        XCTAssertEqual(oauth.state.current.refreshes, 1)
        XCTAssertEqual(oauth.state.current.staleRefreshTokens, [])
    }

    func testOneRefreshPerExpiryAcrossThreadsAndProcesses() throws {
        // A slow token endpoint: the other process starts while the refresh is under way.
        oauth.state.with { $0.refreshDelay = 1.0 }
        try storeExpiredTokens()
        let first = try stampede()
        XCTAssertEqual(first.tokens, Array(repeating: "at-1", count: 10))
        XCTAssertEqual(first.checks.map(\.stdout.firstLine), ["exact: ok", "exact: ok"], first.checks.map(\.stderr).joined())
        XCTAssertEqual(oauth.state.current.refreshes, 1)
        XCTAssertEqual(oauth.state.current.staleRefreshTokens, [])

        // The access token expires again: again exactly one refresh, with the new token.
        try storeExpiredTokens()
        let second = try stampede()
        XCTAssertEqual(second.tokens, Array(repeating: "at-2", count: 10))
        XCTAssertEqual(second.checks.map(\.status), [0, 0])
        XCTAssertEqual(oauth.state.current.refreshes, 2)
        XCTAssertEqual(oauth.state.current.staleRefreshTokens, [])
    }

    func testRefusedRefreshTokenAsksToSignInAgain() throws {
        try storeExpiredTokens()
        oauth.state.with { $0.refreshToken = "rt-someone-else-used" }
        let check = try fixture.koppel(["check", "exact"])
        XCTAssertEqual(check.status, 1)
        XCTAssertTrue(check.stdout.contains("refused the refresh token (invalid_grant: Old refresh token used.); sign in again with `koppel auth exact`"), check.stdout)
        XCTAssertEqual(oauth.state.current.staleRefreshTokens.count, 1)

        // A refused sign-in needs a person: four more processes ask, none of them sends the
        // dead refresh token again, and each says why and what to do.
        let fixture = self.fixture!
        let checks = Shared<[TestSupport.Output]>([])
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            if let output = try? fixture.koppel(["check", "exact"]) { checks.with { $0.append(output) } }
        }
        XCTAssertEqual(checks.current.map(\.status), [1, 1, 1, 1])
        for output in checks.current {
            XCTAssertTrue(output.stdout.contains("is paused: its refresh token was refused at "), output.stdout)
            XCTAssertTrue(output.stdout.contains("Koppel asks no more until you sign in again with `koppel auth exact`"), output.stdout)
        }
        XCTAssertEqual(oauth.state.current.staleRefreshTokens.count, 1, "the refused refresh token was sent again")

        // Signing in again (the consent's code exchanged) ends the pause.
        try fixture.runtime().tokenManager("exact").exchange(code: FakeOAuthServer.code, redirectURI: "http://127.0.0.1/callback")
        XCTAssertEqual(try fixture.koppel(["check", "exact"]).stdout.firstLine, "exact: ok")
    }

    func testAuthorizationCodeFlowStoresTokens() throws {
        let port = try TestSupport.freePort()
        try fixture.write(load: ["exact-online"], connections: oauth.connectionYAML + "\n    redirect_uri: http://127.0.0.1:\(port)/callback")
        let auth = try TestSupport.start(TestSupport.koppel, ["auth", "exact", "--timeout", "60"], environment: fixture.environment)
        let url = try XCTUnwrap(auth.waitForLine { $0.contains("/api/oauth2/auth?") })?.trimmingCharacters(in: .whitespaces)
        XCTAssertTrue(url?.contains("client_id=client-1") == true, url ?? "")

        // The browser: the consent page redirects to Koppel's listener with the code.
        let client = CurlHTTPClient()
        guard case .response(let consent) = client.send(OutboundRequest(method: "GET", url: try XCTUnwrap(url))) else { return XCTFail("no consent page") }
        XCTAssertEqual(consent.status, 302)
        let callback = try XCTUnwrap(consent.headers["location"])
        XCTAssertTrue(callback.hasPrefix("http://127.0.0.1:\(port)/callback?code="), callback)
        var landed: SendOutcome = .notSent("")
        for _ in 0..<50 {
            landed = client.send(OutboundRequest(method: "GET", url: callback))
            if case .response = landed { break }
            usleep(100_000)
        }
        guard case .response(let page) = landed else { return XCTFail("Koppel's callback listener did not answer: \(landed)") }
        XCTAssertEqual(page.status, 200)
        XCTAssertTrue(String(decoding: page.body, as: UTF8.self).contains("Koppel is connected"))

        let finished = auth.wait()
        XCTAssertEqual(finished.status, 0, finished.stderr)
        XCTAssertTrue(finished.stdout.contains("exact is signed in"), finished.stdout)
        XCTAssertEqual(oauth.state.current.codeExchanges, 1)
        XCTAssertEqual(try fixture.koppel(["check", "exact"]).stdout.firstLine, "exact: ok")
    }

    /// The client-credentials grant (Boekuwzending): a token when one is needed, kept in
    /// memory for its life, a new one after a refusal, none stored in the vault; and the
    /// environment setting picks production or staging.
    func testTheClientCredentialsGrantAsksWhenNeededAndStoresNothing() throws {
        try fixture.write(load: ["boekuwzending"], connections: """
            buz: { plugin: boekuwzending, settings: { base_url: \(oauth.baseURL), client_id: client-1 } }
            wrong: { plugin: boekuwzending, settings: { base_url: \(oauth.baseURL), client_id: client-1 } }
            staging: { plugin: boekuwzending, settings: { environment: staging, client_id: client-1 } }
            production: { plugin: boekuwzending, settings: { client_id: client-1 } }
            """)
        XCTAssertEqual(try fixture.koppel(["secrets", "set", "buz", "client_secret"], stdin: "client-secret-value\n").status, 0)
        XCTAssertEqual(try fixture.koppel(["secrets", "set", "wrong", "client_secret"], stdin: "not-the-secret\n").status, 0)
        let check = try fixture.koppel(["check", "buz"])
        XCTAssertEqual(check.stdout, "buz: ok\n  Boekuwzending account Sandbox Verzender\n", check.stderr)
        XCTAssertEqual(oauth.state.current.clientCredentialGrants, 1)
        XCTAssertEqual(oauth.state.current.refreshes + oauth.state.current.codeExchanges, 0)
        XCTAssertNil(try fixture.runtime().vault().get(connection: "buz", name: OAuth2TokenManager.vaultName), "no token is stored")

        let manager = try fixture.runtime().tokenManager("buz")
        let first = try manager.accessToken()
        XCTAssertEqual(try manager.accessToken(), first, "kept while it lives")
        XCTAssertEqual(oauth.state.current.clientCredentialGrants, 2)
        XCTAssertNotEqual(try manager.accessToken(replacingRejected: first), first, "a refused token is replaced")
        XCTAssertEqual(oauth.state.current.clientCredentialGrants, 3)

        let refused = try fixture.koppel(["check", "wrong"])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stdout.contains("refused the app's credentials"), refused.stdout)
        XCTAssertFalse(refused.stdout.contains("not-the-secret"))

        let runtime = try fixture.runtime()
        XCTAssertEqual(try runtime.baseURL("staging"), "https://staging.api.boekuwzending.com")
        XCTAssertEqual(try runtime.baseURL("production"), "https://api.boekuwzending.com")
    }
}
