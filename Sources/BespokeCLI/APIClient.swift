import ArgumentParser
import AsyncHTTPClient
import BespokeServer
import Foundation
import NIOCore
import NIOHTTP1

/// Where a running platform is and how to authenticate to it, for the commands that manage
/// it over its HTTP API (so a running server's in-memory state changes with its store).
struct ClientOptions: ParsableArguments {
    @Option(name: .customLong("server"), help: "Base URL of the platform (env BESPOKE_URL). Default http://127.0.0.1:8080.")
    var server: String?

    @Option(
        name: .customLong("data-dir"),
        help: "Data directory to read the admin token from when BESPOKE_ADMIN_TOKEN is not set (env BESPOKE_DATA_DIR). Default ./data."
    )
    var dataDirectory: String?

    var environment: [String: String] { ProcessInfo.processInfo.environment }

    var baseURL: String {
        let url = server ?? environment["BESPOKE_URL"] ?? "http://127.0.0.1:8080"
        return url.hasSuffix("/") ? String(url.dropLast()) : url
    }

    /// The operator's token: BESPOKE_ADMIN_TOKEN, or the token file of the data directory.
    func adminToken() throws -> String {
        if let token = environment["BESPOKE_ADMIN_TOKEN"], !token.isEmpty { return token }
        var configuration = BespokeConfiguration()
        configuration.dataDirectory = dataDirectory ?? environment["BESPOKE_DATA_DIR"] ?? configuration.dataDirectory
        guard let text = try? String(contentsOfFile: configuration.adminTokenPath, encoding: .utf8) else {
            throw ValidationError("set BESPOKE_ADMIN_TOKEN, or --data-dir to the server's data directory")
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A client of the admin API.
    func admin() throws -> APIClient { APIClient(baseURL: baseURL, token: try adminToken()) }

    /// A tenant's API key: BESPOKE_API_KEY (never a flag: flags show in `ps`).
    func tenantKey() throws -> String {
        guard let key = environment["BESPOKE_API_KEY"], !key.isEmpty else {
            throw ValidationError("set BESPOKE_API_KEY to an API key of the tenant")
        }
        return key
    }
}

/// A JSON call to the platform's API. Prints the answer; a refusal becomes the command's error.
struct APIClient {
    let baseURL: String
    let token: String

    /// Sends the request and returns the JSON answer (nil when it has no body).
    @discardableResult
    func call(_ method: HTTPMethod, _ path: String, json: [String: Any]? = nil) async throws -> Any? {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(name: "authorization", value: "Bearer \(token)")
        if let json {
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json)))
        }
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        } catch {
            throw CLIError("cannot reach the platform at \(baseURL): \(error)")
        }
        let body = try await response.body.collect(upTo: 16 * 1024 * 1024)
        let object = body.readableBytes == 0 ? nil : try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))
        guard (200..<300).contains(Int(response.status.code)) else {
            let error = (object as? [String: Any])?["error"] as? [String: Any]
            let code = error?["code"] as? String ?? "http_\(response.status.code)"
            let message = error?["message"] as? String ?? String(buffer: body)
            throw CLIError("\(code): \(message)")
        }
        return object
    }

    /// Calls and prints the answer as indented JSON.
    func print(_ method: HTTPMethod, _ path: String, json: [String: Any]? = nil) async throws {
        let answer = try await call(method, path, json: json)
        if let answer {
            let data = try JSONSerialization.data(withJSONObject: answer, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            Swift.print(String(decoding: data, as: UTF8.self))
        }
    }
}

/// A refusal or failure reported to the user, without a stack of Swift types.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Percent-encodes one path segment (event types may contain '/').
func pathSegment(_ text: String) -> String {
    var allowed = CharacterSet.urlPathAllowed
    allowed.remove(charactersIn: "/")
    return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
}
