import BespokeCore
import BespokeCustomization
import BespokeServer
import BespokeStorage
import Foundation

/// The demo's tenant services: for each, its OAuth client and its registrations with the
/// platform, made on the first run and brought up to date (addresses) on later ones, and the
/// child process that runs it.
struct DemoServices {
    /// One tenant service of the demo.
    struct Spec {
        struct Registration {
            let eventType: String
            let mode: CustomizationMode
            /// `events`, `extensions` or `slots` (the SDK's hook paths).
            let hook: String
            var changes = TenantManager.Changes()
        }

        let name: String
        let tenant: TenantID
        let clientName: String
        let scopes: [String]
        let registrations: [Registration]
    }

    /// Tenant A (`acme`): shipping dates and address validation.
    static let shipping = Spec(
        name: "shipping", tenant: TenantID(trusted: "acme"), clientName: "shipping service", scopes: ["shop", "events:publish"],
        registrations: [
            .init(eventType: "UserCheckoutAccepted", mode: .observe, hook: "events"),
            .init(eventType: "ui.my-orders.columns", mode: .ui, hook: "slots"),
            .init(eventType: "ext.order.validate", mode: .sync, hook: "extensions"),
        ]
    )

    /// Tenant B (`globex`): RFID scanning of every order before its stock check.
    static let rfid = Spec(
        name: "rfid", tenant: TenantID(trusted: "globex"), clientName: "rfid scanning station", scopes: ["holds", "events:publish"],
        registrations: [
            .init(
                eventType: "OrderStatusChangedToAwaitingValidation", mode: .intercept, hook: "events",
                changes: .init(holdDeadline: .seconds(3 * 86_400), onDeadline: .resume)
            ),
            .init(eventType: "ui.order-detail.panel", mode: .ui, hook: "slots"),
        ]
    )

    /// What a service is started with.
    struct Credentials: Codable {
        var clientID: String
        var clientSecret: String
    }

    let platform: BespokePlatform
    let directory: String

    /// Client secrets are shown once, so the demo keeps its services' in its data directory
    /// (mode 0600).
    private var credentialsPath: String { (directory as NSString).appendingPathComponent("demo-service-clients.json") }

    /// Makes sure `spec`'s client and registrations exist and point at `baseURL`.
    /// - Returns: the environment the service's process needs (client and signing secrets).
    func prepare(_ spec: Spec, baseURL: String) async throws -> [String: String] {
        var saved = (try? JSONDecoder().decode([String: Credentials].self, from: Data(contentsOf: URL(fileURLWithPath: credentialsPath)))) ?? [:]
        let clients = try await platform.identity.clients(tenant: spec.tenant)
        let credentials: Credentials
        if let known = saved[spec.name], clients.contains(where: { $0.id == known.clientID }) {
            credentials = known
        } else {
            let (client, secret) = try await platform.identity.createClient(
                tenant: spec.tenant, name: spec.clientName, confidential: true, scopes: spec.scopes, redirectURIs: []
            )
            credentials = Credentials(clientID: client.id, clientSecret: secret ?? "")
            saved[spec.name] = credentials
            let data = try JSONEncoder().encode(saved)
            guard FileManager.default.createFile(atPath: credentialsPath, contents: data, attributes: [.posixPermissions: 0o600]) else {
                throw CLIError("could not write the services' client credentials to \(credentialsPath)")
            }
        }

        var secrets: [String] = []
        let existing = platform.manager.customizations(tenant: spec.tenant)
        for registration in spec.registrations {
            let url = "\(baseURL)/hooks/\(registration.hook)"
            let customization: Customization
            if let found = existing.first(where: { $0.eventType == registration.eventType && $0.mode == registration.mode }) {
                var changes = registration.changes
                changes.url = url
                changes.enabled = true
                customization = try await platform.manager.update(tenant: spec.tenant, id: found.id, changes)
            } else {
                customization = try await platform.manager.register(
                    tenant: spec.tenant, eventType: registration.eventType, mode: registration.mode, url: url, registration.changes
                ).0
            }
            secrets += customization.activeSecrets(at: Date()).map(\.secret)
        }
        return [
            "BESPOKE_CLIENT_ID": credentials.clientID, "BESPOKE_CLIENT_SECRET": credentials.clientSecret,
            "BESPOKE_WEBHOOK_SECRETS": secrets.joined(separator: " "),
        ]
    }
}
