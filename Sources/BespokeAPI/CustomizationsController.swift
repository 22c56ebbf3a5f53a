import BespokeCore
import BespokeCustomization
import BespokeStorage
import Foundation
import Hummingbird

/// A tenant's customizations: register its services to observe or intercept the product's
/// event types, change or delete them, rotate signing secrets, read the push attempt log.
struct CustomizationsController {
    let manager: TenantManager

    struct CreateRequest: Decodable {
        let eventType: String
        let mode: CustomizationMode
        let url: String
        let order: Int?
        let timeoutMs: Int64?
        let holdDeadlineMs: Int64?
        let onDeadline: HoldOutcome?
        let enabled: Bool?
        let filter: JSONValue?
        let rateLimit: Double?
        let maxAttempts: Int?
    }

    struct UpdateRequest: Decodable {
        let url: String?
        let order: Int?
        let timeoutMs: Int64?
        let holdDeadlineMs: Int64?
        let onDeadline: HoldOutcome?
        let enabled: Bool?
        /// Absent: unchanged; `null`: removed (every event of the type).
        let filter: JSONValue?
        /// Absent: unchanged; `null`: removed (no limit).
        let rateLimit: JSONValue?
        /// Absent: unchanged; `null`: removed (the platform's retry schedule).
        let maxAttempts: JSONValue?

        private enum CodingKeys: String, CodingKey {
            case url, order, timeoutMs, holdDeadlineMs, onDeadline, enabled, filter, rateLimit, maxAttempts
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            url = try container.decodeIfPresent(String.self, forKey: .url)
            order = try container.decodeIfPresent(Int.self, forKey: .order)
            timeoutMs = try container.decodeIfPresent(Int64.self, forKey: .timeoutMs)
            holdDeadlineMs = try container.decodeIfPresent(Int64.self, forKey: .holdDeadlineMs)
            onDeadline = try container.decodeIfPresent(HoldOutcome.self, forKey: .onDeadline)
            enabled = try container.decodeIfPresent(Bool.self, forKey: .enabled)
            // Decoded as it is, so that `null` (remove) differs from absent (keep).
            filter = container.contains(.filter) ? try container.decode(JSONValue.self, forKey: .filter) : nil
            rateLimit = container.contains(.rateLimit) ? try container.decode(JSONValue.self, forKey: .rateLimit) : nil
            maxAttempts = container.contains(.maxAttempts) ? try container.decode(JSONValue.self, forKey: .maxAttempts) : nil
        }
    }

    /// The change a request's member asks for: absent keeps the setting, `null` removes it, and
    /// anything else is read by `read` (which throws a clear error for a wrong value).
    static func change<Value: Sendable & Equatable>(
        _ json: JSONValue?, _ read: (JSONValue) throws -> Value
    ) throws -> TenantManager.Changes.Change<Value>? {
        switch json {
        case nil: nil
        case .null?: .remove
        case let json?: .set(try read(json))
        }
    }

    static func filter(_ json: JSONValue) throws -> EventFilter { try EventFilter(json: json) }

    static func rateLimit(_ json: JSONValue) throws -> Double {
        guard case .number(let rate) = json else { throw BespokeError(.invalidRequest, "rateLimit must be a number of pushes a second, or null") }
        return rate
    }

    static func maxAttempts(_ json: JSONValue) throws -> Int {
        guard case .number(let number) = json, number.rounded() == number, abs(number) < 1e9 else {
            throw BespokeError(.invalidRequest, "maxAttempts must be a whole number, or null")
        }
        return Int(number)
    }

    struct CustomizationBody: Encodable {
        let id: String
        let eventType: String
        let mode: String
        let url: String
        let order: Int
        let timeoutMs: Int64
        let holdDeadlineMs: Int64
        let onDeadline: String
        let enabled: Bool
        let disabledReason: String?
        /// Since when every push has failed; absent while pushes succeed.
        let failingSince: String?
        let createdAt: String
        /// Shown only when created or rotated.
        let secret: String?
        /// Which events of its type it takes; absent for all.
        let filter: JSONValue?
        /// Pushes a second at most; absent for no limit.
        let rateLimit: Double?
        /// Pushes of one event at most; absent for the platform's retry schedule.
        let maxAttempts: Int?

