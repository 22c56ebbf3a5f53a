import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("Tenant isolation over HTTP")
struct TenantIsolationAPITests {
    /// Every tenant route, called with acme's key on globex's path, answers 404 like a tenant
    /// that does not exist; and acme's key with acme's path never reaches globex's resources.
    @Test func everyEndpointRefusesAnotherTenantsKeyWithNotFound() async throws {
        let fixture = try await APIFixture.make()
        try await fixture.test { client in
            let globex = fixture.globexKey
            let acme = fixture.acmeKey
            // Globex owns a subscription with a pending delivery and a dead letter.
            let base = "/v1/tenants/globex/subscriptions"
            #expect(
                try await client.call(.post, base, token: globex, json: #"{"name":"secret","maxAttempts":1}"#).status == .created
            )
            for id in ["g1", "g2"] {
                _ = try await client.call(.post, "/v1/tenants/globex/events", token: globex, json: cloudEvent(id))
            }
            let ids = try await client.pull("\(base)/secret/pull", token: globex, count: 2).compactMap { $0["deliveryId"] as? String }
            try #require(ids.count == 2)
            _ = try await client.call(.post, "\(base)/secret/deliveries/\(ids[1])/nack", token: globex, json: "{}")
            let letters = try await client.call(.get, "\(base)/secret/dead-letters", token: globex)
            let letterID = try #require((letters.json["deadLetters"] as? [[String: Any]])?.first?["id"] as? String)

            let foreign: [(HTTPRequest.Method, String, String?)] = [
                (.post, "/v1/tenants/globex/events", cloudEvent("x")),
                (.get, base, nil),
                (.post, base, #"{"name":"mine"}"#),
                (.get, "\(base)/secret", nil),
                (.delete, "\(base)/secret", nil),
                (.post, "\(base)/secret/pull", #"{"max":1}"#),
                (.post, "\(base)/secret/ack", #"{"deliveryIds":["\#(ids[0])"]}"#),
                (.post, "\(base)/secret/deliveries/\(ids[0])/ack", nil),
                (.post, "\(base)/secret/deliveries/\(ids[0])/nack", "{}"),
                (.get, "\(base)/secret/dead-letters", nil),
                (.post, "\(base)/secret/dead-letters/redrive", #"{"all":true}"#),
                (.post, "/v1/tenants/nobody/events", cloudEvent("x")),
            ]
            for (method, path, body) in foreign {
                let response = try await client.call(method, path, token: acme, json: body)
                #expect(response.status == .notFound, "\(method) \(path) answered \(response.status)")
                #expect(response.errorCode == "not_found")
                #expect(response.json["error"].map { "\($0)" }?.contains("tenant not found") == true)
            }

            // On its own path, acme cannot name globex's subscription or deliveries either.
            let own = "/v1/tenants/acme/subscriptions"
            #expect(try await client.call(.get, "\(own)/secret", token: acme).status == .notFound)
            #expect(try await client.call(.post, own, token: acme, json: #"{"name":"secret"}"#).status == .created)
            #expect(try await client.call(.post, "\(own)/secret/deliveries/\(ids[0])/ack", token: acme).status == .notFound)
            let batchAck = try await client.call(.post, "\(own)/secret/ack", token: acme, json: #"{"deliveryIds":["\#(ids[0])"]}"#)
            #expect(batchAck.json["acked"] as? Int == 0)
            #expect(try await client.call(.post, "\(own)/secret/deliveries/\(ids[0])/nack", token: acme, json: "{}").status == .notFound)
            let redrive = try await client.call(.post, "\(own)/secret/dead-letters/redrive", token: acme, json: #"{"ids":["\#(letterID)"]}"#)
            #expect(redrive.json["redriven"] as? Int == 0)
            let acmeLetters = try await client.call(.get, "\(own)/secret/dead-letters", token: acme)
            #expect((acmeLetters.json["deadLetters"] as? [Any])?.isEmpty == true)
            let acmePull = try await client.call(.post, "\(own)/secret/pull", token: acme, json: #"{"waitMs":200}"#)
            #expect((acmePull.json["messages"] as? [Any])?.isEmpty == true)

            // Globex's state is untouched by all of it.
            #expect(try await client.call(.get, "\(base)/secret", token: globex).status == .ok)
            #expect(try await client.call(.post, "\(base)/secret/deliveries/\(ids[0])/ack", token: globex).status == .noContent)
            let still = try await client.call(.get, "\(base)/secret/dead-letters", token: globex)
            #expect((still.json["deadLetters"] as? [Any])?.count == 1)
        }
    }
}

@Suite("Admin API")
struct AdminAPITests {
    @Test func tenantsAreCreatedWithAKeyShownOnceAndKeysCanBeRevoked() async throws {
        let fixture = try await APIFixture.make()
        try await fixture.test { client in
            let admin = fixture.adminToken
            let created = try await client.call(.post, "/v1/admin/tenants", token: admin, json: #"{"id":"initech","name":"Initech"}"#)
            #expect(created.status == .created)
            let key = try #require((created.json["apiKey"] as? [String: Any])?["secret"] as? String)
            #expect(key.hasPrefix("bk_"))
            #expect(try await client.call(.get, "/v1/tenants/initech/subscriptions", token: key).status == .ok)
            // The secret is not stored: it appears nowhere in listings.
            let listed = try await client.call(.get, "/v1/admin/tenants", token: admin)
            #expect(!listed.text.contains(key))
            #expect((listed.json["tenants"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["acme", "globex", "initech"])

            #expect(try await client.call(.post, "/v1/admin/tenants", token: admin, json: #"{"id":"initech"}"#).errorCode == "conflict")
            #expect(try await client.call(.post, "/v1/admin/tenants", token: admin, json: #"{"id":"Not Valid"}"#).errorCode == "invalid_tenant_id")
            #expect(try await client.call(.post, "/v1/admin/tenants", token: admin, json: #"{"name":"x"}"#).errorCode == "invalid_request")

            let second = try await client.call(.post, "/v1/admin/tenants/initech/api-keys", token: admin)
            #expect(second.status == .created)
            let secondKey = try #require(second.json["secret"] as? String)
            let firstID = try #require((created.json["apiKey"] as? [String: Any])?["id"] as? String)
            #expect(try await client.call(.delete, "/v1/admin/tenants/initech/api-keys/\(firstID)", token: admin).status == .noContent)
            #expect(try await client.call(.get, "/v1/tenants/initech/subscriptions", token: key).status == .unauthorized)
            #expect(try await client.call(.get, "/v1/tenants/initech/subscriptions", token: secondKey).status == .ok)
            // A key id of one tenant cannot be revoked through another.
            #expect(try await client.call(.delete, "/v1/admin/tenants/acme/api-keys/\(firstID)", token: admin).status == .notFound)
            #expect(try await client.call(.post, "/v1/admin/tenants/nobody/api-keys", token: admin).status == .notFound)
        }
    }
}
