import BespokeCore
import BespokeCustomization
import BespokeStorage
import Foundation
import Hummingbird

/// Operator routes: tenants (create, list, show, suspend, reinstate, delete with purge) and
/// their API keys.
struct AdminController {
    let tenants: any TenantStore
    let manager: TenantManager
    let authenticator: APIKeyAuthenticator

    struct CreateTenant: Decodable {
        let id: String
        let name: String?
    }

    struct TenantBody: Encodable {
        let id: String
        let name: String
        /// `active` or `suspended`.
        let status: String
        let createdAt: String
        let suspendedAt: String?

        init(_ record: TenantRecord) {
            self.id = record.id.rawValue
            self.name = record.name
            self.status = record.isSuspended ? "suspended" : "active"
            self.createdAt = RFC3339.format(record.createdAt)
            self.suspendedAt = record.suspendedAt.map(RFC3339.format)
        }
    }

    struct TenantDetail: Encodable {
        let tenant: TenantBody
        let customizations: Int
        let subscriptions: Int
        let apiKeys: Int
    }

    struct PurgeBody: Encodable {
        let tenant: String
        let deletedRows: [String: Int]
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
        group.get("tenants/:tenant", use: showTenant)
        group.delete("tenants/:tenant", use: deleteTenant)
        group.post("tenants/:tenant/suspend", use: suspendTenant)
        group.post("tenants/:tenant/reinstate", use: reinstateTenant)
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

    @Sendable func showTenant(_ request: Request, context: AdminRequestContext) async throws -> Response {
        let id = try tenantID(context)
        let record = try await manager.tenant(id)
        let keys = try await authenticator.activeKeyCount(tenant: id)
        return try JSONBody.response(
            TenantDetail(
                tenant: TenantBody(record), customizations: manager.customizations(tenant: id).count,
                subscriptions: manager.subscriptionCount(tenant: id), apiKeys: keys
            )
        )
    }

    @Sendable func suspendTenant(_ request: Request, context: AdminRequestContext) async throws -> Response {
        try JSONBody.response(TenantBody(try await manager.suspend(try tenantID(context))))
    }

    @Sendable func reinstateTenant(_ request: Request, context: AdminRequestContext) async throws -> Response {
        try JSONBody.response(TenantBody(try await manager.reinstate(try tenantID(context))))
    }

    @Sendable func deleteTenant(_ request: Request, context: AdminRequestContext) async throws -> Response {
        let id = try tenantID(context)
        authenticator.forget(tenant: id)
        let purge = try await manager.deleteTenant(id)
        // Again: a request may have cached one of its keys while the rows were being purged.
        authenticator.forget(tenant: id)
        return try JSONBody.response(PurgeBody(tenant: id.rawValue, deletedRows: purge.rowsByTable))
    }

    private func tenantID(_ context: AdminRequestContext) throws -> TenantID {
        guard let raw = context.parameters.get("tenant"), let id = try? TenantID(validating: raw) else {
            throw BespokeError.notFound("tenant")
        }
        return id
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
        let id = try tenantID(context)
        guard try await tenants.tenant(id) != nil else { throw BespokeError.notFound("tenant") }
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
