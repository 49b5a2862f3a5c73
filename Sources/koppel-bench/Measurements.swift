import Foundation
import KoppelDemo
import KoppelHost
import KoppelSandbox
import Logging

/// The four measurements, each on its own deployment directory and, where it needs one,
/// its own sandbox.
struct Measurements: Sendable {
    /// Where `koppel` and the plugins are.
    let bin: String
    /// A private directory for deployments and output.
    let scratch: String

    var koppel: String { "\(bin)/koppel" }
    var logger: Logger {
        var logger = Logger(label: "koppel-bench")
        logger.logLevel = .error
        return logger
    }

    /// Runs `koppel` with `arguments` to its end; fails unless it exits 0.
    func koppel(_ arguments: [String], in directory: String) throws -> ChildProcess.Finished {
        let finished = try ChildProcess.run(koppel, arguments, outputFile: "\(directory)/out-\(UUID().uuidString).txt")
        guard finished.exitStatus == 0 else {
            throw BenchError.commandFailed("koppel " + arguments.joined(separator: " "), finished.exitStatus, finished.output)
        }
        return finished
    }

    static func mib(_ kib: Int) -> String { "\(kib / 1024) MiB" }
    static func rate(_ count: Int, _ seconds: Double) -> String { String(format: "%.0f/s", Double(count) / max(seconds, 0.001)) }

    /// The number after `label ` in a `koppel sync` summary ("read 120, written 104, ...").
    static func count(_ label: String, in output: String) -> Int {
        guard let range = output.range(of: "\(label) ", options: .backwards) else { return 0 }
        return Int(output[range.upperBound...].prefix { $0.isNumber }) ?? 0
    }

    // MARK: (1) null -> null

    /// Synthetic records through the ABI, the engine and the SQLite ledger, with nothing
    /// remote: what the host itself costs. Then the same records read again, which the
    /// ledger recognises as delivered.
    func nullToNull(records: Int) throws -> [[String]] {
        let directory = "\(scratch)/null"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try """
            state: { path: state.sqlite }
            plugins: { directories: ["\(bin)"], load: [null] }
            connections:
              source: { plugin: null, settings: { count: \(records) } }
              target: { plugin: null }
            flows:
              bench: { from: source.records, to: target.records }
            """.write(toFile: "\(directory)/koppel.yaml", atomically: true, encoding: .utf8)
        let config = ["-c", "\(directory)/koppel.yaml"]
        _ = try koppel(["init"] + config, in: directory)
        let first = try koppel(["sync", "bench"] + config, in: directory)
        let written = Self.count("written", in: first.output)
        let again = try koppel(["sync", "bench", "--since", "1970-01-01"] + config, in: directory)
        let unchanged = Self.count("unchanged", in: again.output)
        return [
            ["(1) null -> null: records delivered", "\(written) in \(String(format: "%.1f", first.seconds)) s"],
            ["(1) null -> null: records/s, first delivery", Self.rate(written, first.seconds)],
            ["(1) null -> null: records/s, re-read of delivered records", Self.rate(unchanged, again.seconds)],
            ["(1) null -> null: peak RSS", Self.mib(max(first.peakRSSKiB, again.peakRSSKiB))],
        ]
    }

    // MARK: (2) WooCommerce -> Exact Online

