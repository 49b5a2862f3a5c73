import ArgumentParser
import Foundation
import KoppelHost
import KoppelSandbox

/// `koppel-bench`: how fast Koppel is, measured and printed (never asserted).
///
///     swift build -c release && .build/release/koppel-bench
///
/// Every figure is taken from the real `koppel` binary, run as its own process against
/// the sandbox (real HTTP on loopback), so peak memory is Koppel's alone.
@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "koppel-bench",
        abstract: "Measure Koppel: throughput through the plugin ABI and the ledger, WooCommerce -> Exact over HTTP, webhook latency, memory.",
        discussion: """
            Prints a table of four measurements: (1) null source -> null target through the \
            ABI with the SQLite ledger; (2) WooCommerce -> Exact Online against the sandbox, \
            with a cold and then a warm identity map; (3) webhook-to-invoice latency; (4) the \
            peak memory of reading a large WooCommerce shop; (5) the Exact calls of reading \
            an Exact division as a source, first whole and then on a quiet day. Use a release build; the sizes \
            can be made small for a smoke run.
            """)

    @Option(help: "Records for (1), null -> null.") var records = 100_000
    @Option(help: "Orders for (2), WooCommerce -> Exact, in each of the cold and the warm run.") var orders = 2_000
    @Option(help: "Webhook deliveries for (3).") var deliveries = 500
    @Option(help: "Orders in the shop for (4), the large read.") var readOrders = 100_000
    @Option(help: "Sales orders in Exact for (5), Exact as a source.") var exactOrders = 1_000
    @Option(help: "Directory holding koppel and the plugins (default: next to this binary).") var binDir: String?

    func run() async throws {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let bin = binDir ?? URL(fileURLWithPath: executable).deletingLastPathComponent().path
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("koppel-bench-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let measure = Measurements(bin: bin, scratch: scratch)

        var rows: [[String]] = [["measure", "value"]]
        func report(_ new: [[String]]) {
            for row in new { print("  \(row[0]): \(row[1])") }
            rows += new
        }
        print("(1) null -> null, \(records) records")
        report(try await onThread { try measure.nullToNull(records: records) })
        print("(2) WooCommerce -> Exact Online, \(orders) orders cold, then \(orders) warm")
        report(try await measure.wooToExact(orders: orders))
        print("(3) webhook -> invoice, \(deliveries) deliveries")
        report(try await measure.webhookLatency(deliveries: deliveries))
        print("(4) WooCommerce read, \(readOrders) orders")
        report(try await measure.largeRead(orders: readOrders))
        print("(5) Exact Online as a source, \(exactOrders) sales orders")
        report(try await measure.exactAsSource(orders: exactOrders))
        print("")
        print(Table(rows: rows))
    }
}

/// Runs blocking work (child processes, synchronous HTTP) on its own thread, off the
/// threads the sandbox's servers answer on.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await onOwnThread { Result { try body() } }.get()
}

/// A two-column table.
func Table(rows: [[String]]) -> String {
    let width = rows.map { $0[0].count }.max() ?? 0
    return rows.map { $0[0].padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0[1] }.joined(separator: "\n")
}
