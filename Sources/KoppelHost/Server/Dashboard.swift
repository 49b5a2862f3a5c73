import Foundation

/// The dashboard's pages, rendered on the server as plain HTML (no scripts, no build
/// step): every flow with its schedule, last run, counts and health; per flow its runs,
/// parked records with a Replay button and its activity log; every connection with a
/// Check button. Times are shown in the server's time zone, with the zone.
final class Dashboard: @unchecked Sendable {
    let runtime: Runtime
    let alerts: AlertNotifier?
    /// Put into every form and checked on every post.
    let formToken = UUID().uuidString
    private let lock = NSLock()
    private var notices: [String: String] = [:]
    private var checks: [String: (at: Date, ok: Bool, message: String)] = [:]

    init(runtime: Runtime, alerts: AlertNotifier?) {
        self.runtime = runtime
        self.alerts = alerts
    }

    private var store: any StateStore { runtime.store }

    // MARK: Actions

    /// Replays one parked record (or all of them) and leaves a notice for the flow's page.
    func replay(flow name: String, record: String?) {
        guard let flow = runtime.deployment.flow(name) else { return }
        let notice: String
        do {
            let report = try FlowRunner(runtime: runtime, flow: flow).replay(keys: record.map { [$0] })
            // A replay that leaves nothing parked ends the incident.
            alerts?.runEnded(flow: flow, report: report, error: nil)
            let delivered = report.written + report.updated
            notice = record.map { "Replayed \($0): " + (delivered > 0 ? "delivered." : "still failing; see its reason below.") }
                ?? "Replayed \(report.retried): \(delivered) delivered, \(report.failed) still failing."
        } catch EngineError.flowBusy {
            notice = "\(name) is running right now; replay again in a moment."
        } catch {
            notice = "Replay failed: \(runtime.redactor.redact("\(error)"))"
        }
        lock.withLock { notices[name] = notice }
    }

    /// Checks a connection as `koppel check` does and remembers the answer.
    func check(connection name: String) {
        guard runtime.deployment.connection(name) != nil else { return }
        let result: (Date, Bool, String)
        do {
            let connection = try runtime.open(connection: name)
            try connection.check()
            result = (Date(), true, "ok")
        } catch let error as PluginCallError {
            result = (Date(), false, error.message)
        } catch {
            result = (Date(), false, runtime.redactor.redact("\(error)"))
        }
        lock.withLock { checks[name] = result }
    }

    // MARK: Pages

    func overview() -> String {
        let mode = WebhookMode(store: store)
        var rows = ""
        for flow in runtime.deployment.flows {
            let last = (try? store.runs(flow: flow.name, limit: 1))?.first
            let counts = (try? store.ledgerCounts(flow: flow.name)) ?? [:]
            let parked = counts[.failed] ?? 0
            let waiting = counts[.uncertain] ?? 0
            var schedule = flow.schedule.description
            let polling = mode.pollingSince(flow: flow.name)
            if let polling { schedule += " · polling since \(Self.time(polling)) (webhook silent)" }
            let health: (String, String) =
                if last?.status == .failed { ("failing", "bad") }
                else if parked > 0 { ("\(parked) parked", "bad") }
                else if polling != nil { ("polling", "warn") }
                else if waiting > 0 { ("\(waiting) to retry", "warn") }
                else if last == nil { ("not run yet", "idle") }
                else { ("healthy", "ok") }
            let lastRun = last.map { run in
                "\(Self.time(run.startedAt)) · \(run.status.rawValue) · read \(run.read), written \(run.written), failed \(run.failed)"
                    + (run.error.map { "<div class=error>\(Self.escape($0))</div>" } ?? "")
            } ?? "—"
            rows += """
                <tr class=flow data-flow="\(Self.escape(flow.name))"><td><a href="/flows/\(Self.urlPath(flow.name))">\(Self.escape(flow.name))</a></td>
                <td>\(Self.escape(flow.source.description)) → \(Self.escape(flow.target.description))</td><td>\(Self.escape(schedule))</td>
                <td>\(lastRun)</td><td class=num>\(counts[.done] ?? 0)</td><td class=num>\(parked)</td>
                <td><span class="badge \(health.1)">\(Self.escape(health.0))</span></td></tr>

                """
        }
        var connections = ""
        let results = lock.withLock { checks }
        for connection in runtime.deployment.connections {
            let result = results[connection.name].map {
                "<span class=\"badge \($0.ok ? "ok" : "bad")\">\($0.ok ? "ok" : "failed")</span> \(Self.escape($0.message)) <small>\(Self.time($0.at))</small>"
            } ?? "—"
            connections += """
                <tr data-connection="\(Self.escape(connection.name))"><td>\(Self.escape(connection.name))</td><td>\(Self.escape(connection.plugin))</td>
                <td>\(Self.escape((try? runtime.baseURL(connection.name)) ?? nil ?? "—"))</td>
                <td class=check-result>\(result)</td>
                <td><form method=post action="/connections/\(Self.urlPath(connection.name))/check">\(csrfField)<button type=submit class=check>Check</button></form></td></tr>

                """
        }
        return Self.page("Koppel", """
            <h1>Koppel</h1>
            <h2>Flows</h2>
            <table><tr><th>Flow</th><th>Route</th><th>Schedule</th><th>Last run</th><th>Delivered</th><th>Parked</th><th>Health</th></tr>
            \(rows)</table>
            <h2 id=connections>Connections</h2>
            <table><tr><th>Connection</th><th>Plugin</th><th>Address</th><th>Last check</th><th></th></tr>
            \(connections)</table>
            <p><small>Prometheus metrics: <a href="/metrics">/metrics</a></small></p>
            """)
    }

