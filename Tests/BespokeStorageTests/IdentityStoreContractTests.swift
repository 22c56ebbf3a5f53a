import BespokeCore
import BespokeStorage
import Foundation
import Testing

/// The storage contract of identity records.
@Suite("Store contract: identity")
struct IdentityStoreContractTests {
    let acme = TenantID(trusted: "acme")

    private func token(_ hash: String, expiresAt: Date) -> RefreshTokenRecord {
        RefreshTokenRecord(
            tokenHash: hash, tenant: acme, clientID: "shop-web", userID: "u1", scopes: ["shop"], familyID: "f-\(hash)", expiresAt: expiresAt
        )
    }

    /// Whether the store still holds the token, expired or not.
    private func holds(_ store: any IdentityStore, _ hash: String) async throws -> Bool {
        try await store.refreshToken(hash: hash, at: .distantPast) != nil
    }

    @Test(arguments: StoreBackend.allCases)
    func expiredRefreshTokensGoTwoForEachNewOneOldestFirst(_ backend: StoreBackend) async throws {
        let platform = try backend.makeStore()
        try await platform.createTenant(TenantRecord(id: acme, name: "Acme", createdAt: Date()))
        let store = try #require(platform as? any IdentityStore)
        let now = Date()
        try await store.insertRefreshToken(token("live", expiresAt: now.addingTimeInterval(3600)))
        for (index, hash) in ["old1", "old2", "old3"].enumerated() {
            try await store.insertRefreshToken(token(hash, expiresAt: now.addingTimeInterval(1 + Double(index) / 100)))
        }
        try await Task.sleep(for: .milliseconds(1100))
        #expect(try await holds(store, "old1"))

        // A new token deletes the oldest two expired ones.
        try await store.insertRefreshToken(token("new", expiresAt: now.addingTimeInterval(3600)))
        #expect(try await holds(store, "old1") == false)
        #expect(try await holds(store, "old2") == false)
        #expect(try await holds(store, "old3"))

        // A rotation's replacement deletes them too; a live token is never deleted.
        // (At the rotation's own instant, which old3 is expired by.)
        let rotation = try await store.rotateRefreshToken(hash: "live", replacement: token("next", expiresAt: now.addingTimeInterval(3600)), at: Date())
        guard case .rotated = rotation else {
            Issue.record("the live token was not rotated: \(rotation)")
            return
        }
        #expect(try await holds(store, "old3") == false)
        #expect(try await holds(store, "live"))
        #expect(try await holds(store, "next"))
        // The used token is still there to catch a reuse, which revokes the family.
        #expect(try await store.rotateRefreshToken(hash: "live", replacement: token("again", expiresAt: now.addingTimeInterval(3600)), at: now) == .reused)
    }
}
