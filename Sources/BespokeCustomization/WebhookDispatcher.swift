public import BespokeBus
import BespokeCore
import BespokeStorage
import BespokeWebhooks
import Foundation
public import Logging
import Metrics
import NIOCore
import NIOHTTP1
public import ServiceLifecycle
import Synchronization

/// Pushes events to tenants' endpoints: copies to observers, held events to interceptors.
///
/// Every push is a CloudEvent in structured mode, signed per Standard Webhooks with the
/// customization's secrets (both during a rotation). Each endpoint has its own loop and at most
/// ``CustomizationConfiguration/endpointConcurrency`` pushes in flight, so a slow or failing
/// endpoint delays only its own tenant's pushes. Failed pushes are retried on the configured
/// schedule (`Retry-After` is honoured); 410 Gone, or failing for
/// ``CustomizationConfiguration/disableAfter``, disables the endpoint and tells its tenant with
/// an operational event. Every attempt is logged. Pushes to `http` endpoints go through a lean
/// keep-alive client (``PlainHTTPClient``), to `https` ones through AsyncHTTPClient.
public final class WebhookDispatcher: Service {
    let bus: EventBus
    let manager: TenantManager
    let logger: Logger
    private let limiters = Mutex<[String: EndpointLimiter]>([:])
    /// The turns of the endpoints with a rate limit.
    private let pacer = PushPacer()
    private let attemptBuffer = Mutex<[DeliveryAttempt]>([])
    /// Set once the dispatcher stops: observer loops (unstructured tasks) end at their next turn.
    private let stopping = Mutex(false)
    private let pushMetrics = MetricHandles { tenant in
        (
            succeeded: Counter(label: "bespoke_webhook_pushes_total", dimensions: [("tenant", tenant), ("outcome", "success")]),
            failed: Counter(label: "bespoke_webhook_pushes_total", dimensions: [("tenant", tenant), ("outcome", "failure")]),
            duration: Timer(label: "bespoke_webhook_push_duration", dimensions: [("tenant", tenant)])
        )
    }

    public init(bus: EventBus, manager: TenantManager, logger: Logger) {
        self.bus = bus
        self.manager = manager
        self.logger = logger
    }

    var configuration: CustomizationConfiguration { manager.configuration }

    public func run() async throws {
        let client = EndpointClients(connectTimeout: configuration.connectTimeout)
        await withTaskCancellationOrGracefulShutdownHandler {
            await self.runLoops(client)
        } onCancelOrGracefulShutdown: {
            self.stopping.withLock { $0 = true }
        }
        await flushAttempts()
        try await client.shutdown()
        logger.info("webhook dispatcher stopped")
    }

    private var isStopping: Bool { stopping.withLock { $0 } }