        init(_ customization: Customization, secret: String? = nil) {
            self.id = customization.id
            self.eventType = customization.eventType
            self.mode = customization.mode.rawValue
            self.url = customization.url
            self.order = customization.order
            self.timeoutMs = customization.timeout.wholeMilliseconds
            self.holdDeadlineMs = customization.holdDeadline.wholeMilliseconds
            self.onDeadline = customization.onDeadline.rawValue
            self.enabled = customization.enabled
            self.disabledReason = customization.disabledReason
            self.failingSince = customization.failingSince.map(RFC3339.format)
            self.createdAt = RFC3339.format(customization.createdAt)
            self.secret = secret
            self.filter = customization.filter?.json
            self.rateLimit = customization.rateLimit
            self.maxAttempts = customization.maxAttempts
        }
    }

    struct CustomizationList: Encodable {
        let customizations: [CustomizationBody]
    }

    struct AttemptBody: Encodable {
        let id: String
        let messageId: String
        let eventId: String
        let attemptedAt: String
        let status: Int?
        let latencyMs: Double
        let error: String?
    }

    struct AttemptList: Encodable {
        let attempts: [AttemptBody]
        /// The `before` of the next page; absent when no older attempt can match.
        let next: String?
    }

    struct RecoverRequest: Decodable {
        let since: String
    }

    struct RecoverResult: Encodable {
        let recovered: Int
    }

    struct ReplayRequest: Decodable {
        let messageId: String
    }

    func addRoutes(to group: RouterGroup<TenantRequestContext>) {
        group.get("customizations", use: list)
        group.post("customizations", use: create)
        group.get("customizations/:id", use: show)
        group.patch("customizations/:id", use: update)
        group.delete("customizations/:id", use: delete)
        group.post("customizations/:id/rotate-secret", use: rotateSecret)
        group.get("customizations/:id/attempts", use: attempts)
        group.post("customizations/:id/recover", use: recover)
        group.post("customizations/:id/replay", use: replay)
    }

    @Sendable func list(_ request: Request, context: TenantRequestContext) async throws -> Response {
        try JSONBody.response(CustomizationList(customizations: manager.customizations(tenant: context.tenant).map { CustomizationBody($0) }))
    }

    @Sendable func create(_ request: Request, context: TenantRequestContext) async throws -> Response {
        let body = try await JSONBody.decode(CreateRequest.self, from: request, limit: 16 * 1024)
        let (customization, secret) = try await manager.register(
            tenant: context.tenant, eventType: body.eventType, mode: body.mode, url: body.url,
            TenantManager.Changes(
                order: body.order, timeout: body.timeoutMs.map(Duration.milliseconds),
                holdDeadline: body.holdDeadlineMs.map(Duration.milliseconds), onDeadline: body.onDeadline, enabled: body.enabled,
                filter: try Self.change(body.filter, Self.filter), rateLimit: body.rateLimit.map { .set($0) },
                maxAttempts: body.maxAttempts.map { .set($0) }
            )
        )
        return try JSONBody.response(CustomizationBody(customization, secret: secret), status: .created)
    }

    @Sendable func show(_ request: Request, context: TenantRequestContext) async throws -> Response {
        try JSONBody.response(CustomizationBody(try manager.customization(tenant: context.tenant, id: try context.parameters.require("id"))))
    }