    /// Orders booked as Exact sales invoices over HTTP. Cold: Exact and the identity map
    /// are empty, so every first buyer and product is looked up and created. Warm: as
    /// many new orders from the same buyers and products, which the identity map knows.
    func wooToExact(orders: Int) async throws -> [[String]] {
        var options = Self.sandboxOptions()
        options.seed.orders = orders
        options.seed.customers = max(10, orders / 5)
        options.seed.products = 100
        let sandbox = try await Sandbox.start(options)
        defer { sandbox.stop() }
        let directory = "\(scratch)/woo-exact"
        let deployment = try DemoDeployment.create(
            in: directory, sandbox: sandbox, pluginDirectory: bin, load: ["woocommerce", "exact-online"], flows: """
                  shop-invoices:
                    from: shop.orders
                    to: exact.sales_invoices
                    filter: { status: [processing, completed] }
                    mapping:
                \(DemoDeployment.wooOrderMapping)
                """, logger: logger)
        let config = ["-c", deployment.configFile]

        func run(_ label: String) async throws -> [[String]] {
            let callsBefore = sandbox.exact.callCounts.values.reduce(0, +)
            let finished = try await onThread { try koppel(["sync", "shop-invoices"] + config, in: directory) }
            let booked = Self.count("written", in: finished.output)
            let calls = sandbox.exact.callCounts.values.reduce(0, +) - callsBefore
            return [
                ["(2) WooCommerce -> Exact, \(label): orders booked", "\(booked) in \(String(format: "%.1f", finished.seconds)) s"],
                ["(2) WooCommerce -> Exact, \(label): orders/s", Self.rate(booked, finished.seconds)],
                ["(2) WooCommerce -> Exact, \(label): Exact calls per order", String(format: "%.2f", Double(calls) / Double(max(booked, 1)))],
            ]
        }
        let cold = try await run("cold")
        try await onThread { _ = try Self.placeOrders(sandbox: sandbox, count: orders) }
        return cold + (try await run("warm"))
    }

    // MARK: (3) Webhook -> invoice

    /// `koppel run` with a webhook flow; each new order in the shop fires WooCommerce's
    /// signed delivery, and the time until its invoice exists in Exact is taken, one
    /// order at a time.
    func webhookLatency(deliveries: Int) async throws -> [[String]] {
        var options = Self.sandboxOptions()
        options.seed.orders = 5
        // The shop's queue is worked off at once: the latency measured is Koppel's, not
        // WP-Cron's.
        options.wooCommerce.deliveryInterval = 0.01
        let sandbox = try await Sandbox.start(options)
        defer { sandbox.stop() }
        let directory = "\(scratch)/webhook"
        let port = try Self.freePort()
        let deployment = try DemoDeployment.create(
            in: directory, sandbox: sandbox, pluginDirectory: bin, load: ["woocommerce", "exact-online"], flows: """
                  shop-invoices:
                    from: shop.orders
                    to: exact.sales_invoices
                    schedule: webhook
                    mapping:
                \(DemoDeployment.wooOrderMapping)
                """, extra: "server: { listen: \"127.0.0.1:\(port)\" }", logger: logger)
        let config = ["-c", deployment.configFile]
        // The shop's existing orders first, so the service starts with nothing to catch up.
        _ = try await onThread { try koppel(["sync", "shop-invoices"] + config, in: directory) }
        let service = try ChildProcess.start(koppel, ["run"] + config, outputFile: "\(directory)/run.txt")
        let base = "http://127.0.0.1:\(port)"
        let exact = sandbox.endpoints.first { $0.name == "exact-online" }!.baseURL + "/_sandbox/exact/\(options.exact.divisions[0])"

        let latencies = try await onThread { () throws -> [Double] in
            defer { service.send(SIGTERM) }  // a graceful stop, whatever happened
            guard Self.poll(timeout: 30, { Self.get("\(base)/healthz") != nil }) else { throw BenchError.timedOut("koppel run at \(base)") }
            _ = try koppel(["webhooks", "register"] + config, in: directory)
            return try (0..<deliveries).map { _ in try Self.latency(sandbox: sandbox, exact: exact) }.sorted()
        }
        let finished = try await onThread { service.wait() }
        func percentile(_ p: Double) -> String {
            String(format: "%.0f ms", latencies[min(latencies.count - 1, Int((Double(latencies.count) * p).rounded(.up)) - 1)])
        }
        return [
            ["(3) webhook -> invoice latency, p50", percentile(0.50)],
            ["(3) webhook -> invoice latency, p99", percentile(0.99)],
            ["(3) webhook -> invoice latency, max", String(format: "%.0f ms", latencies.last ?? 0)],
            ["(3) koppel run: peak RSS", Self.mib(finished.peakRSSKiB)],
        ]
    }

