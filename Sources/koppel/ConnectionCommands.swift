import ArgumentParser
import Foundation
import KoppelHost

/// `koppel auth CONNECTION`: signs a connection in through OAuth 2.
struct AuthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auth",
        abstract: "Sign a connection in through its OAuth 2 consent screen.",
        discussion: """
            Prints the consent URL to open in a browser and listens on the redirect URI \
            (the connection's redirect_uri setting, default http://localhost:8765/callback) \
            for the answer; then exchanges the code for tokens and stores them, sealed, in \
            the vault. Register the same redirect URI with the provider's app.
            """)

    @Argument(help: "The connection to sign in.") var connection: String
    @Option(help: "Seconds to wait for the sign-in.") var timeout: Double = 600
    @OptionGroup var deployment: DeploymentOptions

    func run() async throws {
        let runtime = try deployment.runtime()
        let tokens = try reporting { try runtime.tokenManager(connection) }
        if tokens.client.account != nil {
            // The password grant needs no browser: the host signs in with the account.
            _ = try reporting { try tokens.accessToken() }
            print("\(connection) is signed in with its account; its tokens are stored in the vault and renewed as needed.")
            return
        }
        let redirectURI = try reporting { try runtime.connection(connection).config.settings["redirect_uri"]?.stringValue } ?? "http://localhost:8765/callback"
        let state = UUID().uuidString
        let url = try reporting { try tokens.authorizationURL(redirectURI: redirectURI, state: state) }
        // Unbuffered: a script reading this output needs the URL now, not at exit.
        FileHandle.standardOutput.write(Data("Open this address in a browser and sign in:\n\n  \(url)\n\nWaiting for the answer on \(redirectURI) ...\n".utf8))
        let code: String
        do {
            code = try await OAuthCallbackServer(redirectURI: redirectURI, state: state, logger: runtime.logger).waitForCode(timeout: timeout)
        } catch {
            throw CLIError(message: "\(error)", code: .failure)
        }
        try reporting { try tokens.exchange(code: code, redirectURI: redirectURI) }
        print("\(connection) is signed in; its tokens are stored in the vault.")
    }
}

/// `koppel check CONNECTION`: is the remote system there, and do the credentials work?
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check that a connection's system answers and its credentials work.",
        discussion: "Prints one line: ok, or what is wrong. Exit status 0 when ok, 1 otherwise.")

    @Argument(help: "The connection to check (all when omitted).") var connections: [String] = []
    @OptionGroup var deployment: DeploymentOptions

    func run() throws {
        let runtime = try deployment.runtime()
        let names = connections.isEmpty ? runtime.deployment.connections.map(\.name) : connections
        var failed = false
        for name in names {
            do {
                let connection = try runtime.open(connection: name)
                let notes = try connection.check()
                print("\(name): ok")
                for note in notes { print("  \(note)") }
                // What a merchant must know about the streams this connection's flows write.
                for flow in runtime.deployment.flows where flow.target.connection == name {
                    if let notice = connection.plugin.manifest.writeStreams.first(where: { $0.name == flow.target.stream })?.notice {
                        print("  note for flow \(flow.name): \(notice)")
                    }
                }
            } catch {
                failed = true
                print("\(name): \(runtime.redactor.redact("\(error)"))")
            }
        }
        if failed { throw ExitCode.failure }
    }
}
