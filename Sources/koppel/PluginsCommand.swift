import ArgumentParser
import Foundation
import KoppelHost

/// `koppel plugins ...`: list, inspect and validate connector plugins.
struct PluginsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugins",
        abstract: "List, inspect and validate connector plugins.",
        discussion: """
            Plugins are found in the directories of the deployment file (--config), in the \
            directories given with --plugin-dir, in $KOPPEL_PLUGIN_PATH (separated by ':'), or \
            next to the koppel executable, in that order of preference.
            """,
        subcommands: [List.self, Inspect.self, Validate.self, Probe.self]
    )
}

/// Where to find plugins, shared by the subcommands.
struct PluginLocation: ParsableArguments {
    @Option(name: .long, help: "A deployment file; only the plugins it names are loaded.")
    var config: String?

    @Option(name: .customLong("plugin-dir"), help: "A directory of plugin files (repeatable).")
    var pluginDirs: [String] = []

    /// The directories to search and, with a deployment, the plugins it names.
    func resolve() throws -> (directories: [String], names: [String]?) {
        if let config {
            do {
                let deployment = try Deployment.load(file: config)
                return (deployment.plugins.directories, deployment.plugins.load)
            } catch {
                throw CLIError(message: "\(error)", code: .validationFailure)
            }
        }
        if !pluginDirs.isEmpty { return (pluginDirs, nil) }
        if let path = ProcessInfo.processInfo.environment["KOPPEL_PLUGIN_PATH"], !path.isEmpty {
            return (path.split(separator: ":").map(String.init), nil)
        }
        return ([(ExecutablePath.current as NSString).deletingLastPathComponent], nil)
    }
}

/// An error that ends the command with a message and an exit code scripts can test.
struct CLIError: Error, CustomStringConvertible {
    var message: String
    var code: ExitCode
    var description: String { message }
}

enum ExecutablePath {
    /// The running koppel binary, resolved through /proc.
    static var current: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}

/// Exit codes of `koppel plugins`.
enum PluginExit {
    /// Every plugin loaded / every check passed.
    static let ok = ExitCode.success
    /// Some plugin broke the contract, or some file was refused while listing.
    static let contractBroken = ExitCode(1)
    /// The plugin could not be loaded at all.
    static let refused = ExitCode(2)
}

