import Foundation
import Hummingbird

/// A token endpoint that behaves like Exact Online's: single-use refresh tokens that
/// rotate on every refresh (an old one is refused with "Old refresh token used."),
/// access tokens that expire, an authorize endpoint that redirects back with a code, and
/// `current/Me` behind the access token. It counts what a test wants to know.
final class FakeOAuthServer: @unchecked Sendable {
    struct State {
        var generation = 0
        var refreshToken = "rt-0"
        var accessToken = "at-0"
        var accessExpires = Date.distantPast
        var refreshes = 0
        var staleRefreshTokens: [String] = []
        var codeExchanges = 0
        /// Tokens given for the client-credentials grant (none with a refresh token).
        var clientCredentialGrants = 0
        /// Seconds an access token lives.
        var lifetime = 600
        /// Misbehave: put the client secret into the error message.
        var echoSecretInErrors = false
        var lastClientSecret = ""
        /// How long a refresh takes, so that other callers arrive while it is under way.
        var refreshDelay: TimeInterval = 0
    }

    let state = Shared(State())
    private(set) var server: TestHTTPServer!
    static let code = "consent-code-1"

    var baseURL: String { server.baseURL }

    static func start() async throws -> FakeOAuthServer {
        let fake = FakeOAuthServer()
        fake.server = try await TestHTTPServer.start { router in fake.routes(router) }
        return fake
    }

    func stop() { server.stop() }

    private func issue(_ s: inout State) -> [String: Any] {
        s.generation += 1
        s.refreshToken = "rt-\(s.generation)"
        s.accessToken = "at-\(s.generation)"
        s.accessExpires = Date().addingTimeInterval(TimeInterval(s.lifetime))
        // Exact sends expires_in as a string.
        return ["access_token": s.accessToken, "token_type": "bearer", "expires_in": String(s.lifetime), "refresh_token": s.refreshToken]
    }

    private func routes(_ router: Router<BasicRequestContext>) {
        router.post("/token") { request, _ -> Response in
            // Boekuwzending's token endpoint: the client-credentials grant, no refresh token.
            let form = try await request.form()
            return self.state.with { s -> Response in
                guard form["grant_type"] == "client_credentials" else { return .json(["error": "unsupported_grant_type"], status: .badRequest) }
                guard form["client_id"] == "client-1", form["client_secret"] == "client-secret-value" else {
                    return .json(["error": "invalid_client", "error_description": "Client authentication failed"], status: .unauthorized)
                }
                s.clientCredentialGrants += 1
                var issued = self.issue(&s)
                issued.removeValue(forKey: "refresh_token")
                issued["expires_in"] = s.lifetime
                return .json(issued)
            }
        }
        router.get("/me") { request, _ -> Response in
            let authorization = request.headers[.authorization] ?? ""
            let valid = self.state.with { s in authorization == "Bearer \(s.accessToken)" && s.accessExpires > Date() }
            return valid ? .json(["id": "8c3b6f1e-0000-4000-8000-000000000001", "name": "Sandbox Verzender"]) : Response(status: .unauthorized)
        }
        router.post("/api/oauth2/token") { request, _ -> Response in
            let form = try await request.form()
            let delay = self.state.current.refreshDelay
            if delay > 0 && form["grant_type"] == "refresh_token" { try await Task.sleep(for: .milliseconds(Int(delay * 1000))) }
            return self.state.with { s -> Response in
                s.lastClientSecret = form["client_secret"] ?? ""
                guard form["client_id"] == "client-1", form["client_secret"] == "client-secret-value" else {
                    let echo = s.echoSecretInErrors ? " (got \(form["client_secret"] ?? ""))" : ""
                    return .json(["error": "invalid_client", "error_description": "Unknown client\(echo)"], status: .badRequest)
                }
                switch form["grant_type"] {
                case "refresh_token":
                    guard form["refresh_token"] == s.refreshToken else {
                        s.staleRefreshTokens.append(form["refresh_token"] ?? "")
                        return .json(["error": "invalid_grant", "error_description": "Old refresh token used."], status: .badRequest)
                    }
                    s.refreshes += 1
                    return .json(self.issue(&s))
                case "authorization_code":
                    guard form["code"] == Self.code else {
                        return .json(["error": "invalid_grant", "error_description": "Unknown code."], status: .badRequest)
                    }
                    s.codeExchanges += 1
                    return .json(self.issue(&s))
                default:
                    return .json(["error": "unsupported_grant_type"], status: .badRequest)
                }
            }
        }
        router.get("/api/oauth2/auth") { request, _ -> Response in
            let query = request.uri.queryParameters
            let redirect = String(query["redirect_uri"] ?? "")
            let state = String(query["state"] ?? "")
            guard query["client_id"] == "client-1", query["response_type"] == "code", !redirect.isEmpty else {
                return Response(status: .badRequest)
            }
            return Response(status: .found, headers: [.location: "\(redirect)?code=\(Self.code)&state=\(state)"])
        }
        router.get("/api/v1/current/Me") { request, _ -> Response in
            let authorization = request.headers[.authorization] ?? ""
            let valid = self.state.with { s in authorization == "Bearer \(s.accessToken)" && s.accessExpires > Date() }
            guard valid else {
                return Response(status: .unauthorized, headers: [.contentType: "application/json"],
                                body: .init(byteBuffer: ByteBuffer(string: #"{"error":{"message":{"value":"Unauthorized"}}}"#)))
            }
            return .json(["d": ["results": [["CurrentDivision": 42, "FullName": "Test Administrator"]]]])
        }
    }

    /// Connection settings pointing at this server.
    var connectionYAML: String {
        """
        exact:
          plugin: exact-online
          settings:
            base_url: \(baseURL)
            client_id: client-1
            division: 42
        """
    }
}
