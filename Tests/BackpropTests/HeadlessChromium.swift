import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`:
/// the browser reads commands from fd 3 and writes replies and events to fd 4, each a JSON object
/// followed by a NUL byte). No network, no websocket library, no Python: the page test needs only
/// the browser.
final class HeadlessChromium {
    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    private var pid: pid_t = 0
    private let toBrowser: Int32
    private let fromBrowser: Int32
    private var buffer: [UInt8] = []
    private var nextID = 1
    private(set) var events: [[String: Any]] = []
    private var session: String?
    let log: String

    /// Starts `executable` (chromium) headless with a fresh profile in `profile`, its window
    /// `width` x `height`.
    init(executable: String, profile: String, width: Int = 1280, height: Int = 800) throws {
        var a: [Int32] = [0, 0], b: [Int32] = [0, 0]
        guard pipe(&a) == 0, pipe(&b) == 0 else { throw Failure("pipe failed") }
        // Keep our ends away from 3 and 4, which the child's ends are moved to, and out of the child.
        func high(_ fd: Int32, cloexec: Bool) -> Int32 {
            let n = fcntl(fd, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, 10)
            close(fd)
            return n
        }
        let childIn = high(a[0], cloexec: false), parentOut = high(a[1], cloexec: true)
        let parentIn = high(b[0], cloexec: true), childOut = high(b[1], cloexec: false)
        toBrowser = parentOut
        fromBrowser = parentIn
        log = profile + ".log"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, childIn, 3)
        posix_spawn_file_actions_adddup2(&actions, childOut, 4)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var args = [executable, "--headless", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                    "--no-default-browser-check", "--hide-scrollbars", "--mute-audio", "--remote-debugging-pipe",
                    "--window-size=\(width),\(height)", "--user-data-dir=\(profile)"]
        if getuid() == 0 { args.insert("--no-sandbox", at: 1) }   // Chromium refuses to run as root with its sandbox
        args.append("about:blank")
        let argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        let rc = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        close(childIn); close(childOut)
        guard rc == 0 else { throw Failure("could not start \(executable): posix_spawn returned \(rc)") }
    }

    deinit { stop() }

    /// Closes the browser (politely, then by signal) and waits for it.
    func stop() {
        guard pid != 0 else { return }
        _ = try? send("Browser.close", timeout: 5, inSession: false)
        var status: Int32 = 0
        for _ in 0..<50 {
            if waitpid(pid, &status, WNOHANG) == pid { pid = 0; break }
            usleep(100_000)
        }
        if pid != 0 { kill(pid, SIGKILL); waitpid(pid, &status, 0); pid = 0 }
        close(toBrowser); close(fromBrowser)
    }

    private func readMessage(deadline: Date) throws -> [String: Any] {
        while true {
            if let nul = buffer.firstIndex(of: 0) {
                let data = Data(buffer[..<nul])
                buffer.removeSubrange(...nul)
                guard let o = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { continue }
                return o
            }
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { throw Failure("no answer from the browser in time (its log: \(log))") }
            var p = pollfd(fd: fromBrowser, events: Int16(POLLIN), revents: 0)
            let r = poll(&p, 1, Int32(min(left, 1) * 1000))
            if r <= 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            let n = read(fromBrowser, &chunk, chunk.count)
            guard n > 0 else { throw Failure("the browser closed its pipe (its log: \(log))") }
            buffer.append(contentsOf: chunk[..<n])
        }
    }

    /// Sends a command (to the attached page unless `inSession` is false) and returns its result.
    @discardableResult
    func send(_ method: String, _ params: [String: Any] = [:], timeout: TimeInterval = 30, inSession: Bool = true) throws -> [String: Any] {
        let id = nextID
        nextID += 1
        var message: [String: Any] = ["id": id, "method": method, "params": params]
        if inSession, let session { message["sessionId"] = session }
        var data = try JSONSerialization.data(withJSONObject: message)
        data.append(0)
        try data.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = write(toBrowser, raw.baseAddress! + off, raw.count - off)
                guard n > 0 else { throw Failure("could not write to the browser") }
                off += n
            }
        }
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let m = try readMessage(deadline: deadline)
            if let mid = m["id"] as? Int, mid == id {
                if let e = m["error"] as? [String: Any] { throw Failure("\(method): \(e["message"] ?? e)") }
                return m["result"] as? [String: Any] ?? [:]
            }
            if m["method"] != nil { events.append(m) }
        }
    }

    /// Waits for an event of the attached page.
    func wait(for method: String, timeout: TimeInterval = 30) throws {
        if let i = events.firstIndex(where: { $0["method"] as? String == method }) { events.remove(at: i); return }
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let m = try readMessage(deadline: deadline)
            if m["method"] as? String == method { return }
            if m["method"] != nil { events.append(m) }
        }
    }

    /// Opens a page tab of `width` x `height` CSS pixels and attaches to it.
    func openPage(width: Int = 1280, height: Int = 800) throws {
        let target = try send("Target.createTarget", ["url": "about:blank"], inSession: false)
        guard let id = target["targetId"] as? String else { throw Failure("no target id") }
        let attached = try send("Target.attachToTarget", ["targetId": id, "flatten": true], inSession: false)
        session = attached["sessionId"] as? String
        try send("Page.enable")
        try send("Runtime.enable")
        try send("Emulation.setDeviceMetricsOverride", ["width": width, "height": height, "deviceScaleFactor": 1, "mobile": false])
    }

    /// Loads `url` and waits for its load event.
    func navigate(_ url: String) throws {
        events.removeAll()
        try send("Page.navigate", ["url": url])
        try wait(for: "Page.loadEventFired")
    }

    /// Evaluates a JavaScript expression in the page; its value as JSON-compatible Swift values.
    func evaluate(_ expression: String) throws -> Any? {
        let r = try send("Runtime.evaluate", ["expression": expression, "returnByValue": true, "awaitPromise": true])
        if let e = r["exceptionDetails"] as? [String: Any] {
            throw Failure("script error: \((e["exception"] as? [String: Any])?["description"] ?? e["text"] ?? e)")
        }
        return (r["result"] as? [String: Any])?["value"]
    }

    /// Presses and releases a key (`ArrowRight`, `ArrowLeft`) as a user would.
    func press(_ key: String) throws {
        let codes = ["ArrowLeft": 37, "ArrowUp": 38, "ArrowRight": 39, "ArrowDown": 40, "Enter": 13]
        for type in ["rawKeyDown", "keyUp"] {
            try send("Input.dispatchKeyEvent", ["type": type, "key": key, "code": key, "windowsVirtualKeyCode": codes[key] ?? 0,
                                                "nativeVirtualKeyCode": codes[key] ?? 0])
        }
    }

    /// A PNG of the viewport.
    func screenshot() throws -> Data {
        let r = try send("Page.captureScreenshot", ["format": "png"])
        guard let b64 = r["data"] as? String, let d = Data(base64Encoded: b64) else { throw Failure("no screenshot data") }
        return d
    }
}
