import Foundation
import Yams

/// The `plugins:` section: where plugins live and which of them this deployment loads.
public struct PluginSelection: Sendable, Equatable {
    /// Directories searched for plugin files, absolute.
    public var directories: [String]
    /// The names of the plugins to load; no other plugin file is opened.
    public var load: [String]

    public init(directories: [String], load: [String]) {
        self.directories = directories
        self.load = load
    }

    static func read(_ at: ConfigReader.Located, reader: ConfigReader, base: String) -> PluginSelection? {
        guard let keys = reader.mapping(at, allowed: ["directories", "load"]) else { return nil }
        var directories: [String]?
        if let node = keys["directories"] {
            directories = reader.sequence(node) { element in
                guard let directory = reader.string(element) else { return nil }
                let absolute = directory.hasPrefix("/") ? directory : (base as NSString).appendingPathComponent(directory)
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: absolute, isDirectory: &isDirectory), isDirectory.boolValue else {
                    reader.report(element, "\(absolute) is not a directory")
                    return nil
                }
                return (absolute as NSString).standardizingPath
            }
        } else {
            reader.report(at, "directories is missing: list where the plugin files are")
        }
        var load: [String]?
        if let node = keys["load"] {
            var seen = Set<String>()
            load = reader.sequence(node) { element in
                guard let name = reader.string(element) else { return nil }
                guard seen.insert(name).inserted else {
                    reader.report(element, "plugin \(name) is listed twice")
                    return nil
                }
                return name
            }
        } else {
            reader.report(at, "load is missing: list the plugins this deployment uses")
        }
        guard let directories, let load else { return nil }
        return PluginSelection(directories: directories, load: load)
    }
}

extension YamlError {
    /// The line the parser stopped at, when it says.
    var line: Int? {
        switch self {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _): mark.line
        default: nil
        }
    }

    /// The parser's complaint without its excerpt of the file.
    var summary: String {
        switch self {
        case .scanner(let context, let problem, _, _), .parser(let context, let problem, _, _):
            [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: " ")
        default: "\(self)"
        }
    }
}
