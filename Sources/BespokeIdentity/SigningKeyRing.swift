import BespokeCore
public import BespokeStorage
import Foundation
public import JWTKit
import Synchronization

/// The ES256 keys that sign access and ID tokens, and verify them.
///
/// The newest key signs; keys rotated out keep verifying (and stay in the JWKS) until they
/// retire, one access-token lifetime later, so rotation never invalidates a token. Keys live in
/// the store; this ring holds them in memory, so verifying a token reads nothing. A token signed
/// with a key this process does not know (another node rotated) makes it reload, at most once
/// every few seconds.
public final class SigningKeyRing: Sendable {
    private struct State: Sendable {
        var keys: JWTKeyCollection
        var currentKID: String?
        var published: [PublishedKey]
        var loadedAt: ContinuousClock.Instant
    }

    /// A public key as the JWKS shows it.
    public struct PublishedKey: Sendable, Equatable {
        public let kid: String
        public let x: String
        public let y: String
        public let retiresAt: Date?
    }

    private let store: any IdentityStore
    private let state: Mutex<State>
    /// Keys are read again when older than this (another node may have rotated).
    private let maxAge: Duration = .seconds(60)
    private let minReloadInterval: Duration = .seconds(5)

    public init(store: any IdentityStore) {
        self.store = store
        self.state = Mutex(State(keys: JWTKeyCollection(), currentKID: nil, published: [], loadedAt: .now - .seconds(3600)))
    }

    /// Reads the keys from the store, creating the first one when there is none.
    public func load() async throws {
        var records = try await store.signingKeys(at: Date())
        if !records.contains(where: { $0.retiresAt == nil }) {
            try await store.rotateSigningKey(to: Self.newKey(), retiring: Date())
            records = try await store.signingKeys(at: Date())
        }
        let keys = JWTKeyCollection()
        var published: [PublishedKey] = []
        for record in records {
            let key = try ES256PrivateKey(pem: record.privateKeyPEM)
            await keys.add(ecdsa: key, kid: JWKIdentifier(string: record.kid))
            guard let parameters = key.parameters else { continue }
            published.append(PublishedKey(kid: record.kid, x: parameters.x, y: parameters.y, retiresAt: record.retiresAt))
        }
        let current = records.last(where: { $0.retiresAt == nil })?.kid
        state.withLock { $0 = State(keys: keys, currentKID: current, published: published, loadedAt: .now) }
    }

    /// Makes a new key current; the current one retires after `overlap`.
    @discardableResult
    public func rotate(overlap: Duration) async throws -> String {
        let key = Self.newKey()
        try await store.rotateSigningKey(to: key, retiring: Date().addingTimeInterval(Double(overlap.components.seconds)))
        try await load()
        return key.kid
    }

    /// Signs `payload` with the current key.
    public func sign(_ payload: some JWTPayload) async throws -> String {
        if state.withLock({ ContinuousClock.now - $0.loadedAt > maxAge }) { try await load() }
        let (keys, kid) = state.withLock { ($0.keys, $0.currentKID) }
        guard let kid else { throw OAuthError("server_error", "no signing key", status: 500) }
        var header = JWTHeader()
        header.typ = "JWT"
        return try await keys.sign(payload, kid: JWKIdentifier(string: kid), header: header)
    }

    /// Verifies the signature with a known key and the payload's own checks (expiry).
    public func verify<Payload: JWTPayload>(_ token: String, as type: Payload.Type) async throws -> Payload {
        let keys = state.withLock { $0.keys }
        do {
            return try await keys.verify(token, as: type)
        } catch {
            // An unknown kid may be a key another node made: read the keys again, rarely.
            guard let kid = Self.kid(of: token), !knows(kid), state.withLock({ ContinuousClock.now - $0.loadedAt > minReloadInterval })
            else { throw error }
            try await load()
            return try await state.withLock { $0.keys }.verify(token, as: type)
        }
    }

    /// The published keys, current last.
    public var publishedKeys: [PublishedKey] {
        state.withLock { state in state.published.filter { $0.retiresAt.map { $0 > Date() } ?? true } }
    }

    /// The kid of the key that signs now.
    public var currentKID: String? { state.withLock { $0.currentKID } }

    private func knows(_ kid: String) -> Bool {
        state.withLock { $0.published.contains { $0.kid == kid } }
    }

    /// The `kid` of a JWT's header, unverified.
    static func kid(of token: String) -> String? {
        guard let headerPart = token.split(separator: ".").first, let data = Base64URL.decode(headerPart),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return nil }
        return object["kid"] as? String
    }

    static func newKey() -> SigningKeyRecord {
        let key = ES256PrivateKey()
        return SigningKeyRecord(kid: "key-" + OpaqueToken.generate(prefix: "", bytes: 9), privateKeyPEM: key.pemRepresentation, createdAt: Date(), retiresAt: nil)
    }
}
