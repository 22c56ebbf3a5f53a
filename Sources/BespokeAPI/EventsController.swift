import BespokeBus
import BespokeCore
import Foundation
import Hummingbird

/// `POST /v1/tenants/{tenant}/events`: publish one event (`application/cloudevents+json` or
/// `application/json`) or a batch (`application/cloudevents-batch+json`).
struct EventsController {
    let bus: EventBus
    let limits: HTTPLimits

    struct Receipt: Encodable {
        let id: String
        /// The event's position in the log; absent while the event is in custody.
        let sequence: Int64?
        /// The hold keeping the event in custody (intercepted, or queued behind an intercepted event).
        let holdId: String?
        let storedAt: String
        let duplicate: Bool

        init(_ receipt: PublishReceipt) {
            self.id = receipt.eventID
            self.sequence = receipt.sequence
            self.holdId = receipt.holdID.map(String.init)
            self.storedAt = RFC3339.format(receipt.storedAt)
            self.duplicate = receipt.duplicate
        }
    }

    struct BatchReceipt: Encodable {
        let results: [Receipt]
    }

    func addRoutes(to group: RouterGroup<TenantRequestContext>) {
        group.post("events", use: publish)
    }

    @Sendable func publish(_ request: Request, context: TenantRequestContext) async throws -> Response {
        let contentType = request.headers[.contentType]?.split(separator: ";").first?
            .trimmingCharacters(in: .whitespaces).lowercased() ?? "application/cloudevents+json"
        let eventLimits = bus.configuration.limits
        switch contentType {
        case "application/cloudevents+json", "application/json":
            let body = try await JSONBody.collect(request, limit: eventLimits.maxEventBytes)
            let event = try CloudEvent.decode(body, limits: eventLimits)
            try Self.checkSource(event)
            let receipt = try await bus.publish(event, tenant: context.tenant)
            return try JSONBody.response(Receipt(receipt), status: receipt.duplicate ? .ok : .created)
        case "application/cloudevents-batch+json":
            let body = try await JSONBody.collect(request, limit: limits.maxBodyBytes)
            let events = try CloudEvent.decodeBatch(body, limits: eventLimits)
            for event in events { try Self.checkSource(event) }
            let receipts = try await bus.publish(events, tenant: context.tenant)
            return try JSONBody.response(BatchReceipt(results: receipts.map(Receipt.init)), status: .created)
        default:
            throw BespokeError(
                .unsupportedMediaType,
                "content type must be application/cloudevents+json, application/json or application/cloudevents-batch+json"
            )
        }
    }
}

extension EventsController {
    /// Sources under `/bespoke/` belong to the platform and its product, which publish
    /// in-process: a tenant cannot pass its events off as theirs.
    static let reservedSourcePrefix = "/bespoke/"

    static func checkSource(_ event: CloudEvent) throws(BespokeError) {
        if event.source.hasPrefix(reservedSourcePrefix) {
            throw BespokeError(.invalidAttribute, "source '\(event.source)': sources under \(reservedSourcePrefix) are reserved for the platform")
        }
    }
}

/// Request size limits of the HTTP API.
public struct HTTPLimits: Sendable {
    /// The largest request body accepted (batches); single events are held to the event limit.
    public var maxBodyBytes: Int

    public init(maxBodyBytes: Int = 4 * 1024 * 1024) {
        self.maxBodyBytes = maxBodyBytes
    }
}
