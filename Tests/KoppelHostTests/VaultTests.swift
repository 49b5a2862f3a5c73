import Foundation
import KoppelHost
import XCTest

/// Secrets are sealed at rest, open only with their key, survive a key rotation, and
/// never show up in clear text in the database, the logs or an error.
final class VaultTests: XCTestCase {
    var fixture: DeploymentFixture!
    let secret = "client-secret-value"

    override func setUpWithError() throws {
        fixture = try DeploymentFixture()
        try fixture.write(load: ["exact-online"], connections: """
            exact:
              plugin: exact-online
              settings: { base_url: "http://127.0.0.1:9", client_id: client-1 }
            """)
    }

    override func tearDownWithError() throws {
        fixture.remove()
    }

    func testSecretIsSealedOnDiskAndTheWrongKeyFailsClearly() throws {
        let set = try fixture.koppel(["secrets", "set", "exact", "client_secret"], stdin: secret + "\n")
        XCTAssertEqual(set.status, 0, set.stderr)
        XCTAssertEqual(set.stdout, "stored client_secret for exact\n")

        let list = try fixture.koppel(["secrets", "list"])
        XCTAssertTrue(list.stdout.contains("exact       client_secret"), list.stdout)
        XCTAssertFalse(list.stdout.contains(secret))

        let bytes = try fixture.stateBytes()
        XCTAssertGreaterThan(bytes.count, 0)
        XCTAssertFalse(bytes.contains(secret), "the secret is in the state database in clear text")
        XCTAssertEqual(try fixture.runtime().vault().get(connection: "exact", name: "client_secret"), secret)

        let right = try MasterKey.parse(fixture.masterKey, source: "test")
        let wrong = MasterKey.generate()
        var environment = fixture.environment
        environment["KOPPEL_MASTER_KEY"] = wrong.base64Text
        let check = try fixture.koppel(["check", "exact"], environment: environment)
        XCTAssertEqual(check.status, 1)
        XCTAssertEqual(check.stdout, "exact: secret client_secret of connection exact was sealed with master key \(right.id), but the current master key is \(wrong.id); use the key it was sealed with\n")
    }

