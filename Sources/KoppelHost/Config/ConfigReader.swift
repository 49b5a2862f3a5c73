import Foundation
import Yams

/// Walks a parsed YAML document, collecting every problem with its line and key path
/// instead of stopping at the first. Each accessor returns nil for a value it reported.
final class ConfigReader {
    let file: String
    private(set) var issues: [ConfigIssue] = []

    init(file: String) {
        self.file = file
    }

    /// A node with the path it was reached by.
    struct Located {
        var node: Node
        var path: String

        var line: Int? { node.mark?.line }

        func child(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
    }

    func report(_ at: Located, _ message: String) {
        issues.append(ConfigIssue(file: file, line: at.line, key: at.path, message: message))
    }

    func report(line: Int?, key: String, _ message: String) {
        issues.append(ConfigIssue(file: file, line: line, key: key, message: message))
    }

    /// The entries of a mapping, reporting keys not in `allowed` (and duplicates).
    func mapping(_ at: Located, allowed: Set<String>) -> [String: Located]? {
        guard case .mapping(let mapping) = at.node else {
            report(at, "expected a mapping of keys to values")
            return nil
        }
        var result: [String: Located] = [:]
        for (keyNode, value) in mapping {
            guard let key = keyNode.string else {
                report(Located(node: keyNode, path: at.path), "keys must be strings")
                continue
            }
            let path = at.child(key)
            guard allowed.contains(key) else {
                let known = allowed.sorted().joined(separator: ", ")
                report(line: keyNode.mark?.line, key: path, "unknown key (known keys here: \(known))")
                continue
            }
            guard result[key] == nil else {
                report(line: keyNode.mark?.line, key: path, "appears twice")
                continue
            }
            result[key] = Located(node: value, path: path)
        }
        return result
    }

    /// A non-empty string scalar.
    func string(_ at: Located) -> String? {
        guard case .scalar(let scalar) = at.node, !scalar.string.isEmpty else {
            report(at, "expected a non-empty string")
            return nil
        }
        return scalar.string
    }

    /// A whole number.
    func integer(_ at: Located, minimum: Int? = nil) -> Int? {
        guard case .scalar(let scalar) = at.node, let value = Int(scalar.string) else {
            report(at, "expected a whole number")
            return nil
        }
        if let minimum, value < minimum {
            report(at, "must be at least \(minimum)")
            return nil
        }
        return value
    }

    /// true or false.
    func bool(_ at: Located) -> Bool? {
        guard case .scalar(let scalar) = at.node, let value = Bool(scalar.string.lowercased()) else {
            report(at, "expected true or false")
            return nil
        }
        return value
    }

    /// The node as a typed value (for plugin settings and mappings), with the line of
    /// every key path recorded in `lines` ("base_url" -> 12, "a.b[0]" -> 13).
    func value(_ at: Located, prefix: String = "", lines: inout [String: Int]) -> ConfigValue? {
        if let line = at.line { lines[prefix] = line }
        switch at.node {
        case .scalar(let scalar):
            guard scalar.style == .plain else { return .string(scalar.string) }
            if ["null", "~", ""].contains(scalar.string) { return .null }
            if let bool = Bool(scalar.string.lowercased()) { return .bool(bool) }
            if let int = Int(scalar.string) { return .int(int) }
            return .string(scalar.string)
        case .sequence(let sequence):
            return .array(sequence.enumerated().compactMap { index, node in
                value(Located(node: node, path: "\(at.path)[\(index)]"), prefix: "\(prefix)[\(index)]", lines: &lines)
            })
        case .mapping(let mapping):
            var object: [String: ConfigValue] = [:]
            for (keyNode, child) in mapping {
                guard let key = keyNode.string else {
                    report(Located(node: keyNode, path: at.path), "keys must be strings")
                    continue
                }
                let path = prefix.isEmpty ? key : "\(prefix).\(key)"
                object[key] = value(Located(node: child, path: at.child(key)), prefix: path, lines: &lines)
            }
            return .object(object)
        case .alias:
            report(at, "YAML aliases are not supported here")
            return nil
        }
    }

    /// A sequence; each element is handed to `element` with its index in the path.
    func sequence<T>(_ at: Located, _ element: (Located) -> T?) -> [T]? {
        guard case .sequence(let sequence) = at.node else {
            report(at, "expected a list")
            return nil
        }
        return sequence.enumerated().compactMap { index, node in
            element(Located(node: node, path: "\(at.path)[\(index)]"))
        }
    }
}
