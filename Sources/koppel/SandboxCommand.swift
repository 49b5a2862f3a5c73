import ArgumentParser
import Foundation
import KoppelSandbox
import Logging
import UnixSignals

/// `koppel sandbox`: local fakes of the remote APIs, to try Koppel without real accounts.
struct SandboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Run local fakes of Exact Online, WooCommerce and Mijnwebwinkel.",
        discussion: """
            Starts real HTTP servers on loopback that behave like the remote APIs, seeded with \
            the same generated shop data for the same --seed, and prints their base URLs and \
            credentials. Faults are shares of requests, e.g. \
            --faults 5xx=0.1,slow=0.05,reset=0.02,drop-after-commit=0.05,commit-then-5xx=0.05,429=0.05,token=0.1. \
            Runs until Ctrl-C.
            """)

    @Option(help: "Seed of the generated data.") var seed: UInt64 = 42
    @Option(help: "Number of generated orders.") var orders = 120
    @Option(help: "Number of generated customers.") var customers = 40
    @Option(help: "Number of generated products.") var products = 30
    @Option(help: "Make every Nth order a test order (0: none).") var testOrderEvery = 15
    @Option(help: "Faults to inject, as kind=share pairs.") var faults = ""
    @Option(help: "Exact Online calls allowed per minute per division.") var exactMinutelyLimit = 60
    @Option(help: "First port (0: any free ports).") var port = 0

    func run() async throws {
        var options = Sandbox.Options()
        options.seed.seed = seed
        options.seed.orders = orders
        options.seed.customers = customers
        options.seed.products = products
        options.seed.testOrderEvery = testOrderEvery
        options.exact.minutelyLimit = exactMinutelyLimit
        options.basePort = port
        do {
            options.faults = try FaultPlan(parsing: faults)
        } catch {
            throw CLIError(message: "\(error)", code: .validationFailure)
        }
        let sandbox = try await Sandbox.start(options)
        var text = "Koppel sandbox (seed \(seed)): \(orders) orders, \(customers) customers, \(products) products\n"
        for endpoint in sandbox.endpoints {
            text += "\n\(endpoint.name)\n  base_url: \(endpoint.baseURL)\n"
            for (name, value) in endpoint.credentials { text += "  \(name): \(value)\n" }
        }
        text += "\nInspect: GET <base_url>/_sandbox/... (see Sources/KoppelSandbox/README.md). Ctrl-C stops.\n"
        FileHandle.standardOutput.write(Data(text.utf8))
        for await _ in await UnixSignalsSequence(trapping: .sigint, .sigterm) { break }
        sandbox.stop()
    }
}
