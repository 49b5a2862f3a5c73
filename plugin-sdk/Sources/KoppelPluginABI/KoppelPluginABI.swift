/// The raw C ABI of `koppel_plugin.h`, for Swift code that speaks it directly (the host).
/// Connector authors use `KoppelPluginSDK` instead.
@_exported import CKoppelPlugin
