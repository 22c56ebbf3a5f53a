import BespokeBus
import BespokeCore
import BespokeStorage
import Foundation
import Hummingbird
import NIOCore

/// Subscriptions of a tenant and pull delivery: create, list, show, delete, pull (long-poll),
/// ack, nack, dead letters and redrive.
struct SubscriptionsController {
    let bus: EventBus
    let limits: HTTPLimits

    struct CreateRequest: Decodable {
        let name: String
        let types: [String]?
        let maxAttempts: Int?
        let initialBackoffMs: Int64?
        let maxBackoffMs: Int64?
        let ackTimeoutMs: Int64?
    }

    struct SubscriptionBody: Encodable {
        let name: String
        let types: [String]
        let maxAttempts: Int
        let initialBackoffMs: Int64
        let maxBackoffMs: Int64
        let ackTimeoutMs: Int64
        let createdAt: String

        init(_ subscription: Subscription) {
            self.name = subscription.name
            self.types = subscription.filter.patterns
            self.maxAttempts = subscription.policy.maxAttempts
            self.initialBackoffMs = subscription.policy.initialBackoff.wholeMilliseconds
            self.maxBackoffMs = subscription.policy.maxBackoff.wholeMilliseconds
            self.ackTimeoutMs = subscription.policy.ackTimeout.wholeMilliseconds
            self.createdAt = RFC3339.format(subscription.createdAt)
        }
    }

    struct SubscriptionList: Encodable {
        let subscriptions: [SubscriptionBody]
    }

    struct PullRequest: Decodable {
        let max: Int?
        let waitMs: Int64?
    }

    struct AckRequest: Decodable {
        let deliveryIds: [String]
    }

    struct AckResult: Encodable {
        let acked: Int
        let notFound: [String]
    }

    struct NackRequest: Decodable {
        let reason: String?
        let retryAfterMs: Int64?
        /// The consumer gives up: a dead letter now, whatever attempts the policy has left.
        let deadLetter: Bool?
    }

    struct DeadLetterBody: Encodable {
        let id: String
        let eventId: String
        let type: String
        let attempts: Int
        let reason: String
        let failedAt: String
        let event: JSONValue
    }

    struct DeadLetterPage: Encodable {
        let deadLetters: [DeadLetterBody]
        let next: String?
    }

    struct RedriveRequest: Decodable {
        let ids: [String]?
        let all: Bool?
    }

    struct RedriveResult: Encodable {
        let redriven: Int
        let notFound: [String]
    }

    func addRoutes(to group: RouterGroup<TenantRequestContext>) {
        group.get("subscriptions", use: list)
        group.post("subscriptions", use: create)
        group.get("subscriptions/:name", use: show)
        group.delete("subscriptions/:name", use: delete)
        group.post("subscriptions/:name/pull", use: pull)
        group.post("subscriptions/:name/ack", use: ackMany)
        group.post("subscriptions/:name/deliveries/:delivery/ack", use: ackOne)
        group.post("subscriptions/:name/deliveries/:delivery/nack", use: nackOne)
        group.get("subscriptions/:name/dead-letters", use: deadLetters)
        group.post("subscriptions/:name/dead-letters/redrive", use: redrive)
    }

    @Sendable func list(_ request: Request, context: TenantRequestContext) async throws -> Response {
        try JSONBody.response(SubscriptionList(subscriptions: bus.subscriptions(tenant: context.tenant).map(SubscriptionBody.init)))
    }

    @Sendable func create(_ request: Request, context: TenantRequestContext) async throws -> Response {
        let body = try await JSONBody.decode(CreateRequest.self, from: request, limit: 64 * 1024)
        let defaults = bus.configuration.defaultPolicy
        let policy = DeliveryPolicy(
            maxAttempts: body.maxAttempts ?? defaults.maxAttempts,
            initialBackoff: body.initialBackoffMs.map(Duration.milliseconds) ?? defaults.initialBackoff,
            maxBackoff: body.maxBackoffMs.map(Duration.milliseconds) ?? Swift.max(defaults.maxBackoff, body.initialBackoffMs.map(Duration.milliseconds) ?? .zero),
            ackTimeout: body.ackTimeoutMs.map(Duration.milliseconds) ?? defaults.ackTimeout
        )
        let subscription = try await bus.createSubscription(tenant: context.tenant, name: body.name, types: body.types ?? [], policy: policy)
        return try JSONBody.response(SubscriptionBody(subscription), status: .created)
    }

    @Sendable func show(_ request: Request, context: TenantRequestContext) async throws -> Response {
        try JSONBody.response(SubscriptionBody(bus.subscription(tenant: context.tenant, name: name(context))))
    }

    @Sendable func delete(_ request: Request, context: TenantRequestContext) async throws -> Response {
        try await bus.deleteSubscription(tenant: context.tenant, name: name(context))
        return Response(status: .noContent)
    }

