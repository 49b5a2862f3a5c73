import Foundation

/// A value from the deployment file that is handed on as JSON (plugin settings, filters,
/// mappings), typed exactly as written: `1` is a number, `true` a boolean, `"1"` a string.
public enum ConfigValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    /// Decimals stay text, so that 19.99 is never a binary float.
    case string(String)
    case array([ConfigValue])
    case object([String: ConfigValue])

    /// The value at `key` when this is an object.
    public subscript(key: String) -> ConfigValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    /// The keys and values when this is an object.
    public var objectValue: [String: ConfigValue]? {
        if case .object(let object) = self { return object }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    public var stringValue: String? {
        switch self {
        case .string(let value): value
        case .int(let value): String(value)
        default: nil
        }
    }

    /// The value as JSON text.
    public var json: Data {
        (try? JSONSerialization.data(withJSONObject: foundationValue, options: [.sortedKeys, .fragmentsAllowed])) ?? Data("null".utf8)
    }

    var foundationValue: Any {
        switch self {
        case .null: NSNull()
        case .bool(let value): value
        case .int(let value): value
        case .string(let value): value
        case .array(let values): values.map(\.foundationValue)
        case .object(let object): object.mapValues(\.foundationValue)
        }
    }

    /// A short description of the kind of value, for messages.
    var kind: String {
        switch self {
        case .null: "empty"
        case .bool: "true/false"
        case .int: "a whole number"
        case .string: "a string"
        case .array: "a list"
        case .object: "a mapping"
        }
    }
}