    private func runLoops(_ client: EndpointClients) async {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.pushHeldEvents(client) }
                group.addTask { await self.superviseObservers(client) }
                group.addTask { await self.flushAttemptsPeriodically(closingIdleOf: client.plain) }
                group.addTask { await self.deleteExpiredAttemptsPeriodically() }
            }
        }
    }

    // MARK: Interceptors

    private func pushHeldEvents(_ client: EndpointClients) async {
        await withDiscardingTaskGroup { group in
            for await hold in bus.heldEvents {
                group.addTask { await self.push(hold, client: client) }
            }
        }
    }

    /// Pushes a held event to its interceptor until the endpoint accepts it, the retries are
    /// used up, or the hold moves on; the hold's deadline governs what happens to it then.
    private func push(_ hold: Hold, client: EndpointClients) async {
        guard let stage = hold.stage else { return }
        var event: CloudEvent
        do {
            event = try JSONDecoder().decode(CloudEvent.self, from: hold.envelope)
        } catch {
            logger.error("a held event does not decode", metadata: ["hold": "\(hold.id)", "error": "\(error)"])
            return
        }
        event.extensions[CloudEvent.holdAttribute] = .string(hold.ticket.description)
        let body = event.encoded()
        var failures = 0
        while !Task.isCancelled {
            // A suspended tenant's held events are pushed when it is reinstated.
            guard var customization = manager.index.pushable(tenant: hold.tenant, id: stage.customization) else { return }
            if customization.rateLimit != nil {
                // A turn after the hold's deadline is not taken; after a wait, the hold and the
                // registration are looked at again (resumed, lapsed, disabled or changed meanwhile).
                let latest = ContinuousClock.now + .seconds(max(stage.deadline.timeIntervalSinceNow, 0))
                guard await awaitTurn(of: customization, notAfter: latest),
                    let current = manager.index.pushable(tenant: hold.tenant, id: stage.customization),
                    let held = try? await bus.hold(tenant: hold.tenant, id: hold.id), held.state == .held, held.step == hold.step
                else { return }
                customization = current
            }
            let outcome = await push(
                body, to: customization, messageID: "\(customization.id)-h\(hold.ticket)", eventID: hold.eventID,
                traceparent: event.traceparent, client: client
            )
            if outcome.cancelled { return }
            if outcome.succeeded {
                do {
                    try await bus.markPushed(hold)
                } catch {
                    logger.debug("recording a push failed", metadata: ["hold": "\(hold.id)", "error": "\(error)"])
                }
                return
            }
            if outcome.gone {
                await manager.disable(customization, reason: "the endpoint answered 410 Gone")
                return
            }
            failures += 1
            guard failures < customization.maxAttempts ?? configuration.retrySchedule.count + 1 else { return }
            let delay = max(outcome.retryAfter ?? .zero, configuration.retryDelay(afterFailures: failures))
            guard Date().addingTimeInterval(delay.seconds) < stage.deadline else { return }
            try? await Task.sleep(for: delay)
            // Resumed, cancelled or lapsed meanwhile: nothing more to push.
            guard let current = try? await bus.hold(tenant: hold.tenant, id: hold.id), current.state == .held,
                current.step == hold.step
            else { return }
        }
    }

    // MARK: Observers

    /// Keeps one loop running per enabled observer, picking up registration changes: a loop
    /// runs until this cancels it (its registration disabled, deleted or suspended at a pass).
    private func superviseObservers(_ client: EndpointClients) async {
        var running: [String: Task<Void, Never>] = [:]
        while !Task.isCancelled, !isStopping {
            let wanted = Dictionary(uniqueKeysWithValues: manager.index.enabledObservers().map { ($0.id, $0) })
            for (id, task) in running where wanted[id] == nil {
                task.cancel()
                running[id] = nil
                // Its booked turns go with it.
                pacer.forget(id)
            }
            for (id, customization) in wanted where running[id] == nil {
                running[id] = Task { await self.observe(customization, client: client) }
            }
            try? await Task.sleep(for: configuration.reconcileInterval)
        }
        for task in running.values { task.cancel() }
        for task in running.values { await task.value }
    }

    /// Keeps up to ``CustomizationConfiguration/endpointConcurrency`` pushes of one observer in
    /// flight (the bus hands out one event per partition key at a time, so pushes in flight
    /// together never reorder a key).
    ///
    /// One receive at a time runs beside the pushes, as a long-poll, so new events are leased
    /// for free slots as they come, however long the pushes in flight take. Under load a receive
    /// waits until at least half the slots are free, so that it serves several pushes, or until
    /// ``refillDelay`` has passed, so that a few free slots are not kept waiting. Pushes that
    /// end together share an ack (``AckCombiner``).
    private func observe(_ registered: Customization, client: EndpointClients) async {
        let tenant = registered.tenant
        let subscription = registered.subscriptionName
        let limit = max(1, configuration.endpointConcurrency)
        let acks = AckCombiner()
        await withTaskGroup(of: ObserverStep.self) { group in
            var inFlight = 0
            var receiving = false
            var timerSet = false
            var refillDue = false
            loop: while !Task.isCancelled, !isStopping {
                let current = manager.index.pushable(tenant: tenant, id: registered.id)
                let active = current != nil
                // With a rate limit, no more leased at once than a second's pushes, and none
                // before the endpoint's next turn: a lease never waits long for its turn.
                let cap = current?.rateLimit.map { min(limit, max(1, Int($0))) } ?? limit
                let half = cap - cap / 2
                let free = cap - inFlight
                let untilTurn = current?.rateLimit.map { pacer.untilTurn(of: registered.id, rate: $0) } ?? .zero
                if active, !receiving, free > 0, untilTurn > .zero {
                    if !timerSet {
                        timerSet = true
                        group.addTask {
                            try? await Task.sleep(for: untilTurn)
                            return .refillDue
                        }
                    }
                } else if active, !receiving, free > 0 {
                    if free >= half || refillDue {
                        receiving = true
                        refillDue = false
                        group.addTask {
                            do {
                                return .received(try await self.bus.receive(tenant: tenant, subscription: subscription, max: free, wait: .seconds(1)))
                            } catch {
                                return .receiveFailed(error)
                            }
                        }
                    } else if !timerSet {
                        timerSet = true
                        group.addTask {
                            try? await Task.sleep(for: Self.refillDelay)
                            return .refillDue
                        }
                    }
                }
                // Disabled, deleted or suspended, with nothing under way: the loop waits for the
                // supervisor to stop it, or for the registration to be enabled again before that
                // (a loop that ended by itself would not be started again until a restart).
                if !receiving, inFlight == 0, !timerSet {
                    try? await Task.sleep(for: configuration.reconcileInterval)
                    continue
                }
                guard let step = await group.next() else { continue }
                switch step {
                case .pushEnded:
                    inFlight -= 1
                case .refillDue:
                    timerSet = false
                    refillDue = true
                case .receiveFailed(let error):
                    receiving = false
                    if Task.isCancelled || !bus.isRunning { break loop }
                    logger.warning("receiving an observer's events failed", metadata: ["customization": "\(registered.id)", "error": "\(error)"])
                    try? await Task.sleep(for: .seconds(1))
                case .received(let deliveries):
                    receiving = false
                    guard !deliveries.isEmpty else { continue }
                    // Disabled, deleted or suspended while the receive waited: give the
                    // deliveries back uncounted, for when (and if) the endpoint is pushed to again.
                    guard let current = manager.index.pushable(tenant: tenant, id: registered.id), !isStopping, !Task.isCancelled else {
                        try? await bus.release(tenant: tenant, subscription: subscription, deliveries.map(\.receipt))
                        continue
                    }
                    for delivery in deliveries {
                        group.addTask {
                            await self.deliver(delivery, to: current, client: client, acks: acks)
                            return .pushEnded
                        }
                    }
                    inFlight += deliveries.count
                }
            }
            // The pushes in flight end; what a last receive leased is given back uncounted.
            while let step = await group.next() {
                if case .received(let deliveries) = step, !deliveries.isEmpty {
                    try? await bus.release(tenant: tenant, subscription: subscription, deliveries.map(\.receipt))
                }
            }
        }
    }

    /// How long an observer's loop lets fewer than half its slots wait before it leases for
    /// them anyway.
    static let refillDelay = Duration.milliseconds(2)

    /// What ended in an observer loop's task group.
    private enum ObserverStep: Sendable {
        case pushEnded
        case refillDue
        case received([Delivery])
        case receiveFailed(any Error)
    }

    private func deliver(_ delivery: Delivery, to registered: Customization, client: EndpointClients, acks: AckCombiner) async {
        // As registered now: the URL or the secrets may have changed while the loop waited.
        guard let customization = manager.index.customization(tenant: registered.tenant, id: registered.id) else { return }
        // An event its filter turns away is settled unpushed, and leaves no attempt.
        if let filter = customization.filter, let event = try? JSONDecoder().decode(CloudEvent.self, from: delivery.envelope), !filter.matches(event) {
            await ack(delivery, of: customization, acks: acks)
            return
        }
        if customization.rateLimit != nil {
            // A turn the lease would not outlast is not taken: the delivery is given back
            // uncounted, and leased again at a later turn (the rate may have been lowered since
            // it was leased). Looked up only for a rate-limited endpoint: this is every push's path.
            let leaseLeft = (try? bus.subscription(tenant: customization.tenant, name: customization.subscriptionName).policy.ackTimeout) ?? .zero
            guard await awaitTurn(of: customization, notAfter: .now + max(leaseLeft - customization.timeout - .seconds(1), .zero)) else {
                try? await bus.release(tenant: registered.tenant, subscription: registered.subscriptionName, [delivery.receipt])
                return
            }
        }
        let outcome = await push(
            delivery.envelope, to: customization, messageID: "\(customization.id)-\(delivery.eventSeq)", eventID: delivery.eventID,
            traceparent: nil, client: client
        )
        // Stopping, or the loop was stopped (disabled, deleted, suspended): the delivery is
        // given back uncounted, and pushed again when (and if) the endpoint is pushed to again.
        if outcome.cancelled {
            try? await bus.release(tenant: registered.tenant, subscription: registered.subscriptionName, [delivery.receipt])
            return
        }
        let tenant = customization.tenant
        let subscription = customization.subscriptionName
        if outcome.succeeded {
            await ack(delivery, of: customization, acks: acks)
            return
        }
        do {
            if outcome.gone {
                await manager.disable(customization, reason: "the endpoint answered 410 Gone")
                try await bus.nack(tenant: tenant, subscription: subscription, delivery.receipt, reason: outcome.reason, retryAfter: .seconds(60))
            } else {
                let delay = max(outcome.retryAfter ?? .zero, configuration.retryDelay(afterFailures: delivery.attempts + 1))
                // The registration's own limit ends the retries before the schedule's.
                let last = customization.maxAttempts.map { delivery.attempts + 1 >= $0 } ?? false
                try await bus.nack(
                    tenant: tenant, subscription: subscription, delivery.receipt, reason: outcome.reason, retryAfter: delay, lastAttempt: last
                )
            }
        } catch {
            // The lease lapses and the push is made again (at-least-once).
            logger.debug("settling a push failed", metadata: ["customization": "\(customization.id)", "error": "\(error)"])
        }
    }

    /// Waits for the endpoint's next turn when it has a rate limit. - Returns: whether the turn
    /// came; false when it would come after `latest` (nothing is booked then) or the wait was
    /// cancelled.
    private func awaitTurn(of customization: Customization, notAfter latest: ContinuousClock.Instant) async -> Bool {
        guard let rate = customization.rateLimit else { return true }
        guard let wait = pacer.turn(of: customization.id, rate: rate, notAfter: latest) else { return false }
        guard wait > .zero else { return true }
        do {
            try await Task.sleep(for: wait)
            return true
        } catch {
            return false
        }
    }

    /// Acks a settled delivery, in a batch with the loop's other acks.
    private func ack(_ delivery: Delivery, of customization: Customization, acks: AckCombiner) async {
        var batch = acks.add(delivery.receipt)
        while !batch.isEmpty {
            do {
                try await bus.ack(tenant: customization.tenant, subscription: customization.subscriptionName, batch)
            } catch {
                // The leases lapse and the pushes are made again (at-least-once).
                logger.debug("acking pushes failed", metadata: ["customization": "\(customization.id)", "error": "\(error)"])
            }
            batch = acks.next()
        }
    }

    // MARK: Pushing

    /// One signed push, within the endpoint's concurrency limit; logged and counted. An
    /// observer's loop keeps its own pushes within the limit; an interceptor's pushes (one task
    /// per held event) share a limiter.
    private func push(
        _ body: Data, to customization: Customization, messageID: String, eventID: String, traceparent: String?, client: EndpointClients
    ) async -> PushOutcome
    {
        // An attempt is made when it is sent: a wait for the endpoint's limits is not part of it
        // (the attempt log's `since` relies on attempts being recorded soon after they are made).
        let attemptedAt: Date
        let outcome: PushOutcome
        if customization.mode == .observe {
            attemptedAt = Date()
            outcome = await send(body, to: customization, messageID: messageID, traceparent: traceparent, client: client)
        } else {
            let limiter = limiters.withLock { limiters in
                if let existing = limiters[customization.id] { return existing }
                let created = EndpointLimiter(limit: configuration.endpointConcurrency)
                limiters[customization.id] = created
                return created
            }
            (attemptedAt, outcome) = await limiter.withSlot {
                (Date(), await self.send(body, to: customization, messageID: messageID, traceparent: traceparent, client: client))
            }
        }
        if outcome.cancelled { return outcome }
        attemptBuffer.withLock {
            $0.append(
                DeliveryAttempt(
                    tenant: customization.tenant, customization: customization.id, messageID: messageID, eventID: eventID,
                    attemptedAt: attemptedAt, status: outcome.status, latency: outcome.latency, error: outcome.error
                )
            )
        }
        let metrics = pushMetrics[customization.tenant.rawValue]
        (outcome.succeeded ? metrics.succeeded : metrics.failed).increment()
        metrics.duration.recordNanoseconds(Int64(outcome.latency.seconds * 1e9))
        await track(outcome, of: customization)
        return outcome
    }

    private func send(
        _ body: Data, to customization: Customization, messageID: String, traceparent: String?, client: EndpointClients
    ) async -> PushOutcome {
        let started = ContinuousClock.now
        if let refusal = manager.endpointChecks.refusal(for: customization.url) {
            return PushOutcome(status: nil, latency: .zero, error: refusal.message, retryAfter: nil)
        }
        var headers = [("user-agent", "Bespoke-Webhooks/1")]
        if let traceparent { headers.append(("traceparent", traceparent)) }
        do {
            let answer = try await client.postSigned(
                to: customization, messageID: messageID, contentType: "application/cloudevents+json", headers: headers, body: body,
                timeout: customization.timeout
            )
            let failure = (200..<300).contains(answer.status) ? nil : "endpoint answered \(answer.status)"
            return PushOutcome(status: answer.status, latency: ContinuousClock.now - started, error: failure, retryAfter: answer.retryAfter)
        } catch is CancellationError {
            return .cancelledPush
        } catch {
            return PushOutcome(status: nil, latency: ContinuousClock.now - started, error: "\(error)", retryAfter: nil)
        }
    }

    /// Disables an endpoint that has failed every push for ``CustomizationConfiguration/disableAfter``.
    /// Since when it fails is stored with the customization, so a restart does not reset it.
    private func track(_ outcome: PushOutcome, of customization: Customization) async {
        if outcome.succeeded {
            await manager.markFailing(customization, since: nil)
            return
        }
        let now = Date()
        guard let current = manager.index.customization(tenant: customization.tenant, id: customization.id) else { return }
        guard let since = current.failingSince else {
            await manager.markFailing(current, since: now)
            return
        }
        guard now.timeIntervalSince(since) >= configuration.disableAfter.seconds else { return }
        await manager.disable(
            current, reason: "every push failed for \(Int(now.timeIntervalSince(since)))s (last: \(outcome.reason))"
        )
    }

    // MARK: Attempt log

    /// Records the buffered attempts and closes idle connections every 100 ms.
    private func flushAttemptsPeriodically(closingIdleOf plain: PlainHTTPClient) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(100))
            await flushAttempts()
            plain.closeIdle()
        }
    }

    /// Deletes the attempts past their retention every
    /// ``CustomizationConfiguration/attemptSweepInterval`` (in a task of its own: a long first
    /// sweep of a large log holds no flush back).
    private func deleteExpiredAttemptsPeriodically() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: max(configuration.attemptSweepInterval, .milliseconds(10)))
            if Task.isCancelled { return }
            await manager.deleteExpiredAttempts()
        }
    }

    private func flushAttempts() async {
        let attempts = attemptBuffer.withLock { buffer in
            defer { buffer.removeAll() }
            return buffer
        }
        if !attempts.isEmpty { await manager.recordAttempts(attempts) }
    }
}
