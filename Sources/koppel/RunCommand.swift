import ArgumentParser
import Foundation
import KoppelHost

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

    @Option(help: "Serve webhooks, the dashboard and /metrics on this host:port instead of the deployment's server.listen (one per process when several share a machine).")
    var listen: String?

    func run() async throws {
        let runtime = try deployment.runtime()
        var settings = runtime.deployment.server
        if let listen {
            guard let chosen = settings.listening(on: listen) else {
                throw CLIError(message: "--listen \(listen) is not host:port, such as 127.0.0.1:8721", code: .validationFailure)
            }
            settings = chosen
        }
        let service = try Service(runtime: runtime, settings: settings)
        let flows = service.scheduler.scheduledFlows.map { "\($0.name) (\($0.schedule))" }
        runtime.logger.info("koppel run: \(flows.isEmpty ? "no scheduled flows" : flows.joined(separator: ", "))")
        runtime.logger.info("koppel run: dashboard at \(settings.baseURL)/, webhooks at \(settings.baseURL)/webhooks/{connection}")
        try await service.run()
        runtime.logger.info("koppel run: stopped")
    }
}
