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