    /// Places one order and waits for its invoice in Exact; milliseconds.
    static func latency(sandbox: Sandbox, exact: String) throws -> Double {
        let started = Date()
        guard let number = try placeOrders(sandbox: sandbox, count: 1).first else { throw BenchError.timedOut("a new order") }
        let query = "YourRef eq '\(number)'".addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? ""
        let booked = poll(timeout: 30) {
            get("\(exact)/salesinvoice/SalesInvoices?$select=InvoiceID&$filter=\(query)")?.contains("InvoiceID") == true
        }
        guard booked else { throw BenchError.timedOut("the invoice of order \(number)") }
        return Date().timeIntervalSince(started) * 1000
    }

    // MARK: (4) A large WooCommerce read

    /// Every order of a large shop read through the WooCommerce plugin (100 a page, by
    /// modification time) and delivered to the null target: records are streamed, so
    /// Koppel's memory stays flat however large the shop is.
    func largeRead(orders: Int) async throws -> [[String]] {
        var options = Self.sandboxOptions()
        options.seed.orders = orders
        options.seed.customers = 2_000
        options.seed.products = 200
        let sandbox = try await Sandbox.start(options)
        defer { sandbox.stop() }
        let directory = "\(scratch)/large-read"
        let deployment = try DemoDeployment.create(
            in: directory, sandbox: sandbox, pluginDirectory: bin, load: ["woocommerce", "null"], flows: """
                  orders-read: { from: shop.orders, to: sink.records }
                """, logger: logger)
        let finished = try await onThread { try koppel(["sync", "orders-read", "-c", deployment.configFile], in: directory) }
        let read = Self.count("read", in: finished.output)
        return [
            ["(4) WooCommerce read: orders read", "\(read) in \(String(format: "%.1f", finished.seconds)) s (\(Self.rate(read, finished.seconds)))"],
            ["(4) WooCommerce read: peak RSS", Self.mib(finished.peakRSSKiB)],
        ]
    }

    // MARK: Helpers

    /// A sandbox without the real service's rate limits (which would measure the limit,
    /// not Koppel) and without test orders.
    // MARK: (5) Exact Online as a source

    /// The Exact calls of reading a division as a source: its sales orders (three lines
    /// each, every other one invoiced), sales invoices, items and customers, all new (a
    /// backfill), then read again with nothing changed (a quiet day).
    func exactAsSource(orders: Int) async throws -> [[String]] {
        let sandbox = try await Sandbox.start(Self.sandboxOptions())
        defer { sandbox.stop() }
        let division = sandbox.exact.options.divisions[0]
        let door = "\(sandbox.endpoints.first { $0.name == "exact-online" }!.baseURL)/_sandbox/exact/\(division)"
        try await onThread { try Self.seedExact(door: door, orders: orders) }
        let directory = "\(scratch)/exact-source"
        let deployment = try DemoDeployment.create(
            in: directory, sandbox: sandbox, pluginDirectory: bin, load: ["exact-online", "null"], flows: """
                  orders: { from: exact.sales_orders, to: sink.records }
                  invoices: { from: exact.sales_invoices, to: sink.records }
                  items: { from: exact.items, to: sink.records }
                  customers: { from: exact.accounts, to: sink.records }
                """, logger: logger)
        var rows: [[String]] = []
        for day in ["backfill", "quiet day"] {
            for flow in ["orders", "invoices", "items", "customers"] {
                let before = sandbox.exact.callCounts.values.reduce(0, +)
                let finished = try await onThread { try koppel(["sync", flow, "-c", deployment.configFile], in: directory) }
                let calls = sandbox.exact.callCounts.values.reduce(0, +) - before
                rows.append(["(5) Exact as a source, \(day): \(flow)", "\(calls) Exact calls, \(Self.count("read", in: finished.output)) read"])
            }
        }
        return rows
    }

