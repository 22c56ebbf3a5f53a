public import BespokeCore
import Foundation
public import Hummingbird
import NIOCore

/// Turns every error into a JSON response with a stable code:
/// `{"error": {"code": "not_found", "message": "subscription not found"}}`.
public struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as BespokeError {
            return Self.response(for: error)
        } catch let error as any HTTPResponseError {
            let code: BespokeError.Code =
                switch error.status.code {
                case 401: .unauthorized
                case 404: .notFound
                case 405: .invalidRequest
                case 409: .conflict
                case 413: .payloadTooLarge
                case 415: .unsupportedMediaType
                case 503: .unavailable
                case 400..<500: .invalidRequest
                default: .storageFailure
                }
            let message = (error as? HTTPError)?.body ?? error.status.reasonPhrase
            var response = Self.response(for: BespokeError(code, message))
            response.status = error.status
            return response
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            return Self.response(for: BespokeError(.storageFailure, "internal error"))
        }
    }

    /// The JSON body an error is answered with.
    static func body(for error: BespokeError) -> ByteBuffer {
        let body = ErrorBody(error: .init(code: error.code.rawValue, message: error.message))
        return ByteBuffer(bytes: (try? JSONEncoder().encode(body)) ?? Data())
    }

    static func response(for error: BespokeError) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if error.code == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        if error.code == .insufficientScope { headers[.wwwAuthenticate] = "Bearer error=\"insufficient_scope\"" }
        if let retryAfter = error.retryAfterSeconds { headers[.retryAfter] = String(retryAfter) }
        return Response(status: error.code.httpStatus, headers: headers, body: .init(byteBuffer: body(for: error)))
    }
}

extension BespokeError.Code {
    /// The HTTP status a code is answered with.
    public var httpStatus: HTTPResponse.Status {
        switch self {
        case .invalidJSON, .invalidRequest, .missingAttribute, .invalidAttribute, .unsupportedSpecVersion,
            .tenantMismatch, .invalidTenantID:
            .badRequest
        case .eventTooLarge, .payloadTooLarge: .contentTooLarge
        case .unauthorized: .unauthorized
        case .tenantSuspended, .insufficientScope: .forbidden
        case .rateLimited: .tooManyRequests
        case .extensionRejected: .unprocessableContent
        case .extensionFailed, .upstreamFailed: .badGateway
        case .notFound: .notFound
        case .conflict, .staleHold: .conflict
        case .depthExceeded, .forbiddenChange, .schemaViolation, .notInterceptable, .unknownEventType, .forbiddenEndpoint:
            .unprocessableContent
        case .unsupportedMediaType: .unsupportedMediaType
        case .unavailable: .serviceUnavailable
        case .storageFailure: .internalServerError
        }
    }
}

/// The JSON shape of every error response.
struct ErrorBody: Codable {
    struct Detail: Codable {
        let code: String
        let message: String
    }
    let error: Detail
}
