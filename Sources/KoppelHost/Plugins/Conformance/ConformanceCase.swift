import Foundation

/// One check of the plugin contract that `koppel plugins validate` runs. Each runs in
/// its own child process, so a plugin that crashes fails that case, not the validator.
public enum ConformanceCase: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The file passes the loader: ELF, entry symbol, ABI major, descriptor, manifest.
    case load
    /// `close(NULL)` is harmless, as the header promises.
    case closeNull
    /// `open` with text that is not JSON: invalid-data, without echoing the text.
    case openMalformedConfig
    /// `open` with zero bytes: invalid-data.
    case openEmptyConfig
    /// `open` with `{}`: ok, or invalid-data naming what is missing.
    case openEmptyObject
    /// `open` with the config the developer supplied: ok.
    case openGivenConfig
    /// `check` answers with a classified status.
    case check
    /// `read` of a stream the manifest does not declare: invalid-data.
    case readUnknownStream
    /// `read` with a cursor that is not JSON: invalid-data.
    case readMalformedCursor(stream: String)
    /// A first `read` of a declared stream: a classified status, valid records only.
    case read(stream: String)
    /// `write` to a stream the manifest does not declare: invalid-data.
    case writeUnknownStream
    /// `write` of a record that is not JSON: invalid-data.
    case writeMalformedRecord(stream: String)
    /// `write` of `{}`: invalid-data (or ok for a stream of "any" records).
    case writeEmptyRecord(stream: String, anyRecord: Bool)
    /// `check` through a deployment's connection (its vault, auth and transport): ok.
    case liveCheck
    /// A first `read` through the connection: ok, every record well formed (at most the
    /// first `liveReadLimit` are taken).
    case liveRead(stream: String)
    /// `write` of a sample record of `kind` through the connection, then the same write
    /// again as a retry (reconcile): the second finds the first, so nothing is made twice.
    case liveWrite(stream: String, kind: String)

    /// How many records a live read takes before it stops.
    public static let liveReadLimit = 100

    /// The case's name on the command line and in reports.
    public var description: String {
        switch self {
        case .load: "load"
        case .closeNull: "close-null"
        case .openMalformedConfig: "open-malformed-config"
        case .openEmptyConfig: "open-empty-config"
        case .openEmptyObject: "open-empty-object"
        case .openGivenConfig: "open-given-config"
        case .check: "check"
        case .readUnknownStream: "read-unknown-stream"
        case .readMalformedCursor(let stream): "read-malformed-cursor:\(stream)"
        case .read(let stream): "read:\(stream)"
        case .writeUnknownStream: "write-unknown-stream"
        case .writeMalformedRecord(let stream): "write-malformed-record:\(stream)"
        case .writeEmptyRecord(let stream, let any): any ? "write-empty-record:\(stream):any" : "write-empty-record:\(stream)"
        case .liveCheck: "live-check"
        case .liveRead(let stream): "live-read:\(stream)"
        case .liveWrite(let stream, let kind): "live-write:\(stream):\(kind)"
        }
    }

    /// Parses a name made by `description`.
    public init?(_ name: String) {
        let parts = name.split(separator: ":", maxSplits: 2).map(String.init)
        switch (parts.first ?? "", parts.count) {
        case ("load", 1): self = .load
        case ("close-null", 1): self = .closeNull
        case ("open-malformed-config", 1): self = .openMalformedConfig
        case ("open-empty-config", 1): self = .openEmptyConfig
        case ("open-empty-object", 1): self = .openEmptyObject
        case ("open-given-config", 1): self = .openGivenConfig
        case ("check", 1): self = .check
        case ("read-unknown-stream", 1): self = .readUnknownStream
        case ("read-malformed-cursor", 2): self = .readMalformedCursor(stream: parts[1])
        case ("read", 2): self = .read(stream: parts[1])
        case ("write-unknown-stream", 1): self = .writeUnknownStream
        case ("write-malformed-record", 2): self = .writeMalformedRecord(stream: parts[1])
        case ("write-empty-record", 2): self = .writeEmptyRecord(stream: parts[1], anyRecord: false)
        case ("write-empty-record", 3) where parts[2] == "any": self = .writeEmptyRecord(stream: parts[1], anyRecord: true)
        case ("live-check", 1): self = .liveCheck
        case ("live-read", 2): self = .liveRead(stream: parts[1])
        case ("live-write", 3): self = .liveWrite(stream: parts[1], kind: parts[2])
        default: return nil
        }
    }

    /// The cases that apply to a plugin with this manifest, in the order they run: with a
    /// deployment's connection, the live check and reads too, and with `writes` the live
    /// writes (they make a record in the remote system).
    public static func plan(for manifest: PluginManifest, hasConfig: Bool, connection: Bool = false, writes: Bool = false) -> [ConformanceCase] {
        var cases: [ConformanceCase] = [.load, .closeNull, .openMalformedConfig, .openEmptyConfig, .openEmptyObject]
        if hasConfig { cases.append(.openGivenConfig) }
        cases.append(.check)
        if !manifest.readStreams.isEmpty {
            cases.append(.readUnknownStream)
            cases.append(.readMalformedCursor(stream: manifest.readStreams[0].name))
            cases += manifest.readStreams.map { .read(stream: $0.name) }
        }
        if !manifest.writeStreams.isEmpty {
            cases.append(.writeUnknownStream)
            cases.append(.writeMalformedRecord(stream: manifest.writeStreams[0].name))
            cases += manifest.writeStreams.map { .writeEmptyRecord(stream: $0.name, anyRecord: $0.record == "any") }
        }
        if connection {
            cases.append(.liveCheck)
            cases += manifest.readStreams.map { .liveRead(stream: $0.name) }
            if writes { cases += manifest.writeStreams.filter { $0.record != "any" }.map { .liveWrite(stream: $0.name, kind: $0.record) } }
        }
        return cases
    }
}

/// The outcome of one case.
public struct ConformanceResult: Codable, Sendable, Equatable {
    public enum Verdict: String, Codable, Sendable {
        /// The plugin kept the contract.
        case pass
        /// The plugin broke the contract.
        case fail
        /// The case could not run (no instance could be opened for it).
        case notRun = "not-run"
    }

    public var name: String
    public var verdict: Verdict
    /// What happened, in one sentence.
    public var detail: String

    public init(name: String, verdict: Verdict, detail: String) {
        self.name = name
        self.verdict = verdict
        self.detail = detail
    }
}
