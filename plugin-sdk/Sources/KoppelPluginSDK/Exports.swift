/// The C ABI types, so that a connector needs only `import KoppelPluginSDK`.
@_exported import CKoppelPlugin
