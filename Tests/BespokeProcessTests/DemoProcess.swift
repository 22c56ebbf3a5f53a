import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Sends `signal` to `pid` (a free function: `DemoProcess` has a method of the same name as `kill`).
func sendSignal(_ pid: Int32, _ signal: Int32) {
    _ = kill(pid, signal)
}

/// A `bespoke demo` child process (platform, shop, tenants and their services) on free
/// loopback ports, driven over real HTTP.
final class DemoProcess: Sendable {
    let process: Process
    let dataDirectory: String
    let baseURL: String
    let keys: [String: String]
    let shipperURL: String
    let shippingURL: String
    let rfidURL: String
    let logPath: String

    private init(
        process: Process, dataDirectory: String, baseURL: String, keys: [String: String], services: [String], logPath: String
    ) {
        self.process = process
        self.dataDirectory = dataDirectory
        self.baseURL = baseURL
        self.keys = keys
        self.shipperURL = services[0]
        self.shippingURL = services[1]
        self.rfidURL = services[2]
        self.logPath = logPath
    }

    /// Starts the demo and waits until the platform and the three services answer.
    static func start(gracePeriod: Double = 0.5) async throws -> DemoProcess {
        let dataDirectory = try temporaryDirectory()
        let logPath = dataDirectory + "/demo-output.log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        let process = Process()
        process.executableURL = bespokeBinary
        process.arguments = ["demo", "--port", "0", "--data-dir", dataDirectory, "--grace-period", "\(gracePeriod)", "--shipper-latency-ms", "80"]
        process.standardOutput = log
        process.standardError = log
        try process.run()
        let deadline = ContinuousClock.now + .seconds(90)
        while ContinuousClock.now < deadline, process.isRunning {
            let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            if let base = Self.match(text, after: "Bespoke demo is running at "), text.contains("Ctrl-C stops everything") {
                let keys = Self.keys(text)
                let services = ["fake shipping company", "acme's shipping service", "globex's RFID scanning station"].compactMap { name in
                    text.split(separator: "\n").first { $0.hasSuffix(name) }.flatMap { Self.match(String($0), after: "  ") }
                }
                guard services.count == 3 else { break }
                let demo = DemoProcess(
                    process: process, dataDirectory: dataDirectory, baseURL: base, keys: keys, services: services, logPath: logPath
                )
                for url in services { try await demo.waitForHealth(url) }
                return demo
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        process.terminate()
        throw ProcessTestError("the demo did not start; output:\n\((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "")")
    }

    /// The first `http://...` word after `prefix`.
    private static func match(_ text: String, after prefix: String) -> String? {
        guard let range = text.range(of: prefix) else { return nil }
        let word = text[range.upperBound...].prefix { !$0.isWhitespace }
        return word.hasPrefix("http://") ? String(word) : nil
    }

    private static func keys(_ text: String) -> [String: String] {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Tenant API keys: ") }) else { return [:] }
        let words = line.dropFirst("Tenant API keys: ".count).split(separator: " ")
        var keys: [String: String] = [:]
        for index in stride(from: 0, to: words.count - 1, by: 2) { keys[String(words[index])] = String(words[index + 1]) }
        return keys
    }

    func waitForHealth(_ url: String, timeout: Duration = .seconds(30)) async throws {
        try await eventually("\(url) answers", timeout: timeout) {
            (try? await HTTPClient.shared.execute(HTTPClientRequest(url: url + "/health"), timeout: .seconds(2)))?.status == .ok
        }
    }

    /// The process id of a supervised service (`shipper`, `shipping`, `rfid`), from its pid file.
    func servicePID(_ name: String) -> Int32? {
        let text = (try? String(contentsOfFile: "\(dataDirectory)/run/\(name).pid", encoding: .utf8)) ?? ""
        return Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Stops the demo with SIGTERM; returns its exit status.
    func stop() async throws -> Int32 {
        sendSignal(process.processIdentifier, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(30)
        while process.isRunning {
            guard ContinuousClock.now < deadline else {
                sendSignal(process.processIdentifier, SIGKILL)
                throw ProcessTestError("the demo did not stop within 30 s")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return process.terminationStatus
    }

    /// SIGKILL, for a test that failed before it could stop the demo (the services stop
    /// themselves once their parent is gone).
    func forceKill() {
        if process.isRunning { sendSignal(process.processIdentifier, SIGKILL) }
    }

    var output: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    // MARK: HTTP

    /// A client that shows redirects rather than following them (a sign-in's cookie comes with one).
    static let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))

    struct Answer: Sendable {
        let status: Int
        let text: String
        let headers: HTTPHeaders
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:] }
    }

    func send(
        _ method: HTTPMethod, _ url: String, headers: [(String, String)] = [], body: String? = nil, contentType: String = "application/json"
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: url.hasPrefix("http") ? url : baseURL + url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "content-type", value: contentType)
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await Self.client.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 4 * 1024 * 1024)
        return Answer(status: Int(response.status.code), text: String(buffer: bytes), headers: response.headers)
    }

