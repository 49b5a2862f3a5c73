import Hummingbird
import NIOCore

/// The request context of every fake: Hummingbird's basics plus the connection, so a
/// fault can cut it off without an answer (a reset, or an answer lost after a commit).
public struct SandboxContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The client's connection.
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
