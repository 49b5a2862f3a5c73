/// Why the host refused to load a plugin file. Each message is one sentence naming the
/// file and what to do.
public enum PluginLoadError: Error, Equatable, Sendable, CustomStringConvertible {
    case notFound(path: String)
    case notAFile(path: String)
    case writableByOthers(path: String, directory: Bool)
    case foreignOwner(path: String, owner: UInt32)
    case notSharedObject(path: String, detail: String)
    case wrongArchitecture(path: String, plugin: String, host: String)
    case dlopenFailed(path: String, detail: String)
    case missingEntrySymbol(path: String)
    case refusedByPlugin(path: String, reason: String)
    case abiMismatch(path: String, pluginMajor: Int, pluginMinor: Int, hostMajor: Int, hostMinor: Int)
    case descriptorTooSmall(path: String, size: Int, needed: Int)
    case missingFunction(path: String, function: String)
    case invalidManifest(path: String, jsonPath: String, problem: String)
    case pluginNotFound(name: String, directories: [String])
    case duplicateName(name: String, paths: [String])

    public var description: String {
        switch self {
        case .notFound(let path):
            "\(path): no such file"
        case .notAFile(let path):
            "\(path): not a regular file"
        case .writableByOthers(let path, let directory):
            directory
                ? "\(path): refused because its directory can be written by its group or by others, who could replace the plugin (chmod go-w the directory)"
                : "\(path): refused because the file can be written by its group or by others, who could change the plugin (chmod go-w it)"
        case .foreignOwner(let path, let owner):
            "\(path): refused because it is owned by uid \(owner), neither root nor the user running Koppel"
        case .notSharedObject(let path, let detail):
            "\(path): not an ELF shared object (\(detail)); build the plugin with -shared -fPIC"
        case .wrongArchitecture(let path, let plugin, let host):
            "\(path): built for \(plugin), but this host runs on \(host)"
        case .dlopenFailed(let path, let detail):
            "\(path): could not be loaded: \(detail)"
        case .missingEntrySymbol(let path):
            "\(path): has no koppel_plugin_entry symbol; it is not a Koppel plugin (export it with C linkage)"
        case .refusedByPlugin(let path, let reason):
            "\(path): the plugin declined to load: \(reason)"
        case .abiMismatch(let path, let pMajor, let pMinor, let hMajor, let hMinor):
            "\(path): built for Koppel plugin ABI \(pMajor).\(pMinor), but this host speaks ABI \(hMajor).\(hMinor); rebuild it against the host's koppel_plugin.h"
        case .descriptorTooSmall(let path, let size, let needed):
            "\(path): its plugin descriptor is \(size) bytes, smaller than the \(needed) bytes of ABI 1.0"
        case .missingFunction(let path, let function):
            "\(path): the descriptor has no \(function) function"
        case .invalidManifest(let path, let jsonPath, let problem):
            "\(path): invalid manifest at \(jsonPath): \(problem)"
        case .pluginNotFound(let name, let directories):
            "plugin \(name) was not found in \(directories.joined(separator: ", ")) (expected a file named lib\(name).so or \(name).so)"
        case .duplicateName(let name, let paths):
            "plugin \(name) is provided by more than one file: \(paths.joined(separator: ", "))"
        }
    }
}
