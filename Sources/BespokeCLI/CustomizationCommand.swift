import ArgumentParser
import Foundation

/// `bespoke customization`: a tenant's customization registrations, through the tenant API
/// with the tenant's API key (BESPOKE_API_KEY).
struct CustomizationCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "customization",
        abstract: "Manage a tenant's customizations (tenant API; the tenant's key from BESPOKE_API_KEY).",
        subcommands: [List.self, Show.self, Register.self, Update.self, Delete.self, RotateSecret.self, Attempts.self, Recover.self, Replay.self]
    )

    /// The tenant and where to reach the platform.
    struct Target: ParsableArguments {
        @Option(help: "The tenant id.") var tenant: String
        @OptionGroup var client: ClientOptions

        func api() throws -> APIClient { APIClient(baseURL: client.baseURL, token: try client.tenantKey()) }
        var path: String { "/v1/tenants/\(pathSegment(tenant))/customizations" }
    }

    /// Settings of a registration; those left out keep their value (or the default).
    struct Settings: ParsableArguments {
        @Option(help: "Endpoint URL the events are pushed to.") var url: String?
        @Option(help: "Among interceptors of one type, lower orders see the event first.") var order: Int?
        @Option(name: .customLong("timeout-ms"), help: "Longest one push may take, in milliseconds.") var timeoutMs: Int?
        @Option(name: .customLong("hold-deadline-ms"), help: "Longest an intercepted event may stay held, in milliseconds.")
        var holdDeadlineMs: Int?
        @Option(name: .customLong("on-deadline"), help: "What happens when the hold deadline passes: resume, cancel or dead-letter.")
        var onDeadline: String?
        @Option(
            help: #"Which events of the type it takes, as JSON (CloudEvents filter dialects), e.g. '{"exact":{"data.country":"NO"}}'; 'null' removes it (update)."#
        )
        var filter: String?
        @Option(name: .customLong("rate-limit"), help: "The most pushes a second the endpoint gets (0.01-10000); 'none' removes the limit (update).")
        var rateLimit: String?
        @Option(
            name: .customLong("max-attempts"), help: "Pushes of one event at most, the first included; 'none' takes the platform's retry schedule (update)."
        )
        var maxAttempts: String?

        func validate() throws {
            if let filter, (try? JSONSerialization.jsonObject(with: Data(filter.utf8), options: .fragmentsAllowed)) == nil {
                throw ValidationError("--filter must be JSON")
            }
            if let rateLimit, rateLimit != "none", !(Double(rateLimit).map { $0.isFinite && $0 > 0 } ?? false) {
                throw ValidationError("--rate-limit must be a number of pushes a second above 0, or none")
            }
            if let maxAttempts, maxAttempts != "none", !(Int(maxAttempts).map { $0 >= 1 } ?? false) {
                throw ValidationError("--max-attempts must be a whole number from 1, or none")
            }
        }

        var json: [String: Any] {
            var body: [String: Any] = [:]
            if let filter, let value = try? JSONSerialization.jsonObject(with: Data(filter.utf8), options: .fragmentsAllowed) {
                body["filter"] = value
            }
            if let rateLimit { body["rateLimit"] = Double(rateLimit) ?? NSNull() }
            if let maxAttempts { body["maxAttempts"] = Int(maxAttempts) ?? NSNull() }
            if let url { body["url"] = url }
            if let order { body["order"] = order }
            if let timeoutMs { body["timeoutMs"] = timeoutMs }
            if let holdDeadlineMs { body["holdDeadlineMs"] = holdDeadlineMs }
            if let onDeadline { body["onDeadline"] = onDeadline }
            return body
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tenant's customizations.")
        @OptionGroup var target: Target

        func run() async throws { try await target.api().print(.GET, target.path) }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one customization.")
        @Argument(help: "The customization id (cus_...).") var id: String
        @OptionGroup var target: Target

        func run() async throws { try await target.api().print(.GET, "\(target.path)/\(pathSegment(id))") }
    }

    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a service for an event type; prints its signing secret once.")
        @Option(name: .customLong("event-type"), help: "The event type, as in the catalog.") var eventType: String
        @Option(help: "observe or intercept.") var mode: String
        @OptionGroup var settings: Settings
        @OptionGroup var target: Target

        func validate() throws {
            guard settings.url != nil else { throw ValidationError("--url is required") }
        }

        func run() async throws {
            var body = settings.json
            body["eventType"] = eventType
            body["mode"] = mode
            try await target.api().print(.POST, target.path, json: body)
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a registration; --enable clears a disabling by the platform.")
        @Argument(help: "The customization id.") var id: String
        @OptionGroup var settings: Settings
        @Flag(help: "Enable it (again).") var enable = false
        @Flag(help: "Disable it: nothing is pushed to it and nothing is intercepted for it.") var disable = false
        @OptionGroup var target: Target

        func validate() throws {
            if enable, disable { throw ValidationError("--enable and --disable exclude each other") }
        }

        func run() async throws {
            var body = settings.json
            if enable || disable { body["enabled"] = enable }
            guard !body.isEmpty else { throw ValidationError("nothing to change") }
            try await target.api().print(.PATCH, "\(target.path)/\(pathSegment(id))", json: body)
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a registration.")
        @Argument(help: "The customization id.") var id: String
        @OptionGroup var target: Target

        func run() async throws {
            try await target.api().call(.DELETE, "\(target.path)/\(pathSegment(id))")
            print("deleted \(id)")
        }
    }

    struct RotateSecret: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-secret", abstract: "Start signing with a new secret (printed once); the old one signs beside it for the overlap."
        )
        @Argument(help: "The customization id.") var id: String
        @OptionGroup var target: Target

        func run() async throws { try await target.api().print(.POST, "\(target.path)/\(pathSegment(id))/rotate-secret") }
    }

    struct Attempts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The push attempt log, newest first.")
        @Argument(help: "The customization id.") var id: String
        @Option(help: "How many attempts (1-1000).") var limit: Int = 20
        @Option(help: "Only 'succeeded' (2xx) or only 'failed' attempts.") var outcome: String?
        @Option(help: "Only the attempts of this event id.") var eventId: String?
        @Option(help: "Only the attempts of this message (webhook-id).") var messageId: String?
        @Option(help: "Only attempts made since this RFC 3339 instant.") var since: String?
        @Option(help: "The 'next' of the page before.") var before: String?
        @OptionGroup var target: Target

        func run() async throws {
            var query = URLComponents()
            query.queryItems = [URLQueryItem(name: "limit", value: String(limit))]
                + [("outcome", outcome), ("eventId", eventId), ("messageId", messageId), ("since", since), ("before", before)]
                .compactMap { name, value in value.map { URLQueryItem(name: name, value: $0) } }
            // `+` is a space in a query; an RFC 3339 offset keeps its sign.
            let encoded = (query.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
            try await target.api().print(.GET, "\(target.path)/\(pathSegment(id))/attempts?\(encoded)")
        }
    }

    struct Recover: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Push again what the endpoint missed since an instant.")
        @Argument(help: "The customization id.") var id: String
        @Option(help: "RFC 3339 instant, e.g. 2026-11-23T08:00:00Z.") var since: String
        @OptionGroup var target: Target

        func run() async throws {
            try await target.api().print(.POST, "\(target.path)/\(pathSegment(id))/recover", json: ["since": since])
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Push one message again, by its webhook-id (see attempts).")
        @Argument(help: "The customization id.") var id: String
        @Option(name: .customLong("message-id"), help: "The webhook-id of the push.") var messageID: String
        @OptionGroup var target: Target

        func run() async throws {
            try await target.api().call(.POST, "\(target.path)/\(pathSegment(id))/replay", json: ["messageId": messageID])
            print("replaying \(messageID)")
        }
    }
}
