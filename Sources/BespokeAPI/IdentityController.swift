import BespokeCore
import BespokeIdentity
import BespokeStorage
import Foundation
import Hummingbird

/// A tenant's users and OAuth2 clients (`/v1/tenants/{tenant}/users`, `/clients`; scope
/// `identity`), its API call counts (`/usage`; scope `usage`), and the operator's signing-key
/// rotation (`/v1/admin/signing-keys`).
struct IdentityController {
    let identity: IdentityService
    let counter: APICallCounter

    struct NewUser: Decodable {
        let username: String
        let password: String
        let scopes: [String]?
    }

    struct User: Encodable {
        let id: String
        let username: String
        let scopes: [String]
        let createdAt: String

        init(_ record: UserRecord) {
            id = record.id
            username = record.username
            scopes = record.scopes
            createdAt = RFC3339.format(record.createdAt)
        }
    }

    struct NewClient: Decodable {
        let name: String
        /// `service` (confidential, client credentials) or `browser` (public, PKCE).
        let kind: String?
        let scopes: [String]
        let redirectUris: [String]?
    }

    struct Client: Encodable {
        let clientId: String
        let name: String
        let kind: String
        let scopes: [String]
        let redirectUris: [String]
        let createdAt: String
        /// Only in the answer that creates the client.
        let clientSecret: String?

        init(_ record: ClientRecord, secret: String? = nil) {
            clientId = record.id
            name = record.name
            kind = record.isConfidential ? "service" : "browser"
            scopes = record.scopes
            redirectUris = record.redirectURIs
            createdAt = RFC3339.format(record.createdAt)
            clientSecret = secret
        }
    }

    func addTenantRoutes(to tenant: RouterGroup<TenantRequestContext>) {
        let group = tenant.scoped(Scope.identity)
        group.get("users", use: users)
        group.post("users", use: createUser)
        group.delete("users/:id", use: deleteUser)
        group.get("clients", use: clients)
        group.post("clients", use: createClient)
        group.delete("clients/:id", use: deleteClient)
        tenant.scoped(Scope.usage).get("usage", use: usage)
    }

    func addAdminRoutes(to admin: RouterGroup<AdminRequestContext>) {
        admin.get("signing-keys", use: signingKeys)
        admin.post("signing-keys/rotate", use: rotate)
    }

    @Sendable func users(_ request: Request, context: TenantRequestContext) async throws -> Response {
        try JSONBody.response(["users": try await identity.users(tenant: context.tenant).map(User.init)])
    }

    @Sendable func createUser(_ request: Request, context: TenantRequestContext) async throws -> Response {
        let body = try await JSONBody.decode(NewUser.self, from: request, limit: 16 * 1024)
        let user = try await identity.createUser(
            tenant: context.tenant, username: body.username, password: body.password, scopes: body.scopes ?? [Scope.shop]
        )
        return try JSONBody.response(User(user), status: .created)
    }

    @Sendable func deleteUser(_ request: Request, context: TenantRequestContext) async throws -> Response {
        try await identity.deleteUser(tenant: context.tenant, id: try context.parameters.require("id"))
        return Response(status: .noContent)
    }

    @Sendable func clients(_ request: Request, context: TenantRequestContext) async throws -> Response {
        try JSONBody.response(["clients": try await identity.clients(tenant: context.tenant).map { Client($0) }])
    }

    @Sendable func createClient(_ request: Request, context: TenantRequestContext) async throws -> Response {
        let body = try await JSONBody.decode(NewClient.self, from: request, limit: 16 * 1024)
        let confidential: Bool
        switch body.kind ?? "service" {
        case "service": confidential = true
        case "browser": confidential = false
        default: throw BespokeError(.invalidRequest, "kind must be 'service' or 'browser'")
        }
        let (client, secret) = try await identity.createClient(
            tenant: context.tenant, name: body.name, confidential: confidential, scopes: body.scopes, redirectURIs: body.redirectUris ?? []
        )
        return try JSONBody.response(Client(client, secret: secret), status: .created)
    }

    @Sendable func deleteClient(_ request: Request, context: TenantRequestContext) async throws -> Response {
        try await identity.deleteClient(tenant: context.tenant, id: try context.parameters.require("id"))
        return Response(status: .noContent)
    }

    @Sendable func usage(_ request: Request, context: TenantRequestContext) async throws -> Response {
        let counts = counter.counts(tenant: context.tenant)
        let calls = Dictionary(uniqueKeysWithValues: [CallerKind.user, .service, .key].map { ($0.rawValue, counts[$0] ?? 0) })
        return try JSONBody.response(["tenant": JSONValue.string(context.tenant.rawValue), "apiCalls": .object(calls.mapValues { .number(Double($0)) })])
    }

    @Sendable func signingKeys(_ request: Request, context: AdminRequestContext) async throws -> Response {
        let keys = identity.keys.publishedKeys.map { key in
            JSONValue.object([
                "kid": .string(key.kid), "current": .bool(key.kid == identity.keys.currentKID),
                "retiresAt": key.retiresAt.map { .string(RFC3339.format($0)) } ?? .null,
            ])
        }
        return try JSONBody.response(["keys": keys])
    }

    @Sendable func rotate(_ request: Request, context: AdminRequestContext) async throws -> Response {
        let kid = try await identity.rotateSigningKey()
        return try JSONBody.response(["kid": kid], status: .created)
    }
}
