import BespokeCore
import BespokeStorage
import Foundation
import GRDB

extension SQLiteStore: IdentityStore {
    public func createUser(_ user: UserRecord) async throws {
        try await Self.mapConflict("user '\(user.username)'") {
            try await pool.write { db in
                try db.execute(
                    sql: "INSERT INTO users (id, tenant_id, username, password_hash, scopes, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    arguments: [
                        user.id, user.tenant.rawValue, user.username, user.passwordHash, Self.joined(user.scopes),
                        user.createdAt.timeIntervalSince1970,
                    ]
                )
            }
        }
    }

    public func user(tenant: TenantID, username: String) async throws -> UserRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM users WHERE tenant_id = ? AND username = ?", arguments: [tenant.rawValue, username])
                .map(Self.userRecord)
        }
    }

    public func user(tenant: TenantID, id: String) async throws -> UserRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM users WHERE tenant_id = ? AND id = ?", arguments: [tenant.rawValue, id])
                .map(Self.userRecord)
        }
    }

    public func users(tenant: TenantID) async throws -> [UserRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM users WHERE tenant_id = ? ORDER BY username", arguments: [tenant.rawValue])
                .map(Self.userRecord)
        }
    }

    public func deleteUser(tenant: TenantID, id: String, at date: Date) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM users WHERE tenant_id = ? AND id = ?", arguments: [tenant.rawValue, id])
            guard db.changesCount > 0 else { return false }
            try Self.revokeRefreshTokens(db, tenant: tenant, where: .user, is: id, at: date)
            return true
        }
    }

    public func createClient(_ client: ClientRecord) async throws {
        try await Self.mapConflict("client '\(client.id)'") {
            try await pool.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO oauth_clients (id, tenant_id, name, secret_hash, scopes, redirect_uris, created_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        client.id, client.tenant.rawValue, client.name, client.secretHash, Self.joined(client.scopes),
                        Self.joined(client.redirectURIs), client.createdAt.timeIntervalSince1970,
                    ]
                )
            }
        }
    }

    public func client(id: String) async throws -> ClientRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM oauth_clients WHERE id = ?", arguments: [id]).map(Self.clientRecord)
        }
    }

    public func clients(tenant: TenantID) async throws -> [ClientRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM oauth_clients WHERE tenant_id = ? ORDER BY created_at, id", arguments: [tenant.rawValue])
                .map(Self.clientRecord)
        }
    }

    public func deleteClient(tenant: TenantID, id: String, at date: Date) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM oauth_clients WHERE tenant_id = ? AND id = ?", arguments: [tenant.rawValue, id])
            guard db.changesCount > 0 else { return false }
            try Self.revokeRefreshTokens(db, tenant: tenant, where: .client, is: id, at: date)
            try db.execute(sql: "DELETE FROM authorization_codes WHERE tenant_id = ? AND client_id = ?", arguments: [tenant.rawValue, id])
            return true
        }
    }

    public func insertAuthorizationCode(_ code: AuthorizationCodeRecord) async throws {
        try await pool.write { db in
            // Expired codes go as new ones come: the table holds only the last minutes' sign-ins.
            try db.execute(sql: "DELETE FROM authorization_codes WHERE expires_at < ?", arguments: [Date().timeIntervalSince1970])
            try db.execute(
                sql: """
                    INSERT INTO authorization_codes
                        (code_hash, tenant_id, client_id, user_id, redirect_uri, scopes, code_challenge, nonce, auth_time, expires_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    code.codeHash, code.tenant.rawValue, code.clientID, code.userID, code.redirectURI, Self.joined(code.scopes),
                    code.codeChallenge, code.nonce, code.authTime.timeIntervalSince1970, code.expiresAt.timeIntervalSince1970,
                ]
            )
        }
    }

    public func consumeAuthorizationCode(hash: String, at date: Date) async throws -> AuthorizationCodeRecord? {
        try await pool.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM authorization_codes WHERE code_hash = ?", arguments: [hash]) else {
                return nil
            }
            try db.execute(sql: "DELETE FROM authorization_codes WHERE code_hash = ?", arguments: [hash])
            let record = AuthorizationCodeRecord(
                codeHash: row["code_hash"], tenant: TenantID(trusted: row["tenant_id"]), clientID: row["client_id"],
                userID: row["user_id"], redirectURI: row["redirect_uri"], scopes: Self.split(row["scopes"]),
                codeChallenge: row["code_challenge"], nonce: row["nonce"], authTime: Date(timeIntervalSince1970: row["auth_time"]),
                expiresAt: Date(timeIntervalSince1970: row["expires_at"])
            )
            return record.expiresAt > date ? record : nil
        }
    }

    public func insertRefreshToken(_ token: RefreshTokenRecord) async throws {
        try await pool.write { db in try Self.insert(token, db: db, now: Date()) }
    }

    public func rotateRefreshToken(hash: String, replacement: RefreshTokenRecord, at date: Date) async throws -> RefreshRotation {
        try await pool.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM refresh_tokens WHERE token_hash = ?", arguments: [hash]) else {
                return .invalid
            }
            let current = Self.refreshRecord(row)
            guard current.expiresAt > date else { return .invalid }
            if current.usedAt != nil || current.revokedAt != nil {
                try Self.revokeRefreshTokens(db, tenant: current.tenant, where: .family, is: current.familyID, at: date)
                return .reused
            }
            try db.execute(sql: "UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ?", arguments: [date.timeIntervalSince1970, hash])
            try Self.insert(replacement, db: db, now: date)
            return .rotated(current)
        }
    }

    public func refreshToken(hash: String, at date: Date) async throws -> RefreshTokenRecord? {
        try await pool.read { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM refresh_tokens WHERE token_hash = ? AND expires_at > ?", arguments: [hash, date.timeIntervalSince1970]
            ).map(Self.refreshRecord)
        }
    }

    public func revokeRefreshFamily(tenant: TenantID, familyID: String, at date: Date) async throws {
        try await pool.write { db in try Self.revokeRefreshTokens(db, tenant: tenant, where: .family, is: familyID, at: date) }
    }

    public func signingKeys(at date: Date) async throws -> [SigningKeyRecord] {
        try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM signing_keys WHERE retires_at IS NULL OR retires_at > ? ORDER BY created_at, kid",
                arguments: [date.timeIntervalSince1970]
            ).map { row in
                SigningKeyRecord(
                    kid: row["kid"], privateKeyPEM: row["private_key_pem"], createdAt: Date(timeIntervalSince1970: row["created_at"]),
                    retiresAt: Self.date(row["retires_at"])
                )
            }
        }
    }

    public func rotateSigningKey(to key: SigningKeyRecord, retiring: Date) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE signing_keys SET retires_at = ? WHERE retires_at IS NULL", arguments: [retiring.timeIntervalSince1970])
            try db.execute(sql: "DELETE FROM signing_keys WHERE retires_at < ?", arguments: [key.createdAt.timeIntervalSince1970])
            try db.execute(
                sql: "INSERT INTO signing_keys (kid, private_key_pem, created_at, retires_at) VALUES (?, ?, ?, NULL)",
                arguments: [key.kid, key.privateKeyPEM, key.createdAt.timeIntervalSince1970]
            )
        }
    }

    /// Which refresh tokens to revoke: a user's, a client's, or one sign-in's (its family).
    enum RefreshTokenOwner: String {
        case user = "user_id"
        case client = "client_id"
        case family = "family_id"
    }

    /// Revokes the tenant's refresh tokens whose `owner` column is `value` (kept revoked at the first date).
    private static func revokeRefreshTokens(_ db: Database, tenant: TenantID, where owner: RefreshTokenOwner, is value: String, at date: Date) throws {
        try db.execute(
            sql: "UPDATE refresh_tokens SET revoked_at = coalesce(revoked_at, ?) WHERE tenant_id = ? AND \(owner.rawValue) = ?",
            arguments: [date.timeIntervalSince1970, tenant.rawValue, value]
        )
    }

    private static func insert(_ token: RefreshTokenRecord, db: Database, now: Date) throws {
        // Two tokens expired by `now` go for each new one, oldest first, so expired ones never
        // pile up (an expired token is refused whether it is kept or not).
        try db.cachedStatement(
            sql: """
                DELETE FROM refresh_tokens WHERE token_hash IN (
                    SELECT token_hash FROM refresh_tokens WHERE expires_at < ? ORDER BY expires_at LIMIT 2)
                """
        ).execute(arguments: [now.timeIntervalSince1970])
        try db.execute(
            sql: """
                INSERT INTO refresh_tokens (token_hash, tenant_id, client_id, user_id, scopes, family_id, expires_at, used_at, revoked_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                token.tokenHash, token.tenant.rawValue, token.clientID, token.userID, joined(token.scopes), token.familyID,
                token.expiresAt.timeIntervalSince1970, token.usedAt?.timeIntervalSince1970, token.revokedAt?.timeIntervalSince1970,
            ]
        )
    }

    /// Scopes and redirect URIs are stored space-separated (neither may contain a space).
    static func joined(_ values: [String]) -> String { values.joined(separator: " ") }
    static func split(_ value: String) -> [String] { value.split(separator: " ").map(String.init) }

    static func userRecord(_ row: Row) -> UserRecord {
        UserRecord(
            id: row["id"], tenant: TenantID(trusted: row["tenant_id"]), username: row["username"], passwordHash: row["password_hash"],
            scopes: split(row["scopes"]), createdAt: Date(timeIntervalSince1970: row["created_at"])
        )
    }

    static func clientRecord(_ row: Row) -> ClientRecord {
        ClientRecord(
            id: row["id"], tenant: TenantID(trusted: row["tenant_id"]), name: row["name"], secretHash: row["secret_hash"],
            scopes: split(row["scopes"]), redirectURIs: split(row["redirect_uris"]), createdAt: Date(timeIntervalSince1970: row["created_at"])
        )
    }

    static func refreshRecord(_ row: Row) -> RefreshTokenRecord {
        RefreshTokenRecord(
            tokenHash: row["token_hash"], tenant: TenantID(trusted: row["tenant_id"]), clientID: row["client_id"], userID: row["user_id"],
            scopes: split(row["scopes"]), familyID: row["family_id"], expiresAt: Date(timeIntervalSince1970: row["expires_at"]),
            usedAt: date(row["used_at"]), revokedAt: date(row["revoked_at"])
        )
    }
}