    func testRotateKeyKeepsEverySecretReadable() throws {
        var environment = fixture.environment
        environment["KOPPEL_MASTER_KEY"] = nil
        let keyFile = "\(fixture.directory)/state/master.key"
        // The first secret creates the key file, readable by its owner only.
        let set = try fixture.koppel(["secrets", "set", "exact", "client_secret"], stdin: secret, environment: environment)
        XCTAssertEqual(set.status, 0, set.stderr)
        XCTAssertTrue(set.stdout.contains("created the master key"), set.stdout)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: keyFile)[.posixPermissions] as? Int, 0o600)
        XCTAssertEqual(try fixture.koppel(["secrets", "set", "exact", "refresh_note"], stdin: "second-secret-value", environment: environment).status, 0)
        let oldKey = try String(contentsOfFile: keyFile, encoding: .utf8)

        let rotate = try fixture.koppel(["secrets", "rotate-key"], environment: environment)
        XCTAssertEqual(rotate.status, 0, rotate.stderr)
        XCTAssertTrue(rotate.stdout.contains("re-sealed 2 secrets"), rotate.stdout)
        let newKey = try String(contentsOfFile: keyFile, encoding: .utf8)
        XCTAssertNotEqual(oldKey, newKey)
        XCTAssertFalse(FileManager.default.fileExists(atPath: keyFile + ".new"))

        let runtime = try fixture.runtime(masterKey: newKey)
        XCTAssertEqual(try runtime.vault().get(connection: "exact", name: "client_secret"), secret)
        XCTAssertEqual(try runtime.vault().get(connection: "exact", name: "refresh_note"), "second-secret-value")
        XCTAssertThrowsError(try fixture.runtime(masterKey: oldKey).vault().get(connection: "exact", name: "client_secret")) { error in
            guard case .wrongMasterKey? = error as? VaultError else { return XCTFail("\(error)") }
        }
    }

    func testALostKeyFileIsNotReplacedByANewKeyOverSealedSecrets() throws {
        var environment = fixture.environment
        environment["KOPPEL_MASTER_KEY"] = nil
        let keyFile = "\(fixture.directory)/state/master.key"
        XCTAssertEqual(try fixture.koppel(["secrets", "set", "exact", "client_secret"], stdin: secret, environment: environment).status, 0)
        let key = try MasterKey.parse(try String(contentsOfFile: keyFile, encoding: .utf8), source: "test")
        try FileManager.default.removeItem(atPath: keyFile)

        for command in [["secrets", "set", "exact", "client_secret"], ["secrets", "init-key"]] {
            let refused = try fixture.koppel(command, stdin: "another-value", environment: environment)
            XCTAssertNotEqual(refused.status, 0, command.joined(separator: " "))
            XCTAssertTrue(refused.stderr.contains("the master key file \(keyFile) is missing, but the vault holds 1 secret(s) sealed with key \(key.id); restore that key file"), refused.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: keyFile), "a new key was written over the sealed secrets")
        }
        // Restored, the old key opens the vault as before.
        try key.write(to: keyFile)
        XCTAssertEqual(try fixture.runtime(masterKey: try key.base64()).vault().get(connection: "exact", name: "client_secret"), secret)
    }

    func testKeyFileOthersCanReadIsRefused() throws {
        var environment = fixture.environment
        environment["KOPPEL_MASTER_KEY"] = nil
        XCTAssertEqual(try fixture.koppel(["secrets", "init-key"], environment: environment).status, 0)
        let keyFile = "\(fixture.directory)/state/master.key"
        chmod(keyFile, 0o644)
        let list = try fixture.koppel(["secrets", "list"], environment: environment)
        XCTAssertNotEqual(list.status, 0)
        XCTAssertTrue(list.stderr.contains("refusing the key file \(keyFile): its mode is 644, which lets other users read it; run chmod 600 \(keyFile)"), list.stderr)
    }

    func testSecretsNeverReachLogsErrorsOrTheActivityLog() async throws {
        // A token endpoint that repeats the client secret it was sent in its error text.
        let oauth = try await FakeOAuthServer.start()
        defer { oauth.stop() }
        oauth.state.with { $0.echoSecretInErrors = true }
        try fixture.write(load: ["exact-online"], connections: oauth.connectionYAML)
        let wrongSecret = "wrong-secret-7781"
        XCTAssertEqual(try fixture.koppel(["secrets", "set", "exact", "client_secret"], stdin: wrongSecret).status, 0)
        let tokens = #"{"accessToken":"access-token-4471","refreshToken":"refresh-token-9923","expiresAt":"2020-01-01T00:00:00Z"}"#
        try fixture.runtime().vault().set(connection: "exact", name: OAuth2TokenManager.vaultName, value: tokens)

        let check = try fixture.koppel(["check", "exact", "--verbose"])
        XCTAssertEqual(check.status, 1)
        XCTAssertEqual(oauth.state.current.lastClientSecret, wrongSecret, "the secret did reach the server, as it must")
        XCTAssertTrue(check.stdout.contains("Unknown client (got [redacted])"), check.stdout)
        let everything = [check.stdout, check.stderr].joined()
        for value in [wrongSecret, "access-token-4471", "refresh-token-9923"] {
            XCTAssertFalse(everything.contains(value), "\(value) leaked into the output:\n\(everything)")
            XCTAssertFalse(try fixture.stateBytes().contains(value), "\(value) is in the state database in clear text")
        }
        let activity = try fixture.runtime().store.activities(ActivityQuery(connection: "exact", kinds: [.auth]))
        XCTAssertEqual(activity.map(\.message), [
            "token refresh failed: the token endpoint of exact refused the app's credentials (invalid_client: Unknown client (got [redacted])); check the connection's client_id and its secret (`koppel secrets set exact client_secret`); the sign-in itself is kept",
        ])
    }
}
