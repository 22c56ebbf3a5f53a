@testable import BespokeCustomization
import BespokeWebhooks
import Foundation
import Testing

@Suite("Parsed webhook secrets cache")
struct SecretCacheTests {
    @Test func givesTheSecretItsTextParsesToAndRefusesWhatIsNotOne() throws {
        let cache = SecretCache()
        let secret = WebhookSecret.generate()
        #expect(cache.parsed(secret.text) == secret)
        // From the cache the second time: still the same key.
        #expect(cache.parsed(secret.text) == secret)
        #expect(cache.parsed("whsec_AAAA") == nil)
        #expect(cache.parsed("not a secret") == nil)
        // A signature made with the cached secret verifies with the original.
        let body = Data("{}".utf8)
        let cached = try #require(cache.parsed(secret.text))
        let headers = Dictionary(uniqueKeysWithValues: WebhookSignature.headers(id: "m1", timestamp: 1_700_000_000, body: body, secrets: [cached]).map { ($0.name, $0.value) })
        #expect(throws: Never.self) {
            try WebhookSignature.verify(body: body, header: { headers[$0] }, secrets: [secret], now: Date(timeIntervalSince1970: 1_700_000_000))
        }
    }

    @Test func staysBoundedAndCorrectPastItsCapacity() {
        let cache = SecretCache()
        let secrets = (0..<(SecretCache.capacity + 10)).map { _ in WebhookSecret.generate() }
        for secret in secrets { #expect(cache.parsed(secret.text) == secret) }
        #expect(cache.count <= SecretCache.capacity)
        // Emptied when full, then filled again: every secret still parses to itself.
        #expect(cache.parsed(secrets[0].text) == secrets[0])
        #expect(cache.parsed(secrets[secrets.count - 1].text) == secrets[secrets.count - 1])
    }
}
