/// An error the platform reports to its callers, with a stable machine-readable code.
///
/// The code is part of the public API: clients switch on it, so existing codes never change
/// meaning. The HTTP layer maps each code to a status (see `BespokeError+HTTP` in BespokeAPI).
public struct BespokeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Stable error codes.
    public enum Code: String, Sendable, Equatable, CaseIterable {
        // Input errors (4xx)
        case invalidJSON = "invalid_json"
        case invalidRequest = "invalid_request"
        case missingAttribute = "missing_attribute"
        case invalidAttribute = "invalid_attribute"
        case unsupportedSpecVersion = "unsupported_specversion"
        case eventTooLarge = "event_too_large"
        case payloadTooLarge = "payload_too_large"
        case tenantMismatch = "tenant_mismatch"
        case invalidTenantID = "invalid_tenant_id"
        case unauthorized = "unauthorized"
        case notFound = "not_found"
        case conflict = "conflict"
        case unsupportedMediaType = "unsupported_media_type"
        case depthExceeded = "depth_exceeded"
        case forbiddenChange = "forbidden_change"
        case schemaViolation = "schema_violation"
        case staleHold = "stale_hold"
        case notInterceptable = "not_interceptable"
        case unknownEventType = "unknown_event_type"
        case forbiddenEndpoint = "forbidden_endpoint"
        case tenantSuspended = "tenant_suspended"
        case insufficientScope = "insufficient_scope"
        case rateLimited = "rate_limited"
        case extensionRejected = "extension_rejected"
        case extensionFailed = "extension_failed"
        case upstreamFailed = "upstream_failed"
        // Platform errors (5xx)
        case unavailable = "unavailable"
        case storageFailure = "storage_failure"
    }

    /// The stable code.
    public let code: Code
    /// A human-readable explanation for the caller.
    public let message: String
    /// For `rate_limited`: when to try again (`Retry-After`, whole seconds).
    public let retryAfterSeconds: Int?

    public init(_ code: Code, _ message: String, retryAfterSeconds: Int? = nil) {
        self.code = code
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    public var description: String { "\(code.rawValue): \(message)" }

    /// A `not_found` error for a resource kind, worded identically whether the resource is
    /// absent or belongs to another tenant, so existence never leaks across tenants.
    public static func notFound(_ what: String) -> BespokeError {
        BespokeError(.notFound, "\(what) not found")
    }
}
