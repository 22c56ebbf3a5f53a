import BespokeBus
import BespokeCore
import BespokeStorage
import Foundation
import Hummingbird

/// A tenant's events in custody: list and show them, resume (optionally with allowed changes)
/// or cancel them. Another tenant's holds are not found.
struct HoldsController {
    let bus: EventBus

    struct ResumeRequest: Decodable {
        /// New values of members of the event's `data`, as the catalog allows.
        let data: [String: JSONValue]?
    }

    struct CancelRequest: Decodable {
        let reason: String?
    }

    struct HoldBody: Encodable {
        let id: String
        let ticket: String?
        let state: String
        let eventId: String
        let type: String
        let partitionKey: String?
        let customizationId: String?
        let deadline: String?
        let passed: [String]
        let pushedAt: String?
        let reason: String?
        let createdAt: String
        let event: JSONValue

        init(_ hold: Hold) {
            self.id = String(hold.id)
            self.ticket = hold.state == .held ? hold.ticket.description : nil
            self.state = hold.state.rawValue
            self.eventId = hold.eventID
            self.type = hold.type
            self.partitionKey = hold.partitionKey
            self.customizationId = hold.stage?.customization
            self.deadline = hold.state == .held ? hold.stage.map { RFC3339.format($0.deadline) } : nil
            self.passed = hold.passed
            self.pushedAt = hold.pushedAt.map(RFC3339.format)
            self.reason = hold.reason
            self.createdAt = RFC3339.format(hold.createdAt)
            self.event = (try? JSONDecoder().decode(JSONValue.self, from: hold.envelope)) ?? .null
        }
    }

    struct HoldList: Encodable {
        let holds: [HoldBody]
    }

    func addRoutes(to group: RouterGroup<TenantRequestContext>) {
        group.get("holds", use: list)
        group.get("holds/:id", use: show)
        group.post("holds/:id/resume", use: resume)
        group.post("holds/:id/cancel", use: cancel)
    }

    @Sendable func list(_ request: Request, context: TenantRequestContext) async throws -> Response {
        var states: [HoldState] = [.held, .waiting]
        if let text = request.uri.queryParameters.get("state") {
            states = try text.split(separator: ",", omittingEmptySubsequences: false).map { name in
                guard let state = HoldState(rawValue: String(name)) else {
                    throw BespokeError(.invalidRequest, "state must be a comma-separated list of held, waiting, cancelled, dead-lettered")
                }
                return state
            }
        }
        let limit = try request.pageLimit()
        let holds = try await bus.holds(tenant: context.tenant, states: states, limit: limit)
        return try JSONBody.response(HoldList(holds: holds.map(HoldBody.init)))
    }

    @Sendable func show(_ request: Request, context: TenantRequestContext) async throws -> Response {
        guard let id = Int64(try context.parameters.require("id")) else { throw BespokeError.notFound("hold") }
        return try JSONBody.response(HoldBody(try await bus.hold(tenant: context.tenant, id: id)))
    }

    @Sendable func resume(_ request: Request, context: TenantRequestContext) async throws -> Response {
        let ticket = try Self.ticket(context)
        let body = try await JSONBody.decode(ResumeRequest.self, from: request, limit: bus.configuration.limits.maxEventBytes)
        try await bus.resume(tenant: context.tenant, ticket: ticket, changes: body.data)
        return Response(status: .noContent)
    }

    @Sendable func cancel(_ request: Request, context: TenantRequestContext) async throws -> Response {
        let ticket = try Self.ticket(context)
        let body = try await JSONBody.decode(CancelRequest.self, from: request, limit: 16 * 1024)
        if let reason = body.reason, reason.isEmpty || reason.count > 2000 {
            throw BespokeError(.invalidRequest, "'reason' must be 1-2000 characters")
        }
        try await bus.cancel(tenant: context.tenant, ticket: ticket, reason: body.reason ?? "cancelled by the tenant's service")
        return Response(status: .noContent)
    }

    private static func ticket(_ context: TenantRequestContext) throws -> HoldTicket {
        guard let ticket = HoldTicket(try context.parameters.require("id")) else {
            throw BespokeError(.invalidRequest, "a hold ticket is written <id>.<step>, as pushed in the event's bespokehold attribute")
        }
        return ticket
    }
}
