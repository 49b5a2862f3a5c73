import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A real Chromium (Debian's `chromium` package), headless, driven through the DevTools
/// protocol over `--remote-debugging-pipe` (fd 3 in, fd 4 out, messages ending in NUL):
/// load pages, read the DOM, and press buttons with real mouse events.
final class HeadlessChromium: @unchecked Sendable {
    private let pid: pid_t
    private let commands: FileHandle
    private let profile: String
    private let lock = NSCondition()
    private var buffer = Data()
    private var messages: [[String: Any]] = []
    private var nextID = 0
    private var session: String?

    /// Where the browser is: `CHROMIUM`, else the Debian package's path.
    static var executable: String {
        ProcessInfo.processInfo.environment["CHROMIUM"] ?? "/usr/bin/chromium"
    }

    init() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.executable) else {
            throw TestFailure("\(Self.executable) is missing: the dashboard test needs Chromium (apt-get install -y chromium, as scripts/test does)")
        }
        profile = try TestSupport.makeTemporaryDirectory("koppel-chromium")
        var toBrowser: [Int32] = [0, 0], fromBrowser: [Int32] = [0, 0]
        guard pipe(&toBrowser) == 0, pipe(&fromBrowser) == 0 else { throw TestFailure("pipe failed") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toBrowser[0], 3)
        posix_spawn_file_actions_adddup2(&actions, fromBrowser[1], 4)
        let devNull = Glibc.open("/dev/null", O_WRONLY)
        posix_spawn_file_actions_adddup2(&actions, devNull, 1)
        posix_spawn_file_actions_adddup2(&actions, devNull, 2)
        let arguments = [Self.executable, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                         "--disable-extensions", "--remote-debugging-pipe", "--user-data-dir=\(profile)", "about:blank"]
        var argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var spawned = pid_t()
        let status = posix_spawn(&spawned, Self.executable, &actions, nil, &argv, environ)
        close(devNull)
        close(toBrowser[0])
        close(fromBrowser[1])
        guard status == 0 else { throw TestFailure("chromium did not start: \(String(cString: strerror(status)))") }
        pid = spawned
        commands = FileHandle(fileDescriptor: toBrowser[1], closeOnDealloc: true)
        let responses = FileHandle(fileDescriptor: fromBrowser[0], closeOnDealloc: true)
        Thread { [weak self] in
            while true {
                let data = responses.availableData
                guard !data.isEmpty, let self else { return }
                self.received(data)
            }
        }.start()
        let target = try send("Target.createTarget", ["url": "about:blank"])
        let attached = try send("Target.attachToTarget", ["targetId": target["targetId"] as? String ?? "", "flatten": true])
        session = attached["sessionId"] as? String
        _ = try send("Page.enable")
    }

    deinit {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        try? FileManager.default.removeItem(atPath: profile)
    }

    private func received(_ data: Data) {
        lock.lock()
        buffer += data
        while let end = buffer.firstIndex(of: 0) {
            let message = buffer[buffer.startIndex..<end]
            buffer = Data(buffer[buffer.index(after: end)...])
            if let object = try? JSONSerialization.jsonObject(with: message) as? [String: Any] { messages.append(object) }
        }
        lock.broadcast()
        lock.unlock()
    }

    /// Sends one command (to the page once attached) and waits for its result.
    @discardableResult
    func send(_ method: String, _ params: [String: Any] = [:], timeout: TimeInterval = 30) throws -> [String: Any] {
        let id = lock.withLock { () -> Int in
            nextID += 1
            return nextID
        }
        var message: [String: Any] = ["id": id, "method": method, "params": params]
        if let session, !method.hasPrefix("Target.") { message["sessionId"] = session }
        commands.write(try JSONSerialization.data(withJSONObject: message) + Data([0]))
        let reply = try waitFor(timeout: timeout, "\(method)") { $0["id"] as? Int == id }
        if let error = reply["error"] as? [String: Any] { throw TestFailure("\(method): \(error)") }
        return reply["result"] as? [String: Any] ?? [:]
    }

    /// Waits for (and takes) the first message that `match` accepts.
    private func waitFor(timeout: TimeInterval, _ what: String, _ match: ([String: Any]) -> Bool) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(timeout)
        lock.lock()
        defer { lock.unlock() }
        while true {
            if let index = messages.firstIndex(where: match) { return messages.remove(at: index) }
            guard lock.wait(until: deadline) else { throw TestFailure("Chromium did not answer \(what) within \(Int(timeout)) s") }
        }
    }

    /// Runs a "load" to completion: `start` triggers it, then the page's load event is awaited.
    private func load(_ start: () throws -> Void) throws {
        lock.withLock { messages.removeAll { $0["method"] as? String == "Page.loadEventFired" } }
        try start()
        _ = try waitFor(timeout: 30, "a page load") { $0["method"] as? String == "Page.loadEventFired" }
    }

    /// Opens a URL and waits until it has loaded.
    func open(_ url: String) throws {
        try load { try send("Page.navigate", ["url": url]) }
    }

    /// Evaluates JavaScript in the page and returns its value.
    func evaluate(_ expression: String) throws -> Any? {
        let result = try send("Runtime.evaluate", ["expression": expression, "returnByValue": true])
        if let exception = result["exceptionDetails"] { throw TestFailure("\(expression): \(exception)") }
        return (result["result"] as? [String: Any])?["value"]
    }

    /// Evaluates `expression` until it gives a value `accept` takes (a page can still be
    /// settling right after its load event), and returns that value.
    func value<T>(_ expression: String, as type: T.Type, timeout: TimeInterval = 5, _ accept: (T) -> Bool = { _ in true }) throws -> T? {
        let deadline = Date().addingTimeInterval(timeout)
        var last: T?
        repeat {
            last = try evaluate(expression) as? T
            if let last, accept(last) { return last }
            usleep(50_000)
        } while Date() < deadline
        return last
    }

    /// The page's visible text.
    func text() throws -> String { try evaluate("document.body.innerText") as? String ?? "" }

    /// Presses the element `selector` finds with a real mouse click at its centre, and
    /// waits for the page that follows.
    func press(_ selector: String) throws {
        let quoted = String(decoding: try JSONSerialization.data(withJSONObject: [selector]), as: UTF8.self).dropFirst().dropLast()
        guard let box = try evaluate("""
            (() => { const e = document.querySelector(\(quoted)); if (!e) return null; e.scrollIntoView();
                     const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()
            """) as? [Double] else { throw TestFailure("no element \(selector) on the page") }
        try load {
            for type in ["mousePressed", "mouseReleased"] {
                try send("Input.dispatchMouseEvent", ["type": type, "x": box[0], "y": box[1], "button": "left", "clickCount": 1])
            }
        }
    }
}
