import Foundation

/// Checks connection settings against a plugin's config schema: the part of JSON Schema
/// that settings need (type, properties, required, additionalProperties, enum, minimum,
/// maximum, minLength, pattern, format "uri"). Secret properties come from the vault, so
/// they are never required here.
struct SettingsSchema {
    let schema: [String: Any]
    let secrets: Set<String>

    struct Problem {
        /// The settings key path ("" for the whole object).
        var path: String
        var message: String
    }

    func problems(in settings: [String: ConfigValue]) -> [Problem] {
        var problems: [Problem] = []
        check(.object(settings), against: schema, path: "", topLevel: true, into: &problems)
        return problems
    }

    private func check(_ value: ConfigValue, against schema: [String: Any], path: String, topLevel: Bool = false, into problems: inout [Problem]) {
        func fail(_ message: String) { problems.append(Problem(path: path, message: message)) }
        if let type = schema["type"] {
            let allowed = (type as? [String]) ?? [(type as? String) ?? ""]
            guard allowed.contains(where: { Self.matches(value, type: $0) }) else {
                return fail("must be \(allowed.map(Self.describe).joined(separator: " or ")), not \(value.kind)")
            }
        }
        if let options = schema["enum"] as? [Any], !options.contains(where: { "\($0)" == value.stringValue }) {
            return fail("\"\(value.stringValue ?? value.kind)\" is not one of \(options.map { "\($0)" }.joined(separator: ", "))")
        }
        if case .int(let number) = value {
            if let minimum = schema["minimum"] as? Int, number < minimum { fail("must be at least \(minimum)") }
            if let maximum = schema["maximum"] as? Int, number > maximum { fail("must be at most \(maximum)") }
        }
        if case .string(let string) = value {
            if let minLength = schema["minLength"] as? Int, string.count < minLength { fail("must have at least \(minLength) characters") }
            if let pattern = schema["pattern"] as? String, string.range(of: pattern, options: .regularExpression) == nil {
                fail("\"\(string)\" does not match \(pattern)")
            }
            if schema["format"] as? String == "uri" {
                let url = URLComponents(string: string)
                if url?.scheme.map({ ["http", "https"].contains($0.lowercased()) }) != true || url?.host?.isEmpty != false {
                    fail("\"\(string)\" is not an http(s) URL")
                }
            }
        }
        if case .object(let object) = value {
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for required in schema["required"] as? [String] ?? [] where object[required] == nil {
                if topLevel && secrets.contains(required) { continue }
                problems.append(Problem(path: path, message: "\(required) is missing"))
            }
            for (key, child) in object.sorted(by: { $0.key < $1.key }) {
                let childPath = path.isEmpty ? key : "\(path).\(key)"
                if let childSchema = properties[key] as? [String: Any] {
                    check(child, against: childSchema, path: childPath, into: &problems)
                } else if schema["additionalProperties"] as? Bool == false {
                    let known = properties.keys.sorted().joined(separator: ", ")
                    problems.append(Problem(path: childPath, message: "unknown setting (known settings: \(known))"))
                }
            }
        }
    }

    private static func matches(_ value: ConfigValue, type: String) -> Bool {
        switch (type, value) {
        case ("string", .string), ("integer", .int), ("number", .int), ("boolean", .bool), ("object", .object),
             ("array", .array), ("null", .null):
            true
        case ("number", .string(let text)):
            text.wholeMatch(of: /-?[0-9]+(\.[0-9]+)?/) != nil
        default:
            !["string", "integer", "number", "boolean", "object", "array", "null"].contains(type)
        }
    }

    private static func describe(_ type: String) -> String {
        ["string": "a string", "integer": "a whole number", "number": "a number", "boolean": "true or false",
         "object": "a mapping", "array": "a list", "null": "empty"][type] ?? type
    }
}
