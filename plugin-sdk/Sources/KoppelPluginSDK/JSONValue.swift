import Foundation

/// Any JSON value, for the parts of a manifest or cursor whose shape is free
/// (a JSON Schema, a remote API's extra fields).
public enum JSONValue: Codable, Equatable, Sendable, ExpressibleByStringLiteral,
    ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    case null
    case bool(Bool)
    case int(Int64)
    /// A JSON number with a fraction, kept as its exact decimal text ("12.5"), never a
    /// binary float. Canonical records carry money as strings; this is for remote APIs
    /// (Exact Online) that send and want numbers.
    case decimal(String)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? container.decode(Decimal.self) {
            self = .decimal(NSDecimalNumber(decimal: value).stringValue)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else if let value = try? container.decode([String: JSONValue].self) {
            self = .object(value)
        } else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "expected null, a boolean, an integer, a string, an array or an object")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .decimal(let text): try container.encode(Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")) ?? 0)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }

    /// The value at `key` when this is an object.
    public subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    /// The string, when this is one.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }
}

extension JSONValue {
    /// The value as compact JSON text with sorted keys, for a request body. Encoding
    /// cannot fail: every case is plain JSON (decimals are their exact text).
    public var jsonText: String {
        (try? JSONEncoder.koppel.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    /// The value as text to tell whether a remote field already holds what would be
    /// sent: text trimmed, numbers as plain decimals (`12.5` and `12.50` alike), booleans
    /// as true/false, JSON for arrays and objects, "" for null.
    public var comparableText: String {
        switch self {
        case .string(let text): text.trimmingCharacters(in: .whitespaces)
        case .int(let number): Decimal(number).description
        case .decimal(let text): DecimalNumber(text)?.value.description ?? text
        case .bool(let flag): flag ? "true" : "false"
        case .array, .object: jsonText
        case .null: ""
        }
    }

    /// Whether this value, as a remote system returned it, already holds `wanted`, as
    /// a write would send it: numbers as numbers, also when the system returns them as
    /// decimal strings (`"12.50"` holds `12.5`; Optiply, R3.5); else by `comparableText`.
    public func holds(_ wanted: JSONValue) -> Bool {
        switch (self, wanted) {
        case (.string(let text), .int), (.string(let text), .decimal):
            guard let have = DecimalNumber(text.trimmingCharacters(in: .whitespaces)) else { return false }
            return have.value.description == wanted.comparableText
        default:
            return comparableText == wanted.comparableText
        }
    }

    /// The members of `wanted` that `current` (a remote record's fields) does not hold
    /// yet: what an update sends, so that an unchanged record costs no write. Nested
    /// objects are compared member by member (only what differs in them is sent); the
    /// fields named in `caseInsensitive` (e-mail addresses) ignore case. The one rule of
    /// "send only what differs" for every connector.
    public static func differing(
        _ wanted: [String: JSONValue], from current: [String: JSONValue], caseInsensitive: Set<String> = []
    ) -> [String: JSONValue] {
        var differing: [String: JSONValue] = [:]
        for (name, value) in wanted {
            let have = current[name] ?? .null
            if case .object(let nested) = value, case .object(let existing) = have {
                let inner = Self.differing(nested, from: existing, caseInsensitive: caseInsensitive)
                if !inner.isEmpty { differing[name] = .object(inner) }
            } else if caseInsensitive.contains(name) {
                if have.comparableText.lowercased() != value.comparableText.lowercased() { differing[name] = value }
            } else if !have.holds(value) {
                differing[name] = value
            }
        }
        return differing
    }
}
