import ArgumentParser
import Foundation
import KoppelHost
import Logging

/// The deployment file option shared by commands that work on a deployment.
struct DeploymentOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "The deployment file (default: $KOPPEL_CONFIG, else ./koppel.yaml).")
    var config: String?

    @Flag(name: .shortAndLong, help: "Log debug detail to stderr.")
    var verbose = false

    var configFile: String {
        config ?? ProcessInfo.processInfo.environment["KOPPEL_CONFIG"] ?? "koppel.yaml"
    }

    /// Sets up logging (to stderr, secrets redacted) and opens the deployment; its state
    /// file must exist unless `createState`.
    func runtime(createState: Bool = false) throws -> Runtime {
        let redactor = SecretRedactor()
        let logger = Log.bootstrap(redactor: redactor, verbose: verbose)
        do {
            return try Runtime.open(configFile: configFile, createState: createState, redactor: redactor, logger: logger)
        } catch {
            throw CLIError(message: "\(error)", code: .validationFailure)
        }
    }
}

enum Log {
    /// Routes every log line through the redactor to stderr; returns the CLI's logger.
    /// `KOPPEL_LOG_LEVEL` overrides `standard`; `verbose` overrides both.
    static func bootstrap(redactor: SecretRedactor, verbose: Bool, standard: Logger.Level = .info) -> Logger {
        let level: Logger.Level = verbose ? .debug : Logger.Level(rawValue: ProcessInfo.processInfo.environment["KOPPEL_LOG_LEVEL"] ?? "") ?? standard
        LoggingSystem.bootstrap { label in
            var handler = RedactingLogHandler(wrapping: StreamLogHandler.standardError(label: label), redactor: redactor)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "koppel")
    }
}

/// Runs `body`, turning any error into a `CLIError` that prints only its message.
func reporting<T>(_ code: ExitCode = .failure, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as CLIError {
        throw error
    } catch let error as ExitCode {
        throw error
    } catch {
        throw CLIError(message: "\(error)", code: code)
    }
}
