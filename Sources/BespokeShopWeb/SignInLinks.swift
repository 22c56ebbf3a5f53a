import BespokeCore
import BespokeShop
import BespokeIdentity
import Foundation
import GRDB

/// Single-use, short-lived storefront sign-in links: the tenant's backend (its API key) asks
/// for one for a buyer; opening it signs the browser in. Only a hash of the code is stored.
///
/// Until the identity issue brings real user accounts and login, this is how a browser gets a
/// storefront session.
struct SignInLinks: Sendable {
    let database: ShopDatabase
    let lifetime: Duration

    /// A new code. - Returns: the code (shown once) and when it expires.
    func create(tenant: TenantID, buyer: String, role: ShopSession.Role) async throws -> (code: String, expiresAt: Date) {
        let code = SecureRandom.hex(24)
        let expiresAt = Date().addingTimeInterval(lifetime.seconds)
        try await database.pool.write { db in
            try db.execute(sql: "DELETE FROM sign_in_codes WHERE expires_at < ?", arguments: [Date().timeIntervalSince1970])
            try db.execute(
                sql: "INSERT INTO sign_in_codes (code_hash, tenant_id, buyer, role, expires_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [OpaqueToken.hash(code), tenant.rawValue, buyer, role.rawValue, expiresAt.timeIntervalSince1970]
            )
        }
        return (code, expiresAt)
    }

    /// Uses up a code of `tenant`. - Returns: the buyer and role, or nil for an unknown,
    /// used, expired or other tenant's code.
    func redeem(_ code: String, tenant: TenantID) async throws -> (buyer: String, role: ShopSession.Role)? {
        try await database.pool.write { db in
            guard let row = try Row.fetchOne(
                db, sql: "SELECT * FROM sign_in_codes WHERE code_hash = ? AND tenant_id = ?", arguments: [OpaqueToken.hash(code), tenant.rawValue]
            ) else { return nil }
            try db.execute(sql: "DELETE FROM sign_in_codes WHERE code_hash = ?", arguments: [OpaqueToken.hash(code)])
            guard (row["expires_at"] as Double) > Date().timeIntervalSince1970, let role = ShopSession.Role(rawValue: row["role"]) else {
                return nil
            }
            return (row["buyer"], role)
        }
    }
}
