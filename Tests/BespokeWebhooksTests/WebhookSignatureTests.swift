import BespokeWebhooks
import Foundation
import Testing

@Suite("Standard Webhooks signatures")
struct WebhookSignatureTests {
    let body = Data(#"{"test": 2432232314}"#.utf8)

    private func headers(_ list: [(name: String, value: String)]) -> (String) -> String? {
        let map = Dictionary(uniqueKeysWithValues: list.map { ($0.name, $0.value) })
        return { map[$0] }
    }

    @Test func matchesTheSpecificationsExample() throws {
        let secret = try WebhookSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        let signature = WebhookSignature.sign(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: body, secret: secret)
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    }

    /// A secret keeps one keyed HMAC that every signature starts from: a message signed with it
    /// must not carry into the next one, on one thread or on many at once.
    @Test func aSecretsKeyedStateIsNotChangedBySigning() async throws {
        let secret = try WebhookSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        let example = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        let other = WebhookSignature.sign(id: "msg_other", timestamp: 1_614_265_331, body: Data("x".utf8), secret: secret)
        #expect(other != example)
        #expect(WebhookSignature.sign(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: body, secret: secret) == example)
        let signatures = await withTaskGroup(of: (Int, String).self) { group in
            for index in 0..<64 {
                group.addTask {
                    let id = index.isMultiple(of: 2) ? "msg_p5jXN8AQM9LWM0D4loKWxJek" : "msg_\(index)"
                    return (index, WebhookSignature.sign(id: id, timestamp: 1_614_265_330, body: self.body, secret: secret))
                }
            }
            return await group.reduce(into: [Int: String]()) { $0[$1.0] = $1.1 }
        }
        for (index, signature) in signatures {
            #expect((signature == example) == index.isMultiple(of: 2))
        }
        #expect(Set(signatures.filter { !$0.key.isMultiple(of: 2) }.values).count == 32)
    }

    @Test func verifiesItsOwnSignaturesAndRefusesTamperingWrongSecretsAndReplays() throws {
        let secret = WebhookSecret.generate()
        let now = Date()
        let timestamp = Int64(now.timeIntervalSince1970)
        let signed = WebhookSignature.headers(id: "msg_1", timestamp: timestamp, body: body, secrets: [secret])
        #expect(throws: Never.self) { try WebhookSignature.verify(body: body, header: headers(signed), secrets: [secret], now: now) }

        func failure(_ body: Data, _ list: [(name: String, value: String)], _ secrets: [WebhookSecret], now: Date = now) -> WebhookVerificationError? {
            do {
                try WebhookSignature.verify(body: body, header: headers(list), secrets: secrets, now: now)
                return nil
            } catch {
                return error
            }
        }
        #expect(failure(Data(#"{"test": 1}"#.utf8), signed, [secret]) == .noMatchingSignature)
        #expect(failure(body, signed, [WebhookSecret.generate()]) == .noMatchingSignature)
        #expect(failure(body, signed, [secret], now: now.addingTimeInterval(301)) == .timestampTooOld)
        #expect(failure(body, signed, [secret], now: now.addingTimeInterval(-301)) == .timestampTooNew)
        #expect(failure(body, signed.filter { $0.name != "webhook-id" }, [secret]) == .missingHeader("webhook-id"))
        let badTime = signed.map { $0.name == "webhook-timestamp" ? (name: $0.name, value: "soon") : $0 }
        #expect(failure(body, badTime, [secret]) == .invalidTimestamp)
        // A different id with the same signature is a different message.
        let otherID = signed.map { $0.name == "webhook-id" ? (name: $0.name, value: "msg_2") : $0 }
        #expect(failure(body, otherID, [secret]) == .noMatchingSignature)
    }

    @Test func rotationSendsBothSignaturesAndEitherSecretVerifies() throws {
        let old = WebhookSecret.generate()
        let new = WebhookSecret.generate()
        let now = Date()
        let signed = WebhookSignature.headers(id: "msg_r", timestamp: Int64(now.timeIntervalSince1970), body: body, secrets: [old, new])
        #expect(signed.first { $0.name == "webhook-signature" }?.value.split(separator: " ").count == 2)
        for receiverSecret in [old, new] {
            #expect(throws: Never.self) { try WebhookSignature.verify(body: body, header: headers(signed), secrets: [receiverSecret], now: now) }
        }
        // A receiver with several secrets, the match on its second, behind candidates of
        // another version and undecodable ones.
        let valid = WebhookSignature.sign(id: "msg_r", timestamp: Int64(now.timeIntervalSince1970), body: body, secret: new)
        func with(signature: String) -> (String) -> String? {
            headers(signed.map { $0.name == "webhook-signature" ? (name: $0.name, value: signature) : $0 })
        }
        #expect(throws: Never.self) {
            try WebhookSignature.verify(body: body, header: with(signature: "v2,eA== v1,!!! \(valid)"), secrets: [.generate(), new], now: now)
        }
        #expect(throws: WebhookVerificationError.noMatchingSignature) {
            try WebhookSignature.verify(body: body, header: with(signature: "v2,eA== v1,!!!"), secrets: [old, new], now: now)
        }
        #expect(throws: WebhookVerificationError.noMatchingSignature) {
            try WebhookSignature.verify(body: body, header: with(signature: ""), secrets: [old, new], now: now)
        }
    }

    @Test func secretsAreValidatedAndNeverPrinted() throws {
        let secret = WebhookSecret.generate()
        #expect(try WebhookSecret(secret.text) == secret)
        #expect(secret.text.hasPrefix("whsec_"))
        #expect(!secret.description.contains(secret.key.base64EncodedString()))
        #expect(throws: WebhookSecretError.missingPrefix) { try WebhookSecret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") }
        #expect(throws: WebhookSecretError.invalidBase64) { try WebhookSecret("whsec_not base64!") }
        #expect(throws: WebhookSecretError.invalidLength(3)) { try WebhookSecret("whsec_AAAA") }
    }
}
