import Foundation
import KoppelPluginABI
import Logging

/// A plugin library mapped into the host, its descriptor checked and its manifest
/// validated. Libraries stay mapped until the process ends: unloading code that a
/// language runtime has registered (Swift's, for one) is not safe.
public final class LoadedPlugin: @unchecked Sendable {
    /// The file it was loaded from.
    public let path: String
    public let manifest: PluginManifest
    /// The ABI version the plugin was built against.
    public let abiMajor: Int
    public let abiMinor: Int
    let descriptor: UnsafePointer<koppel_plugin>

    init(path: String, manifest: PluginManifest, descriptor: UnsafePointer<koppel_plugin>) {
        self.path = path
        self.manifest = manifest
        self.descriptor = descriptor
        self.abiMajor = Int(descriptor.pointee.abi_major)
        self.abiMinor = Int(descriptor.pointee.abi_minor)
    }

    /// The plugin's `webhook` function, when its descriptor is new enough (ABI 1.2) to
    /// have one and sets it.
    var webhookFunction: (@convention(c) (UnsafeMutableRawPointer?, UnsafePointer<koppel_host>?, UnsafePointer<koppel_webhook_args>?) -> koppel_status)? {
        function(\.webhook)
    }

    /// The plugin's `webhook_subscriptions` function (ABI 1.5), when it has one.
    var subscriptionsFunction: (@convention(c) (UnsafeMutableRawPointer?, UnsafePointer<koppel_host>?, UnsafePointer<koppel_subscription_args>?) -> koppel_status)? {
        function(\.webhook_subscriptions)
    }

    /// A function pointer a later minor added to the descriptor, read through the
    /// descriptor's own size, never past it.
    private func function<F>(_ field: KeyPath<koppel_plugin, F?>) -> F? {
        let offset = MemoryLayout<koppel_plugin>.offset(of: field)!
        guard Int(descriptor.pointee.struct_size) >= offset + MemoryLayout<UnsafeRawPointer>.size else { return nil }
        return UnsafeRawPointer(descriptor).advanced(by: offset).load(as: F?.self)
    }

    /// The plugin's name, as its manifest gives it.
    public var name: String { manifest.name }

    /// Opens a connection: calls the plugin's `open` with the settings as JSON.
    public func open(
        configJSON: Data, services: PluginServices = PluginServices(),
        logger: Logger? = nil, cancellation: CancellationFlag = CancellationFlag()
    ) throws(PluginCallError) -> PluginConnection {
        guard let open = descriptor.pointee.open else { throw PluginCallError(.internal, "\(name) has no open function") }
        let logger = logger ?? Logger(label: "koppel.plugin.\(name)")
        let call = PluginCall(services: services, logger: logger, cancellation: cancellation)
        var instance: UnsafeMutableRawPointer?
        let status = call.run { host in configJSON.withKoppelStr { open(host, $0, &instance) } }
        if status != .ok {
            if let instance { descriptor.pointee.close?(instance) }
            try call.check(status, "open")
        }
        return PluginConnection(plugin: self, instance: instance, call: call)
    }
}
