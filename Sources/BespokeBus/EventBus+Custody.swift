public import BespokeCore
public import BespokeStorage
import Foundation
import Metrics

extension Interceptor {
    /// The stage of a hold handed to this interceptor at `date`.
    func stage(from date: Date) -> HoldStage {
        HoldStage(customization: customization, deadline: date.addingTimeInterval(holdDeadline.seconds), onDeadline: onDeadline)
    }
}

extension EventBus {
    /// Held events as they reach an interceptor, to be pushed to its endpoint; after a restart,
    /// every held event its interceptor had not yet accepted. One consumer (the dispatcher).
    public var heldEvents: AsyncStream<Hold> { custody.pushes }

    /// A hold of the tenant. - Throws: ``BespokeError`` `not_found`, also for another tenant's.
    public func hold(tenant: TenantID, id: Int64) async throws -> Hold {
        guard let hold = try await store.hold(tenant: tenant, id: id) else { throw BespokeError.notFound("hold") }
        return hold
    }

    /// The tenant's holds in the given states, oldest first.
    public func holds(tenant: TenantID, states: [HoldState] = [.held, .waiting], limit: Int = 100) async throws -> [Hold] {
        try await store.holds(tenant: tenant, states: states, limit: Swift.min(Swift.max(limit, 1), 1000))
    }

    /// Resumes a held event: it goes on to the next interceptor of its type, or to the log and
    /// the product's consumers. `changes` replace members of the event's `data`, as the
    /// catalog allows.
    /// - Throws: ``BespokeError`` `not_found` (no such held event of this tenant), `stale_hold`
    ///   (the ticket is of an earlier step), `forbidden_change`, `schema_violation`.
    public func resume(tenant: TenantID, ticket: HoldTicket, changes: [String: JSONValue]? = nil) async throws {
        try ensureRunning()
        let hold = try await heldHold(tenant: tenant, ticket: ticket)
        var envelope = hold.envelope
        if let changes, !changes.isEmpty {
            guard let interception else { throw BespokeError(.forbiddenChange, "no field of '\(hold.type)' may be changed") }
            let event = try JSONDecoder().decode(CloudEvent.self, from: hold.envelope)
            envelope = try interception.applyChanges(changes, to: event).encoded()
        }
        try await moveOn(hold, passing: true, envelope: envelope)
        Counter(label: "bespoke_custody_resumed_total", dimensions: [("tenant", tenant.rawValue)]).increment()
    }

    /// Cancels a held event: the product never sees it. Events queued behind it on its
    /// partition key go on.
    /// - Throws: ``BespokeError`` `not_found`, `stale_hold`.
    public func cancel(tenant: TenantID, ticket: HoldTicket, reason: String) async throws {
        try ensureRunning()
        let hold = try await heldHold(tenant: tenant, ticket: ticket)
        try await close(hold, as: .cancelled, reason: reason)
        Counter(label: "bespoke_custody_cancelled_total", dimensions: [("tenant", tenant.rawValue)]).increment()
    }

    /// Records that the current interceptor's endpoint accepted a held event, so it is not
    /// pushed again after a restart.
    public func markPushed(_ hold: Hold) async throws {
        _ = try await committer.submit([.markHoldPushed(hold.tenant, holdID: hold.id, step: hold.step)], tenant: hold.tenant)
    }

    /// Pushes a held event to its current interceptor again, whether or not its endpoint had
    /// accepted it (an endpoint's recovery). - Throws: ``BespokeError`` `not_found` when the
    /// tenant has no such event held.
    public func repush(tenant: TenantID, holdID: Int64) async throws {
        try ensureRunning()
        guard let hold = try await store.hold(tenant: tenant, id: holdID), hold.state == .held else {
            throw BespokeError.notFound("held event")
        }
        custody.repush(hold)
    }

    /// Pushes again every event the tenant has held (by `customization` only, when given) for
    /// which `include` holds, however many there are: the held events are known from memory,
    /// each is read once. - Returns: how many were pushed again.
    public func repushHeld(tenant: TenantID, customization: String? = nil, where include: (Hold) -> Bool) async throws -> Int {
        try ensureRunning()
        var count = 0
        for id in custody.heldHoldIDs(tenant: tenant, customization: customization) {
            guard let hold = try await store.hold(tenant: tenant, id: id), hold.state == .held, include(hold) else { continue }
            custody.repush(hold)
            count += 1
        }
        return count
    }

