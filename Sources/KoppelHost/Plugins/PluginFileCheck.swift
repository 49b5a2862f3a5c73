import Foundation

/// The checks made on a plugin file before it is mapped into the host: it exists, is a
/// regular file owned by root or the current user, neither it nor its directory can be
/// written by its group or by others, and it is an ELF shared object for this machine.
enum PluginFileCheck {
    static func verify(_ path: String) throws(PluginLoadError) {
        var info = stat()
        guard stat(path, &info) == 0 else { throw .notFound(path: path) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw .notAFile(path: path) }
        if info.st_mode & (S_IWOTH | S_IWGRP) != 0 { throw .writableByOthers(path: path, directory: false) }
        if info.st_uid != 0 && info.st_uid != geteuid() { throw .foreignOwner(path: path, owner: info.st_uid) }

        let directory = (path as NSString).deletingLastPathComponent
        var dirInfo = stat()
        if stat(directory.isEmpty ? "." : directory, &dirInfo) == 0, dirInfo.st_mode & (S_IWOTH | S_IWGRP) != 0 {
            throw .writableByOthers(path: path, directory: true)
        }
        try verifyELF(path)
    }

    /// The parts of an ELF header that tell a loadable shared object for this machine.
    struct ELFIdentity: Equatable {
        var is64Bit: Bool
        var littleEndian: Bool
        var type: UInt16
        var machine: UInt16

        var machineName: String {
            switch machine {
            case 3: "x86 (32-bit)"
            case 40: "ARM (32-bit)"
            case 62: "x86_64"
            case 183: "aarch64"
            case 243: "RISC-V"
            default: "machine type \(machine)"
            }
        }
    }

    static func identity(of path: String) -> ELFIdentity? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let header = try? handle.read(upToCount: 20), header.count == 20 else { return nil }
        let bytes = [UInt8](header)
        guard bytes[0] == 0x7f, bytes[1] == 0x45, bytes[2] == 0x4c, bytes[3] == 0x46 else { return nil }
        let little = bytes[5] == 1
        func u16(_ at: Int) -> UInt16 {
            little ? UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 : UInt16(bytes[at]) << 8 | UInt16(bytes[at + 1])
        }
        return ELFIdentity(is64Bit: bytes[4] == 2, littleEndian: little, type: u16(16), machine: u16(18))
    }

    private static func verifyELF(_ path: String) throws(PluginLoadError) {
        guard let plugin = identity(of: path) else {
            throw .notSharedObject(path: path, detail: "it does not start with the ELF magic bytes")
        }
        guard plugin.type == 3 else {
            let kind = plugin.type == 2 ? "an executable" : plugin.type == 1 ? "an object file" : "ELF type \(plugin.type)"
            throw .notSharedObject(path: path, detail: "it is \(kind)")
        }
        if let host = identity(of: "/proc/self/exe"),
            host.machine != plugin.machine || host.is64Bit != plugin.is64Bit
        {
            throw .wrongArchitecture(path: path, plugin: plugin.machineName, host: host.machineName)
        }
    }
}
