public import BespokeCore
public import BespokeStorage

/// An interceptor an event goes to: which customization, how long it may hold the event, and
/// what happens when that time passes.
public struct Interceptor: Sendable, Equatable {
    public let customization: String
    public let holdDeadline: Duration
    public let onDeadline: HoldOutcome

    public init(customization: String, holdDeadline: Duration, onDeadline: HoldOutcome) {
        self.customization = customization
        self.holdDeadline = holdDeadline
        self.onDeadline = onDeadline
    }
}

/// What the bus asks, in memory, about each event it admits: the customization decision.
///
/// The Tenant Manager's index implements it; every method is called on the publish path or the
/// custody path and must answer without I/O.
public protocol InterceptionPolicy: Sendable {
    /// Whether the tenant has any interceptor at all (events of tenants without one skip the
    /// custody checks).
    func hasInterceptors(tenant: TenantID) -> Bool
    /// The next interceptor of `type` for the tenant, in order after the last of those in
    /// `passed`, skipping those whose filter turns the event away; nil when the event may go on
    /// to the product. `event` is asked for only when an interceptor has a filter (a held event
    /// is decoded for it); when it gives nil, the interceptor takes the event.
    func nextInterceptor(tenant: TenantID, type: String, passed: [String], event: () -> CloudEvent?) -> Interceptor?
    /// The event an interceptor resumes with `changes` to its `data` members: only the members
    /// the catalog lets tenants change, and the result must match the type's schema.
    /// - Throws: ``BespokeError`` `forbidden_change` or `schema_violation`.
    func applyChanges(_ changes: [String: JSONValue], to event: CloudEvent) throws(BespokeError) -> CloudEvent
}
