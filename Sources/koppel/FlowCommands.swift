import ArgumentParser
import Foundation
import KoppelHost

extension Runtime {
    /// The flow with this name, or an error listing the flows there are.
    func flow(named name: String) throws -> FlowConfig {
        guard let flow = deployment.flow(name) else {
            throw CLIError(message: RuntimeError.unknownFlow(name: name, known: deployment.flows.map(\.name)).description, code: .validationFailure)
        }
        return flow
    }
}

/// Times as the CLI prints them: RFC 3339 in UTC.
private enum timeFormat {
    static func string(from date: Date) -> String { ISO8601DateFormatter().string(from: date) }
}

/// `koppel sync FLOW`: one run now, optionally a backfill or a dry run.
struct SyncCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Run a flow once now: deliver what is new, or backfill an earlier period.",
        discussion: """
            Without --since, the flow continues from where its last run stopped. With --since \
            (and --until), it reads the records of that period again; records already delivered \
            are recognised and not sent twice, and the flow's position is left as it was. \
            --dry-run reads, filters and maps, prints what would be written, and writes nothing.
            """)

    @Argument(help: "The flow to run.") var flow: String
    @Option(help: "Backfill from this date (2026-01-01) or time (RFC 3339).") var since: String?
    @Option(help: "Backfill until this date or time.") var until: String?
    @Flag(help: "Read, filter and map; write nothing anywhere.") var dryRun = false
    @Flag(help: "Retry records waiting for a later attempt now, instead of at their next attempt time.") var retryNow = false
    @Flag(help: "Look records this state file does not know up in the target before writing them (after restoring an older state file).")
    var reconcile = false
    @OptionGroup var deployment: DeploymentOptions

    func run() throws {
        let runtime = try deployment.runtime()
        let flow = try runtime.flow(named: self.flow)
        var options = FlowRunner.Options(dryRun: dryRun)
        options.retryNow = retryNow
        options.reconcileUnknown = reconcile
        for (text, name) in [(since, "--since"), (until, "--until")] {
            guard let text else { continue }
            guard let date = FlowConfig.date(text) else {
                throw CLIError(message: "\(name) \(text) is not a date such as 2026-01-01 or 2026-01-01T00:00:00Z", code: .validationFailure)
            }
            if name == "--since" { options.since = date } else { options.until = date }
        }
        let progress = ProgressLine(label: flow.name)
        options.progress = { progress.update($0) }
        if dryRun {
            options.wouldWrite = { key, record in
                print("would write \(key) to \(flow.target): \(String(decoding: record, as: UTF8.self))")
            }
        }
        let runner = FlowRunner(runtime: runtime, flow: flow)
        let report: FlowRunner.Report
        do {
            report = try runner.run(options)
        } catch {
            progress.finish()
            throw CLIError(message: runtime.redactor.redact("\(error)"), code: .failure)
        }
        progress.finish()
        print(summary(report, dryRun: dryRun))
        if !dryRun, let open = try reporting(.failure, { try outstanding(runtime) }) { print(open) }
    }

    /// The last line after a run that left records behind: how many are parked, how many
    /// wait for a retry and when, and the command for each.
    func outstanding(_ runtime: Runtime) throws -> String? {
        let counts = try runtime.store.ledgerCounts(flow: flow)
        var parts: [String] = []
        if let parked = counts[.failed], parked > 0 {
            parts.append("\(parked) record(s) parked: see `koppel failed \(flow)`, fix the cause, then `koppel replay \(flow) --all-failed`")
        }
        let waiting = (counts[.uncertain] ?? 0) + (counts[.pending] ?? 0)
        if waiting > 0 {
            let when = try runtime.store.earliestRetry(flow: flow).map { " (next attempt \(timeFormat.string(from: max($0, Date()))))" } ?? ""
            parts.append("\(waiting) record(s) not delivered yet, waiting for a retry\(when): `koppel sync \(flow) --retry-now` retries them now")
        }
        return parts.isEmpty ? nil : "not done: " + parts.joined(separator: "; ")
    }

    func summary(_ r: FlowRunner.Report, dryRun: Bool) -> String {
        if dryRun { return "\(flow) (dry run): read \(r.read), would write \(r.written), skipped \(r.skipped + r.unchanged), not mappable \(r.failed); nothing was written" }
        var parts = ["read \(r.read)", "written \(r.written)"]
        if r.updated > 0 { parts.append("updated \(r.updated)") }
        if r.deleted > 0 { parts.append("deleted \(r.deleted)") }
        parts += ["unchanged \(r.unchanged)", "skipped \(r.skipped)", "failed \(r.failed)"]
        if r.retried > 0 { parts.append("retried \(r.retried)") }
        if r.recovered > 0 { parts.append("recovered after a crash \(r.recovered)") }
        return "\(flow): " + parts.joined(separator: ", ")
    }
}

