public import BespokeCore
import BespokeStorage
import BespokeWebhooks
import Foundation
public import Logging
import Metrics
import NIOCore
public import ServiceLifecycle
import Synchronization

/// Calls tenants' synchronous extensions for the product (``ExtensionPointCaller``).
///
/// The endpoint is found in the in-memory index. Each call is a signed POST (Standard Webhooks,
/// the registration's secrets) carrying `Bespoke-Correlation-Id`, `Bespoke-Extension-Depth` and
/// `traceparent`, bounded by the registration's deadline and by what is left of the request's
/// synchronous budget. The answer must be 200 with JSON matching the point's response schema.
/// A failure opens the endpoint's circuit after repeated failures, and fails the product's
/// request (`extension_failed`, naming the extension) unless the registration fails open.
/// Run it as a service: it owns its HTTP client.
public final class ExtensionClient: ExtensionPointCaller, Service {
    let manager: TenantManager
    let logger: Logger
    let breaker: CircuitBreaker
    private let client: SignedEndpointClient

    public init(manager: TenantManager, logger: Logger) {
        self.manager = manager
        self.logger = logger
        self.client = SignedEndpointClient(checks: manager.endpointChecks)
        self.breaker = CircuitBreaker(
            threshold: manager.configuration.breakerFailureThreshold, openDuration: manager.configuration.breakerOpenDuration
        )
    }

    public func run() async throws {
        try await client.run(connectTimeout: manager.configuration.maxExtensionDeadline)
    }

    public func call(
        _ point: ExtensionPoint, tenant: TenantID, request: JSONValue, fallback: JSONValue, context: ExtensionCallContext
    ) async throws -> JSONValue? {
        guard !manager.index.isSuspended(tenant),
            let customization = manager.index.customizations(tenant: tenant).first(where: {
                $0.mode == .sync && $0.eventType == point.name && $0.enabled
            })
        else { return nil }
        let configuration = manager.configuration
        guard context.depth < configuration.maxExtensionDepth else {
            throw BespokeError(
                .depthExceeded,
                "the request is \(context.depth) extension calls deep; '\(point.name)' is not called past \(configuration.maxExtensionDepth)"
            )
        }
        let started = ContinuousClock.now
        let left = context.startedAt + configuration.extensionBudget - started
        let deadline = min(customization.timeout, left)
        let outcome: String
        var failure: String?
        var answer: JSONValue?
        // A spent budget is the request's doing, not the endpoint's: decided before the breaker.
        let permit = deadline > .milliseconds(1) ? breaker.permit(customization.id) : nil
        switch permit {
        case nil:
            outcome = "budget"
            failure = "the request's synchronous budget of \(configuration.extensionBudget.wholeMilliseconds) ms is spent"
        case .refused:
            outcome = "circuit_open"
            failure = "its circuit is open after repeated failures"
        case .allowed, .trial:
            do {
                answer = try await post(point, customization: customization, request: request, context: context, deadline: deadline)
                breaker.succeeded(customization.id)
                outcome = "ok"
            } catch let error as ExtensionFailure {
                breaker.failed(customization.id)
                (outcome, failure) = (error.outcome, error.reason)
            } catch is CancellationError {
                // The request went away: that says nothing of the endpoint, but a half-open
                // circuit's trial must not stay pending for ever.
                if permit == .trial { breaker.failed(customization.id) }
                throw CancellationError()
            } catch let error as PlainHTTPClient.Failure where error.isTimeout {
                breaker.failed(customization.id)
                (outcome, failure) = ("timeout", "no answer within \(deadline.wholeMilliseconds) ms")
            } catch let error as BespokeError {
                breaker.failed(customization.id)
                (outcome, failure) = ("refused", error.message)
            } catch {
                breaker.failed(customization.id)
                (outcome, failure) = ("error", "\(error)")
            }
        }
        let failOpen = customization.onDeadline == .resume
        Counter(
            label: "bespoke_extension_calls_total",
            dimensions: [("tenant", tenant.rawValue), ("point", point.name), ("outcome", outcome)]
        ).increment()
        guard let failure else { return answer }
        logger.warning(
            "extension failed",
            metadata: [
                "tenant": "\(tenant)", "customization": "\(customization.id)", "point": "\(point.name)", "reason": "\(failure)",
                "failOpen": "\(failOpen)", "correlationId": "\(context.correlationID)",
                "elapsedMs": "\((ContinuousClock.now - started).wholeMilliseconds)",
            ]
        )
        if failOpen { return fallback }
        throw BespokeError(.extensionFailed, "the tenant's extension \(customization.id) for '\(point.name)' failed: \(failure)")
    }

    private func post(
        _ point: ExtensionPoint, customization: Customization, request: JSONValue, context: ExtensionCallContext, deadline: Duration
    ) async throws -> JSONValue {
        let body = JSONValue.object([
            "point": .string(point.name), "tenantid": .string(customization.tenant.rawValue), "data": request,
        ])
        var payload: [UInt8] = []
        body.serialize(into: &payload)
        var headers = [
            ("user-agent", "Bespoke-Extension/1"), ("bespoke-correlation-id", context.correlationID),
            ("bespoke-extension-depth", String(context.depth + 1)), ("bespoke-deadline-ms", String(deadline.wholeMilliseconds)),
        ]
        if let trace = context.traceParent { headers.append(("traceparent", trace.description)) }
        let (status, bytes) = try await client.post(
            customization, payload: Data(payload), messageID: "ext_" + SecureRandom.hex(12), headers: headers, deadline: deadline
        )
        guard status == 200 else {
            throw ExtensionFailure("it answered \(status)", outcome: "status")
        }
        guard let answer = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes.readableBytesView)) else {
            throw ExtensionFailure("its answer is not JSON", outcome: "invalid")
        }
        let violations = (try? JSONSchema(point.responseSchema))?.violations(of: answer) ?? []
        guard violations.isEmpty else {
            throw ExtensionFailure("its answer does not match the schema: \(violations.joined(separator: "; "))", outcome: "invalid")
        }
        return answer
    }
}

/// Why an extension call failed.
struct ExtensionFailure: Error {
    let reason: String
    let outcome: String

    init(_ reason: String, outcome: String = "error") {
        self.reason = reason
        self.outcome = outcome
    }
}
