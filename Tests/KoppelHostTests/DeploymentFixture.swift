import Foundation
import KoppelHost
import Logging
import XCTest

/// A deployment in a scratch directory: a state file, Koppel's own plugins, and the
/// connections a test adds. Drives the real `koppel` binary or an in-process `Runtime`.
struct DeploymentFixture {
    let directory: String
    let masterKey: String

    var configFile: String { "\(directory)/koppel.yaml" }
    var stateFile: String { "\(directory)/state/koppel.sqlite" }

    init() throws {
        directory = try TestSupport.makeTemporaryDirectory("koppel-deploy")
        masterKey = MasterKey.generate().base64Text
    }

    /// Writes the deployment file: Koppel's own plugins, the given connections and flows.
    func write(load: [String], connections: String, flows: String = "", extra: String = "") throws {
        try """
            state:
              path: state/koppel.sqlite
            plugins:
              directories: [\(TestSupport.productsDirectory)]
              load: [\(load.joined(separator: ", "))]
            connections:
            \(connections.indented(2))
            \(flows.isEmpty ? "" : "flows:\n" + flows.indented(2))
            \(extra)
            """.write(toFile: configFile, atomically: true, encoding: .utf8)
        try createState()
    }

    /// Creates the state file at `stateFile`, as `koppel init` does, if there is none.
    func createState() throws {
        if !FileManager.default.fileExists(atPath: stateFile) { _ = try SQLiteStateStore(path: stateFile, create: true) }
    }

    /// The environment for child processes: the master key, no inherited config.
    var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["KOPPEL_MASTER_KEY"] = masterKey
        environment["KOPPEL_CONFIG"] = configFile
        return environment
    }

    /// Runs `koppel` with this deployment.
    @discardableResult
    func koppel(_ arguments: [String], stdin: String? = nil, environment: [String: String]? = nil) throws -> TestSupport.Output {
        try TestSupport.run(TestSupport.koppel, arguments, environment: environment ?? self.environment, stdin: stdin)
    }

    /// An in-process runtime on the same deployment.
    func runtime(masterKey: String? = nil) throws -> Runtime {
        var logger = Logger(label: "test")
        logger.logLevel = .error
        return try Runtime.open(configFile: configFile, environment: ["KOPPEL_MASTER_KEY": masterKey ?? self.masterKey], logger: logger)
    }

    /// Every byte of the state database and its WAL files.
    func stateBytes() throws -> Data {
        var all = Data()
        for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: stateFile + suffix) {
            all += try Data(contentsOf: URL(fileURLWithPath: stateFile + suffix))
        }
        return all
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }
}

extension MasterKey {
    var base64Text: String { (try? base64()) ?? "" }
}

extension String {
    func indented(_ spaces: Int) -> String {
        split(separator: "\n", omittingEmptySubsequences: false).map { String(repeating: " ", count: spaces) + $0 }.joined(separator: "\n")
    }
}

extension Data {
    func contains(_ text: String) -> Bool {
        range(of: Data(text.utf8)) != nil
    }
}