    /// A call to `tenant`'s shop API with its key, as `buyer`.
    func shop(_ method: HTTPMethod, _ tenant: String, _ path: String, buyer: String, json: String? = nil) async throws -> Answer {
        try await send(
            method, "/v1/tenants/\(tenant)/shop/\(path)", headers: [("Authorization", "Bearer \(keys[tenant] ?? "")"), ("Bespoke-Buyer", buyer)],
            body: json
        )
    }

    static func checkout(country: String) -> String {
        #"{"address":{"street":"1 Main St","city":"Somewhere","zipCode":"0150","country":"\#(country)"},"cardHolderName":"A Buyer","cardNumber":"4111 1111 1111 1111"}"#
    }

    /// Fills the basket and checks out; returns the answer of the checkout.
    func checkout(_ tenant: String, buyer: String, _ lines: [(String, Int)], country: String = "NO") async throws -> Answer {
        for (product, quantity) in lines {
            let put = try await shop(.PUT, tenant, "basket/items/\(product)", buyer: buyer, json: #"{"quantity":\#(quantity)}"#)
            #expect(put.status == 200, "\(put.text)")
        }
        return try await shop(.POST, tenant, "basket/checkout", buyer: buyer, json: Self.checkout(country: country))
    }

    /// Places an order and returns its id.
    func placeOrder(_ tenant: String, buyer: String, _ lines: [(String, Int)]) async throws -> String {
        let answer = try await checkout(tenant, buyer: buyer, lines)
        #expect(answer.status == 202, "\(answer.text)")
        return try #require(answer.json["orderId"] as? String)
    }

    func orderStatus(_ tenant: String, buyer: String, _ id: String) async throws -> String? {
        try await shop(.GET, tenant, "orders/\(id)", buyer: buyer).json["status"] as? String
    }

    func waitForOrder(_ tenant: String, buyer: String, _ id: String, status: String, timeout: Duration = .seconds(30)) async throws {
        try await eventually("order \(id) of \(tenant) is \(status)", timeout: timeout) {
            try await orderStatus(tenant, buyer: buyer, id) == status
        }
    }

    /// A storefront page as `buyer`, signed in with an operator's single-use link.
    func storefront(_ tenant: String, buyer: String, _ path: String) async throws -> String {
        let link = try await send(
            .POST, "/v1/tenants/\(tenant)/shop/sign-in-links", headers: [("Authorization", "Bearer \(keys[tenant] ?? "")")],
            body: #"{"buyer":"\#(buyer)"}"#
        )
        let signIn = try await send(.GET, try #require(link.json["path"] as? String, "\(link.text)"))
        let cookie = try #require(signIn.headers["set-cookie"].first, "no session cookie: \(signIn.status)").split(separator: ";")[0]
        let page = try await send(.GET, "/shop/\(tenant)/\(path)", headers: [("Cookie", String(cookie))])
        #expect(page.status == 200, "\(page.text)")
        return page.text
    }
}

/// Waits until `condition` holds, checking every 100 ms.
func eventually(
    _ what: String, timeout: Duration = .seconds(10), sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(100))
    }
    Issue.record("timed out waiting until \(what)", sourceLocation: sourceLocation)
    throw ProcessTestError("timed out waiting until \(what)")
}
