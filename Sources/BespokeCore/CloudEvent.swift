import Foundation

/// A CloudEvents 1.0 event in structured JSON mode.
///
/// Required context attributes are `id`, `source`, `type` and `specversion` ("1.0"). Bespoke
/// uses three extension attributes of its own: `tenantid` (set by the bus from the publisher's
/// credentials), `partitionkey` (events with the same key are delivered in order within a
/// subscription; the CloudEvents partitioning extension) and `traceparent` (W3C trace context;
/// the CloudEvents distributed tracing extension).
public struct CloudEvent: Sendable, Equatable {
    public var id: String
    public var source: String
    public var type: String
    public var specversion: String
    public var time: String?
    public var datacontenttype: String?
    public var dataschema: String?
    public var subject: String?
    /// The payload when it is JSON (`data` member).
    public var data: JSONValue?
    /// The payload when it is binary (`data_base64` member).
    public var dataBase64: String?
    /// Extension attributes, keyed by their lower-case names.
    public var extensions: [String: JSONValue]

    public init(
        id: String,
        source: String,
        type: String,
        time: String? = nil,
        datacontenttype: String? = "application/json",
        subject: String? = nil,
        data: JSONValue? = nil,
        extensions: [String: JSONValue] = [:]
    ) {
        self.id = id
        self.source = source
        self.type = type
        self.specversion = "1.0"
        self.time = time
        self.datacontenttype = datacontenttype
        self.dataschema = nil
        self.subject = subject
        self.data = data
        self.dataBase64 = nil
        self.extensions = extensions
    }

    /// The tenant the event belongs to (`tenantid` extension).
    public var tenantID: String? {
        get { extensions[Self.tenantIDAttribute]?.stringValue }
        set { extensions[Self.tenantIDAttribute] = newValue.map(JSONValue.string) }
    }

    /// The ordering key (`partitionkey` extension).
    public var partitionKey: String? {
        get { extensions[Self.partitionKeyAttribute]?.stringValue }
        set { extensions[Self.partitionKeyAttribute] = newValue.map(JSONValue.string) }
    }

    /// The W3C trace context (`traceparent` extension).
    public var traceparent: String? {
        get { extensions[Self.traceparentAttribute]?.stringValue }
        set { extensions[Self.traceparentAttribute] = newValue.map(JSONValue.string) }
    }

    /// How many reactions deep the event is (`bespokedepth` extension): an event a service
    /// publishes in reaction to an event of depth n carries n + 1. Absent means 0.
    public var depth: Int? {
        get {
            guard case .number(let value) = extensions[Self.depthAttribute], let integer = JSONValue.exactInteger(value) else { return nil }
            return Int(integer)
        }
        set { extensions[Self.depthAttribute] = newValue.map { .number(Double($0)) } }
    }

    public static let tenantIDAttribute = "tenantid"
    public static let depthAttribute = "bespokedepth"
    /// On an event pushed to an interceptor: the ticket that resumes or cancels it.
    public static let holdAttribute = "bespokehold"
    public static let partitionKeyAttribute = "partitionkey"
    public static let traceparentAttribute = "traceparent"

    /// Names of the context attributes defined by the specification itself.
    static let specAttributes: Set<String> = [
        "id", "source", "type", "specversion", "time", "datacontenttype", "dataschema", "subject",
        "data", "data_base64",
    ]
}

extension CloudEvent {
    /// The structured-mode JSON object of this event.
    public var jsonObject: [String: JSONValue] {
        var object = extensions
        object["id"] = .string(id)
        object["source"] = .string(source)
        object["type"] = .string(type)
        object["specversion"] = .string(specversion)
        if let time { object["time"] = .string(time) }
        if let datacontenttype { object["datacontenttype"] = .string(datacontenttype) }
        if let dataschema { object["dataschema"] = .string(dataschema) }
        if let subject { object["subject"] = .string(subject) }
        if let data { object["data"] = data }
        if let dataBase64 { object["data_base64"] = .string(dataBase64) }
        return object
    }

    /// Encodes the event as structured-mode JSON (`application/cloudevents+json`), keys sorted.
    ///
    /// The same bytes as serializing ``jsonObject``, without building the dictionary: the
    /// attributes go into a short array, sorted by name (this runs for every published event).
    public func encoded() -> Data {
        var members: [(key: String, value: JSONValue)] = [("id", .string(id)), ("source", .string(source)), ("type", .string(type)), ("specversion", .string(specversion))]
        members.reserveCapacity(extensions.count + 10)
        if let time { members.append(("time", .string(time))) }
        if let datacontenttype { members.append(("datacontenttype", .string(datacontenttype))) }
        if let dataschema { members.append(("dataschema", .string(dataschema))) }
        if let subject { members.append(("subject", .string(subject))) }
        if let data { members.append(("data", data)) }
        if let dataBase64 { members.append(("data_base64", .string(dataBase64))) }
        let attributes = members.count
        // An extension under the name of a context attribute that is set is overridden by it.
        for (name, value) in extensions where !members[..<attributes].contains(where: { $0.key == name }) {
            members.append((name, value))
        }
        members.sort { $0.key < $1.key }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(512)
        JSONValue.serialize(sortedMembers: members, into: &bytes)
        return Data(bytes)
    }
}

extension CloudEvent: Codable {
    public init(from decoder: any Decoder) throws {
        let object = try [String: JSONValue](from: decoder)
        do {
            self = try CloudEvent(validating: object)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        try jsonObject.encode(to: encoder)
    }
}