/// A progress display: a line redrawn in place on a terminal, a plain line every so
/// often otherwise.
final class ProgressLine: @unchecked Sendable {
    let label: String
    let terminal = isatty(STDOUT_FILENO) == 1
    private var last = Date()
    private var drawn = false

    init(label: String) {
        self.label = label
    }

    func update(_ r: FlowRunner.Report) {
        let now = Date()
        guard now.timeIntervalSince(last) >= (terminal ? 0.1 : 5) else { return }
        last = now
        let text = "\(label): read \(r.read), written \(r.written + r.updated), skipped \(r.skipped + r.unchanged), failed \(r.failed)"
        if terminal {
            FileHandle.standardOutput.write(Data("\r\u{1B}[2K\(text)".utf8))
            drawn = true
        } else {
            print(text)
        }
    }

    func finish() {
        if drawn { FileHandle.standardOutput.write(Data("\r\u{1B}[2K".utf8)) }
    }
}

/// `koppel status`: every flow with its schedule, last run and ledger counts.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show every flow: schedule, last run, delivered, parked.")
    @OptionGroup var deployment: DeploymentOptions

    func run() throws {
        let runtime = try deployment.runtime()
        try reporting {
            var rows: [[String]] = []
            for flow in runtime.deployment.flows {
                let last = try runtime.store.runs(flow: flow.name, limit: 1).first
                let counts = try runtime.store.ledgerCounts(flow: flow.name)
                rows.append([
                    flow.name, "\(flow.source) -> \(flow.target)", flow.schedule.description,
                    last.map { "\($0.status.rawValue) \(timeFormat.string(from: $0.startedAt))" } ?? "never",
                    String(counts[.done] ?? 0), String(counts[.failed] ?? 0), String((counts[.uncertain] ?? 0) + (counts[.pending] ?? 0)),
                ])
            }
            print(Table(header: ["FLOW", "FROM -> TO", "SCHEDULE", "LAST RUN", "DELIVERED", "PARKED", "TO RETRY"], rows: rows).rendered)
            for line in try budgets(runtime) { print(line) }
        }
    }

    /// Per connection, from its recent calls in the activity log: the budget its API
    /// last reported (Exact: the day's calls left), and the endpoints Koppel does not call
    /// now because the API would block them (too many error answers), with until when.
    private func budgets(_ runtime: Runtime) throws -> [String] {
        struct Detail: Decodable {
            var rests: String?
            var until: String?
            var budgetLeft: Int?
            var budgetBack: String?
            enum CodingKeys: String, CodingKey {
                case rests, until
                case budgetLeft = "budget_left"
                case budgetBack = "budget_back"
            }
        }
        let iso = ISO8601DateFormatter()
        var lines: [String] = []
        for connection in runtime.deployment.connections.map(\.name) {
            var resting: [String: Date] = [:]
            var budget: (left: Int, back: Date)?
            // Newest first.
            for entry in try runtime.store.activities(ActivityQuery(connection: connection, kinds: [.http], limit: 500)) {
                guard let text = entry.detail, let detail = try? JSONDecoder().decode(Detail.self, from: Data(text.utf8)) else { continue }
                if budget == nil, let left = detail.budgetLeft, let back = detail.budgetBack.flatMap { iso.date(from: $0) }, back > Date() { budget = (left, back) }
                if let endpoint = detail.rests, let until = detail.until.flatMap { iso.date(from: $0) }, until > Date() {
                    resting[endpoint] = max(resting[endpoint] ?? until, until)
                }
            }
            if let budget {
                lines.append("\(connection): \(budget.left) calls left until \(timeFormat.string(from: budget.back)), as the service last reported")
            }
            for (endpoint, until) in resting.sorted(by: { $0.key < $1.key }) {
                lines.append("\(connection): \(endpoint) rests until \(timeFormat.string(from: until)): too many error answers, which the service would answer with a block")
            }
        }
        return lines
    }
}

