public import BespokeCore
public import BespokeWebhooks
import Foundation
import HTTPTypes
public import Hummingbird
import Logging

/// The endpoints a tenant service offers the platform, on a Hummingbird router: pushed events
/// (observed or intercepted), synchronous extension points and UI slots. Every request is
/// checked against the registrations' signing secrets (Standard Webhooks) before a handler
/// sees it.
///
/// ```swift
/// var hooks = TenantHooks(tenant: "acme", secrets: [secret])
/// hooks.onEvent(OrderSubmitted.self) { order, event in try await store.save(order, eventID: event.id) }
/// hooks.onExtension("ext.order.validate") { (order: OrderToValidate, call) in Verdict(valid: true) }
/// hooks.onSlot("ui.my-orders.columns") { (context: MyOrdersContext, call) in [] }
/// hooks.addRoutes(to: router)   // POST /hooks/events, /hooks/extensions, /hooks/slots
/// ```
///
/// Register the service's URLs with the platform as `<base>/hooks/events` (modes `observe` and
/// `intercept`), `<base>/hooks/extensions` (mode `sync`) and `<base>/hooks/slots` (mode `ui`).
/// Events arrive at least once: make their effects idempotent by ``ReceivedEvent/id``.
public struct TenantHooks: Sendable {
    public typealias EventHandler = @Sendable (ReceivedEvent) async throws -> Void
    /// Answers a call from its signed body: decodes the typed data, runs the handler, and
    /// encodes its answer, each once.
    typealias CallHandler = @Sendable (_ body: Data, ExtensionCall) async throws -> Data

    /// The tenant the service works for: calls for another tenant are refused.
    public let tenant: String
    private let secrets: [WebhookSecret]
    private var events: [String: EventHandler] = [:]
    private var extensions: [String: CallHandler] = [:]
    private var slots: [String: CallHandler] = [:]
    /// How far a push's timestamp may be from now (replay protection), 1 s to 1 hour.
    public var tolerance: TimeInterval = 300 {
        didSet { tolerance = min(max(tolerance, 1), 3600) }
    }
    /// The largest request body accepted.
    public var maxBodyBytes = 1024 * 1024

    /// - Parameter secrets: the signing secrets of the service's registrations (`whsec_...`),
    ///   old and new during a rotation.
    public init(tenant: String, secrets: [WebhookSecret]) {
        self.tenant = tenant
        self.secrets = secrets
    }

    // MARK: Registering handlers

    /// Handles pushes of `type`. Throwing answers `500`, and the platform pushes again later
    /// (as it does any answer but 2xx and 410, on its retry schedule; a push that keeps
    /// failing disables the registration).
    /// For an intercepted event (``ReceivedEvent/hold`` is set), returning means "received":
    /// the platform keeps the event until the service resumes or cancels it.
    public mutating func onEvent(_ type: String, _ handler: @escaping EventHandler) {
        events[type] = handler
    }

    /// Handles pushes of `T.eventType` with their `data` decoded as `T`.
    public mutating func onEvent<T: TypedEventData>(_ type: T.Type, _ handler: @escaping @Sendable (T, ReceivedEvent) async throws -> Void) {
        events[T.eventType] = { event in
            let data: T
            do { data = try event.data(as: T.self) } catch { throw InputError(error) }
            try await handler(data, event)
        }
    }

    /// Answers the extension point `point` (`ext.order.validate`): the request's `data` is
    /// decoded as `Request`, the answer encoded from `Answer`; it must arrive before
    /// ``ExtensionCall/deadline``.
    public mutating func onExtension<Request: Decodable & SendableMetatype, Answer: Encodable & SendableMetatype>(
        _ point: String, _ handler: @escaping @Sendable (Request, ExtensionCall) async throws -> Answer
    ) {
        extensions[point] = Self.typed(handler)
    }

    /// Fills the UI slot `slot` (`ui.my-orders.columns`) from the page's context, decoded as
    /// `Context`. The product renders the entries with its own templates.
    public mutating func onSlot<Context: Decodable & SendableMetatype>(
        _ slot: String, _ handler: @escaping @Sendable (Context, ExtensionCall) async throws -> [UISlotEntry]
    ) {
        slots[slot] = Self.typed { (context: Context, call) in SlotAnswer(entries: try await handler(context, call)) }
    }

    // MARK: Routes

    /// Adds `POST <path>/events`, `<path>/extensions` and `<path>/slots` to `router`.
    public func addRoutes<Context: RequestContext>(to router: Router<Context>, at path: RouterPath = "hooks") {
        let group = router.group(path)
        group.post("events") { request, context in try await self.receiveEvent(request, logger: context.logger) }
        group.post("extensions") { request, context in
            try await self.answer(request, kind: "point", handlers: self.extensions, logger: context.logger)
        }
        group.post("slots") { request, context in
            try await self.answer(request, kind: "slot", handlers: self.slots, logger: context.logger)
        }
    }