    private func heldHold(tenant: TenantID, ticket: HoldTicket) async throws -> Hold {
        guard let hold = try await store.hold(tenant: tenant, id: ticket.id), hold.state == .held else {
            throw BespokeError.notFound("held event")
        }
        guard hold.step == ticket.step else {
            throw BespokeError(.staleHold, "hold \(ticket) has moved on (now \(hold.ticket)); it was resumed or its deadline passed")
        }
        return hold
    }

    /// Sends a hold on: to the next interceptor, or to the log. `passing` when its current
    /// interceptor is done with it.
    private func moveOn(_ hold: Hold, passing: Bool, envelope: Data) async throws {
        let passed = passing ? hold.passed + (hold.stage.map { [$0.customization] } ?? []) : hold.passed
        let write: BusWrite
        let next = interception?.nextInterceptor(tenant: hold.tenant, type: hold.type, passed: passed) {
            do {
                return try JSONDecoder().decode(CloudEvent.self, from: envelope)
            } catch {
                logger.error("a held event does not decode for the interceptors' filters", metadata: ["hold": "\(hold.id)", "error": "\(error)"])
                return nil
            }
        }
        if let next {
            write = .advanceHold(hold.tenant, holdID: hold.id, step: hold.step, to: next.stage(from: Date()), envelope: envelope)
        } else {
            write = .releaseHold(hold.tenant, holdID: hold.id, step: hold.step, envelope: envelope)
        }
        guard try await committer.submit([write], tenant: hold.tenant).first != .notFound else {
            throw BespokeError(.staleHold, "hold \(hold.ticket) was settled meanwhile")
        }
    }

    private func close(_ hold: Hold, as state: HoldState, reason: String) async throws {
        let write = BusWrite.closeHold(hold.tenant, holdID: hold.id, step: hold.step, state: state, reason: String(reason.prefix(2000)))
        guard try await committer.submit([write], tenant: hold.tenant).first != .notFound else {
            throw BespokeError(.staleHold, "hold \(hold.ticket) was settled meanwhile")
        }
    }

    /// Decides on waiting holds whose turn came: an interceptor, or the log.
    func custodyLoop() async {
        for await hold in custody.turns {
            do {
                try await moveOn(hold, passing: false, envelope: hold.envelope)
            } catch let error as BespokeError where error.code == .staleHold {
                continue
            } catch {
                // Decided again at the next start-up; until then its key's queue waits.
                logger.error("deciding on a queued event failed", metadata: ["hold": "\(hold.id)", "error": "\(error)"])
            }
        }
    }

    /// Applies the configured outcome to held events whose deadline passed.
    func deadlineLoop() async {
        while isRunning {
            try? await Task.sleep(for: configuration.holdDeadlineCheckInterval)
            for (id, deadline) in custody.lapsed(now: Date()) {
                do {
                    guard let hold = try await store.hold(tenant: deadline.tenant, id: id), hold.state == .held,
                        hold.step == deadline.step
                    else { continue }
                    let reason = "hold deadline passed at \(RFC3339.format(deadline.stage.deadline))"
                    switch deadline.stage.onDeadline {
                    case .resume: try await moveOn(hold, passing: true, envelope: hold.envelope)
                    case .cancel: try await close(hold, as: .cancelled, reason: reason)
                    case .deadLetter: try await close(hold, as: .deadLettered, reason: reason)
                    }
                    logger.notice(
                        "hold deadline passed",
                        metadata: ["tenant": "\(deadline.tenant)", "hold": "\(id)", "outcome": "\(deadline.stage.onDeadline.rawValue)"]
                    )
                    Counter(label: "bespoke_custody_lapsed_total", dimensions: [("tenant", deadline.tenant.rawValue)]).increment()
                } catch let error as BespokeError where error.code == .staleHold {
                    continue
                } catch {
                    // Tracked again at the next start-up.
                    logger.error("applying a hold deadline failed", metadata: ["hold": "\(id)", "error": "\(error)"])
                }
            }
        }
    }
}
