import ArgumentParser

/// The `koppel` command line.
@main
struct Koppel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "koppel",
        abstract: "Koppel moves orders, customers, products and stock between webshops, Exact Online and more.",
        version: "0.1.0",
        subcommands: [
            InitCommand.self, SyncCommand.self, RunCommand.self, StatusCommand.self, RunsCommand.self, FailedCommand.self, ReplayCommand.self, LogCommand.self,
            CheckCommand.self, AuthCommand.self, SecretsCommand.self, WebhooksCommand.self, PluginsCommand.self, SandboxCommand.self, DemoCommand.self,
        ]
    )
}
