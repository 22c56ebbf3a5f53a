import BespokeCore
import BespokeStorage
import Foundation
import Hummingbird

/// Operator routes: tenants and their API keys. (The Tenant Manager grows from here.)
struct AdminController {
    let tenants: any TenantStore
    let authenticator: APIKeyAuthenticator

    struct CreateTenant: Decodable {
        let id: String
        let name: String?
    }

    struct TenantBody: Encodable {
        let id: String
        let name: String
        let createdAt: String

        init(_ record: TenantRecord) {
            self.id = record.id.rawValue
            self.name = record.name
            self.createdAt = RFC3339.format(record.createdAt)
        }
    }

    struct IssuedKey: Encodable {
        let id: String
        /// Shown once: only its hash is stored.
        let secret: String
    }

    struct CreatedTenant: Encodable {
        let tenant: TenantBody
        let apiKey: IssuedKey
    }

    struct TenantList: Encodable {
        let tenants: [TenantBody]
    }

    func addRoutes(to group: RouterGroup<AdminRequestContext>) {
        group.post("tenants", use: createTenant)
        group.get("tenants", use: listTenants)
        group.post("tenants/:tenant/api-keys", use: issueKey)
        group.delete("tenants/:tenant/api-keys/:key", use: revokeKey)
    }

    @Sendable func createTenant(_ request: Request, context: AdminRequestContext) async throws -> Response {
        let body = try await JSONBody.decode(CreateTenant.self, from: request, limit: 16 * 1024)
        let created = try await Self.createTenant(id: body.id, name: body.name, tenants: tenants, issueKey: authenticator.issueKey)
        return try JSONBody.response(
            CreatedTenant(tenant: TenantBody(created.tenant), apiKey: IssuedKey(id: created.keyID, secret: created.secret)),
            status: .created
        )
    }

    @Sendable func listTenants(_ request: Request, context: AdminRequestContext) async throws -> Response {
        try JSONBody.response(TenantList(tenants: try await tenants.listTenants().map(TenantBody.init)))
    }

    @Sendable func issueKey(_ request: Request, context: AdminRequestContext) async throws -> Response {
        let tenant = try await existingTenant(context)
        let issued = try await authenticator.issueKey(for: tenant)
        return try JSONBody.response(IssuedKey(id: issued.record.id, secret: issued.secret), status: .created)
    }

    @Sendable func revokeKey(_ request: Request, context: AdminRequestContext) async throws -> Response {
        let tenant = try await existingTenant(context)
        try await authenticator.revokeKey(tenant: tenant, id: try context.parameters.require("key"))
        return Response(status: .noContent)
    }

    private func existingTenant(_ context: AdminRequestContext) async throws -> TenantID {
        guard let raw = context.parameters.get("tenant"), let id = try? TenantID(validating: raw),
            try await tenants.tenant(id) != nil
        else { throw BespokeError.notFound("tenant") }
        return id
    }

    /// Creates a tenant with a first API key; shared by the HTTP route and the CLI.
    static func createTenant(
        id: String, name: String?, tenants: any TenantStore,
        issueKey: (TenantID) async throws -> (record: APIKeyRecord, secret: String)
    ) async throws -> (tenant: TenantRecord, keyID: String, secret: String) {
        let tenantID = try TenantID(validating: id)
        let name = name ?? id
        guard !name.isEmpty, name.count <= 200 else { throw BespokeError(.invalidRequest, "name must be 1-200 characters") }
        let record = TenantRecord(id: tenantID, name: name, createdAt: Date())
        try await tenants.createTenant(record)
        let issued = try await issueKey(tenantID)
        return (record, issued.record.id, issued.secret)
    }
}

/// Tenant onboarding outside HTTP (the `bespoke tenant create` command).
public enum TenantOnboarding {
    /// Creates a tenant and its first API key. The secret is returned once.
    public static func createTenant(
        id: String, name: String?, tenants: any TenantStore, keys: any APIKeyStore
    ) async throws -> (tenant: TenantRecord, keyID: String, secret: String) {
        try await AdminController.createTenant(id: id, name: name, tenants: tenants) { tenant in
            try await APIKeyAuthenticator.issueKey(for: tenant, in: keys)
        }
    }
}
