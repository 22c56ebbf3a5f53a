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
        if let given = request.headers[.requestID], Self.isValidRequestID(given) {
            context.requestID = given
        } else {
            context.requestID = "req_" + SecureRandom.hex(12)
        }
        if let header = request.headers[.traceparent], let parent = TraceParent(header),
            let hop = TraceParent("00-\(parent.traceID)-\(SecureRandom.hex(8))-\(parent.flags)")
        {
            context.traceParent = hop
        } else {
            context.traceParent = .random()
        }
        if let depth = request.headers[.extensionDepth].flatMap(Int.init), (0...99).contains(depth) {
            context.extensionDepth = depth
        }
        context.logger[metadataKey: "requestId"] = .string(context.requestID)
        var response = try await next(request, context)
        response.headers[.requestID] = context.requestID
        response.headers[.traceparent] = context.traceParent.description
        return response
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