    @Sendable func update(_ request: Request, context: TenantRequestContext) async throws -> Response {
        let body = try await JSONBody.decode(UpdateRequest.self, from: request, limit: 16 * 1024)
        let customization = try await manager.update(
            tenant: context.tenant, id: try context.parameters.require("id"),
            TenantManager.Changes(
                url: body.url, order: body.order, timeout: body.timeoutMs.map(Duration.milliseconds),
                holdDeadline: body.holdDeadlineMs.map(Duration.milliseconds), onDeadline: body.onDeadline, enabled: body.enabled,
                filter: try Self.change(body.filter, Self.filter), rateLimit: try Self.change(body.rateLimit, Self.rateLimit),
                maxAttempts: try Self.change(body.maxAttempts, Self.maxAttempts)
            )
        )
        return try JSONBody.response(CustomizationBody(customization))
    }

    @Sendable func delete(_ request: Request, context: TenantRequestContext) async throws -> Response {
        try await manager.delete(tenant: context.tenant, id: try context.parameters.require("id"))
        return Response(status: .noContent)
    }

    @Sendable func rotateSecret(_ request: Request, context: TenantRequestContext) async throws -> Response {
        let (customization, secret) = try await manager.rotateSecret(tenant: context.tenant, id: try context.parameters.require("id"))
        return try JSONBody.response(CustomizationBody(customization, secret: secret))
    }

    @Sendable func attempts(_ request: Request, context: TenantRequestContext) async throws -> Response {
        let page = try await manager.attempts(tenant: context.tenant, id: try context.parameters.require("id"), matching: try Self.attemptQuery(request))
        return try JSONBody.response(
            AttemptList(
                attempts: page.attempts.map {
                    AttemptBody(
                        id: $0.id.map(String.init) ?? "", messageId: $0.messageID, eventId: $0.eventID, attemptedAt: RFC3339.format($0.attemptedAt),
                        status: $0.status, latencyMs: $0.latency.seconds * 1000, error: $0.error
                    )
                },
                next: page.next.map(String.init)
            )
        )
    }

    /// The attempt log's filters and page, from the query string.
    static func attemptQuery(_ request: Request) throws -> AttemptQuery {
        let parameters = request.uri.queryParameters
        var query = AttemptQuery(limit: try request.pageLimit())
        if let raw = parameters.get("outcome") {
            guard let outcome = AttemptQuery.Outcome(rawValue: raw) else {
                throw BespokeError(.invalidRequest, "'outcome' must be succeeded or failed")
            }
            query.outcome = outcome
        }
        if let raw = parameters.get("since") {
            guard let since = RFC3339.parse(raw) else { throw BespokeError(.invalidRequest, "'since' must be an RFC 3339 timestamp") }
            query.since = since
        }
        if let raw = parameters.get("before") {
            guard let before = Int64(raw), before > 0 else { throw BespokeError(.invalidRequest, "'before' must be the 'next' of a page") }
            query.before = before
        }
        query.eventID = try parameters.get("eventId").map { try Self.nonEmpty($0, "eventId") }
        query.messageID = try parameters.get("messageId").map { try Self.nonEmpty($0, "messageId") }
        return query
    }

    private static func nonEmpty(_ value: String, _ name: String) throws -> String {
        guard !value.isEmpty, value.utf8.count <= 256 else { throw BespokeError(.invalidRequest, "'\(name)' must be 1-256 bytes") }
        return value
    }

    @Sendable func recover(_ request: Request, context: TenantRequestContext) async throws -> Response {
        let body = try await JSONBody.decode(RecoverRequest.self, from: request, limit: 4 * 1024)
        guard let since = RFC3339.parse(body.since) else {
            throw BespokeError(.invalidRequest, "since must be an RFC 3339 timestamp")
        }
        let count = try await manager.recover(tenant: context.tenant, id: try context.parameters.require("id"), since: since)
        return try JSONBody.response(RecoverResult(recovered: count), status: .accepted)
    }

    @Sendable func replay(_ request: Request, context: TenantRequestContext) async throws -> Response {
        let body = try await JSONBody.decode(ReplayRequest.self, from: request, limit: 4 * 1024)
        try await manager.replay(tenant: context.tenant, id: try context.parameters.require("id"), messageID: body.messageId)
        return Response(status: .accepted)
    }
}
