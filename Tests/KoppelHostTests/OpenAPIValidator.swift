import Foundation
import Yams

/// Checks JSON answers against the schemas of an OpenAPI 3.0 document: `type`,
/// `properties` (a property the schema does not name is a finding too, so a fake cannot
/// invent fields), `required`, `items`, `enum`, `nullable`, `allOf`, `oneOf`, `anyOf`,
/// `maxLength`, `pattern`, `minimum`/`maximum` and the `date` and `uuid` formats, with
/// `$ref`s into `components`; a schema with `properties` and no `type` is an object, as
/// OpenAPI tools read it. Known deviations of the live service from its own spec
/// are passed in by path and pardoned.
struct OpenAPIValidator {
    /// A JSON value as decoded, keeping booleans apart from numbers.
    indirect enum JSON: Decodable {
        case null, bool(Bool), int(Int64), number(Double), string(String), array([JSON]), object([String: JSON])

        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() { self = .null }
            else if let value = try? container.decode(Bool.self) { self = .bool(value) }
            else if let value = try? container.decode(Int64.self) { self = .int(value) }
            else if let value = try? container.decode(Double.self) { self = .number(value) }
            else if let value = try? container.decode(String.self) { self = .string(value) }
            else if let value = try? container.decode([JSON].self) { self = .array(value) }
            else { self = .object(try container.decode([String: JSON].self)) }
        }
    }

    let document: [String: Any]

    init(yamlFile: String) throws {
        let text = try String(contentsOfFile: yamlFile, encoding: .utf8)
        document = Self.stringKeys(try Yams.load(yaml: text)) as? [String: Any] ?? [:]
    }

    /// YAML maps may have number keys (`200:`); JSON Schema wants text.
    static func stringKeys(_ value: Any?) -> Any? {
        switch value {
        case let map as [AnyHashable: Any]: Dictionary(map.map { ("\($0.key)", stringKeys($0.value) ?? NSNull()) }) { a, _ in a }
        case let list as [Any]: list.map { stringKeys($0) ?? NSNull() }
        default: value
        }
    }

    /// The schema of the JSON answer `status` of `method path` (a spec path such as
    /// `/v{version}/orders`), or nil when the spec documents none.
    func responseSchema(_ method: String, _ path: String, status: Int) -> [String: Any]? {
        let operation = ((document["paths"] as? [String: Any])?[path] as? [String: Any])?[method.lowercased()] as? [String: Any]
        let response = (operation?["responses"] as? [String: Any])?[String(status)] as? [String: Any]
        return ((response?["content"] as? [String: Any])?["application/json"] as? [String: Any])?["schema"] as? [String: Any]
    }

    /// The component schema `name`.
    func schema(_ name: String) -> [String: Any] {
        ((document["components"] as? [String: Any])?["schemas"] as? [String: Any])?[name] as? [String: Any] ?? [:]
    }

    /// What in `body` the schema does not allow, each with its JSON path; `pardoned`
    /// paths (`$[3].number`, with `[]` for any index: `$[].number`) are not findings.
    func findings(_ body: Data, against schema: [String: Any], pardoned: Set<String> = []) throws -> [String] {
        let value = try JSONDecoder().decode(JSON.self, from: body)
        var found: [String] = []
        check(value, schema, "$", &found)
        return found.filter { finding in
            let path = String(finding.prefix { $0 != " " })
            let general = path.replacingOccurrences(of: #"\[\d+\]"#, with: "[]", options: .regularExpression)
            return !pardoned.contains(path) && !pardoned.contains(general)
        }
    }

    private func resolve(_ schema: [String: Any]) -> [String: Any] {
        guard let ref = schema["$ref"] as? String, ref.hasPrefix("#/components/schemas/") else { return schema }
        return resolve(self.schema(String(ref.dropFirst("#/components/schemas/".count))))
    }

    /// The properties a schema names, its `allOf` parts' included.
    private func properties(_ schema: [String: Any]) -> [String: Any]? {
        let schema = resolve(schema)
        var all = schema["properties"] as? [String: Any]
        for part in schema["allOf"] as? [[String: Any]] ?? [] {
            if let more = properties(part) { all = (all ?? [:]).merging(more) { a, _ in a } }
        }
        return all
    }

    private func check(_ value: JSON, _ raw: [String: Any], _ path: String, _ found: inout [String]) {
        let schema = resolve(raw)
        if case .null = value {
            if schema["nullable"] as? Bool != true, schema["type"] != nil { found.append("\(path) is null, which the schema does not allow") }
            return
        }
        for part in schema["allOf"] as? [[String: Any]] ?? [] { checkShape(value, resolve(part), path, &found, closed: false) }
        for (keyword, exactlyOne) in [("oneOf", true), ("anyOf", false)] {
            guard let options = schema[keyword] as? [[String: Any]] else { continue }
            let matching = options.filter { option in
                var inner: [String] = []
                check(value, option, path, &inner)
                return inner.isEmpty
            }.count
            if matching == 0 || (exactlyOne && matching > 1) { found.append("\(path) matches \(matching) of the \(keyword) choices") }
        }
        checkShape(value, schema, path, &found, closed: true)
    }

    private func checkShape(_ value: JSON, _ schema: [String: Any], _ path: String, _ found: inout [String], closed: Bool) {
        // As OpenAPI tools read it: a schema that names properties describes an object.
        let implied: String? = schema["properties"] != nil || schema["required"] != nil ? "object" : nil
        if let type = schema["type"] as? String ?? implied {
            let ok: Bool = switch (type, value) {
            case ("string", .string), ("integer", .int), ("number", .int), ("number", .number), ("boolean", .bool), ("array", .array), ("object", .object): true
            default: false
            }
            if !ok { found.append("\(path) should be \(type): \(value)"); return }
        }
        if let options = schema["enum"] as? [Any], case .string(let text) = value, !options.contains(where: { "\($0)" == text }) {
            found.append("\(path) \"\(text)\" is not one of \(options)")
        }
        if case .string(let text) = value {
            if let maximum = schema["maxLength"] as? Int, text.count > maximum { found.append("\(path) is longer than \(maximum)") }
            if let pattern = schema["pattern"] as? String, text.range(of: pattern, options: .regularExpression) == nil {
                found.append("\(path) \"\(text)\" does not match \(pattern)")
            }
            switch schema["format"] as? String {
            case "date"? where text.range(of: #"^\d{4}-\d{2}-\d{2}$"#, options: .regularExpression) == nil: found.append("\(path) \"\(text)\" is not a date")
            case "uuid"? where UUID(uuidString: text) == nil: found.append("\(path) \"\(text)\" is not a UUID")
            default: break
            }
        }
        if case .int(let number) = value {
            if let maximum = schema["maximum"] as? Int, number > maximum { found.append("\(path) is above \(maximum)") }
            if let minimum = schema["minimum"] as? Int, number < minimum { found.append("\(path) is below \(minimum)") }
        }
        if case .array(let items) = value, let itemSchema = schema["items"] as? [String: Any] {
            for (index, item) in items.enumerated() { check(item, itemSchema, "\(path)[\(index)]", &found) }
        }
        if case .object(let fields) = value {
            for name in schema["required"] as? [String] ?? [] where fields[name] == nil { found.append("\(path).\(name) is required") }
            guard closed, let named = properties(schema) else { return }
            for (name, field) in fields.sorted(by: { $0.key < $1.key }) {
                guard let fieldSchema = named[name] as? [String: Any] else {
                    found.append("\(path).\(name) is not in the schema")
                    continue
                }
                check(field, fieldSchema, "\(path).\(name)", &found)
            }
        }
    }
}
