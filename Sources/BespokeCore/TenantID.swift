/// The identifier of a tenant: the namespace every stored row, event and credential belongs to.
///
/// A tenant id is a DNS-label-like slug (`[a-z0-9][a-z0-9-]{0,62}`) so it can appear in URLs,
/// logs and metric labels without escaping.
public struct TenantID: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    /// The slug.
    public let rawValue: String

    /// Validates and wraps a tenant slug.
    /// - Throws: ``BespokeError`` with code `invalid_tenant_id` when the slug is malformed.
    public init(validating rawValue: String) throws(BespokeError) {
        guard Self.isValid(rawValue) else {
            throw BespokeError(
                .invalidTenantID,
                "tenant id must be 1-63 characters of a-z, 0-9 and '-', starting with a letter or digit"
            )
        }
        self.rawValue = rawValue
    }

    /// Wraps a slug already known to be valid (read back from the store).
    public init(trusted rawValue: String) {
        self.rawValue = rawValue
    }

    /// Whether `value` is a well-formed tenant slug.
    public static func isValid(_ value: String) -> Bool {
        let utf8 = value.utf8
        guard let first = utf8.first, utf8.count <= 63 else { return false }
        func isAlnum(_ c: UInt8) -> Bool { (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) }
        guard isAlnum(first) else { return false }
        return utf8.allSatisfy { isAlnum($0) || $0 == 0x2D }
    }

    public var description: String { rawValue }

    public static func < (lhs: TenantID, rhs: TenantID) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let raw = try container.decode(String.self)
        do {
            self = try TenantID(validating: raw)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.message)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
