import Foundation
import Hummingbird
import Logging

/// Receives the browser's redirect at the end of an OAuth 2 consent: a one-route HTTP
/// server on loopback that waits for `?code=...&state=...`, answers the browser, and
/// hands the code back.
public struct OAuthCallbackServer: Sendable {
    /// Why no code arrived.
    public enum Failure: Error, CustomStringConvertible, Equatable {
        case denied(String)
        case stateMismatch
        case timedOut(TimeInterval)

        public var description: String {
            switch self {
            case .denied(let reason): "the consent was refused: \(reason)"
            case .stateMismatch: "the callback carried a different state than this sign-in; start again with koppel auth"
            case .timedOut(let seconds): "no sign-in arrived within \(Int(seconds)) seconds"
            }
        }
    }

    public let redirectURI: String
    public let state: String
    public let logger: Logger

    public init(redirectURI: String, state: String, logger: Logger) {
        self.redirectURI = redirectURI
        self.state = state
        self.logger = logger
    }

    /// Listens on the redirect URI's port (loopback only) until the code arrives.
    public func waitForCode(timeout: TimeInterval) async throws -> String {
        let url = URLComponents(string: redirectURI)
        let port = url?.port ?? 80
        let path = url?.path.isEmpty == false ? url!.path : "/"
        let (results, continuation) = AsyncStream<Result<String, Failure>>.makeStream()
        let expectedState = state

        let router = Router()
        router.get(RouterPath(path)) { request, _ -> Response in
            let query = request.uri.queryParameters
            let result: Result<String, Failure>
            if let error = query["error"] {
                result = .failure(.denied(String(query["error_description"] ?? error)))
            } else if query["state"].map(String.init) != expectedState {
                result = .failure(.stateMismatch)
            } else if let code = query["code"], !code.isEmpty {
                result = .success(String(code))
            } else {
                result = .failure(.denied("the callback carried no code"))
            }
            continuation.yield(result)
            let text = switch result {
            case .success: "Koppel is connected. You can close this window."
            case .failure(let failure): "Koppel could not connect: \(failure.description)"
            }
            let html = "<!doctype html><meta charset=utf-8><title>Koppel</title><p>\(text)</p>"
            return Response(
                status: result.isSuccess ? .ok : .badRequest, headers: [.contentType: "text/html; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: html)))
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)

        return try await withThrowingTaskGroup(of: String?.self) { group in
            group.addTask {
                try await app.run()
                return nil
            }
            group.addTask {
                for await result in results {
                    // Let the browser's answer go out before the server stops.
                    try await Task.sleep(for: .milliseconds(200))
                    return try result.get()
                }
                return nil
            }
            group.addTask {
                try await Task.sleep(for: .seconds(timeout))
                throw Failure.timedOut(timeout)
            }
            defer { group.cancelAll() }
            while let next = try await group.next() {
                if let code = next { return code }
            }
            throw Failure.timedOut(timeout)
        }
    }
}

extension Result {
    var isSuccess: Bool {
        if case .success = self { return true }
        return false
    }
}
