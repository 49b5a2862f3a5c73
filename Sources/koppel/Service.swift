import ArgumentParser
import KoppelHost
import ServiceLifecycle

/// What `koppel run` and `koppel demo` serve: every flow on its schedule, and the HTTP
/// server (webhooks, dashboard, metrics), under one service group that stops gracefully
/// on SIGTERM or SIGINT.
struct Service {
    let runtime: Runtime
    let settings: ServerSettings
    let scheduler: Scheduler
    let server: KoppelServer

    /// Puts the service together; `settings` default to the deployment's `server` section.
    init(runtime: Runtime, settings: ServerSettings? = nil) throws {
        let settings = settings ?? runtime.deployment.server
        self.runtime = runtime
        self.settings = settings
        let alerts = AlertNotifier(settings: runtime.deployment.alerts, runtime: runtime, dashboardURL: settings.baseURL)
        scheduler = Scheduler(runtime: runtime, logger: runtime.logger, alerts: alerts)
        do {
            server = try KoppelServer(runtime: runtime, scheduler: scheduler, settings: settings)
        } catch let error as KoppelServer.SetupError {
            throw CLIError(message: error.description, code: .validationFailure)
        }
    }

    /// Serves until SIGTERM or SIGINT.
    func run() async throws {
        let group = ServiceGroup(
            services: [scheduler, server.application()], gracefulShutdownSignals: [.sigterm, .sigint], logger: runtime.logger)
        do {
            try await group.run()
        } catch where "\(error)".contains("Address already in use") {
            throw CLIError(
                message: "could not listen on \(settings.host):\(settings.port): another program uses it; give this koppel its own server.listen or --listen",
                code: .failure)
        }
    }
}
