public import BespokeCore
import BespokeStorage
import BespokeWebhooks
import Foundation
public import Logging
import Metrics
import NIOCore
public import ServiceLifecycle
import Synchronization

/// Calls tenants' UI extensions to fill the product's UI slots (``UISlotProvider``).
///
/// The extensions of a slot are found in the in-memory index and called side by side, each
/// signed like a webhook (Standard Webhooks, the registration's secrets) and bounded by the
/// slot deadline. A failing, late or malformed answer is left out of the page, with a log line
/// and `bespoke_ui_slot_calls_total{outcome!="ok"}`. Run it as a service: it owns its HTTP
/// client.
public final class UIExtensionClient: UISlotProvider, Service {
    let manager: TenantManager
    let logger: Logger
    /// Open while the service runs (no slot is filled before or after).
    private let client: SignedEndpointClient

    public init(manager: TenantManager, logger: Logger) {
        self.manager = manager
        self.logger = logger
        self.client = SignedEndpointClient(checks: manager.endpointChecks)
    }

    /// Opens the HTTP client, keeps it until shutdown, then closes it.
    public func run() async throws {
        try await client.run(connectTimeout: manager.configuration.uiSlotDeadline)
    }

    public func entries(for slot: String, tenant: TenantID, context: JSONValue) async -> [UISlotEntry] {
        guard !manager.index.isSuspended(tenant), client.isOpen else { return [] }
        let extensions = manager.index.customizations(tenant: tenant)
            .filter { $0.mode == .ui && $0.eventType == slot && $0.enabled }
            .sorted { ($0.order, $0.id) < ($1.order, $1.id) }
        guard !extensions.isEmpty else { return [] }
        let body = JSONValue.object(["slot": .string(slot), "tenantid": .string(tenant.rawValue), "context": context])
        guard let payload = try? JSONEncoder().encode(body) else { return [] }
        return await withTaskGroup(of: (Int, [UISlotEntry]).self) { group in
            for (position, customization) in extensions.enumerated() {
                group.addTask { (position, await self.call(customization, slot: slot, payload: payload)) }
            }
            var answers: [(Int, [UISlotEntry])] = []
            for await answer in group { answers.append(answer) }
            return answers.sorted { $0.0 < $1.0 }.flatMap(\.1)
        }
    }

    /// One extension's entries, or none when it fails.
    private func call(_ customization: Customization, slot: String, payload: Data) async -> [UISlotEntry] {
        let started = ContinuousClock.now
        let deadline = min(customization.timeout, manager.configuration.uiSlotDeadline)
        let outcome: String
        var entries: [UISlotEntry] = []
        do {
            let (status, body) = try await client.post(
                customization, payload: payload, messageID: "slot_" + SecureRandom.hex(12), headers: [("user-agent", "Bespoke-UI/1"), ("bespoke-deadline-ms", String(deadline.wholeMilliseconds))],
                deadline: deadline
            )
            guard status == 200 else { throw SlotFailure("the extension answered \(status)") }
            entries = try Self.decode(Data(body.readableBytesView))
            outcome = "ok"
        } catch let failure as SlotFailure {
            outcome = failure.outcome
            logFailure(customization, slot: slot, reason: failure.reason, started: started)
        } catch is CancellationError {
            // The page's request went away: nothing to say of the endpoint.
            outcome = "cancelled"
        } catch let error as PlainHTTPClient.Failure where error.isTimeout {
            outcome = "timeout"
            logFailure(customization, slot: slot, reason: "no answer within \(deadline.wholeMilliseconds) ms", started: started)
        } catch let error as BespokeError {
            outcome = "refused"
            logFailure(customization, slot: slot, reason: error.message, started: started)
        } catch {
            outcome = "error"
            logFailure(customization, slot: slot, reason: "\(error)", started: started)
        }
        Counter(label: "bespoke_ui_slot_calls_total", dimensions: [("tenant", customization.tenant.rawValue), ("slot", slot), ("outcome", outcome)])
            .increment()
        return entries
    }

    private func logFailure(_ customization: Customization, slot: String, reason: String, started: ContinuousClock.Instant) {
        logger.warning(
            "UI extension left out of the page",
            metadata: [
                "tenant": "\(customization.tenant)", "customization": "\(customization.id)", "slot": "\(slot)", "reason": "\(reason)",
                "elapsedMs": "\((ContinuousClock.now - started).wholeMilliseconds)",
            ]
        )
    }

    /// Reads `{"entries": [...]}`, refusing the whole answer when any entry breaks the limits.
    static func decode(_ body: Data) throws -> [UISlotEntry] {
        struct Answer: Decodable { let entries: [UISlotEntry] }
        let answer: Answer
        do {
            answer = try JSONDecoder().decode(Answer.self, from: body)
        } catch {
            throw SlotFailure("the answer is not {\"entries\": [{label, value, key?, link?}]}", outcome: "invalid")
        }
        guard answer.entries.count <= UISlotEntry.maxEntries else {
            throw SlotFailure("the answer has more than \(UISlotEntry.maxEntries) entries", outcome: "invalid")
        }
        for entry in answer.entries {
            if let problem = entry.problem { throw SlotFailure("an entry is refused: \(problem)", outcome: "invalid") }
        }
        return answer.entries
    }
}

/// Why an extension's answer was left out.
struct SlotFailure: Error {
    let reason: String
    let outcome: String

    init(_ reason: String, outcome: String = "error") {
        self.reason = reason
        self.outcome = outcome
    }
}