/// `koppel runs FLOW`: the flow's recent runs.
struct RunsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "runs", abstract: "Show a flow's recent runs.")
    @Argument var flow: String
    @Option(help: "How many runs.") var limit = 20
    @OptionGroup var deployment: DeploymentOptions

    func run() throws {
        let runtime = try deployment.runtime()
        _ = try runtime.flow(named: flow)
        try reporting {
            let rows = try runtime.store.runs(flow: flow, limit: limit).map { run in
                [String(run.id), timeFormat.string(from: run.startedAt), run.finishedAt.map { String(format: "%.1fs", $0.timeIntervalSince(run.startedAt)) } ?? "-",
                 run.status.rawValue, String(run.read), String(run.written), String(run.skipped), String(run.failed), run.error ?? ""]
            }
            print(Table(header: ["RUN", "STARTED", "TOOK", "STATUS", "READ", "WRITTEN", "SKIPPED", "FAILED", "ERROR"], rows: rows).rendered)
        }
    }
}

/// `koppel failed FLOW`: parked records and why.
struct FailedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "failed", abstract: "List a flow's parked records with their reasons.")
    @Argument var flow: String
    @OptionGroup var deployment: DeploymentOptions

    func run() throws {
        let runtime = try deployment.runtime()
        _ = try runtime.flow(named: flow)
        try reporting {
            let rows = try runtime.store.ledgerEntries(flow: flow, states: [.failed], limit: 10_000).map {
                [$0.sourceKey, String($0.attempts), timeFormat.string(from: $0.updatedAt), $0.lastError ?? ""]
            }
            print(Table(header: ["RECORD", "ATTEMPTS", "WHEN", "REASON"], rows: rows).rendered)
        }
    }
}

/// `koppel replay FLOW`: deliver parked records again.
struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay", abstract: "Deliver parked records again, after the cause was fixed (each is reconciled first, so none is delivered twice).")
    @Argument var flow: String
    @Option(name: .customLong("record"), help: "A parked record's source key (repeatable).") var records: [String] = []
    @Flag(help: "Every parked record of the flow.") var allFailed = false
    @OptionGroup var deployment: DeploymentOptions

    func validate() throws {
        guard allFailed != !records.isEmpty else { throw ValidationError("give --record KEY (one or more) or --all-failed") }
    }

    func run() throws {
        let runtime = try deployment.runtime()
        let flow = try runtime.flow(named: self.flow)
        let report: FlowRunner.Report
        do {
            report = try FlowRunner(runtime: runtime, flow: flow).replay(keys: allFailed ? nil : records)
        } catch {
            throw CLIError(message: runtime.redactor.redact("\(error)"), code: .failure)
        }
        print("\(flow.name): replayed \(report.retried), delivered \(report.written + report.updated), still failing \(report.failed)")
        if report.failed > 0 { throw ExitCode.failure }
    }
}

/// `koppel log FLOW`: what happened, record by record.
struct LogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "log", abstract: "Show a flow's activity: what was read, written (with remote ids), skipped, refused.")
    @Argument var flow: String
    @Option(name: .customLong("record"), help: "Only this record's source key.") var record: String?
    @Option(help: "How many lines.") var limit = 100
    @OptionGroup var deployment: DeploymentOptions

    func run() throws {
        let runtime = try deployment.runtime()
        _ = try runtime.flow(named: flow)
        try reporting {
            let entries = try runtime.store.activities(ActivityQuery(flow: flow, record: record, limit: limit))
            for entry in entries.reversed() {
                print("\(timeFormat.string(from: entry.at))  \(entry.kind.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0))  \(entry.record ?? "-")  \(entry.message)")
            }
        }
    }
}
