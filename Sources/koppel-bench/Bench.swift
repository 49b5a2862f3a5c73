import ArgumentParser
import Foundation
import KoppelHost
import Logging

/// `koppel-bench`: how fast Koppel is, measured and printed (never asserted).
///
///     swift run -c release koppel-bench --records 100000
@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "koppel-bench",
        abstract: "Measure Koppel: records per second through the plugin ABI with the SQLite ledger, and peak memory.")

    @Option(help: "Records for the null source -> null target flow.") var records = 100_000
    @Option(help: "Directory holding the plugins (default: next to this binary).") var pluginDir: String?

    func run() throws {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let plugins = pluginDir ?? URL(fileURLWithPath: executable).deletingLastPathComponent().path
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("koppel-bench-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try """
            state: { path: state.sqlite }
            plugins: { directories: [\(plugins)], load: [null] }
            connections:
              source: { plugin: null, settings: { count: \(records) } }
              target: { plugin: null }
            flows:
              bench: { from: source.records, to: target.records }
            """.write(toFile: "\(directory)/koppel.yaml", atomically: true, encoding: .utf8)
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let runtime = try Runtime.open(configFile: "\(directory)/koppel.yaml", environment: [:], logger: logger)
        guard let flow = runtime.deployment.flow("bench") else { throw ValidationError("the benchmark deployment has no flow") }

        let started = Date()
        let report = try FlowRunner(runtime: runtime, flow: flow).run()
        let seconds = Date().timeIntervalSince(started)
        let rerunStarted = Date()
        let rerun = try FlowRunner(runtime: runtime, flow: flow).run(FlowRunner.Options(since: Date(timeIntervalSince1970: 0)))
        let rerunSeconds = Date().timeIntervalSince(rerunStarted)

        print(Table(rows: [
            ["measure", "value"],
            ["records delivered (null -> null, ABI + SQLite ledger)", "\(report.written)"],
            ["time", String(format: "%.2f s", seconds)],
            ["records/s, first delivery", String(format: "%.0f", Double(report.written) / seconds)],
            ["records/s, re-read of delivered records (dedup)", String(format: "%.0f", Double(rerun.unchanged) / rerunSeconds)],
            ["peak RSS", "\(Self.peakRSSKiB() / 1024) MiB"],
        ]))
    }

    /// The process's peak resident set (VmHWM), in KiB.
    static func peakRSSKiB() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }
}

/// A two-column table.
func Table(rows: [[String]]) -> String {
    let width = rows.map { $0[0].count }.max() ?? 0
    return rows.map { $0[0].padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0[1] }.joined(separator: "\n")
}
