import ArgumentParser
import Foundation
import KoppelHost

/// `koppel webhooks ...`: the subscriptions the remote systems need to send webhooks.
struct WebhooksCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webhooks",
        abstract: "Make, list and remove the webhook subscriptions that feed `schedule: webhook` flows.",
        discussion: """
            For every flow with `schedule: webhook`, its source connection's intake \
            ({url}/webhooks/{connection}) is subscribed to each topic the stream needs, \
            through the remote system's API: WooCommerce webhooks (with a secret Koppel \
            makes and keeps in the vault), Exact Online WebhookSubscriptions, Boekuwzending \
            webhooks. `koppel run` does the same at start when server.public_url is set, \
            and re-enables a subscription the sender disabled. Subscriptions Koppel did not \
            make are listed and never touched.
            """,
        subcommands: [Register.self, List.self, Remove.self]
    )

    /// The options every subcommand takes.
    struct Target: ParsableArguments {
        @Argument(help: "Only this connection (default: every connection feeding a webhook flow).") var connection: String?
        @Option(help: "Where senders reach this Koppel (default: server.public_url, else the listen address).") var url: String?
        @OptionGroup var deployment: DeploymentOptions

        func registry(_ runtime: Runtime) -> WebhookRegistry {
            WebhookRegistry(runtime: runtime, baseURL: url ?? runtime.deployment.server.baseURL)
        }
    }

    /// Prints what was changed, then what failed; fails when anything did.
    static func report(_ outcome: WebhookRegistry.Outcome, nothing: String) throws {
        for change in outcome.changes { print(change) }
        if outcome.changes.isEmpty && outcome.failures.isEmpty { print(nothing) }
        guard !outcome.failures.isEmpty else { return }
        throw CLIError(message: outcome.failures.map { "\($0.connection): \($0.reason)" }.joined(separator: "\n"), code: .failure)
    }

    struct Register: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create the missing subscriptions and re-enable Koppel's own that the sender disabled.")

        @OptionGroup var target: Target

        func run() throws {
            let runtime = try target.deployment.runtime()
            try reporting {
                if case VaultError.noMasterKey? = (Result { try runtime.masterKey() }).error { try createMasterKey(runtime) }
                let outcome = try target.registry(runtime).register(connection: target.connection)
                try WebhooksCommand.report(outcome, nothing: "every subscription is in place")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the remote subscriptions beside what the deployment wants.")

        @OptionGroup var target: Target

        func run() throws {
            let runtime = try target.deployment.runtime()
            try reporting {
                let rows = try target.registry(runtime).list(connection: target.connection).map { entry in
                    [entry.connection, entry.topic, entry.state, entry.wanted ? "yes" : "no", entry.subscription?.id ?? "—",
                     runtime.redactor.redact(entry.subscription?.callbackURL ?? "—")]
                }
                print(Table(header: ["CONNECTION", "TOPIC", "STATE", "WANTED", "ID", "DELIVERS TO"], rows: rows).rendered)
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove Koppel's own subscriptions (the flows then only poll).")

        @OptionGroup var target: Target

        func run() throws {
            let runtime = try target.deployment.runtime()
            try reporting {
                let outcome = try target.registry(runtime).remove(connection: target.connection)
                try WebhooksCommand.report(outcome, nothing: "no subscription of Koppel's to remove")
            }
        }
    }
}
