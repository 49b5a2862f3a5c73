import Foundation
import Hummingbird

/// Guards the dashboard against pages in the operator's browser that are not Koppel's:
/// a `Host` other than the names Koppel answers to (a DNS-rebinding page that made its
/// own name point at 127.0.0.1) is refused, and so is a form post whose `Origin` is
/// another site. Refusals are answered 403 and logged.
struct OriginCheckMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The accepted `Host` values (lowercase, with and without the port); nil: any.
    let acceptedHosts: Set<String>?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let host = (request.head.authority ?? "").lowercased()
        if let acceptedHosts, !acceptedHosts.contains(host) {
            context.logger.warning("refused a dashboard request for host \"\(host.prefix(100))\": not a name this server answers to")
            return KoppelServer.text(
                "this Koppel server answers to \(acceptedHosts.sorted().joined(separator: ", ")); set server.public_url to reach it by another name\n",
                status: .forbidden)
        }
        if request.method != .get && request.method != .head, let origin = request.headers[.origin] {
            let components = URLComponents(string: origin)
            let originHost = components?.host.map { name in
                let bracketed = name.contains(":") && !name.hasPrefix("[") ? "[\(name)]" : name
                return (bracketed + (components?.port.map { ":\($0)" } ?? "")).lowercased()
            }
            guard originHost == host else {
                context.logger.warning("refused a form post from origin \"\(origin.prefix(100))\" to \(host.prefix(100)): another site")
                return KoppelServer.text("refused: this form was posted from another site (\(origin.prefix(100)))\n", status: .forbidden)
            }
        }
        return try await next(request, context)
    }
}
