import Foundation
import Hummingbird
import Logging
import NIOCore

/// A real HTTP server on a loopback port for one test, built on Hummingbird: the test
/// gives the routes, the server runs until `stop()`.
final class TestHTTPServer: @unchecked Sendable {
    let port: Int
    private let task: Task<Void, Error>

    var baseURL: String { "http://127.0.0.1:\(port)" }

    private init(port: Int, task: Task<Void, Error>) {
        self.port = port
        self.task = task
    }

    /// Starts a server with the routes `configure` adds, on a free port.
    static func start(_ configure: (Router<BasicRequestContext>) -> Void) async throws -> TestHTTPServer {
        let router = Router()
        configure(router)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "test-server")
        logger.logLevel = .critical
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) }, logger: logger)
        let task = Task { try await app.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else { throw TestFailure("the test server did not start") }
        return TestHTTPServer(port: port, task: task)
    }

    func stop() {
        task.cancel()
    }
}

extension Request {
    /// The body as text (small bodies only).
    func text() async throws -> String {
        var copy = self
        let buffer = try await copy.collectBody(upTo: 1 << 20)
        return String(buffer: buffer)
    }

    /// The body parsed as an application/x-www-form-urlencoded form.
    func form() async throws -> [String: String] {
        var result: [String: String] = [:]
        for pair in try await text().split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String($0) }
            result[parts[0]] = parts.count > 1 ? parts[1] : ""
        }
        return result
    }
}

extension Response {
    static func json(_ object: Any, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// A value several threads and server handlers share in a test.
final class Shared<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) {
        self.value = value
    }

    func with<T>(_ body: (inout Value) -> T) -> T {
        lock.withLock { body(&value) }
    }

    var current: Value { lock.withLock { value } }
}
