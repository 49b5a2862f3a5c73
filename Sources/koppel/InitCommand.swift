import ArgumentParser
import Foundation
import KoppelHost

/// `koppel init`: creates the deployment's state file. It is the only command that does:
/// every other one refuses a missing or empty state file, because one that silently
/// started anew would deliver everything again.
struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create the deployment's state file (every other command needs it to exist).",
        discussion: """
            The state file remembers what each flow delivered. A new one knows nothing: the \
            first run of every flow then looks each record up in the target before writing \
            it, so orders booked before (by an earlier state file or another connector) are \
            found, not booked again.
            """)

    @OptionGroup var deployment: DeploymentOptions

    func run() throws {
        let path = try reporting(.validationFailure) { try Deployment.load(file: deployment.configFile) }.state.path
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
        // An existing file is opened as every command opens it: checked, never replaced.
        _ = try deployment.runtime(createState: size == 0)
        print(size > 0
            ? "the state file \(path) exists already; it was left as it is"
            : "created the state file \(path) (readable by its owner only); back it up together with the master key")
    }
}
