import ArgumentParser
import Foundation
import KoppelDemo
import KoppelHost
import KoppelSandbox
import Logging

/// `koppel demo`: Koppel at work on the sandbox, from nothing to a dashboard.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Try Koppel on the sandbox: two webshops booked into Exact Online, one shipping with Boekuwzending, then the dashboard.",
        discussion: """
            Starts the sandbox (local fakes of WooCommerce, Mijnwebwinkel, Exact Online and \
            Boekuwzending), writes a ready deployment into --directory (its secrets sealed in \
            the vault, Exact signed in through OAuth), books both shops' orders as Exact sales \
            invoices with a progress display, and prints what happened: orders read, invoices \
            created, Exact calls per order, and every skipped or failed order with its reason. \
            Then it sends the Mijnwebwinkel shop's paid orders to Boekuwzending, labels a few \
            there as a merchant would, and marks those orders shipped in the shop. Then it \
            serves the dashboard, /metrics and the webhooks, as `koppel run` does, until \
            Ctrl-C. Each demo starts afresh: the sandbox lives in memory.
            """)

    @Option(help: "Directory for the demo's deployment file, state file and master key.") var directory = "koppel-demo"
    @Option(help: "Orders in each sandbox shop.") var orders = 120
    @Option(help: "Seed of the generated shop data.") var seed: UInt64 = 42
    @Option(help: "Faults the sandbox injects, such as 5xx=0.05,reset=0.02 (see `koppel sandbox --help`).") var faults = ""
    @Option(help: "Exact Online calls the sandbox allows per minute (the real service allows 60; Koppel paces itself to the limit).")
    var exactMinutelyLimit = 2_000
    @Option(help: "Where the dashboard and webhooks are served.") var listen = "127.0.0.1:8720"
    @Flag(help: "Stop after the summary instead of serving the dashboard.") var once = false

    /// The two flows the demo runs, with the administration each shop books into.
    static let flows: [(name: String, title: String, connection: String)] = [
        ("shop-invoices", "WooCommerce -> Exact Online", "exact"),
        ("mww-invoices", "Mijnwebwinkel -> Exact Online", "exact-mww"),
    ]

    static let flowsYAML = """
          shop-invoices:
            from: shop.orders
            to: exact.sales_invoices
            schedule: webhook, poll every 5m   # new orders arrive by webhook; a poll catches what a webhook missed
            filter: { status: [processing, completed] }
            mapping:
        \(DemoDeployment.wooOrderMapping)
          mww-invoices:
            from: mww.orders
            to: exact-mww.sales_invoices
            schedule: daily 02:00 Europe/Amsterdam
            filter: { status: [pending, paid, shipped] }
            mapping:
        \(DemoDeployment.orderMapping(paymentConditions: #"ideal: ID, paypal: PP, bank_transfer: "14", rembours: "00""#))
          mww-to-ship:
            from: mww.orders
            to: buz.orders
            schedule: every 5m
            read_options: { statuses: [Betaald] }
          buz-shipped:
            from: buz.shipments
            to: mww.shipment_status
            schedule: webhook, poll every 15m   # a label made in the portal marks the order shipped within a second
        """

    /// How many of the orders waiting in Boekuwzending the demo labels, as a merchant
    /// would in the portal.
    static let labelled = 5

    func run() async throws {
        guard let address = ServerSettings.address(listen) else {
            throw CLIError(message: "--listen \(listen) is not host:port, such as 127.0.0.1:8720", code: .validationFailure)
        }
        // Said now rather than after the sync: a `koppel run` already on 8720 is the usual cause.
        guard once || Self.canListen(host: address.host, port: address.port) else {
            throw CLIError(
                message: "could not listen on \(listen): another program uses it (a koppel run?); give the demo another address with --listen 127.0.0.1:8721",
                code: .validationFailure)
        }
        let redactor = SecretRedactor()
        let logger = Log.bootstrap(redactor: redactor, verbose: false, standard: .warning)

        var options = Sandbox.Options()
        options.seed.seed = seed
        options.seed.orders = orders
        options.seed.customers = max(10, orders / 3)
        options.seed.testOrderEvery = 15
        options.exact.divisions = [123456, 234567]
        options.exact.minutelyLimit = exactMinutelyLimit
        options.exact.dailyLimit = max(5_000, exactMinutelyLimit * 60)
        do {
            options.faults = try FaultPlan(parsing: faults)
        } catch {
            throw CLIError(message: "--faults: \(error)", code: .validationFailure)
        }
        let sandbox = try await Sandbox.start(options)
        defer { sandbox.stop() }
        say("Sandbox running on loopback:")
        for endpoint in sandbox.endpoints { say("  \(endpoint.name.padding(toLength: 14, withPad: " ", startingAt: 0)) \(endpoint.baseURL)") }

        let directory = URL(fileURLWithPath: self.directory).standardizedFileURL.path
        let demo = try reporting {
            try DemoDeployment.create(
                in: directory, sandbox: sandbox, pluginDirectory: Self.pluginDirectory,
                load: ["woocommerce", "mijnwebwinkel", "exact-online", "boekuwzending"], flows: Self.flowsYAML,
                extra: "server: { listen: \"\(listen)\" }", logger: logger)
        }
        let runtime = try reporting { try Runtime.open(configFile: demo.configFile, createState: true, redactor: redactor, logger: logger) }
        say("Deployment written to \(demo.configFile); secrets sealed in its vault; Exact Online signed in.\n")

        for flow in Self.flows {
            try sync(flow, runtime: runtime, sandbox: sandbox, division: flow.connection == "exact" ? options.exact.divisions[0] : options.exact.divisions[1])
        }
        try ship(runtime: runtime, sandbox: sandbox)
        if once { return }

        let server = runtime.deployment.server
        let service = try Service(runtime: runtime, settings: server)
        let serving = Task { try await service.run() }
        guard await answers("\(server.baseURL)/healthz") else {
            serving.cancel()
            try await serving.value  // the reason it ended, when it did
            throw CLIError(message: "the dashboard did not start on \(listen)", code: .failure)
        }
        // As `koppel webhooks register` does: the shop's and Boekuwzending's webhooks
        // made through their APIs, pointing here, with secrets Koppel makes and keeps.
        say("$ koppel webhooks register -c \(relative(demo.configFile))")
        let registered = await onOwnThread { Result { try WebhookRegistry(runtime: runtime, baseURL: server.baseURL).register() } }
        let outcome = (try? registered.get()) ?? WebhookRegistry.Outcome()
        if case .failure(let error) = registered { say("  \(error)") }
        for change in outcome.changes { say("  \(change)") }
        for failure in outcome.failures { say("  \(failure.connection): \(failure.reason)") }
        let subscribed = { (connection: String) in outcome.changes.contains { $0.connection == connection && $0.action == .created } }
        let (hooked, buzHooked) = (subscribed("shop"), subscribed("buz"))
        let woo = sandbox.endpoints.first { $0.name == "woocommerce" }?.baseURL ?? ""
        let buz = sandbox.endpoints.first { $0.name == "boekuwzending" }?.baseURL ?? ""
        let waiting = sandbox.boekuwzending.unshippedOrders.first
        say("""
            Dashboard: \(server.baseURL)/
            Metrics:   \(server.baseURL)/metrics
            \(hooked
                ? "WooCommerce now sends new orders by webhook. Place one and watch it booked within seconds:\n  curl -X POST \(woo)/_sandbox/woocommerce/orders"
                : "The shop's webhooks could not be made; new orders arrive with the 5-minute poll.")
            \(buzHooked && waiting != nil
                ? "Boekuwzending sends new labels by webhook. Label a waiting order and watch it marked shipped in Mijnwebwinkel:\n  curl -X POST \(buz)/_sandbox/boekuwzending/orders/\(waiting!)/ship"
                : "Labels made in Boekuwzending arrive with the 15-minute poll.")
            While this runs, the other commands work on the demo too: koppel status -c \(relative(demo.configFile))
            Ctrl-C stops.
            """)
        try await serving.value
        say("Stopped. The deployment stays in \(relative(directory)); the sandbox it pointed at is gone.")
    }

    /// Runs one flow with a progress display.
    func run(flow name: String, title: String, runtime: Runtime) throws -> FlowRunner.Report {
        guard let config = runtime.deployment.flow(name) else { throw CLIError(message: "the demo has no flow \(name)", code: .failure) }
        let progress = ProgressLine(label: title)
        defer { progress.finish() }
        var options = FlowRunner.Options()
        options.progress = { progress.update($0) }
        do {
            return try FlowRunner(runtime: runtime, flow: config).run(options)
        } catch {
            throw CLIError(message: "\(name): \(runtime.redactor.redact("\(error)"))", code: .failure)
        }
    }

    /// Runs one flow into Exact and prints its summary.
    func sync(_ flow: (name: String, title: String, connection: String), runtime: Runtime, sandbox: Sandbox, division: Int) throws {
        let callsBefore = sandbox.exact.callCounts
        let started = Date()
        let report = try run(flow: flow.name, title: flow.title, runtime: runtime)
        let byKind = sandbox.exact.callCounts.map { (kind: $0.key, count: $0.value - callsBefore[$0.key, default: 0]) }
            .filter { $0.count > 0 }.sorted { ($0.count, $1.kind) > ($1.count, $0.kind) }
        let calls = byKind.reduce(0) { $0 + $1.count }
        let booked = report.written + report.updated
        var lines = [
            "\(flow.title) (administration \(division)), \(String(format: "%.1f", Date().timeIntervalSince(started))) s",
            "  orders read         \(report.read)",
            "  invoices created    \(booked)",
            "  Exact calls         \(calls)" + (booked > 0 ? String(format: ", %.2f per invoice", Double(calls) / Double(booked)) : "")
                + " (a buyer's or product's first order also finds or creates its account or item)",
            "    " + byKind.map { "\($0.kind) \($0.count)" }.joined(separator: ", "),
            "  skipped             \(report.skipped + report.unchanged)",
        ]
        lines += skipReasons(flow: flow.name, run: report.run, runtime: runtime).map { "    \($0.count) x \($0.reason)" }
        lines += failures(flow: flow.name, report: report, runtime: runtime)
        say(lines.joined(separator: "\n") + "\n")
    }

    /// Mijnwebwinkel -> Boekuwzending and back: the paid orders sent to the portal, a few
    /// of them labelled there as a merchant would, and those orders marked shipped in the
    /// shop. Prints the summary of both.
    func ship(runtime: Runtime, sandbox: Sandbox) throws {
        let started = Date()
        let sent = try run(flow: "mww-to-ship", title: "Mijnwebwinkel -> Boekuwzending", runtime: runtime)
        let labelled = sandbox.boekuwzending.unshippedOrders.prefix(Self.labelled).compactMap { sandbox.boekuwzending.ship(order: $0) }.count
        let shipped = try run(flow: "buz-shipped", title: "Boekuwzending -> Mijnwebwinkel", runtime: runtime)
        var lines = [
            "Mijnwebwinkel -> Boekuwzending -> Mijnwebwinkel, \(String(format: "%.1f", Date().timeIntervalSince(started))) s",
            "  paid orders read          \(sent.read)",
            "  waiting in the portal     \(sent.written + sent.updated) (each looked up by its order number first, so never twice)",
            "  skipped                   \(sent.skipped + sent.unchanged)",
        ]
        lines += skipReasons(flow: "mww-to-ship", run: sent.run, runtime: runtime).map { "    \($0.count) x \($0.reason)" }
        lines += failures(flow: "mww-to-ship", report: sent, runtime: runtime, label: "not sent, failed")
        lines += [
            "  labels made in the portal \(labelled) (by the demo, as the merchant would)",
            "  orders marked shipped     \(shipped.written + shipped.updated) (status Verzonden, carrier and track and trace in the shop's note)",
        ]
        lines += failures(flow: "buz-shipped", report: shipped, runtime: runtime, label: "not marked, failed")
        say(lines.joined(separator: "\n") + "\n")
    }

    /// The failed-records lines of a summary: the count, and the first ten with reasons.
    func failures(flow: String, report: FlowRunner.Report, runtime: Runtime, label: String = "failed") -> [String] {
        let width = label == "failed" ? 20 : 26
        var lines = ["  " + label.padding(toLength: width, withPad: " ", startingAt: 0) + "\(report.failed)"]
        let parked = (try? runtime.store.ledgerEntries(flow: flow, states: [.failed], limit: 10)) ?? []
        lines += parked.map { "    \($0.sourceKey): \($0.lastError ?? "no reason recorded")" }
        if report.failed > parked.count { lines.append("    ... see koppel failed \(flow)") }
        return lines
    }

    /// Why records were skipped in this run, most frequent first, with the record's own
    /// key taken out so that alike reasons count together.
    func skipReasons(flow: String, run: Int64?, runtime: Runtime) -> [(reason: String, count: Int)] {
        let entries = (try? runtime.store.activities(ActivityQuery(flow: flow, kinds: [.skipped], limit: 100_000))) ?? []
        var counts: [String: Int] = [:]
        for entry in entries where entry.run == run {
            var reason = entry.message.hasPrefix("skipped: ") ? String(entry.message.dropFirst("skipped: ".count)) : entry.message
            if let key = entry.record { reason = reason.replacingOccurrences(of: " \(key)", with: "") }
            counts[reason, default: 0] += 1
        }
        return counts.map { (reason: $0.key, count: $0.value) }.sorted { ($0.count, $1.reason) > ($1.count, $0.reason) }
    }

    /// Whether `url` answers 200 within ten seconds.
    func answers(_ url: String) async -> Bool {
        for _ in 0..<200 {
            if case .response(let answer) = CurlHTTPClient().send(OutboundRequest(method: "GET", url: url, headers: [], idempotent: true, timeout: 1)),
                answer.status == 200
            {
                return true
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    /// Whether an IPv4 `host:port` can be bound now (it is released again at once).
    static func canListen(host: String, port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return true }
        defer { close(fd) }
        var reuse: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host, &address.sin_addr) == 1 else { return true }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    /// The connector plugins: where `swift build` put them, next to this binary.
    static var pluginDirectory: String {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: executable).deletingLastPathComponent().path
    }

    /// `path` relative to the working directory when it lies below it.
    func relative(_ path: String) -> String {
        let here = FileManager.default.currentDirectoryPath + "/"
        return path.hasPrefix(here) ? String(path.dropFirst(here.count)) : path
    }

    /// Prints at once, so a reader of a pipe sees each line as it comes.
    func say(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }
}
