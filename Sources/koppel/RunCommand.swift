import ArgumentParser
import Foundation
import KoppelHost
import ServiceLifecycle

/// `koppel run`: the long-running service.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run every scheduled flow until stopped (SIGTERM or Ctrl-C stops it gracefully).",
        discussion: """
            Several `koppel run` processes may share one state file: a flow runs in one of \
            them at a time. On SIGTERM or SIGINT, runs in flight finish the record they are \
            delivering and stop; the next run continues from there.
            """)

    @OptionGroup var deployment: DeploymentOptions

    func run() async throws {
        let runtime = try deployment.runtime()
        let scheduler = Scheduler(runtime: runtime, logger: runtime.logger)
        let flows = scheduler.scheduledFlows.map { "\($0.name) (\($0.schedule))" }
        runtime.logger.info("koppel run: \(flows.isEmpty ? "no scheduled flows" : flows.joined(separator: ", "))")
        let group = ServiceGroup(services: [scheduler], gracefulShutdownSignals: [.sigterm, .sigint], logger: runtime.logger)
        try await group.run()
        runtime.logger.info("koppel run: stopped")
    }
}
