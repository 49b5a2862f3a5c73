import Foundation
import XCTest

/// Paths and helpers shared by the tests: the repository, the built products, scratch
/// directories, and running real commands.
enum TestSupport {
    /// The repository root, found from this file's location.
    static let repoRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// The directory holding the built products (koppel, the plugin .so files).
    static let productsDirectory: String = {
        let testBinary = URL(fileURLWithPath: CommandLine.arguments.first { $0.contains(".xctest") } ?? CommandLine.arguments[0])
        var url = testBinary
        while url.path != "/" && !url.lastPathComponent.hasSuffix(".xctest") { url.deleteLastPathComponent() }
        return url.path == "/" ? "\(repoRoot)/.build/debug" : url.deletingLastPathComponent().path
    }()

    /// The `koppel` executable under test.
    static var koppel: String { "\(productsDirectory)/koppel" }

    /// A fresh private directory (mode 0700) under the system temp directory.
    static func makeTemporaryDirectory(_ label: String = "koppel-test") throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return path
    }

    /// The result of running a command.
    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs a command to completion.
    @discardableResult
    static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, in directory: String? = nil, stdin: String? = nil,
        timeout: TimeInterval = 600
    ) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let scratch = try makeTemporaryDirectory("koppel-run")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let out = "\(scratch)/out", err = "\(scratch)/err"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: out)
        process.standardError = FileHandle(forWritingAtPath: err)
        let input = Pipe()
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        waitForExit(process, timeout: timeout, "\(URL(fileURLWithPath: executable).lastPathComponent) \(arguments.joined(separator: " "))")
        return Output(
            status: process.terminationStatus,
            stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
    }

    /// Waits until `process` ends; after `timeout` it is killed and the test fails, so a
    /// hung command fails its test instead of holding up the suite.
    static func waitForExit(_ process: Process, timeout: TimeInterval, _ what: String) {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            XCTFail("\(what) did not end within \(Int(timeout)) s and was killed")
        }
        process.waitUntilExit()
    }

    /// A port on loopback that was free a moment ago.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw TestFailure("no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// A command running in the background whose output can be watched as it comes.
    final class Running: @unchecked Sendable {
        let process: Process
        private let output = Shared<String>("")
        private let errors = Shared<String>("")

        init(process: Process, stdout: Pipe, stderr: Pipe) {
            self.process = process
            let output = self.output, errors = self.errors
            stdout.fileHandleForReading.readabilityHandler = { handle in
                let data = handle.availableData
                output.with { $0 += String(decoding: data, as: UTF8.self) }
            }
            stderr.fileHandleForReading.readabilityHandler = { handle in
                let data = handle.availableData
                errors.with { $0 += String(decoding: data, as: UTF8.self) }
            }
        }

        /// The first line of output that satisfies `match`, waiting up to `timeout`.
        func waitForLine(timeout: TimeInterval = 30, _ match: (String) -> Bool) -> String? {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if let line = output.current.split(separator: "\n").map(String.init).first(where: match) { return line }
                usleep(20_000)
            }
            return nil
        }

        /// Everything written to stdout and stderr so far.
        var outputSoFar: String { output.current + errors.current }

        /// Waits for the process to end; one still running after `timeout` is killed and
        /// the test fails.
        func wait(timeout: TimeInterval = 300) -> Output {
            waitForExit(process, timeout: timeout, process.arguments?.joined(separator: " ") ?? "the process")
            usleep(100_000)
            return Output(status: process.terminationStatus, stdout: output.current, stderr: errors.current)
        }
    }

    /// Starts a command without waiting for it.
    static func start(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> Running {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let stdout = Pipe(), stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        let running = Running(process: process, stdout: stdout, stderr: stderr)
        try process.run()
        return running
    }

    /// Compiles C source into a shared object with `cc -shared -fPIC`, against the SDK header.
    static func compileSharedObject(source: String, to output: String, extraFlags: [String] = []) throws {
        let result = try run("/usr/bin/env", ["cc", "-shared", "-fPIC", "-Wall", "-I\(repoRoot)/plugin-sdk/include", "-o", output, source] + extraFlags)
        guard result.status == 0 else { throw TestFailure("cc failed for \(source):\n\(result.stderr)") }
    }

    /// The C example plugin, built from plugin-sdk/examples/c with its own Makefile into `directory`.
    static func buildCExample(into directory: String) throws -> String {
        let example = "\(repoRoot)/plugin-sdk/examples/c"
        let output = "\(directory)/libexample-c.so"
        let result = try run("/usr/bin/env", ["make", "-s", "-C", example, "OUT=\(output)"])
        guard result.status == 0 else { throw TestFailure("make failed:\n\(result.stdout)\(result.stderr)") }
        return output
    }

    /// The Swift example plugin, built once per test run as its own package (outside this
    /// one) with `swift build`, then copied into `directory`.
    static func buildSwiftExample(into directory: String) throws -> String {
        let built = try SwiftExample.shared.path()
        let output = "\(directory)/libKoppelExampleSwift.so"
        try FileManager.default.copyItem(atPath: built, toPath: output)
        return output
    }

    /// A C fixture from Tests/KoppelHostTests/Fixtures.
    static func fixture(_ name: String) -> String {
        "\(repoRoot)/Tests/KoppelHostTests/Fixtures/\(name)"
    }
}

/// Builds the Swift example package once, however many tests need it.
final class SwiftExample: @unchecked Sendable {
    static let shared = SwiftExample()
    private let lock = NSLock()
    private var built: Result<String, Error>?

    func path() throws -> String {
        try lock.withLock {
            if built == nil {
                built = Result {
                    let package = "\(TestSupport.repoRoot)/plugin-sdk/examples/swift"
                    let scratch = "\(TestSupport.repoRoot)/.build-examples"
                    let swift = ProcessInfo.processInfo.environment["SWIFT_EXEC_PATH"] ?? "/usr/bin/env"
                    let arguments = swift == "/usr/bin/env" ? ["swift", "build"] : ["build"]
                    let result = try TestSupport.run(swift, arguments + ["--package-path", package, "--scratch-path", scratch])
                    guard result.status == 0 else { throw TestFailure("swift build of the Swift example failed:\n\(result.stdout)\(result.stderr)") }
                    return "\(scratch)/debug/libKoppelExampleSwift.so"
                }
            }
            return try built!.get()
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension String {
    /// The first line, without its line break (`koppel check` prints what it found below it).
    var firstLine: String { String(prefix { $0 != "\n" }) }
}
