import Foundation

/// Runs the whole conformance kit against a plugin file, each case in a child process
/// of the `koppel` executable (`koppel plugins probe`), and collects a report.
public struct ConformanceRunner: Sendable {
    /// The `koppel` executable that runs the probes.
    public var executable: String
    /// How long one case may take before it counts as hung.
    public var timeout: TimeInterval

    public init(executable: String, timeout: TimeInterval = 30) {
        self.executable = executable
        self.timeout = timeout
    }

    /// The outcome of a validation.
    public struct Report: Codable, Sendable {
        public var path: String
        public var results: [ConformanceResult]

        /// True when the plugin loaded.
        public var loaded: Bool { results.first?.verdict == .pass }
        /// True when no case failed.
        public var passed: Bool { !results.contains { $0.verdict == .fail } }
    }

    /// Validates the plugin at `path`, with a working config file if the developer has one,
    /// and against a deployment's connection (`live`) if given; `writes` adds the live
    /// writes, which make a sample record in the remote system.
    public func validate(path: String, configFile: String?, live: ConformanceProbe.LiveConnection? = nil, writes: Bool = false) -> Report {
        let load = probe(path: path, testCase: .load, configFile: configFile)
        guard load.verdict == .pass else { return Report(path: path, results: [load]) }
        // The entry point just ran cleanly in a child; reading the manifest here is safe.
        guard let plugin = try? PluginLoader(directories: []).load(path: path) else {
            return Report(path: path, results: [load])
        }
        let cases = ConformanceCase.plan(for: plugin.manifest, hasConfig: configFile != nil, connection: live != nil, writes: writes).dropFirst()
        return Report(path: path, results: [load] + cases.map { probe(path: path, testCase: $0, configFile: configFile, live: live) })
    }

    /// Runs one case in a child process and reads its verdict.
    public func probe(path: String, testCase: ConformanceCase, configFile: String?, live: ConformanceProbe.LiveConnection? = nil) -> ConformanceResult {
        let name = testCase.description
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["plugins", "probe", path, name] + (configFile.map { ["--config", $0] } ?? [])
            + (live.map { ["--deployment", $0.deployment, "--connection", $0.connection] } ?? [])
        // A file, not a pipe: a plugin that prints a lot cannot block the probe.
        let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("koppel-probe-\(UUID().uuidString)").path
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        process.standardOutput = FileHandle(forWritingAtPath: outputPath)
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return ConformanceResult(name: name, verdict: .fail, detail: "could not start \(executable): \(error)")
        }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            process.terminate()
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return ConformanceResult(name: name, verdict: .fail, detail: "did not return within \(Int(timeout)) s (hung)")
        }
        process.waitUntilExit()
        let data = FileManager.default.contents(atPath: outputPath) ?? Data()
        if process.terminationReason == .uncaughtSignal {
            let signal = process.terminationStatus
            let signalName = [SIGSEGV: "SIGSEGV", SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGILL: "SIGILL", SIGFPE: "SIGFPE", SIGTRAP: "SIGTRAP"][signal] ?? "signal \(signal)"
            return ConformanceResult(name: name, verdict: .fail, detail: "crashed the process with \(signalName)")
        }
        let lastLine = String(decoding: data, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        guard let result = try? JSONDecoder().decode(ConformanceResult.self, from: Data(lastLine.utf8)) else {
            return ConformanceResult(name: name, verdict: .fail, detail: "the probe exited with status \(process.terminationStatus) without a verdict")
        }
        return result
    }
}
