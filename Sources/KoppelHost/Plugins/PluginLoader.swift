import Foundation
import KoppelPluginABI

/// Finds and loads connector plugins. A plugin is an ELF shared object exporting
/// `koppel_plugin_entry`; the loader checks the file before mapping it (`RTLD_LOCAL`,
/// so plugins cannot see each other's symbols), then the descriptor's ABI version, size
/// and functions, then the manifest. Each refusal is a `PluginLoadError` naming the file.
public struct PluginLoader: Sendable {
    /// The ABI this host speaks.
    public static let abiMajor = Int(KOPPEL_ABI_MAJOR)
    public static let abiMinor = Int(KOPPEL_ABI_MINOR)

    /// Where plugins are looked for, in order.
    public var directories: [String]

    public init(directories: [String]) {
        self.directories = directories
    }

    /// The `.so` files in the directories, sorted, without loading any of them.
    public func candidates() -> [String] {
        directories.flatMap { directory -> [String] in
            let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            return files.filter { $0.hasSuffix(".so") }.sorted().map { (directory as NSString).appendingPathComponent($0) }
        }
    }

    /// The plugin name a file name stands for: `libKoppelWooCommerce.so`,
    /// `libwoocommerce.so` and `woocommerce.so` all stand for "woocommerce"; the
    /// comparison ignores case, '-' and '_'.
    public static func nameKey(forFile path: String) -> String {
        var stem = ((path as NSString).lastPathComponent as NSString).deletingPathExtension.lowercased()
        if stem.hasPrefix("lib") { stem.removeFirst(3) }
        if stem.hasPrefix("koppel") && stem.count > 6 { stem.removeFirst(6) }
        return nameKey(stem)
    }

    /// A plugin name folded for comparison with file names.
    public static func nameKey(_ name: String) -> String {
        name.lowercased().filter { $0 != "-" && $0 != "_" }
    }

    /// Every plugin in the directories, each loaded or refused. Used to list what is
    /// available; a deployment loads only what it names (`load(named:)`).
    public func loadAll() -> [(path: String, result: Result<LoadedPlugin, PluginLoadError>)] {
        candidates().map { path in
            do throws(PluginLoadError) {
                return (path, .success(try load(path: path)))
            } catch {
                return (path, .failure(error))
            }
        }
    }

    /// Loads exactly the named plugins, found by file name, and nothing else: files of
    /// other plugins in the same directories are never opened.
    public func load(named names: [String]) throws(PluginLoadError) -> [LoadedPlugin] {
        let files = candidates()
        var loaded: [LoadedPlugin] = []
        for name in names {
            let key = Self.nameKey(name)
            let matches = files.filter { Self.nameKey(forFile: $0) == key }
            guard !matches.isEmpty else { throw .pluginNotFound(name: name, directories: directories) }
            guard matches.count == 1 else { throw .duplicateName(name: name, paths: matches) }
            let plugin = try load(path: matches[0])
            guard Self.nameKey(plugin.name) == key else {
                throw .invalidManifest(path: matches[0], jsonPath: "$.name", problem: "the file is named for \(name), but the plugin calls itself \(plugin.name)")
            }
            loaded.append(plugin)
        }
        return loaded
    }

    /// Loads one plugin file.
    public func load(path: String) throws(PluginLoadError) -> LoadedPlugin {
        let path = (path as NSString).standardizingPath
        try PluginFileCheck.verify(path)

        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            let detail = dlerror().map { String(cString: $0) } ?? "unknown dlopen error"
            throw .dlopenFailed(path: path, detail: detail.replacingOccurrences(of: "\(path): ", with: ""))
        }
        // The handle is deliberately never closed; see LoadedPlugin.
        guard let symbol = dlsym(handle, KOPPEL_PLUGIN_ENTRY_SYMBOL) else {
            throw .missingEntrySymbol(path: path)
        }
        let entry = unsafeBitCast(symbol, to: koppel_plugin_entry_fn.self)

        var reason = [CChar](repeating: 0, count: 512)
        let descriptor = reason.withUnsafeMutableBufferPointer { buffer -> UnsafePointer<koppel_plugin>? in
            var request = koppel_entry_request(
                struct_size: UInt32(MemoryLayout<koppel_entry_request>.size),
                host_abi_major: UInt16(Self.abiMajor), host_abi_minor: UInt16(Self.abiMinor),
                reason: buffer.baseAddress, reason_capacity: buffer.count)
            return entry(&request)
        }
        guard let descriptor else {
            let text = reason.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw .refusedByPlugin(path: path, reason: text.isEmpty ? "it gave no reason" : text)
        }

        let header = descriptor.pointee
        if Int(header.abi_major) != Self.abiMajor {
            throw .abiMismatch(
                path: path, pluginMajor: Int(header.abi_major), pluginMinor: Int(header.abi_minor),
                hostMajor: Self.abiMajor, hostMinor: Self.abiMinor)
        }
        // ABI 1.0's descriptor ends with `close`; a newer minor may append fields.
        let minimum = MemoryLayout<koppel_plugin>.offset(of: \koppel_plugin.close)! + MemoryLayout<UnsafeRawPointer>.size
        guard Int(header.struct_size) >= minimum else {
            throw .descriptorTooSmall(path: path, size: Int(header.struct_size), needed: minimum)
        }
        guard header.open != nil else { throw .missingFunction(path: path, function: "open") }
        guard header.close != nil else { throw .missingFunction(path: path, function: "close") }
        guard let manifestText = header.manifest_json.map({ String(cString: $0) }) else {
            throw .invalidManifest(path: path, jsonPath: "$", problem: "the descriptor has no manifest")
        }
        let manifest: PluginManifest
        do {
            manifest = try PluginManifest.parse(manifestText)
        } catch {
            throw .invalidManifest(path: path, jsonPath: error.jsonPath, problem: error.problem)
        }
        let descriptorName = header.name.map { String(cString: $0) } ?? ""
        guard descriptorName == manifest.name else {
            throw .invalidManifest(path: path, jsonPath: "$.name", problem: "\"\(manifest.name)\" differs from the descriptor's name \"\(descriptorName)\"")
        }
        let descriptorVersion = header.version.map { String(cString: $0) } ?? ""
        guard descriptorVersion == manifest.version else {
            throw .invalidManifest(path: path, jsonPath: "$.version", problem: "\"\(manifest.version)\" differs from the descriptor's version \"\(descriptorVersion)\"")
        }
        if !manifest.readStreams.isEmpty && header.read == nil {
            throw .missingFunction(path: path, function: "read (the manifest declares readable streams)")
        }
        if !manifest.writeStreams.isEmpty && header.write == nil {
            throw .missingFunction(path: path, function: "write (the manifest declares writable streams)")
        }
        return LoadedPlugin(path: path, manifest: manifest, descriptor: descriptor)
    }
}
