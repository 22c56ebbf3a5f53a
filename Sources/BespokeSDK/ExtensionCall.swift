/// What the platform says about a synchronous call to an extension point or a UI slot,
/// besides its data.
public struct ExtensionCall: Sendable {
    /// The extension point (`ext.order.validate`) or the slot (`ui.my-orders.columns`).
    public let name: String
    /// The tenant the call is for.
    public let tenant: String
    /// The id of the product's request that made the call (for logs and traces).
    public let correlationID: String?
    /// When the platform stops waiting: answer before, or the call counts as failed.
    public let deadline: ContinuousClock.Instant
    /// How many extension calls deep this call is (a call the service makes into the
    /// product, which calls an extension again, is one deeper).
    public let depth: Int
    /// The W3C trace context of the call.
    public let traceparent: String?

    /// The headers that carry the call's correlation, depth and trace into calls the service
    /// makes back into the product while it answers.
    public var propagationHeaders: [(String, String)] {
        var headers: [(String, String)] = [("Bespoke-Extension-Depth", String(depth))]
        if let correlationID { headers.append(("X-Request-Id", correlationID)) }
        if let traceparent { headers.append(("traceparent", traceparent)) }
        return headers
    }
}
