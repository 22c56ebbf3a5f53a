import BespokeBus
import Foundation
import Hummingbird
import NIOCore

/// Health, readiness and the OpenAPI document.
struct SystemController {
    let bus: EventBus
    /// Checks that the store answers.
    let storeCheck: @Sendable () async throws -> Void

    func addRoutes(to router: Router<BespokeRequestContext>) {
        router.get("health") { _, _ in
            try JSONBody.response(["status": "ok"])
        }
        router.get("ready") { _, context in
            guard bus.isRunning else {
                return try JSONBody.response(["status": "stopping"], status: .serviceUnavailable)
            }
            do {
                try await storeCheck()
            } catch {
                context.logger.warning("readiness check failed", metadata: ["error": "\(error)"])
                return try JSONBody.response(["status": "store unavailable"], status: .serviceUnavailable)
            }
            return try JSONBody.response(["status": "ready"])
        }
        router.get("openapi.yaml") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/yaml"],
                body: .init(byteBuffer: ByteBuffer(bytes: OpenAPIDocument.yaml))
            )
        }
    }
}

/// The OpenAPI 3 description of the public HTTP API, shipped as a resource.
public enum OpenAPIDocument {
    /// The document's bytes.
    public static let yaml: Data = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"), let data = try? Data(contentsOf: url) else {
            return Data("openapi: 3.1.0\ninfo: {title: Bespoke, version: unknown}\npaths: {}\n".utf8)
        }
        return data
    }()
}
