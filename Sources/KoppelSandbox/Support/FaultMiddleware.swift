import Foundation
import Hummingbird
import NIOCore

/// Applies the injector's decision to each request of a fake (the `/_sandbox` control
/// and inspection routes are never faulted).
struct FaultMiddleware: RouterMiddleware {
    typealias Context = SandboxContext
    let injector: FaultInjector
    let tokenPath: String?

    /// Thrown after the connection was cut, so nothing more is written.
    struct ConnectionCut: Error {}

    static func serverError(_ text: String) -> Response {
        Response(
            status: Bool.random() ? .internalServerError : .serviceUnavailable, headers: [.contentType: "text/plain"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    func handle(_ request: Request, context: SandboxContext, next: (Request, SandboxContext) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        guard !path.hasPrefix("/_sandbox") else { return try await next(request, context) }
        let isToken = tokenPath.map { path == $0 } ?? false
        switch injector.decide(method: request.method.rawValue, path: path, isTokenEndpoint: isToken) {
        case nil:
            return try await next(request, context)
        case .serverError:
            return Self.serverError("sandbox fault: server error")
        case .commitThenServerError:
            _ = try await next(request, context)
            return Self.serverError("sandbox fault: server error after the work was done")
        case .tokenFailure:
            return Response(status: .serviceUnavailable, headers: [.contentType: "text/plain"],
                            body: .init(byteBuffer: ByteBuffer(string: "sandbox fault: token service unavailable")))
        case .rateLimitBurst:
            return Response(status: .tooManyRequests, headers: [.retryAfter: "1", .contentType: "text/plain"],
                            body: .init(byteBuffer: ByteBuffer(string: "sandbox fault: too many requests")))
        case .slow:
            try await Task.sleep(for: .milliseconds(Int(injector.current.slowDelay * 1000)))
            return try await next(request, context)
        case .reset:
            try await context.channel.close(mode: .all)
            throw ConnectionCut()
        case .dropAfterCommit:
            _ = try await next(request, context)
            try await context.channel.close(mode: .all)
            throw ConnectionCut()
        }
    }
}
