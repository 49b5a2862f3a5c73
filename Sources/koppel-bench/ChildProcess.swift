import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A `koppel` command run as its own process, so that its peak memory is its own: the
/// benchmark's sandbox holds the shop's data in the benchmark's process, not in Koppel's.
///
/// The peak is the kernel's high-water mark of the process's resident memory (`VmHWM` in
/// `/proc/PID/status`), read every 20 ms while it runs: being a maximum itself, it
/// misses nothing between two readings. (`ru_maxrss` from `wait4` would not do: Linux
/// carries it across `exec`, so a child spawned from the large benchmark process would
/// report the benchmark's size.)
final class ChildProcess: @unchecked Sendable {
    /// How the process ended.
    struct Finished {
        var exitStatus: Int32
        var seconds: Double
        /// Peak resident set size, in KiB.
        var peakRSSKiB: Int
        /// Standard output and standard error, together.
        var output: String
    }

    let pid: pid_t
    let started: Date
    let outputFile: String
    private let lock = NSLock()
    private var peakKiB = 0
    private var ended = false

    private init(pid: pid_t, started: Date, outputFile: String) {
        self.pid = pid
        self.started = started
        self.outputFile = outputFile
        Thread { [self] in
            while !lock.withLock({ ended }) {
                if let kib = Self.highWaterMarkKiB(of: pid) { lock.withLock { peakKiB = max(peakKiB, kib) } }
                usleep(20_000)
            }
        }.start()
    }

    /// `VmHWM` of a running process, in KiB; nil once it has ended.
    static func highWaterMarkKiB(of pid: pid_t) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
        else { return nil }
        return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
    }

    /// Starts `executable` with `arguments`; its output goes to `outputFile`.
    static func start(_ executable: String, _ arguments: [String], outputFile: String) throws -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputFile, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let started = Date()
        let result = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard result == 0 else { throw BenchError.couldNotStart(executable, String(cString: strerror(result))) }
        return ChildProcess(pid: pid, started: started, outputFile: outputFile)
    }

    /// Runs `executable` to its end.
    static func run(_ executable: String, _ arguments: [String], outputFile: String) throws -> Finished {
        try start(executable, arguments, outputFile: outputFile).wait()
    }

    /// Sends `signal` (SIGTERM: a graceful stop).
    func send(_ signal: Int32) {
        kill(pid, signal)
    }

    /// Waits for the process to end.
    func wait() -> Finished {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let seconds = Date().timeIntervalSince(started)
        let peak = lock.withLock {
            ended = true
            return peakKiB
        }
        let exited = status & 0x7f == 0
        return Finished(
            exitStatus: exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), seconds: seconds, peakRSSKiB: peak,
            output: (try? String(contentsOfFile: outputFile, encoding: .utf8)) ?? "")
    }
}

/// Why a measurement could not be taken.
enum BenchError: Error, CustomStringConvertible {
    case couldNotStart(String, String)
    case commandFailed(String, Int32, String)
    case timedOut(String)

    var description: String {
        switch self {
        case .couldNotStart(let executable, let reason): "could not start \(executable): \(reason)"
        case .commandFailed(let command, let status, let output): "\(command) ended with status \(status):\n\(output)"
        case .timedOut(let what): "timed out waiting for \(what)"
        }
    }
}
