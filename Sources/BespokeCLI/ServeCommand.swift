import ArgumentParser
import BespokeServer
import Foundation
import Hummingbird

/// `bespoke serve`: runs the platform until SIGINT or SIGTERM.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the platform: HTTP API and event bus over the embedded SQLite store.",
        discussion: """
            The admin token for /v1/admin is BESPOKE_ADMIN_TOKEN, or else the one generated in \
            <data-dir>/admin-token on first start. Create a tenant and its first API key with \
            `bespoke tenant create` or POST /v1/admin/tenants. The API is described at /openapi.yaml. \
            Metrics are at /metrics in the Prometheus format, for the admin token.
            """
    )

    @OptionGroup var options: ServerOptions

    func run() async throws {
        var configuration = try options.configuration()
        configuration.metrics = PrometheusExport.registry
        let host = configuration.host
        let app = try await buildApplication(configuration) { port in
            // One line on stdout that scripts (and the tests) can wait for.
            FileHandle.standardOutput.write(Data("bespoke listening on http://\(host):\(port)\n".utf8))
        }
        try await app.runService()
    }
}
