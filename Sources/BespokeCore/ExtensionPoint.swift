/// A named point where the product asks a tenant's service synchronously and waits for the
/// answer (`ext.order.validate`): the product declares its request and response schemas; a
/// tenant registers one endpoint per point (mode `sync`).
public struct ExtensionPoint: Sendable, Equatable {
    /// The catalog type, `ext.*`.
    public let name: String
    public let summary: String
    /// What the product sends (the `data` of the call).
    public let requestSchema: JSONValue
    /// What the tenant's service must answer; anything else counts as a failure.
    public let responseSchema: JSONValue

    public init(name: String, summary: String, requestSchema: JSONValue, responseSchema: JSONValue) {
        self.name = name
        self.summary = summary
        self.requestSchema = requestSchema
        self.responseSchema = responseSchema
    }

    /// Catalog types whose name starts with this are extension points, registered with mode `sync` only.
    public static let prefix = "ext."
}

/// What a synchronous call carries from the request that caused it.
public struct ExtensionCallContext: Sendable {
    /// The causing request's id, sent as `Bespoke-Correlation-Id`.
    public var correlationID: String
    /// How many extension calls deep the causing request already is.
    public var depth: Int
    public var traceParent: TraceParent?
    /// When the causing request started: its synchronous budget counts from here.
    public var startedAt: ContinuousClock.Instant

    public init(correlationID: String, depth: Int = 0, traceParent: TraceParent? = nil, startedAt: ContinuousClock.Instant = .now) {
        self.correlationID = correlationID
        self.depth = depth
        self.traceParent = traceParent
        self.startedAt = startedAt
    }
}

/// Calls tenants' synchronous extensions for the product.
///
/// The product never learns which extensions exist: it asks a point for a tenant and gets an
/// answer, or nil when the tenant has no extension there. An extension that fails (error,
/// late, invalid answer, open circuit) fails the call with `extension_failed` naming it, unless
/// its registration opted in to fail open: then `fallback` is the answer.
public protocol ExtensionPointCaller: Sendable {
    func call(
        _ point: ExtensionPoint, tenant: TenantID, request: JSONValue, fallback: JSONValue, context: ExtensionCallContext
    ) async throws -> JSONValue?
}
