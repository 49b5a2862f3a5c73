import CCurl
import Foundation

/// One HTTP request as it goes on the wire.
public struct OutboundRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: Data?
    /// Whether sending it twice is harmless.
    public var idempotent: Bool
    /// Seconds to wait for a connection, and for the whole exchange.
    public var connectTimeout: TimeInterval
    public var timeout: TimeInterval

    public init(
        method: String, url: String, headers: [(name: String, value: String)] = [], body: Data? = nil,
        idempotent: Bool? = nil, connectTimeout: TimeInterval = 10, timeout: TimeInterval = 60
    ) {
        self.method = method.uppercased()
        self.url = url
        self.headers = headers
        self.body = body
        self.idempotent = idempotent ?? ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"].contains(method.uppercased())
        self.connectTimeout = connectTimeout
        self.timeout = timeout
    }

    /// Sets a header, replacing one of the same name.
    public mutating func setHeader(_ name: String, _ value: String) {
        headers.removeAll { $0.name.caseInsensitiveCompare(name) == .orderedSame }
        headers.append((name, value))
    }
}

/// A response as it came off the wire.
public struct InboundResponse: Sendable {
    public var status: Int
    /// Header names lowercased; repeated headers joined with ", ".
    public var headers: [String: String]
    public var body: Data
    public var duration: TimeInterval
}

/// What became of a request.
public enum SendOutcome: Sendable {
    /// The server answered (with any status).
    case response(InboundResponse)
    /// The request never left: no connection, name not resolved. Safe to send again.
    case notSent(String)
    /// The request was sent but no complete answer came back (timeout, reset): the
    /// server may have acted on it.
    case unknown(String)
}

/// Sends HTTP requests with libcurl, one easy handle per request on the calling thread,
/// so concurrent callers proceed in parallel.
public struct CurlHTTPClient: Sendable {
    private static let initialised: Bool = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK

    public init() {
        _ = Self.initialised
    }

    /// Sends one request and waits for the outcome.
    public func send(_ request: OutboundRequest) -> SendOutcome {
        guard let handle = curl_easy_init() else { return .notSent("libcurl could not create a handle") }
        defer { curl_easy_cleanup(handle) }
        let collector = ResponseCollector()
        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headerList) }

        _ = koppel_curl_setopt_string(handle, CURLOPT_URL, request.url)
        _ = koppel_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        _ = koppel_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Int(request.connectTimeout * 1000))
        _ = koppel_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, Int(request.timeout * 1000))
        _ = koppel_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0)
        _ = koppel_curl_setopt_string(handle, CURLOPT_ACCEPT_ENCODING, "")
        switch request.method {
        case "GET": _ = koppel_curl_setopt_long(handle, CURLOPT_HTTPGET, 1)
        case "HEAD": _ = koppel_curl_setopt_long(handle, CURLOPT_NOBODY, 1)
        default: _ = koppel_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, request.method)
        }
        if let body = request.body {
            _ = koppel_curl_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
            body.withUnsafeBytes { raw in
                _ = koppel_curl_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!))
            }
        }
        // Without this, curl sends "Expect: 100-continue" for larger bodies and waits.
        for (name, value) in request.headers + [("Expect", "")] {
            headerList = curl_slist_append(headerList, "\(name): \(value)")
        }
        _ = koppel_curl_setopt_pointer(handle, CURLOPT_HTTPHEADER, UnsafeMutableRawPointer(headerList))

        let started = Date()
        let code = withExtendedLifetime(collector) { () -> CURLcode in
            let user = Unmanaged.passUnretained(collector).toOpaque()
            _ = koppel_curl_setopt_function(handle, CURLOPT_WRITEFUNCTION) { data, size, count, user in
                guard let data, let user else { return 0 }
                Unmanaged<ResponseCollector>.fromOpaque(user).takeUnretainedValue().body.append(UnsafeRawPointer(data).assumingMemoryBound(to: UInt8.self), count: size * count)
                return size * count
            }
            _ = koppel_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, user)
            _ = koppel_curl_setopt_function(handle, CURLOPT_HEADERFUNCTION) { data, size, count, user in
                guard let data, let user else { return 0 }
                let line = String(decoding: UnsafeRawBufferPointer(start: data, count: size * count), as: UTF8.self)
                Unmanaged<ResponseCollector>.fromOpaque(user).takeUnretainedValue().header(line)
                return size * count
            }
            _ = koppel_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, user)
            return curl_easy_perform(handle)
        }
        let duration = Date().timeIntervalSince(started)

        guard code == CURLE_OK else {
            var sent = 0
            _ = koppel_curl_getinfo_long(handle, CURLINFO_REQUEST_SIZE, &sent)
            let reason = String(cString: curl_easy_strerror(code))
            switch code {
            case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_CONNECT, CURLE_URL_MALFORMAT,
                 CURLE_UNSUPPORTED_PROTOCOL, CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION:
                return .notSent(reason)
            default:
                return sent > 0 ? .unknown(reason) : .notSent(reason)
            }
        }
        var status = 0
        _ = koppel_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return .response(InboundResponse(status: status, headers: collector.headers, body: collector.body, duration: duration))
    }
}

/// Gathers the body and the headers of the final response (headers of interim responses
/// such as 100 Continue are dropped when the next status line arrives).
private final class ResponseCollector {
    var body = Data()
    var headers: [String: String] = [:]

    func header(_ line: String) {
        let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("HTTP/") {
            headers = [:]
            return
        }
        guard let colon = trimmed.firstIndex(of: ":") else { return }
        let name = trimmed[..<colon].lowercased()
        let value = trimmed[trimmed.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        headers[name] = headers[name].map { "\($0), \(value)" } ?? value
    }
}
