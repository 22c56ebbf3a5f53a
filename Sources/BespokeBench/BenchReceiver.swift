import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// The minimal tenant service of the customization benchmark, on loopback:
/// `POST /intercept` answers at once and resumes the held event through the tenant API;
/// `POST /fast` answers `204` and counts.
public final class BenchReceiver: Sendable {
    let platformURL = Mutex("")
    private let tenantKey: String
    private let port = Mutex(0)
    private let fast = Atomic<Int>(0)
    private let task = Mutex<Task<Void, any Error>?>(nil)
    /// Publish instants of events expected at `/intercept`, and how long each took to arrive.
    private let pushes = Mutex<(expected: [String: UInt64], latency: [String: UInt64])>(([:], [:]))
    /// Why the last attempt to resume an event failed, by event id, while it has not succeeded:
    /// the benchmark names it when the event never reaches the product.
    private let failedResumes = Mutex<[String: String]>([:])

    private init(tenantKey: String) {
        self.tenantKey = tenantKey
    }

    /// Serves until cancelled, printing `listening on <port>` first: the receiver as a
    /// process of its own (`bespoke bench receiver`), so that it does not share the platform's
    /// threads.
    public static func serve() async throws {
        let receiver = try await start(tenantKey: "")
        FileHandle.standardOutput.write(Data("listening on \(receiver.port.withLock { $0 })\n".utf8))
        while !Task.isCancelled { try await Task.sleep(for: .seconds(3600)) }
    }

    static func start(tenantKey: String) async throws -> BenchReceiver {
        let receiver = BenchReceiver(tenantKey: tenantKey)
        let router = Router()
        // The trivial upstream of the gateway benchmark.
        router.get("v1/tenants/:tenant/echo/hello") { _, _ -> String in "hello" }
        router.post("fast") { request, _ -> HTTPResponse.Status in
            _ = try await request.body.collect(upTo: 1024 * 1024)
            receiver.fast.add(1, ordering: .relaxed)
            return .noContent
        }
        router.get("count") { _, _ -> String in
            "\(receiver.fast.load(ordering: .relaxed))"
        }
        router.post("intercept") { request, _ -> HTTPResponse.Status in
            let body = try await request.body.collect(upTo: 1024 * 1024)
            guard let event = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
                let id = event["id"] as? String, let ticket = event["bespokehold"] as? String
            else { return .badRequest }
            receiver.pushed(id)
            // Answer the push, then resume: as a tenant's service that decides at once.
            Task { await receiver.resume(ticket, of: id) }
            return .noContent
        }
        var logger = Logger(label: "bench-receiver")
        logger.logLevel = .error
        // Stopped gracefully when `stop()` cancels the task (see ``BenchServer/run(_:)``).
        let (port, task) = try await BenchServer.run { onServerRunning in
            Application(
                router: router,
                configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "bench-receiver"),
                onServerRunning: { await onServerRunning($0.localAddress?.port ?? 0) },
                logger: logger
            )
        }
        receiver.task.withLock { $0 = task }
        receiver.port.withLock { $0 = port }
        return receiver
    }

    func url(_ path: String) -> String { "http://127.0.0.1:\(port.withLock { $0 })/\(path)" }

    var fastCount: Int { fast.load(ordering: .relaxed) }

    func expectPush(_ id: String, at nanos: UInt64) {
        pushes.withLock { $0.expected[id] = nanos }
    }

    private func pushed(_ id: String) {
        let now = monotonicNanos()
        pushes.withLock { state in
            if let start = state.expected.removeValue(forKey: id) { state.latency[id] = now - start }
        }
    }

    func pushLatency(_ id: String) -> UInt64? {
        pushes.withLock { $0.latency.removeValue(forKey: id) }
    }

    /// Resumes a held event as a tenant's service would: again after a refusal that says to
    /// wait (429, honouring `Retry-After`), a server error or a failed connection, for up to ten
    /// attempts; any other answer is final. A 404 or 409 after a first attempt whose answer was
    /// lost means that attempt resumed it.
    private func resume(_ ticket: String, of id: String) async {
        var request = HTTPClientRequest(url: platformURL.withLock { $0 } + "/v1/tenants/bench/holds/\(ticket)/resume")
        request.method = .POST
        request.headers.add(name: "authorization", value: "Bearer \(tenantKey)")
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: "{}"))
        for attempt in 1...10 {
            var wait = Duration.milliseconds(20 * attempt)
            do {
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
                _ = try await response.body.collect(upTo: 64 * 1024)
                let status = Int(response.status.code)
                if (200..<300).contains(status) || (attempt > 1 && (status == 404 || status == 409)) {
                    failedResumes.withLock { _ = $0.removeValue(forKey: id) }
                    return
                }
                failedResumes.withLock { $0[id] = "hold \(ticket) answered \(status)" }
                guard status == 429 || status >= 500 else { return }
                if let seconds = response.headers.first(name: "retry-after").flatMap(Int.init) { wait = .seconds(seconds) }
            } catch {
                failedResumes.withLock { $0[id] = "hold \(ticket): \(error)" }
            }
            if attempt < 10 { try? await Task.sleep(for: wait) }
        }
    }

    /// Why the last attempt to resume `id` failed, if it has not succeeded since.
    func resumeFailure(of id: String) -> String? { failedResumes.withLock { $0[id] } }

    func stop() {
        task.withLock { $0?.cancel() }
    }
}
