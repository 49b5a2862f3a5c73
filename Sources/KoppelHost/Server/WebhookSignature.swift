import Crypto
import Foundation

/// Checks a webhook delivery's signature by the scheme its plugin declares, comparing in
/// constant time (swift-crypto's `isValidAuthenticationCode`).
public struct WebhookSignature: Sendable {
    /// Why a delivery was refused.
    public enum Refusal: Error, Equatable, CustomStringConvertible {
        case missing(String)
        case malformed(String)
        case mismatch

        public var description: String {
            switch self {
            case .missing(let what): "no signature: \(what) is missing"
            case .malformed(let what): "the signature is malformed: \(what)"
            case .mismatch: "the signature does not match the body (or the URL's token is not the secret); is the webhook secret the same on both sides?"
            }
        }
    }

    let rule: PluginManifest.WebhookRule
    let secret: String
    let key: SymmetricKey

    public init(rule: PluginManifest.WebhookRule, secret: String) {
        self.rule = rule
        self.secret = secret
        key = SymmetricKey(data: Data(secret.utf8))
    }

    /// Returns normally when the delivery is signed with the secret (or, for "url-token",
    /// its URL ends in it: `urlToken`); throws why not.
    public func verify(headers: [String: String], body: Data, urlToken: String? = nil) throws(Refusal) {
        let signed: Data
        let signature: Data
        switch rule.scheme {
        case "url-token":
            guard let urlToken, !urlToken.isEmpty else { throw .missing("the token at the end of the webhook URL (/webhooks/{connection}/{token})") }
            guard KoppelServer.equal(urlToken, secret) else { throw .mismatch }
            return
        case "hmac-sha256-hex-envelope":
            let member = rule.signedMember ?? "", signatureMember = rule.signatureMember ?? ""
            guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
                throw .malformed("the body is not a JSON object")
            }
            guard let hex = object[signatureMember] as? String else { throw .missing("the body's \(signatureMember)") }
            guard let raw = RawJSONMembers(body)?.members[member] else { throw .missing("the body's \(member)") }
            signed = raw
            guard let bytes = Self.hex(hex) else { throw .malformed("\(signatureMember) is not hexadecimal") }
            signature = bytes
        default:
            let header = (rule.header ?? "").lowercased()
            guard let value = headers[header]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else {
                throw .missing("the \(rule.header ?? "signature") header")
            }
            let decoded = rule.scheme == "hmac-sha256-hex" ? Self.hex(value) : Data(base64Encoded: value)
            guard let decoded else { throw .malformed("the \(rule.header ?? "signature") header cannot be decoded") }
            signed = body
            signature = decoded
        }
        guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: signed, using: key) else { throw .mismatch }
    }

    static func hex(_ text: String) -> Data? {
        guard text.count % 2 == 0 else { return nil }
        var bytes = Data(capacity: text.count / 2)
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes
    }
}

/// The raw text of each member of a top-level JSON object, exactly as it was sent: an
/// envelope signature is computed over these bytes, not over a re-encoding.
struct RawJSONMembers {
    var members: [String: Data] = [:]

    init?(_ data: Data) {
        let bytes = [UInt8](data)
        var i = 0
        func skipSpace() { while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 } }
        func skipString() -> Bool {
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { return false }
            i += 1
            while i < bytes.count {
                if bytes[i] == UInt8(ascii: "\\") { i += 2; continue }
                if bytes[i] == UInt8(ascii: "\"") { i += 1; return true }
                i += 1
            }
            return false
        }
        func skipValue() -> Bool {
            skipSpace()
            guard i < bytes.count else { return false }
            switch bytes[i] {
            case UInt8(ascii: "\""): return skipString()
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                while i < bytes.count {
                    switch bytes[i] {
                    case UInt8(ascii: "\""): if !skipString() { return false }; continue
                    case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"):
                        depth -= 1
                        if depth == 0 { i += 1; return true }
                    default: break
                    }
                    i += 1
                }
                return false
            default:
                while i < bytes.count, ![UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
                return true
            }
        }
        skipSpace()
        guard i < bytes.count, bytes[i] == UInt8(ascii: "{") else { return nil }
        i += 1
        while true {
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") { return }
            let keyStart = i
            guard skipString() else { return nil }
            guard let key = try? JSONSerialization.jsonObject(with: Data(bytes[keyStart..<i]), options: .fragmentsAllowed) as? String else { return nil }
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { return nil }
            i += 1
            skipSpace()
            let valueStart = i
            guard skipValue() else { return nil }
            members[key] = Data(bytes[valueStart..<i])
            skipSpace()
            guard i < bytes.count else { return nil }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "}") { return }
            return nil
        }
    }
}
