import BespokeAPI
import BespokeServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

/// A platform over a temporary data directory with two tenants, acme and globex.
struct APIFixture {
    let configuration: BespokeConfiguration
    let platform: BespokePlatform
    let acmeKey: String
    let globexKey: String
    var adminToken: String { platform.adminToken }

    static func make(configure: (inout BespokeConfiguration) -> Void = { _ in }) async throws -> APIFixture {
        var configuration = BespokeConfiguration()
        configuration.dataDirectory = FileManager.default.temporaryDirectory
            .appendingPathComponent("bespoke-api-\(UUID().uuidString)").path
        configuration.durability = .normal
        configuration.identity.bcryptCost = 4
        configuration.port = 0
        configuration.adminToken = "test-admin-token-0123456789"
        configure(&configuration)
        var logger = Logger(label: "api-tests")
        logger.logLevel = .critical
        let platform = try await openPlatform(configuration, logger: logger)
        let acme = try await TenantOnboarding.createTenant(id: "acme", name: "Acme", tenants: platform.store, keys: platform.store)
        let globex = try await TenantOnboarding.createTenant(id: "globex", name: nil, tenants: platform.store, keys: platform.store)
        return APIFixture(configuration: configuration, platform: platform, acmeKey: acme.secret, globexKey: globex.secret)
    }

    func test<T: Sendable>(_ framework: TestingSetup = .router, _ body: @Sendable (any TestClientProtocol) async throws -> T) async throws -> T {
        var logger = Logger(label: "api-tests")
        logger.logLevel = .critical
        let app = try await buildApplication(configuration, platform: platform, logger: logger)
        return try await app.test(framework, body)
    }
}

extension TestClientProtocol {
    /// Sends a JSON request with a bearer token.
    func call(
        _ method: HTTPRequest.Method, _ uri: String, token: String?, json: String? = nil,
        contentType: String = "application/json"
    ) async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if let token { headers[.authorization] = "Bearer \(token)" }
        if json != nil { headers[.contentType] = contentType }
        return try await execute(uri: uri, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) })
    }

    /// Pulls from a subscription (`path` ends in `/pull`) until `count` messages came or
    /// `timeout` passed, and returns them in the order they came. One pull answers with what is
    /// ready, which can be fewer than asked for: just after a subscription is created, its
    /// window is still being filled from the store while the first events are committed.
    func pull(_ path: String, token: String, count: Int, timeout: Duration = .seconds(5)) async throws -> [[String: Any]] {
        var messages: [[String: Any]] = []
        let deadline = ContinuousClock.now + timeout
        while messages.count < count, ContinuousClock.now < deadline {
            let response = try await call(.post, path, token: token, json: #"{"max":\#(count - messages.count),"waitMs":500}"#)
            // An error is not "nothing yet": stop, and let the caller's count tell.
            guard response.status == .ok else { break }
            messages += response.json["messages"] as? [[String: Any]] ?? []
        }
        return messages
    }
}

extension TestResponse {
    /// The body, decoded as JSON into a dictionary-like value.
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:]
    }

    /// The stable error code of an error response.
    var errorCode: String? {
        (json["error"] as? [String: Any])?["code"] as? String
    }

    var text: String { String(buffer: body) }
}

func cloudEvent(_ id: String, type: String = "OrderStarted", extra: String = "") -> String {
    #"{"specversion":"1.0","id":"\#(id)","source":"/shop","type":"\#(type)","data":{"n":1}\#(extra)}"#
}
