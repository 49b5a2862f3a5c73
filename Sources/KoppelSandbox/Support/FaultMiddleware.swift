import Foundation
import HTTPTypes
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

    /// Breaks `field` of the first object in the first list of objects found in `json`
    /// (depth first): replaced by `value`, or removed. False when there is none.
    static func breakFirstRecord(in json: inout Any, field: String, value: String?) -> Bool {
        if var list = json as? [Any] {
            if var first = list.first as? [String: Any] {
                first[field] = value
                list[0] = first
                json = list
                return true
            }
            return false
        }
        guard var object = json as? [String: Any] else { return false }
        for key in object.keys.sorted() {
            guard var inner = object[key] else { continue }
            if breakFirstRecord(in: &inner, field: field, value: value) {
                object[key] = inner
                json = object
                return true
            }
        }
        return false
    }

    func handle(_ request: Request, context: SandboxContext, next: (Request, SandboxContext) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        guard !path.hasPrefix("/_sandbox") else { return try await next(request, context) }
        let isToken = tokenPath.map { path == $0 } ?? false
        let decision = injector.decide(method: request.method.rawValue, path: path, isTokenEndpoint: isToken)
        switch decision?.fault {
        case nil:
            return try await next(request, context)
        case .breakRecord:
            let response = try await next(request, context)
            let collector = BodyCollector()
            try await response.body.write(collector)
            let collected = collector.buffer
            guard let field = decision?.field, var json = try? JSONSerialization.jsonObject(with: Data(buffer: collected)),
                Self.breakFirstRecord(in: &json, field: field, value: decision?.value),
                let broken = try? JSONSerialization.data(withJSONObject: json)
            else { return Response(status: response.status, headers: response.headers, body: .init(byteBuffer: collected)) }
            var headers = response.headers
            headers[.contentLength] = nil
            return Response(status: response.status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: broken)))
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

/// Collects a response body that a fault rewrites.
private final class BodyCollector: ResponseBodyWriter {
    var buffer = ByteBuffer()
    func write(_ part: ByteBuffer) async throws { buffer.writeImmutableBuffer(part) }
    func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
