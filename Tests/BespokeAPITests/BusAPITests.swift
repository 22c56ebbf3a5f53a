import BespokeAPI
import BespokeServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("Bus HTTP API")
struct BusAPITests {
    @Test func healthReadinessAndTheOpenAPIDocumentAreServed() async throws {
        let fixture = try await APIFixture.make()
        try await fixture.test { client in
            #expect(try await client.call(.get, "/health", token: nil).status == .ok)
            let ready = try await client.call(.get, "/ready", token: nil)
            #expect(ready.status == .ok)
            #expect(ready.json["status"] as? String == "ready")
            let document = try await client.call(.get, "/openapi.yaml", token: nil)
            #expect(document.status == .ok)
            #expect(document.text.hasPrefix("openapi: 3"))
        }
    }

    @Test func theOpenAPIDocumentDescribesEveryRoute() async throws {
        let fixture = try await APIFixture.make()
        let router = try await buildRouter(
            bus: fixture.platform.bus, manager: fixture.platform.manager, tenants: fixture.platform.store, authenticator: fixture.platform.authenticator,
            identity: fixture.platform.identity, gateway: fixture.platform.gateway, limits: fixture.configuration.http, storeCheck: {}, products: fixture.platform.products,
            metrics: PrometheusExport.registry
        )
        let document = String(decoding: OpenAPIDocument.yaml, as: UTF8.self)
        // Paths are the keys indented by two spaces under `paths:`; methods by four.
        var documented: Set<String> = []
        var currentPath: String?
        var inPaths = false
        for line in document.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("paths:") { inPaths = true; continue }
            if inPaths, let first = line.first, first != " ", first != "#" { inPaths = false }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), line.hasSuffix(":") {
                currentPath = String(line.dropFirst(2).dropLast())
            } else if let currentPath, line.hasPrefix("    "), !line.hasPrefix("     "), line.hasSuffix(":") {
                let method = line.trimmingCharacters(in: .whitespaces).dropLast().uppercased()
                if ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(method) { documented.insert("\(method) \(currentPath)") }
            }
        }
        let routes = Set(router.routes.map { "\($0.method) \($0.path)" })
        #expect(!routes.isEmpty)
        #expect(routes.subtracting(documented).isEmpty, "undocumented routes: \(routes.subtracting(documented).sorted())")
        #expect(documented.subtracting(routes).isEmpty, "documented but not routed: \(documented.subtracting(routes).sorted())")
    }

    @Test func publishingValidatesTheEnvelopeWithStableCodes() async throws {
        let fixture = try await APIFixture.make()
        try await fixture.test { client in
            let key = fixture.acmeKey
            let path = "/v1/tenants/acme/events"
            let created = try await client.call(.post, path, token: key, json: cloudEvent("e1"), contentType: "application/cloudevents+json")
            #expect(created.status == .created)
            #expect(created.json["duplicate"] as? Bool == false)
            #expect(created.json["sequence"] as? Int != nil)
            let duplicate = try await client.call(.post, path, token: key, json: cloudEvent("e1"))
            #expect(duplicate.status == .ok)
            #expect(duplicate.json["duplicate"] as? Bool == true)
            #expect(duplicate.json["sequence"] as? Int == created.json["sequence"] as? Int)

            let cases: [(String, String, HTTPResponse.Status, String)] = [
                ("not json", "application/json", .badRequest, "invalid_json"),
                (#"{"id":"x","source":"/s","type":"t"}"#, "application/json", .badRequest, "missing_attribute"),
                (#"{"specversion":"0.3","id":"x","source":"/s","type":"t"}"#, "application/json", .badRequest, "unsupported_specversion"),
                (cloudEvent("x", extra: #","tenantid":"globex""#), "application/json", .badRequest, "tenant_mismatch"),
                (cloudEvent("x"), "text/plain", .unsupportedMediaType, "unsupported_media_type"),
                (cloudEvent("x", extra: #","big":""# + String(repeating: "x", count: 70_000) + #"""#), "application/json",
                 .contentTooLarge, "payload_too_large"),
                ("[]", "application/cloudevents-batch+json", .badRequest, "invalid_request"),
                ("{}", "application/cloudevents-batch+json", .badRequest, "invalid_json"),
            ]
            for (body, type, status, code) in cases {
                let response = try await client.call(.post, path, token: key, json: body, contentType: type)
                #expect(response.status == status, "\(code): \(response.text)")
                #expect(response.errorCode == code, "\(response.text)")
            }

            let batch = "[" + (1...3).map { cloudEvent("b\($0)") }.joined(separator: ",") + "]"
            let batched = try await client.call(.post, path, token: key, json: batch, contentType: "application/cloudevents-batch+json")
            #expect(batched.status == .created)
            #expect((batched.json["results"] as? [[String: Any]])?.count == 3)
        }
    }

    @Test func aSubscriptionIsPulledAckedNackedDeadLetteredAndRedriven() async throws {
        let fixture = try await APIFixture.make()
        try await fixture.test { client in
            let key = fixture.acmeKey
            let base = "/v1/tenants/acme/subscriptions"
            let created = try await client.call(
                .post, base, token: key,
                json: #"{"name":"ordering","types":["Order*"],"maxAttempts":2,"initialBackoffMs":1,"maxBackoffMs":5,"ackTimeoutMs":30000}"#
            )
            #expect(created.status == .created, "\(created.text)")
            #expect(created.json["maxAttempts"] as? Int == 2)
            #expect(try await client.call(.post, base, token: key, json: #"{"name":"ordering"}"#).errorCode == "conflict")
            #expect(try await client.call(.post, base, token: key, json: #"{"types":[]}"#).errorCode == "invalid_request")
            #expect(try await client.call(.post, base, token: key, json: #"{"name":"x","maxAttempts":0}"#).errorCode == "invalid_request")
            let listed = try await client.call(.get, base, token: key)
            #expect((listed.json["subscriptions"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == ["ordering"])
            #expect(try await client.call(.get, "\(base)/ordering", token: key).json["types"] as? [String] == ["Order*"])

            for id in ["o1", "o2"] {
                #expect(try await client.call(.post, "/v1/tenants/acme/events", token: key, json: cloudEvent(id)).status == .created)
            }
            let messages = try await client.pull("\(base)/ordering/pull", token: key, count: 2)
            try #require(messages.count == 2)
            let ids = messages.compactMap { $0["deliveryId"] as? String }
            #expect((messages.first?["event"] as? [String: Any])?["tenantid"] as? String == "acme")
            #expect(messages.first?["attempt"] as? Int == 1)

            #expect(try await client.call(.post, "\(base)/ordering/deliveries/\(ids[0])/ack", token: key).status == .noContent)
            #expect(try await client.call(.post, "\(base)/ordering/deliveries/\(ids[0])/ack", token: key).status == .notFound)
            #expect(try await client.call(.post, "\(base)/ordering/deliveries/abc/ack", token: key).status == .notFound)
            #expect(
                try await client.call(.post, "\(base)/ordering/deliveries/\(ids[1])/nack", token: key, json: #"{"retryAfterMs":-1}"#)
                    .errorCode == "invalid_request"
            )
            #expect(
                try await client.call(.post, "\(base)/ordering/deliveries/\(ids[1])/nack", token: key, json: #"{"reason":"bad data"}"#)
                    .status == .noContent
            )
            // Second attempt, then a final nack dead-letters it (maxAttempts 2).
            let again = try await client.call(.post, "\(base)/ordering/pull", token: key, json: #"{"waitMs":2000}"#)
            let retry = try #require((again.json["messages"] as? [[String: Any]])?.first)
            #expect(retry["attempt"] as? Int == 2)
            let retryReceipt = try #require(retry["deliveryId"] as? String)
            #expect(retryReceipt != ids[1], "each lease has its own receipt")
            // The first lease's receipt no longer settles the delivery.
            #expect(
                try await client.call(.post, "\(base)/ordering/deliveries/\(ids[1])/nack", token: key, json: "{}").status == .notFound
            )
            #expect(
                try await client.call(.post, "\(base)/ordering/deliveries/\(retryReceipt)/nack", token: key, json: #"{"reason":"still bad"}"#)
                    .status == .noContent
            )
            let letters = try await client.call(.get, "\(base)/ordering/dead-letters", token: key)
            let letter = try #require((letters.json["deadLetters"] as? [[String: Any]])?.first)
            #expect(letter["reason"] as? String == "still bad")
            #expect(letter["attempts"] as? Int == 2)

            // A consumer that gives up dead-letters an event at its first attempt.
            #expect(try await client.call(.post, base, token: key, json: #"{"name":"strict","types":["Order*"],"maxAttempts":5}"#).status == .created)
            #expect(try await client.call(.post, "/v1/tenants/acme/events", token: key, json: cloudEvent("o3")).status == .created)
            let strict = try #require(try await client.pull("\(base)/strict/pull", token: key, count: 1).first?["deliveryId"] as? String)
            let both = try await client.call(
                .post, "\(base)/strict/deliveries/\(strict)/nack", token: key, json: #"{"deadLetter":true,"retryAfterMs":10}"#
            )
            #expect(both.errorCode == "invalid_request", "\(both.text)")
            let givenUp = try await client.call(
                .post, "\(base)/strict/deliveries/\(strict)/nack", token: key, json: #"{"deadLetter":true,"reason":"unknown product"}"#
            )
            #expect(givenUp.status == .noContent, "\(givenUp.text)")
            let strictLetters = try await client.call(.get, "\(base)/strict/dead-letters", token: key).json["deadLetters"] as? [[String: Any]]
            #expect(strictLetters?.map { $0["eventId"] as? String } == ["o3"])
            #expect(strictLetters?.first?["attempts"] as? Int == 1)
            #expect(strictLetters?.first?["reason"] as? String == "unknown product")
            #expect(try await client.call(.get, "\(base)/ordering/dead-letters?limit=0", token: key).errorCode == "invalid_request")
            #expect(try await client.call(.post, "\(base)/ordering/dead-letters/redrive", token: key, json: "{}").errorCode == "invalid_request")

            let letterID = try #require(letter["id"] as? String)
            let redriven = try await client.call(.post, "\(base)/ordering/dead-letters/redrive", token: key, json: #"{"ids":["\#(letterID)","999"]}"#)
            #expect(redriven.json["redriven"] as? Int == 1)
            #expect(redriven.json["notFound"] as? [String] == ["999"])
            let back = try await client.call(.post, "\(base)/ordering/pull", token: key, json: #"{"waitMs":2000}"#)
            let backMessages = try #require(back.json["messages"] as? [[String: Any]])
            #expect(backMessages.first?["attempt"] as? Int == 1)
            let backID = try #require(backMessages.first?["deliveryId"] as? String)
            let acked = try await client.call(.post, "\(base)/ordering/ack", token: key, json: #"{"deliveryIds":["\#(backID)","nope"]}"#)
            #expect(acked.json["acked"] as? Int == 1)
            #expect(acked.json["notFound"] as? [String] == ["nope"])

            #expect(try await client.call(.delete, "\(base)/ordering", token: key).status == .noContent)
            #expect(try await client.call(.get, "\(base)/ordering", token: key).status == .notFound)
        }
    }

    @Test func requestsWithoutValidCredentialsAreUnauthorized() async throws {
        let fixture = try await APIFixture.make()
        try await fixture.test { client in
            let missing = try await client.call(.get, "/v1/tenants/acme/subscriptions", token: nil)
            #expect(missing.status == .unauthorized)
            #expect(missing.errorCode == "unauthorized")
            #expect(missing.headers[.wwwAuthenticate] == "Bearer")
            #expect(try await client.call(.get, "/v1/tenants/acme/subscriptions", token: "bk_forged").status == .unauthorized)
            #expect(try await client.call(.get, "/v1/tenants/acme/subscriptions", token: fixture.adminToken).status == .unauthorized)
            #expect(try await client.call(.get, "/v1/admin/tenants", token: fixture.acmeKey).status == .unauthorized)
            #expect(try await client.call(.get, "/v1/admin/tenants", token: "wrong-admin-token").status == .unauthorized)
        }
    }

    @Test func bodiesOverTheLimitAreRefused() async throws {
        let fixture = try await APIFixture.make { $0.http.maxBodyBytes = 70_000 }
        try await fixture.test { client in
            let huge = #"{"name":"x","types":[""# + String(repeating: "a", count: 80_000) + #""]}"#
            let response = try await client.call(.post, "/v1/tenants/acme/subscriptions", token: fixture.acmeKey, json: huge)
            #expect(response.status == .contentTooLarge)
            #expect(response.errorCode == "payload_too_large")
            let batch = "[" + (0..<200).map { cloudEvent("b\($0)", extra: #","pad":""# + String(repeating: "p", count: 400) + #"""#) }
                .joined(separator: ",") + "]"
            let refused = try await client.call(
                .post, "/v1/tenants/acme/events", token: fixture.acmeKey, json: batch, contentType: "application/cloudevents-batch+json"
            )
            #expect(refused.status == .contentTooLarge)
        }
    }
}
