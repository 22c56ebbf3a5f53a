public import BespokeCore
public import Hummingbird
import HTTPTypes

/// Gives every request an id and a trace context, first of all middleware.
///
/// - `X-Request-Id`: kept when the caller sent a well-formed one (1-64 of `A-Za-z0-9._-`),
///   otherwise a new one; echoed in the response.
/// - `traceparent`: this hop continues the caller's trace (same trace id, new span id), or
///   starts one; the response carries this hop's `traceparent`.
/// - `Bespoke-Extension-Depth`: how many synchronous extensions deep the request is (0-99).
public struct RequestTracingMiddleware: RouterMiddleware {
    public typealias Context = BespokeRequestContext

    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.requestID = Self.requestID(given: request.headers[.requestID])
        context.traceParent = Self.traceParent(given: request.headers[.traceparent])
        if let depth = request.headers[.extensionDepth].flatMap(Int.init), (0...99).contains(depth) {
            context.extensionDepth = depth
        }
        context.logger[metadataKey: "requestId"] = .string(context.requestID)
        var response = try await next(request, context)
        response.headers[.requestID] = context.requestID
        response.headers[.traceparent] = context.traceParent.description
        return response
    }

    /// The id of a request that came with `given` as its `X-Request-Id`: that one when well
    /// formed, else a new one.
    public static func requestID(given: String?) -> String {
        if let given, isValidRequestID(given) { return given }
        return "req_" + IDRandom.hex(12)
    }

    /// This hop's trace context for a request that came with `given` as its `traceparent`:
    /// the caller's trace with a new span id, or a new trace.
    public static func traceParent(given: String?) -> TraceParent {
        guard let given, let parent = TraceParent(given) else { return .random() }
        return parent.nextHop()
    }

    static func isValidRequestID(_ value: String) -> Bool {
        (1...64).contains(value.utf8.count)
            && value.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }
    }
}

extension HTTPField.Name {
    public static let requestID = HTTPField.Name("X-Request-Id")!
    public static let traceparent = HTTPField.Name("traceparent")!
    /// How many synchronous extension calls deep a request is.
    public static let extensionDepth = HTTPField.Name("Bespoke-Extension-Depth")!
}