    /// Items, customers, `orders` sales orders of three lines, and an invoice for every
    /// other order, entered through the Exact fake's inspection door.
    static func seedExact(door: String, orders: Int) throws {
        let client = CurlHTTPClient()
        func post(_ set: String, _ body: [String: Any]) throws -> [String: Any] {
            var request = OutboundRequest(method: "POST", url: "\(door)/\(set)", headers: [("Content-Type", "application/json")], idempotent: false, timeout: 30)
            request.body = try JSONSerialization.data(withJSONObject: body)
            guard case .response(let answer) = client.send(request), answer.status == 201,
                let created = (try JSONSerialization.jsonObject(with: answer.body) as? [String: Any])?["d"] as? [String: Any]
            else { throw BenchError.timedOut("the Exact fake to take a record of \(set)") }
            return created
        }
        let items = try (0..<100).map { try post("logistics/Items", ["Code": "ART-\($0)", "Description": "Artikel \($0)"])["ID"] as! String }
        let accounts = try (0..<200).map {
            try post("crm/Accounts", ["Name": "Klant \($0)", "Email": "klant\($0)@example.nl", "Status": "C", "Country": "NL"])["ID"] as! String
        }
        for index in 0..<orders {
            let lines = (0..<3).map { ["Item": items[(index + $0 * 7) % items.count], "Quantity": 1 + $0, "UnitPrice": 10, "VATCode": "1"] as [String: Any] }
            let order = try post("salesorder/SalesOrders", ["OrderedBy": accounts[index % accounts.count], "YourRef": "W\(index)", "SalesOrderLines": lines])
            guard index % 2 == 0 else { continue }
            // Invoiced from the order, as Exact does: the lines name it (and the header
            // carries its number).
            let invoiceLines = lines.map { $0.merging(["SalesOrder": order["OrderID"] as Any]) { _, link in link } }
            _ = try post("salesinvoice/SalesInvoices", [
                "Journal": "70", "OrderedBy": accounts[index % accounts.count], "OrderNumber": order["OrderNumber"] as Any, "SalesInvoiceLines": invoiceLines,
            ])
        }
    }

    static func sandboxOptions() -> Sandbox.Options {
        var options = Sandbox.Options()
        options.seed.testOrderEvery = 0
        options.exact.minutelyLimit = 10_000_000
        options.exact.dailyLimit = 100_000_000
        return options
    }

    /// New orders in the sandbox shop from its own customers and products; their numbers.
    static func placeOrders(sandbox: Sandbox, count: Int) throws -> [String] {
        let base = sandbox.endpoints.first { $0.name == "woocommerce" }!.baseURL
        var request = OutboundRequest(method: "POST", url: "\(base)/_sandbox/woocommerce/orders", headers: [("Content-Type", "application/json")], idempotent: false, timeout: 300)
        request.body = Data(#"{"count": \#(count), "repeat_customers": true}"#.utf8)
        guard case .response(let answer) = CurlHTTPClient().send(request), answer.status == 201,
            let created = try JSONSerialization.jsonObject(with: answer.body) as? [[String: Any]]
        else { throw BenchError.timedOut("the sandbox shop to take \(count) orders") }
        return created.compactMap { $0["number"] as? String }
    }

    /// The body of a 200 answer to GET `url`, or nil.
    static func get(_ url: String) -> String? {
        guard case .response(let answer) = CurlHTTPClient().send(OutboundRequest(method: "GET", url: url, headers: [], idempotent: true, timeout: 5)),
            answer.status == 200
        else { return nil }
        return String(decoding: answer.body, as: UTF8.self)
    }

    /// Asks `condition` every millisecond or so until it holds or `timeout` passes.
    static func poll(timeout: TimeInterval, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            usleep(1_000)
        }
        return false
    }

    /// A loopback port that was free a moment ago.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw BenchError.couldNotStart("a loopback socket", "no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
