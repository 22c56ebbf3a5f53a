public import BespokeCore
import Foundation

/// An event the platform pushed to the service: observed, or intercepted and held.
public struct ReceivedEvent: Sendable {
    /// The CloudEvent as the platform delivered it.
    public let cloudEvent: CloudEvent
    /// The push's id (`webhook-id`): the same for every retry of one push.
    public let messageID: String

    public var id: String { cloudEvent.id }
    public var type: String { cloudEvent.type }
    public var tenant: String? { cloudEvent.tenantID }
    /// The hold of an intercepted event (`bespokehold`): the platform keeps the event until
    /// the service resumes or cancels it with this value. Nil for an observed event.
    public var hold: String? { cloudEvent.extensions[CloudEvent.holdAttribute]?.stringValue }

    public init(cloudEvent: CloudEvent, messageID: String) {
        self.cloudEvent = cloudEvent
        self.messageID = messageID
    }

    /// The event's `data` decoded as `T`.
    public func data<T: Decodable>(as type: T.Type = T.self) throws -> T {
        guard let data = cloudEvent.data else {
            throw DecodingError.valueNotFound(T.self, .init(codingPath: [], debugDescription: "the event has no data"))
        }
        return try JSONDecoder().decode(T.self, from: JSONEncoder().encode(data))
    }
}

/// The `data` of an event type, decoded for handlers registered with
/// ``TenantHooks/onEvent(_:_:)-(T.Type,_)``.
public protocol TypedEventData: Decodable, Sendable {
    /// The event type whose `data` this is, e.g. `UserCheckoutAccepted`.
    static var eventType: String { get }
}
