import BespokeCore
import Foundation
import Hummingbird
import NIOCore

/// Reading and writing JSON bodies with explicit size limits and clear errors.
package enum JSONBody {
    /// Collects the body, refusing more than `limit` bytes with `payload_too_large`.
    package static func collect(_ request: Request, limit: Int) async throws -> Data {
        do {
            var request = request
            let buffer = try await request.collectBody(upTo: limit)
            return Data(buffer.readableBytesView)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw BespokeError(.payloadTooLarge, "request body is larger than \(limit) bytes")
        }
    }

    /// Decodes a JSON body into `T`; an empty body decodes as `{}`.
    package static func decode<T: Decodable>(_ type: T.Type, from request: Request, limit: Int) async throws -> T {
        var data = try await collect(request, limit: limit)
        if data.isEmpty { data = Data("{}".utf8) }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
            throw BespokeError(.invalidJSON, "body is not valid JSON")
        } catch let error as DecodingError {
            throw BespokeError(.invalidRequest, describe(error))
        } catch {
            throw BespokeError(.invalidJSON, "body is not valid JSON")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let joined = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
            return joined.isEmpty ? "body" : "'\(joined)'"
        }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = path(context)
            return "\(parent == "body" ? "" : parent + ": ")required field '\(key.stringValue)' is missing"
        case .typeMismatch(let type, let context): return "\(path(context)) must be of type \(type)"
        case .valueNotFound(let type, let context): return "\(path(context)) must be a \(type), not null"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "body is not valid JSON" : "\(path(context)): \(context.debugDescription)"
        @unknown default: return "body does not match the expected shape"
        }
    }

    /// A JSON response.
    package static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        return Response(
            status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }
}