    /// Leases messages. The body is assembled around the stored envelopes, which are sent as
    /// stored, without decoding and re-encoding them.
    @Sendable func pull(_ request: Request, context: TenantRequestContext) async throws -> Response {
        let body = try await JSONBody.decode(PullRequest.self, from: request, limit: 4096)
        if let max = body.max, max < 1 { throw BespokeError(.invalidRequest, "'max' must be at least 1") }
        if let wait = body.waitMs, wait < 0 { throw BespokeError(.invalidRequest, "'waitMs' must not be negative") }
        let deliveries = try await bus.receive(
            tenant: context.tenant, subscription: name(context), max: body.max ?? 10, wait: .milliseconds(body.waitMs ?? 0)
        )
        var buffer = ByteBuffer()
        buffer.writeString("{\"messages\":[")
        for (index, delivery) in deliveries.enumerated() {
            if index > 0 { buffer.writeString(",") }
            buffer.writeString("{\"deliveryId\":\"\(delivery.receipt)\",\"attempt\":\(delivery.attempts + 1),\"event\":")
            buffer.writeBytes(delivery.envelope)
            buffer.writeString("}")
        }
        buffer.writeString("]}")
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
    }

    @Sendable func ackMany(_ request: Request, context: TenantRequestContext) async throws -> Response {
        let body = try await JSONBody.decode(AckRequest.self, from: request, limit: 256 * 1024)
        guard body.deliveryIds.count <= 1000 else { throw BespokeError(.invalidRequest, "at most 1000 ids per ack") }
        var receipts: [DeliveryReceipt] = []
        var malformed: [String] = []
        for raw in body.deliveryIds {
            if let receipt = DeliveryReceipt(raw) { receipts.append(receipt) } else { malformed.append(raw) }
        }
        let missing = try await bus.ack(tenant: context.tenant, subscription: name(context), receipts)
        return try JSONBody.response(AckResult(acked: receipts.count - missing.count, notFound: malformed + missing.map(\.description)))
    }

    @Sendable func ackOne(_ request: Request, context: TenantRequestContext) async throws -> Response {
        let missing = try await bus.ack(tenant: context.tenant, subscription: name(context), [receipt(context)])
        guard missing.isEmpty else { throw BespokeError.notFound("delivery") }
        return Response(status: .noContent)
    }

    @Sendable func nackOne(_ request: Request, context: TenantRequestContext) async throws -> Response {
        let body = try await JSONBody.decode(NackRequest.self, from: request, limit: 16 * 1024)
        if let retry = body.retryAfterMs, retry < 0 { throw BespokeError(.invalidRequest, "'retryAfterMs' must not be negative") }
        let deadLetter = body.deadLetter ?? false
        if deadLetter, body.retryAfterMs != nil {
            throw BespokeError(.invalidRequest, "'retryAfterMs' has no meaning with 'deadLetter': a dead letter is not retried")
        }
        try await bus.nack(
            tenant: context.tenant, subscription: name(context), receipt(context),
            reason: body.reason ?? "nacked by consumer", retryAfter: body.retryAfterMs.map(Duration.milliseconds), lastAttempt: deadLetter
        )
        return Response(status: .noContent)
    }

    @Sendable func deadLetters(_ request: Request, context: TenantRequestContext) async throws -> Response {
        let limit = try request.pageLimit()
        let after = try request.uri.queryParameters.get("after").map { raw in
            guard let value = Int64(raw) else { throw BespokeError(.invalidRequest, "'after' must be a dead letter id") }
            return DeadLetterID(value)
        }
        let page = try await bus.deadLetters(tenant: context.tenant, subscription: name(context), after: after, limit: limit)
        let bodies = page.map { letter in
            DeadLetterBody(
                id: letter.id.description, eventId: letter.eventID, type: letter.type, attempts: letter.attempts,
                reason: letter.reason, failedAt: RFC3339.format(letter.failedAt),
                event: (try? JSONDecoder().decode(JSONValue.self, from: letter.envelope)) ?? .null
            )
        }
        return try JSONBody.response(DeadLetterPage(deadLetters: bodies, next: page.count == limit ? page.last?.id.description : nil))
    }

    @Sendable func redrive(_ request: Request, context: TenantRequestContext) async throws -> Response {
        let body = try await JSONBody.decode(RedriveRequest.self, from: request, limit: 256 * 1024)
        let name = try name(context)
        if body.all == true {
            let count = try await bus.redriveAll(tenant: context.tenant, subscription: name)
            return try JSONBody.response(RedriveResult(redriven: count, notFound: []))
        }
        guard let raw = body.ids, !raw.isEmpty, raw.count <= 1000 else {
            throw BespokeError(.invalidRequest, "give 'ids' (1 to 1000 dead letter ids) or 'all': true")
        }
        var ids: [DeadLetterID] = []
        var malformed: [String] = []
        for value in raw {
            if let id = Int64(value) { ids.append(DeadLetterID(id)) } else { malformed.append(value) }
        }
        let missing = try await bus.redrive(tenant: context.tenant, subscription: name, ids)
        return try JSONBody.response(RedriveResult(redriven: ids.count - missing.count, notFound: malformed + missing.map(\.description)))
    }

    private func name(_ context: TenantRequestContext) throws -> String {
        try context.parameters.require("name")
    }

    private func receipt(_ context: TenantRequestContext) throws -> DeliveryReceipt {
        guard let receipt = DeliveryReceipt(try context.parameters.require("delivery")) else { throw BespokeError.notFound("delivery") }
        return receipt
    }
}
