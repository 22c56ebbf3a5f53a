import BespokeCore
import Foundation
public import Hummingbird
import Logging
import Synchronization

/// A stand-in for a shipping company's estimate API, the "external system" of Tenant A's
/// scenario: it answers an estimated delivery date after a realistic delay, and can be put
/// in an outage (`PUT /admin/outage {"down": true}`) to show what happens when it is away.
///
/// `POST /estimates {"zipCode", "country", "units"}` → `{"estimatedDelivery": "2026-12-04", "carrier"}`.
public enum FakeShipper {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        /// How long an estimate takes, before jitter.
        public var latency: Duration
        /// Up to this much is added to each estimate's delay, at random.
        public var jitter: Duration

        public init(host: String = "127.0.0.1", port: Int = 0, latency: Duration = .milliseconds(120), jitter: Duration = .milliseconds(60)) {
            self.host = host
            self.port = port
            self.latency = latency
            self.jitter = jitter
        }
    }

    /// Whether the shipper is in an outage, and how many estimates it gave.
    final class State: Sendable {
        let down = Atomic<Bool>(false)
        let estimates = Atomic<Int>(0)
    }

    struct EstimateRequest: Decodable {
        let zipCode: String
        let country: String
        let units: Int
    }

    struct Estimate: ResponseEncodable {
        let estimatedDelivery: String
        let carrier: String
    }

    struct Outage: Codable, ResponseEncodable {
        let down: Bool
    }

    struct Stats: ResponseEncodable {
        let down: Bool
        let estimates: Int
    }

    /// The shipper's HTTP server.
    public static func buildApplication(
        _ configuration: Configuration, logger: Logger, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let state = State()
        let router = Router()
        router.get("health") { _, _ in HTTPResponse.Status.ok }
        router.post("estimates") { request, context -> Estimate in
            guard !state.down.load(ordering: .relaxed) else { throw HTTPError(.serviceUnavailable, message: "estimates are unavailable") }
            let asked = try await request.decode(as: EstimateRequest.self, context: context)
            guard (1...10_000).contains(asked.units), asked.country.count == 2 else {
                throw HTTPError(.badRequest, message: "units is 1 to 10000 and country a two-letter code")
            }
            let jitter = Int64.random(in: 0...max(configuration.jitter.wholeMilliseconds, 0))
            try await Task.sleep(for: configuration.latency + .milliseconds(jitter))
            state.estimates.add(1, ordering: .relaxed)
            return Estimate(estimatedDelivery: Self.estimate(for: asked, from: Date()), carrier: "Fjord Freight")
        }
        router.put("admin/outage") { request, context -> Outage in
            let outage = try await request.decode(as: Outage.self, context: context)
            state.down.store(outage.down, ordering: .relaxed)
            context.logger.notice("shipper outage", metadata: ["down": "\(outage.down)"])
            return outage
        }
        router.get("admin/stats") { _, _ in
            Stats(down: state.down.load(ordering: .relaxed), estimates: state.estimates.load(ordering: .relaxed))
        }
        return Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "fake-shipper"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
            logger: logger
        )
    }

    /// Working days from `date` by distance: 2 in Norway, 3 in its neighbours, 5 elsewhere,
    /// one more per 10 units; weekends skipped.
    static func estimate(for request: EstimateRequest, from date: Date) -> String {
        var days: Int
        switch request.country.uppercased() {
        case "NO": days = 2
        case "SE", "DK", "FI": days = 3
        default: days = 5
        }
        days += max(request.units, 0) / 10
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var day = date
        while days > 0 {
            day = calendar.date(byAdding: .day, value: 1, to: day)!
            if !calendar.isDateInWeekend(day) { days -= 1 }
        }
        let parts = calendar.dateComponents([.year, .month, .day], from: day)
        return String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!)
    }
}
