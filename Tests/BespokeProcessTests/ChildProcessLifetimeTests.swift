import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Child processes of `bespoke` (the demo's tenant services, a benchmark's receiver) stop by
/// themselves when their parent is killed without stopping them, so they never keep running
/// and holding their ports.
@Suite("Child processes do not outlive a killed parent", .serialized)
struct ChildProcessLifetimeTests {
    /// Whether `pid` has ended: gone, or a zombie waiting for whoever adopted it to reap it.
    static func hasEnded(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 else { return true }
        #if os(Linux)
        // /proc/<pid>/stat: "pid (name) state ..."; the name may hold spaces.
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") {
            return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
        }
        #endif
        return false
    }

    static func waitUntilEnded(_ pid: Int32, within limit: Duration) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline, !Task.isCancelled {
            if hasEnded(pid) { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return hasEnded(pid)
    }

    @Test func theServicesOfADemoKilledWithSIGKILLStopByThemselves() async throws {
        let demo = try await DemoProcess.start()
        defer { demo.forceKill() }
        let services = ["shipper", "shipping", "rfid"].compactMap { demo.servicePID($0) }
        #expect(services.count == 3)
        for pid in services { #expect(!Self.hasEnded(pid)) }
        demo.forceKill()
        for pid in services {
            let ended = await Self.waitUntilEnded(pid, within: .seconds(10))
            if !ended { kill(pid, SIGKILL) }
            #expect(ended, "service \(pid) outlived the killed demo")
        }
    }

    @Test func aBenchmarksReceiverStopsByItselfWhenTheBenchmarkIsKilled() async throws {
        let directory = try temporaryDirectory()
        let pidFile = directory + "/receiver.pid"
        // A shell plays the benchmark: it starts the receiver as its child with its own pid, as
        // `ReceiverProcess` does (that it passes the right pid is not checked here), and is then
        // killed.
        let parent = Process()
        parent.executableURL = URL(fileURLWithPath: "/bin/sh")
        parent.arguments = [
            "-c", #""$0" bench receiver --parent-pid $$ > /dev/null & echo $! > "$1"; wait"#, bespokeBinary.path, pidFile,
        ]
        try parent.run()
        defer { if parent.isRunning { kill(parent.processIdentifier, SIGKILL) } }
        var receiver: Int32?
        let deadline = ContinuousClock.now + .seconds(10)
        while receiver == nil, ContinuousClock.now < deadline {
            receiver = (try? String(contentsOfFile: pidFile, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            try await Task.sleep(for: .milliseconds(50))
        }
        let pid = try #require(receiver)
        // It keeps running while its parent lives.
        try await Task.sleep(for: .seconds(1.5))
        #expect(!Self.hasEnded(pid))

        kill(parent.processIdentifier, SIGKILL)
        let ended = await Self.waitUntilEnded(pid, within: .seconds(10))
        if !ended { kill(pid, SIGKILL) }
        #expect(ended, "the receiver outlived the killed benchmark")
    }
}
