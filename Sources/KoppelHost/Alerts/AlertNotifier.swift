import Foundation
import Logging

/// Tells a person when a flow starts failing and when it has recovered, once per
/// incident, through the deployment's `alerts` channels: an HTTP POST of a JSON message
/// (with a `text` line, so chat webhooks show it as is) and/or a command that receives
/// the same JSON on standard input.
///
/// An incident opens when a run fails or parks records. It closes when a run succeeds
/// without parking any and nothing of the flow is parked any more (replayed or fixed).
/// The open incident is kept in the state store, so a restart does not repeat it.
public final class AlertNotifier: Sendable {
    let settings: AlertSettings
    let store: any StateStore
    let activity: ActivityRecorder
    let logger: Logger
    let dashboardURL: String?
    private let client = CurlHTTPClient()

    public init(settings: AlertSettings, runtime: Runtime, dashboardURL: String? = nil) {
        self.settings = settings
        store = runtime.store
        activity = runtime.activity
        logger = runtime.logger
        self.dashboardURL = dashboardURL
    }

    /// What is sent.
    struct Alert: Codable {
        var event: String
        var flow: String
        var route: String
        var since: String
        var reason: String
        var parked: Int
        var dashboard: String?
        var text: String
    }

    /// Called after every run of a flow (with its report, or the error that ended it).
    public func runEnded(flow: FlowConfig, report: FlowRunner.Report?, error: String?) {
        guard settings.isConfigured else { return }
        do {
            let parked = try store.ledgerCounts(flow: flow.name)[.failed] ?? 0
            let open = try store.flowValue(flow: flow.name, key: "incident")
            var problem: String?
            if let error {
                problem = "the run failed: \(error)"
            } else if let report, report.failed > 0 {
                let reason = try store.ledgerEntries(flow: flow.name, states: [.failed], limit: 1_000).last?.lastError ?? "see the dashboard"
                problem = "\(report.failed) record(s) parked, for instance: \(reason)"
            }
            if let problem, open == nil {
                let since = RFC3339.string(Date())
                try store.setFlowValue(since + " " + problem, flow: flow.name, key: "incident")
                send(Alert(
                    event: "failing", flow: flow.name, route: "\(flow.source) -> \(flow.target)", since: since, reason: problem,
                    parked: parked, dashboard: dashboardURL.map { "\($0)/flows/\(flow.name)" },
                    text: "Koppel: flow \(flow.name) is failing: \(problem)"))
            } else if problem == nil, let open, parked == 0 {
                try store.setFlowValue(nil, flow: flow.name, key: "incident")
                let since = String(open.prefix { $0 != " " })
                send(Alert(
                    event: "recovered", flow: flow.name, route: "\(flow.source) -> \(flow.target)", since: since,
                    reason: String(open.drop { $0 != " " }.dropFirst()), parked: 0,
                    dashboard: dashboardURL.map { "\($0)/flows/\(flow.name)" },
                    text: "Koppel: flow \(flow.name) has recovered (failing since \(since))"))
            }
        } catch {
            logger.error("alerts for \(flow.name): \(error)")
        }
    }

    private func send(_ alert: Alert) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let json = try? encoder.encode(alert) else { return }
        var outcomes: [String] = []
        if let url = settings.url {
            outcomes.append(post(json, to: url))
        }
        if let command = settings.command {
            outcomes.append(run(command, json: json, alert: alert))
        }
        let failures = outcomes.filter { !$0.isEmpty }
        let kind: ActivityEntry.Kind = failures.isEmpty ? .info : .warning
        let message = failures.isEmpty ? "alert sent: \(alert.text)" : "alert not sent: \(failures.joined(separator: "; ")) (\(alert.text))"
        activity.record(ActivityEntry(at: Date(), kind: kind, flow: alert.flow, message: message))
        if !failures.isEmpty { logger.error("\(message)") }
    }

    /// POSTs the alert, tried again as `RetryPolicy.alert` says; returns what went wrong,
    /// or "".
    private func post(_ json: Data, to url: String) -> String {
        var request = OutboundRequest(method: "POST", url: url, headers: [("Content-Type", "application/json")], idempotent: false, timeout: 10)
        request.body = json
        let problem = RetryPolicy.alert.repeating({ () -> String in
            switch client.send(request) {
            case .response(let response) where (200..<300).contains(response.status): ""
            case .response(let response): "POST \(url) answered HTTP \(response.status)"
            case .notSent(let reason), .unknown(let reason): "POST \(url): \(reason)"
            }
        }, while: { !$0.isEmpty })
        return problem
    }

    /// Runs the alert command with the JSON on standard input; returns what went wrong, or "".
    private func run(_ command: String, json: Data, alert: Alert) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        var environment = ProcessInfo.processInfo.environment
        environment["KOPPEL_ALERT_EVENT"] = alert.event
        environment["KOPPEL_ALERT_FLOW"] = alert.flow
        environment["KOPPEL_ALERT_TEXT"] = alert.text
        process.environment = environment
        let input = Pipe()
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return "the alert command could not start: \(error.localizedDescription)"
        }
        input.fileHandleForWriting.write(json + Data("\n".utf8))
        try? input.fileHandleForWriting.close()
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            process.terminate()
            return "the alert command did not finish within 30 s"
        }
        return process.terminationStatus == 0 ? "" : "the alert command exited with status \(process.terminationStatus)"
    }
}
