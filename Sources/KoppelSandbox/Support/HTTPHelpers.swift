import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

extension Request {
    /// The body parsed as an application/x-www-form-urlencoded form.
    func form() async throws -> [String: String] {
        var copy = self
        let text = String(buffer: try await copy.collectBody(upTo: 1 << 20))
        return Self.parseForm(text)
    }

    static func parseForm(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map {
                String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String($0)
            }
            result[parts[0]] = parts.count > 1 ? parts[1] : ""
        }
        return result
    }
}

extension Response {
    /// A JSON answer.
    static func json(_ object: Any, status: Int = 200, headers: [String: String] = [:]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        var fields = HTTPFields()
        fields[.contentType] = "application/json; charset=utf-8"
        for (name, value) in headers { if let field = HTTPField.Name(name) { fields[field] = value } }
        return Response(status: .init(code: status), headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// JSON parsed so that booleans stay booleans and numbers become exact `Decimal`s
/// (Foundation's JSONSerialization cannot tell `1` from `true` on every platform).
enum SandboxJSON {
    private enum Node: Decodable {
        case null, bool(Bool), number(Decimal), string(String), array([Node]), object([String: Node])

        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { self = .null }
            else if let b = try? c.decode(Bool.self) { self = .bool(b) }
            else if let s = try? c.decode(String.self) { self = .string(s) }
            else if let n = try? c.decode(Decimal.self) { self = .number(n) }
            else if let a = try? c.decode([Node].self) { self = .array(a) }
            else { self = .object(try c.decode([String: Node].self)) }
        }

        var value: Any {
            switch self {
            case .null: NSNull()
            case .bool(let b): b
            case .number(let n): n
            case .string(let s): s
            case .array(let a): a.map(\.value)
            case .object(let o): o.mapValues(\.value)
            }
        }
    }

    /// The body as a JSON object, or nil.
    static func object(_ data: Data) -> [String: Any]? {
        (try? JSONDecoder().decode(Node.self, from: data))?.value as? [String: Any]
    }
}
