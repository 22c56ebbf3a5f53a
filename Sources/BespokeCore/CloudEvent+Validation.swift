import Foundation

extension CloudEvent {
    /// Parses and validates one structured-mode event.
    ///
    /// - Throws: ``BespokeError`` with `event_too_large`, `invalid_json`, `missing_attribute`,
    ///   `invalid_attribute` or `unsupported_specversion`.
    public static func decode(_ bytes: Data, limits: EventLimits = EventLimits()) throws(BespokeError) -> CloudEvent {
        guard bytes.count <= limits.maxEventBytes else {
            throw BespokeError(.eventTooLarge, "event is \(bytes.count) bytes; the limit is \(limits.maxEventBytes)")
        }
        let object: [String: JSONValue]
        do {
            object = try JSONDecoder().decode([String: JSONValue].self, from: bytes)
        } catch {
            throw BespokeError(.invalidJSON, "body is not a JSON object: \(Self.describe(error))")
        }
        return try CloudEvent(validating: object)
    }

    /// Parses and validates a batch (`application/cloudevents-batch+json`: a JSON array of
    /// structured events). Each event is held to the per-event size limit.
    public static func decodeBatch(_ bytes: Data, limits: EventLimits = EventLimits()) throws(BespokeError) -> [CloudEvent] {
        let items: [JSONValue]
        do {
            items = try JSONDecoder().decode([JSONValue].self, from: bytes)
        } catch {
            throw BespokeError(.invalidJSON, "body is not a JSON array of events: \(Self.describe(error))")
        }
        guard !items.isEmpty else { throw BespokeError(.invalidRequest, "batch is empty") }
        guard items.count <= limits.maxBatchEvents else {
            throw BespokeError(.payloadTooLarge, "batch has \(items.count) events; the limit is \(limits.maxBatchEvents)")
        }
        var events: [CloudEvent] = []
        events.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            guard case .object(let object) = item else {
                throw BespokeError(.invalidJSON, "batch item \(index) is not a JSON object")
            }
            do throws(BespokeError) {
                let event = try CloudEvent(validating: object)
                let size = event.encoded().count
                guard size <= limits.maxEventBytes else {
                    throw BespokeError(.eventTooLarge, "event is \(size) bytes; the limit is \(limits.maxEventBytes)")
                }
                events.append(event)
            } catch {
                throw BespokeError(error.code, "batch item \(index): \(error.message)")
            }
        }
        return events
    }

    /// Builds an event from a decoded structured-mode JSON object, checking every attribute.
    public init(validating object: [String: JSONValue]) throws(BespokeError) {
        func requiredString(_ name: String) throws(BespokeError) -> String {
            guard let value = object[name] else {
                throw BespokeError(.missingAttribute, "required attribute '\(name)' is missing")
            }
            guard case .string(let string) = value, !string.isEmpty else {
                throw BespokeError(.invalidAttribute, "attribute '\(name)' must be a non-empty string")
            }
            return string
        }
        func optionalString(_ name: String) throws(BespokeError) -> String? {
            guard let value = object[name], value != .null else { return nil }
            guard case .string(let string) = value, !string.isEmpty else {
                throw BespokeError(.invalidAttribute, "attribute '\(name)' must be a non-empty string")
            }
            return string
        }

        guard let version = object["specversion"] else {
            throw BespokeError(.missingAttribute, "required attribute 'specversion' is missing")
        }
        guard version == .string("1.0") else {
            throw BespokeError(.unsupportedSpecVersion, "specversion must be \"1.0\"")
        }
        self.specversion = "1.0"
        self.id = try requiredString("id")
        self.source = try requiredString("source")
        self.type = try requiredString("type")
        self.time = try optionalString("time")
        self.datacontenttype = try optionalString("datacontenttype")
        self.dataschema = try optionalString("dataschema")
        self.subject = try optionalString("subject")
        self.dataBase64 = try optionalString("data_base64")
        self.data = object["data"]
        if data != nil, dataBase64 != nil {
            throw BespokeError(.invalidAttribute, "an event carries 'data' or 'data_base64', not both")
        }
        if let dataBase64, Data(base64Encoded: dataBase64) == nil {
            throw BespokeError(.invalidAttribute, "'data_base64' is not valid base64")
        }
        if let time, !RFC3339.isValid(time) {
            throw BespokeError(.invalidAttribute, "'time' must be an RFC 3339 timestamp")
        }

        var extensions: [String: JSONValue] = [:]
        for (name, value) in object where !Self.specAttributes.contains(name) {
            guard Self.isValidExtensionName(name) else {
                throw BespokeError(
                    .invalidAttribute,
                    "extension attribute '\(name)' must be 1-20 lower-case letters or digits"
                )
            }
            switch value {
            case .string, .bool, .number: extensions[name] = value
            case .null: continue
            case .array, .object:
                throw BespokeError(.invalidAttribute, "extension attribute '\(name)' must be a string, number or boolean")
            }
        }
        self.extensions = extensions

        if let depth = extensions[Self.depthAttribute] {
            guard case .number(let value) = depth, let integer = JSONValue.exactInteger(value), integer >= 0 else {
                throw BespokeError(.invalidAttribute, "extension attribute '\(Self.depthAttribute)' must be a non-negative integer")
            }
        }
        if let traceparent = extensions[Self.traceparentAttribute] {
            guard let value = traceparent.stringValue, TraceParent(value) != nil else {
                throw BespokeError(.invalidAttribute, "'traceparent' is not a valid W3C trace context header")
            }
        }
        for name in [Self.partitionKeyAttribute, Self.tenantIDAttribute] {
            if let value = extensions[name], (value.stringValue ?? "").isEmpty {
                throw BespokeError(.invalidAttribute, "'\(name)' must be a non-empty string")
            }
        }
    }

    static func isValidExtensionName(_ name: String) -> Bool {
        let utf8 = name.utf8
        return !utf8.isEmpty && utf8.count <= 20
            && utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) }
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context): return context.debugDescription
        case DecodingError.typeMismatch(_, let context): return context.debugDescription
        default: return "malformed JSON"
        }
    }
}