    private func receiveEvent(_ request: Request, logger: Logger) async throws -> Response {
        let (body, messageID) = try await verified(request)
        let event: CloudEvent
        do {
            event = try CloudEvent.decode(body, limits: EventLimits(maxEventBytes: maxBodyBytes))
        } catch {
            throw HTTPError(.badRequest, message: "not a CloudEvent: \(error)")
        }
        guard event.tenantID == tenant else {
            throw HTTPError(.forbidden, message: "this service works for tenant '\(tenant)'")
        }
        guard let handler = events[event.type] else {
            throw HTTPError(.notFound, message: "no handler for event type '\(event.type)'")
        }
        do {
            try await handler(ReceivedEvent(cloudEvent: event, messageID: messageID))
        } catch let error as InputError {
            logger.error("event data not understood", metadata: ["type": "\(event.type)", "id": "\(event.id)", "error": "\(error)"])
            throw HTTPError(.unprocessableContent, message: "the event's data is not what the handler expects: \(error)")
        } catch {
            logger.error("event handler failed", metadata: ["type": "\(event.type)", "id": "\(event.id)", "error": "\(error)"])
            throw HTTPError(.internalServerError, message: "the handler failed; push again later")
        }
        return Response(status: .noContent)
    }

    private func answer(_ request: Request, kind: String, handlers: [String: CallHandler], logger: Logger) async throws -> Response {
        struct Call: Decodable {
            let point: String?
            let slot: String?
            let tenantid: String
        }
        let (body, _) = try await verified(request)
        guard let call = try? JSONDecoder().decode(Call.self, from: body), let name = call.point ?? call.slot else {
            throw HTTPError(.badRequest, message: "not an extension call: {\"\(kind)\", \"tenantid\", ...}")
        }
        guard call.tenantid == tenant else { throw HTTPError(.forbidden, message: "this service works for tenant '\(tenant)'") }
        guard let handler = handlers[name] else { throw HTTPError(.notFound, message: "no handler for \(kind) '\(name)'") }
        let headers = request.headers
        let milliseconds = headers[HTTPField.Name("Bespoke-Deadline-Ms")!].flatMap { Int64($0) } ?? 1000
        let info = ExtensionCall(
            name: name, tenant: call.tenantid,
            correlationID: headers[HTTPField.Name("Bespoke-Correlation-Id")!],
            deadline: .now + .milliseconds(milliseconds),
            depth: headers[HTTPField.Name("Bespoke-Extension-Depth")!].flatMap { Int($0) } ?? 1,
            traceparent: headers[HTTPField.Name("traceparent")!]
        )
        let answer: Data
        do {
            answer = try await handler(body, info)
        } catch let error as InputError {
            logger.error("extension call not understood", metadata: ["\(kind)": "\(name)", "error": "\(error)"])
            throw HTTPError(.badRequest, message: "the \(kind)'s data is not what the handler expects: \(error)")
        } catch {
            logger.error("extension handler failed", metadata: ["\(kind)": "\(name)", "error": "\(error)"])
            throw HTTPError(.internalServerError, message: "the handler failed")
        }
        var response = Response(status: .ok, body: .init(byteBuffer: ByteBuffer(data: answer)))
        response.headers[.contentType] = "application/json"
        return response
    }

    /// The body, once its signature checks out with one of the secrets.
    private func verified(_ request: Request) async throws -> (Data, messageID: String) {
        let buffer = try await request.body.collect(upTo: maxBodyBytes)
        let body = Data(buffer.readableBytesView)
        let headers = request.headers
        do {
            try WebhookSignature.verify(
                body: body, header: { name in HTTPField.Name(name).flatMap { headers[$0] } }, secrets: secrets, tolerance: tolerance
            )
        } catch {
            throw HTTPError(.unauthorized, message: "signature refused: \(error)")
        }
        return (body, headers[HTTPField.Name(WebhookSignature.idHeader)!] ?? "")
    }

    private static func typed<Input: Decodable & SendableMetatype, Output: Encodable & SendableMetatype>(
        _ handler: @escaping @Sendable (Input, ExtensionCall) async throws -> Output
    ) -> CallHandler {
        { body, call in
            let input: Input
            do {
                let envelope = try JSONDecoder().decode(CallEnvelope<Input>.self, from: body)
                guard let data = envelope.data ?? envelope.context else { throw InputError("the call carries no data or context") }
                input = data
            } catch let error as InputError {
                throw error
            } catch {
                throw InputError(error)
            }
            return try JSONEncoder().encode(try await handler(input, call))
        }
    }

    /// An extension call (`data`) or a slot call (`context`) with its payload typed.
    private struct CallEnvelope<Input: Decodable>: Decodable {
        let data: Input?
        let context: Input?
    }

    /// The request's data is not what the handler declared: the caller's mistake, not the
    /// service's failure.
    struct InputError: Error, CustomStringConvertible {
        let description: String
        init(_ underlying: any Error) { self.description = "\(underlying)" }
        init(_ reason: String) { self.description = reason }
    }

    private struct SlotAnswer: Encodable {
        let entries: [UISlotEntry]
    }
}