    func flowPage(_ name: String) -> String? {
        guard let flow = runtime.deployment.flow(name) else { return nil }
        let notice = lock.withLock { notices.removeValue(forKey: name) }
        let runs = (try? store.runs(flow: name, limit: 10)) ?? []
        var runRows = ""
        for run in runs {
            runRows += "<tr><td>\(Self.time(run.startedAt))</td><td>\(run.status.rawValue)</td><td class=num>\(run.read)</td><td class=num>\(run.written)</td><td class=num>\(run.skipped)</td><td class=num>\(run.failed)</td><td>\(Self.escape(run.error ?? ""))</td></tr>\n"
        }
        let parked = (try? store.ledgerEntries(flow: name, states: [.failed], limit: 500)) ?? []
        var parkedRows = ""
        for entry in parked {
            parkedRows += """
                <tr class=parked data-record="\(Self.escape(entry.sourceKey))"><td>\(Self.escape(entry.sourceKey))</td><td>\(Self.escape(entry.lastError ?? ""))</td>
                <td class=num>\(entry.attempts)</td><td>\(Self.time(entry.updatedAt))</td>
                <td><form method=post action="/flows/\(Self.urlPath(name))/replay">\(csrfField)<input type=hidden name=record value="\(Self.escape(entry.sourceKey))"><button type=submit class=replay>Replay</button></form></td></tr>

                """
        }
        let replayAll = parked.count > 1
            ? "<form method=post action=\"/flows/\(Self.urlPath(name))/replay\">\(csrfField)<button type=submit class=replay-all>Replay all \(parked.count)</button></form>" : ""
        let activity = (try? store.activities(ActivityQuery(flow: name, limit: 200))) ?? []
        var activityRows = ""
        for entry in activity {
            let detail = entry.detail.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            let remote = detail?["target_key"] as? String ?? ""
            activityRows += "<tr class=\"activity \(entry.kind.rawValue)\" data-record=\"\(Self.escape(entry.record ?? ""))\"><td>\(Self.time(entry.at))</td><td>\(entry.kind.rawValue)</td><td>\(Self.escape(entry.record ?? ""))</td><td>\(Self.escape(entry.message))</td><td class=remote>\(Self.escape(remote))</td></tr>\n"
        }
        // What the merchant must know about the stream this flow writes (its manifest says).
        let streamNotice = (try? runtime.connection(flow.target.connection))?.1.manifest.writeStreams
            .first { $0.name == flow.target.stream }?.notice
        var schedule = flow.schedule.description
        if let polling = WebhookMode(store: store).pollingSince(flow: name) {
            schedule += " · polling since \(Self.time(polling)) because no webhook deliveries came"
        }
        return Self.page("\(name) · Koppel", """
            <p><a href="/">← all flows</a></p>
            <h1>\(Self.escape(name))</h1>
            <p>\(Self.escape(flow.source.description)) → \(Self.escape(flow.target.description)) · \(Self.escape(schedule))</p>
            \(streamNotice.map { "<p class=stream-notice>Note: \(Self.escape($0))</p>" } ?? "")
            \(notice.map { "<p class=notice>\(Self.escape($0))</p>" } ?? "")
            <h2>Parked records (\(parked.count))</h2>
            \(parked.isEmpty ? "<p>None: every record read was delivered or skipped on purpose.</p>" : "<table id=parked><tr><th>Record</th><th>Reason</th><th>Attempts</th><th>Last attempt</th><th></th></tr>\n\(parkedRows)</table>\(replayAll)")
            <h2>Recent runs</h2>
            <table><tr><th>Started</th><th>Status</th><th>Read</th><th>Written</th><th>Skipped</th><th>Failed</th><th>Error</th></tr>
            \(runRows)</table>
            <h2>Activity</h2>
            <table id=activity><tr><th>Time</th><th>What</th><th>Record</th><th>Message</th><th>Remote id</th></tr>
            \(activityRows)</table>
            """)
    }

    static func notFound(_ message: String) -> String {
        page("Not found · Koppel", "<p><a href=\"/\">← all flows</a></p><p>\(escape(message))</p>")
    }

    // MARK: HTML

    private var csrfField: String { "<input type=hidden name=csrf value=\"\(formToken)\">" }

    static func page(_ title: String, _ body: String) -> String {
        """
        <!doctype html>
        <html lang=en><head><meta charset=utf-8><meta name=viewport content="width=device-width, initial-scale=1">
        <title>\(escape(title))</title>
        <style>
        body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin-bottom:1.5em}
        th,td{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}td.num{text-align:right}
        .badge{padding:.1em .5em;border-radius:.8em;font-size:12px}.ok{background:#d7f5dd}.bad{background:#fbd5d5}
        .warn{background:#fdefc3}.idle{background:#eee}.error{color:#a00}.notice{background:#eef4ff;padding:.5em}
        tr.failed td,tr.warning td{color:#a00}form{margin:0}
        </style></head><body>
        \(body)
        </body></html>
        """
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    static func urlPath(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? text
    }

    static func time(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_GB")
        formatter.timeZone = TimeZone.current
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss zzz"
        return formatter.string(from: date)
    }
}