extension PluginsCommand {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the available plugins (with --config: the ones the deployment loads).",
            discussion: "Exit status: 0 when every plugin file loaded, 1 when some were refused (each named on stderr), 2 when a deployment's plugin could not be loaded.")

        @OptionGroup var location: PluginLocation

        func run() throws {
            let (directories, names) = try location.resolve()
            let loader = PluginLoader(directories: directories)
            var loaded: [LoadedPlugin] = []
            var refused: [PluginLoadError] = []
            if let names {
                do {
                    loaded = try loader.load(named: names)
                } catch {
                    throw CLIError(message: error.description, code: PluginExit.refused)
                }
            } else {
                for (_, result) in loader.loadAll() {
                    switch result {
                    case .success(let plugin): loaded.append(plugin)
                    case .failure(let error): refused.append(error)
                    }
                }
            }
            let rows = loaded.map { plugin -> [String] in
                let m = plugin.manifest
                let streams = (m.readStreams.map { "read:\($0.name)" } + m.writeStreams.map { "write:\($0.name)" })
                return [m.name, m.version, "\(plugin.abiMajor).\(plugin.abiMinor)", streams.isEmpty ? "-" : streams.joined(separator: ","), plugin.path]
            }
            print(Table(header: ["NAME", "VERSION", "ABI", "STREAMS", "PATH"], rows: rows).rendered)
            for error in refused {
                FileHandle.standardError.write(Data("refused: \(error)\n".utf8))
            }
            if !refused.isEmpty { throw PluginExit.contractBroken }
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a plugin's manifest and config schema.")

        @Argument(help: "The plugin's name, as `koppel plugins list` shows it.")
        var name: String

        @Flag(help: "Print the manifest as the plugin gave it (JSON).")
        var json = false

        @OptionGroup var location: PluginLocation

        func run() throws {
            let (directories, _) = try location.resolve()
            let plugin: LoadedPlugin
            do {
                plugin = try PluginLoader(directories: directories).load(named: [name])[0]
            } catch {
                throw CLIError(message: error.description, code: PluginExit.refused)
            }
            let m = plugin.manifest
            if json {
                print(m.rawJSON)
                return
            }
            func streams(_ list: [PluginManifest.Stream]) -> String {
                list.isEmpty ? "none" : list.map { "\($0.name) (\($0.record)\($0.incremental ? ", incremental" : "")\($0.update ? ", updates" : ""))" }.joined(separator: ", ")
            }
            print("""
                name:        \(m.name)
                version:     \(m.version)
                abi:         \(plugin.abiMajor).\(plugin.abiMinor)
                path:        \(plugin.path)
                description: \(m.description)
                reads:       \(streams(m.readStreams))
                writes:      \(streams(m.writeStreams))
                auth:        \(m.authScheme)
                secrets:     \(m.secretSettings.isEmpty ? "none" : m.secretSettings.joined(separator: ", "))
                webhooks:    \(m.webhookSignature ?? "none")
                config schema:
                \(m.configSchemaJSON)
                """)
        }
    }

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check that a plugin file keeps the Koppel plugin contract.",
            discussion: """
                Loads the plugin and calls every entry with valid and invalid input (malformed \
                JSON, an empty config, unknown streams, malformed cursors and records), each in \
                its own process. Reports crashes, wrong status classes, missing error messages \
                and leaked input. With --connection, the plugin also meets the real service \
                behind that connection of the deployment (its settings, vault and sign-in): \
                check, a first read of every stream (the first 100 records), and with --write a \
                sample record written to every write stream and written again as a retry, which \
                must find the first. --write makes a record marked as a test in the remote \
                system: use a sandbox or staging account. Exit status: 0 all checks passed, 1 \
                the contract was broken, 2 the file could not be loaded.
                """)

        @Argument(help: "The plugin file (.so).")
        var path: String

        @Option(help: "A JSON file with working connection settings, to exercise reads and writes.")
        var config: String?

        @Option(help: "A connection of the deployment whose real service the plugin meets (live cases).")
        var connection: String?

        @Option(help: "The deployment file of --connection (default: $KOPPEL_CONFIG, else ./koppel.yaml).")
        var deployment: String?

        @Flag(help: "With --connection: also write a sample record to each write stream (it stays in the remote system).")
        var write = false

        @Flag(help: "Print the report as JSON.")
        var json = false

        func validate() throws {
            if write && connection == nil { throw ValidationError("--write needs --connection") }
        }

        func run() throws {
            if let config, !FileManager.default.fileExists(atPath: config) {
                throw CLIError(message: "\(config): no such file", code: .validationFailure)
            }
            let live = try connection.map { name in
                let file = deployment ?? ProcessInfo.processInfo.environment["KOPPEL_CONFIG"] ?? "koppel.yaml"
                guard FileManager.default.fileExists(atPath: file) else {
                    throw CLIError(message: "\(file): no such deployment file (give it with --deployment)", code: .validationFailure)
                }
                return ConformanceProbe.LiveConnection(deployment: URL(fileURLWithPath: file).standardizedFileURL.path, connection: name)
            }
            let report = ConformanceRunner(executable: ExecutablePath.current).validate(path: path, configFile: config, live: live, writes: write)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                print("Validating \(report.path)")
                for result in report.results {
                    let mark = switch result.verdict {
                    case .pass: "PASS"
                    case .fail: "FAIL"
                    case .notRun: "SKIP"
                    }
                    print("  \(mark)  \(result.name): \(result.detail)")
                }
                let count = { (v: ConformanceResult.Verdict) in report.results.filter { $0.verdict == v }.count }
                print("\(count(.pass)) checks kept the contract, \(count(.fail)) broke it, \(count(.notRun)) could not run")
            }
            if !report.loaded { throw PluginExit.refused }
            if !report.passed { throw PluginExit.contractBroken }
        }
    }

    /// Runs one conformance case in this process; `validate` starts one per case.
    struct Probe: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run one conformance case (used by validate).", shouldDisplay: false)

        @Argument var path: String
        @Argument var testCase: String
        @Option var config: String?
        @Option var deployment: String?
        @Option var connection: String?

        func run() throws {
            guard let parsed = ConformanceCase(testCase) else {
                throw CLIError(message: "unknown conformance case \(testCase)", code: .validationFailure)
            }
            let configData = try config.map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
            let live = deployment.flatMap { file in connection.map { ConformanceProbe.LiveConnection(deployment: file, connection: $0) } }
            let result = ConformanceProbe(path: path, config: configData, live: live).run(parsed)
            print(String(decoding: try JSONEncoder().encode(result), as: UTF8.self))
        }
    }
}
