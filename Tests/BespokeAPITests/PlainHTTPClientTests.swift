@testable import BespokeCustomization
import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing

@Suite("Webhook push client (plain HTTP)")
struct PlainHTTPClientTests {
    /// The endpoint the tests push to, scripted by path.
    private static func endpoint() async throws -> ScriptedHTTPServer {
        try await ScriptedHTTPServer.start { path, reply in
            switch path {
            case "/ok": reply.send("HTTP/1.1 204 No Content\r\n\r\n")
            case "/ok-then-close":
                // Keep-alive by its headers, then closed at once: a kept connection that is
                // gone by the time the next push takes it (or while it is written).
                reply.sendThenClose("HTTP/1.1 204 No Content\r\n\r\n")
            case "/busy": reply.send("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 4\r\n\r\nbusy")
            case "/much-later": reply.send("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 99999999\r\nContent-Length: 0\r\n\r\n")
            case "/close": reply.send("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
            case "/big": reply.send("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + String(repeating: "x", count: 100_000))
            case "/hooks/a%20b/?x=1%2F2": reply.send("HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
            case "/switch": reply.send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: nothing\r\nConnection: upgrade\r\n\r\n")
            case "/slow": break
            case "/drop": reply.close()
            case "/cut": reply.sendThenClose("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
            default: reply.send("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            }
        }
    }

    private let body = ByteBuffer(string: #"{"specversion":"1.0","id":"1","source":"/t","type":"T"}"#)
    private let headers = [("content-type", "application/cloudevents+json"), ("webhook-id", "msg-1")]

    @Test func pushesReuseOneConnectionAndReadTheAnswer() async throws {
        let endpoint = try await Self.endpoint()
        defer { endpoint.channel.close(promise: nil) }
        let client = PlainHTTPClient(connectTimeout: .seconds(2))
        defer { client.shutdown() }
        for _ in 0..<5 {
            let answer = try await client.post(endpoint.url("/ok"), headers: headers, body: body, timeout: .seconds(2))
            #expect(answer.status == 204)
            #expect(answer.retryAfter == nil)
        }
        let busy = try await client.post(endpoint.url("/busy"), headers: headers, body: body, timeout: .seconds(2))
        #expect(busy.status == 503)
        #expect(busy.retryAfter == .seconds(7))
        // An endpoint cannot park its own deliveries for years.
        let muchLater = try await client.post(endpoint.url("/much-later"), headers: headers, body: body, timeout: .seconds(2))
        #expect(muchLater.retryAfter == PlainHTTPClient.maxRetryAfter)
        #expect(client.connectionsOpened.load(ordering: .relaxed) == 1)
        #expect(endpoint.accepted.count.load(ordering: .relaxed) == 1)
        // The path and query go as written: percent-encoded, with the trailing slash.
        #expect(try await client.post(endpoint.url("/hooks/a%20b/?x=1%2F2"), headers: headers, body: body, timeout: .seconds(2)).status == 202)

        // An answer that closes the connection is honoured: the next push opens a new one.
        #expect(try await client.post(endpoint.url("/close"), headers: headers, body: body, timeout: .seconds(2)).status == 200)
        #expect(try await client.post(endpoint.url("/ok"), headers: headers, body: body, timeout: .seconds(2)).status == 204)
        #expect(client.connectionsOpened.load(ordering: .relaxed) == 2)
    }

    @Test func anEndpointThatNeverAnswersTimesOutAndLeavesThePoolClean() async throws {
        let endpoint = try await Self.endpoint()
        defer { endpoint.channel.close(promise: nil) }
        let client = PlainHTTPClient(connectTimeout: .seconds(2))
        defer { client.shutdown() }
        let start = ContinuousClock.now
        await #expect(throws: PlainHTTPClient.Failure.timedOut) {
            try await client.post(endpoint.url("/slow"), headers: headers, body: body, timeout: .milliseconds(200))
        }
        #expect(ContinuousClock.now - start < .seconds(2))
        // The timed-out connection is not lent again (its answer could still come).
        #expect(try await client.post(endpoint.url("/ok"), headers: headers, body: body, timeout: .seconds(2)).status == 204)
        #expect(client.connectionsOpened.load(ordering: .relaxed) == 2)
    }

    @Test func aKeptConnectionTimesEachPushOutAtItsOwnDeadline() async throws {
        let endpoint = try await Self.endpoint()
        defer { endpoint.channel.close(promise: nil) }
        let client = PlainHTTPClient(connectTimeout: .seconds(2))
        defer { client.shutdown() }
        // A push with a long timeout leaves its deadline check pending on the kept connection;
        // the next push's shorter deadline still counts.
        #expect(try await client.post(endpoint.url("/ok"), headers: headers, body: body, timeout: .seconds(10)).status == 204)
        var start = ContinuousClock.now
        await #expect(throws: PlainHTTPClient.Failure.timedOut) {
            try await client.post(endpoint.url("/slow"), headers: headers, body: body, timeout: .milliseconds(200))
        }
        #expect(ContinuousClock.now - start >= .milliseconds(200))
        #expect(ContinuousClock.now - start < .seconds(2))
        // A check pending from an earlier push that comes before this push's deadline waits
        // for it: the push gets its whole timeout, no less.
        #expect(try await client.post(endpoint.url("/ok"), headers: headers, body: body, timeout: .milliseconds(300)).status == 204)
        try await Task.sleep(for: .milliseconds(150))
        start = ContinuousClock.now
        await #expect(throws: PlainHTTPClient.Failure.timedOut) {
            try await client.post(endpoint.url("/slow"), headers: headers, body: body, timeout: .milliseconds(400))
        }
        #expect(ContinuousClock.now - start >= .milliseconds(400))
        #expect(ContinuousClock.now - start < .seconds(2))
        // One connection for the first two pushes, another after the first timed out.
        #expect(client.connectionsOpened.load(ordering: .relaxed) == 2)
    }

    @Test func closedConnectionsAndOversizedAnswersAreFailures() async throws {
        let endpoint = try await Self.endpoint()
        defer { endpoint.channel.close(promise: nil) }
        let client = PlainHTTPClient(connectTimeout: .seconds(2), maxResponseBytes: 64 * 1024)
        defer { client.shutdown() }
        #expect(try await client.post(endpoint.url("/ok"), headers: headers, body: body, timeout: .seconds(2)).status == 204)
        // Closed with no answer on a kept connection (which the endpoint may have closed while
        // it was idle): made once more on a new connection, which is closed too.
        await #expect(throws: PlainHTTPClient.Failure.closed(responseStarted: false)) {
            try await client.post(endpoint.url("/drop"), headers: headers, body: body, timeout: .seconds(2))
        }
        #expect(client.connectionsOpened.load(ordering: .relaxed) == 2)
        // Closed mid-answer on a kept connection: not made again (the endpoint may have acted on it).
        #expect(try await client.post(endpoint.url("/ok"), headers: headers, body: body, timeout: .seconds(2)).status == 204)
        #expect(client.connectionsOpened.load(ordering: .relaxed) == 3)
        await #expect(throws: PlainHTTPClient.Failure.closed(responseStarted: true)) {
            try await client.post(endpoint.url("/cut"), headers: headers, body: body, timeout: .seconds(2))
        }
        #expect(client.connectionsOpened.load(ordering: .relaxed) == 3)
        await #expect(throws: PlainHTTPClient.Failure.responseTooLarge) {
            try await client.post(endpoint.url("/big"), headers: headers, body: body, timeout: .seconds(2))
        }
        // And it goes on.
        #expect(try await client.post(endpoint.url("/ok"), headers: headers, body: body, timeout: .seconds(2)).status == 204)
    }

    /// Each answer comes with keep-alive and the connection is then closed: whether the next
    /// push finds it closed in the pool, while writing, or after writing, it is made on a new
    /// connection and never hangs.
    @Test func connectionsClosedRightAfterAnsweringNeverHangAPush() async throws {
        let endpoint = try await Self.endpoint()
        defer { endpoint.channel.close(promise: nil) }
        let client = PlainHTTPClient(connectTimeout: .seconds(2))
        defer { client.shutdown() }
        let (url, headers, body) = (endpoint.url("/ok-then-close"), headers, body)
        let answered = try await withThrowingTaskGroup(of: Int?.self) { group in
            group.addTask {
                var answered = 0
                for _ in 0..<500 {
                    // No timeout of its own would fire for a push whose request never reached the handler.
                    let answer = try await client.post(url, headers: headers, body: body, timeout: .seconds(60))
                    if answer.status == 204 { answered += 1 }
                }
                return answered
            }
            group.addTask {
                try await Task.sleep(for: .seconds(30))
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first
        }
        #expect(answered == 500, "a push hung (or failed)")
    }

    /// A cancelled call (the platform stopping, a page's request gone) ends at once, and a
    /// 101 nobody asked for fails the call instead of leaving it to its deadline.
    @Test func aCancelledCallEndsAtOnceAndASwitchOfProtocolFails() async throws {
        let endpoint = try await Self.endpoint()
        defer { endpoint.channel.close(promise: nil) }
        let client = PlainHTTPClient(connectTimeout: .seconds(2))
        defer { client.shutdown() }
        let (url, headers, body) = (endpoint.url("/slow"), headers, body)
        let call = Task { try await client.post(url, headers: headers, body: body, timeout: .seconds(20)) }
        try await Task.sleep(for: .milliseconds(200))
        let cancelled = ContinuousClock.now
        call.cancel()
        await #expect(throws: CancellationError.self) { try await call.value }
        #expect(ContinuousClock.now - cancelled < .seconds(5))

        let start = ContinuousClock.now
        await #expect(throws: PlainHTTPClient.Failure.closed(responseStarted: true)) {
            try await client.post(endpoint.url("/switch"), headers: headers, body: body, timeout: .seconds(20))
        }
        #expect(ContinuousClock.now - start < .seconds(5))
        // Neither connection is kept.
        #expect(try await client.post(endpoint.url("/ok"), headers: headers, body: body, timeout: .seconds(2)).status == 204)
        #expect(client.connectionsOpened.load(ordering: .relaxed) == 3)
    }

    @Test func anEndpointNobodyListensOnCannotBeReached() async throws {
        let endpoint = try await Self.endpoint()
        let url = endpoint.url("/ok")
        try await endpoint.channel.close()
        let client = PlainHTTPClient(connectTimeout: .seconds(2))
        defer { client.shutdown() }
        do {
            _ = try await client.post(url, headers: headers, body: body, timeout: .seconds(2))
            Issue.record("a push to a closed port succeeded")
        } catch let failure as PlainHTTPClient.Failure {
            guard case .connectFailed = failure else {
                Issue.record("expected a connect failure, got \(failure)")
                return
            }
            #expect(failure.description.hasPrefix("could not connect"))
        }
    }

    @Test func idleConnectionsAreClosedAfterTheirTimeout() async throws {
        let endpoint = try await Self.endpoint()
        defer { endpoint.channel.close(promise: nil) }
        let client = PlainHTTPClient(connectTimeout: .seconds(2), idleTimeout: .seconds(1))
        defer { client.shutdown() }
        #expect(try await client.post(endpoint.url("/ok"), headers: headers, body: body, timeout: .seconds(2)).status == 204)
        client.closeIdle()
        #expect(try await client.post(endpoint.url("/ok"), headers: headers, body: body, timeout: .seconds(2)).status == 204)
        #expect(client.connectionsOpened.load(ordering: .relaxed) == 1, "a fresh idle connection is kept")
        try await Task.sleep(for: .milliseconds(1200))
        client.closeIdle()
        #expect(try await client.post(endpoint.url("/ok"), headers: headers, body: body, timeout: .seconds(2)).status == 204)
        #expect(client.connectionsOpened.load(ordering: .relaxed) == 2, "a stale idle connection was closed")
    }
}
