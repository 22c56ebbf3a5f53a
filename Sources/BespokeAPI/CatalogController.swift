import BespokeCore
import BespokeCustomization
import BespokeStorage
import Foundation
import Hummingbird

/// Operator routes for the product's event catalog: each event type's data schema, whether it
/// may be intercepted and which fields an interceptor may change.
struct CatalogController {
    let manager: TenantManager

    struct PutRequest: Decodable {
        let summary: String?
        let schema: JSONValue?
        let interceptable: Bool?
        let mutableFields: [String]?
    }

    struct EntryBody: Encodable {
        let type: String
        let summary: String
        let schema: JSONValue
        let interceptable: Bool
        let mutableFields: [String]
        let updatedAt: String

        init(_ entry: CatalogEntry) {
            self.type = entry.type
            self.summary = entry.summary
            self.schema = entry.schema
            self.interceptable = entry.interceptable
            self.mutableFields = entry.mutableFields
            self.updatedAt = RFC3339.format(entry.updatedAt)
        }
    }

    struct Catalog: Encodable {
        let eventTypes: [EntryBody]
    }

    func addRoutes(to group: RouterGroup<AdminRequestContext>) {
        group.get("catalog", use: list)
        group.put("catalog/:type", use: put)
        group.get("catalog/:type", use: show)
        group.delete("catalog/:type", use: delete)
    }

    @Sendable func list(_ request: Request, context: AdminRequestContext) async throws -> Response {
        try JSONBody.response(Catalog(eventTypes: manager.index.catalog().map(EntryBody.init)))
    }

    @Sendable func put(_ request: Request, context: AdminRequestContext) async throws -> Response {
        let type = try context.parameters.require("type")
        let body = try await JSONBody.decode(PutRequest.self, from: request, limit: 256 * 1024)
        let existed = manager.index.catalogEntry(type) != nil
        let entry = try await manager.putCatalogEntry(
            type: type, summary: body.summary ?? "", schema: body.schema ?? .object([:]),
            interceptable: body.interceptable ?? false, mutableFields: body.mutableFields ?? []
        )
        return try JSONBody.response(EntryBody(entry), status: existed ? .ok : .created)
    }

    @Sendable func show(_ request: Request, context: AdminRequestContext) async throws -> Response {
        guard let entry = manager.index.catalogEntry(try context.parameters.require("type")) else {
            throw BespokeError.notFound("event type")
        }
        return try JSONBody.response(EntryBody(entry))
    }

    @Sendable func delete(_ request: Request, context: AdminRequestContext) async throws -> Response {
        try await manager.deleteCatalogEntry(type: try context.parameters.require("type"))
        return Response(status: .noContent)
    }
}
