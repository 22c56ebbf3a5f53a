/// Which events a customization takes, in the filter dialects of the CloudEvents
/// Subscriptions API: `exact`, `prefix` and `suffix` compare attributes with strings (every
/// attribute named must match); `all`, `any` and `not` combine filters.
///
/// A key names a context attribute (`source`, `subject`, an extension such as `partitionkey`)
/// or, beyond the CloudEvents dialects, a member of the event's data: `data.` and the member
/// names on the way, dot-separated (`data.shippingAddress.country`). A number or a boolean is
/// compared in its JSON form (`42`, `2.5`, `true`); a key whose value is missing, null, an
/// object or an array matches nothing.
///
/// In JSON, a filter is an object with one member, the dialect:
/// `{"all": [{"exact": {"data.country": "NO"}}, {"not": {"prefix": {"source": "/test"}}}]}`.
public indirect enum EventFilter: Sendable, Equatable {
    /// Each key's value is the string.
    case exact([String: String])
    /// Each key's value starts with the string.
    case prefix([String: String])
    /// Each key's value ends with the string.
    case suffix([String: String])
    /// Every filter matches.
    case all([EventFilter])
    /// At least one filter matches.
    case any([EventFilter])
    /// The filter does not match.
    case not(EventFilter)

    /// How deep filters may nest.
    public static let maxDepth = 8
    /// How many filters one may hold in all, itself included.
    public static let maxFilters = 64
    /// The longest key, in bytes.
    public static let maxKeyBytes = 256
    /// The longest value, in bytes.
    public static let maxValueBytes = 1024

    /// Reads a filter from its JSON form.
    /// - Throws: ``BespokeError`` `invalid_request`, naming what is wrong and where.
    public init(json: JSONValue) throws(BespokeError) {
        var count = 0
        self = try Self.parse(json, path: "filter", depth: 1, count: &count)
    }

    private static func parse(_ json: JSONValue, path: String, depth: Int, count: inout Int) throws(BespokeError) -> EventFilter {
        count += 1
        guard depth <= maxDepth else { throw invalid("\(path) nests filters deeper than \(maxDepth)") }
        guard count <= maxFilters else { throw invalid("the filter has more than \(maxFilters) filters") }
        guard case .object(let members) = json, members.count == 1, let (dialect, operand) = members.first else {
            throw invalid("\(path) must be an object with one member: exact, prefix, suffix, all, any or not")
        }
        let here = "\(path).\(dialect)"
        switch dialect {
        case "exact": return .exact(try comparisons(operand, path: here, allowEmptyValues: true))
        case "prefix": return .prefix(try comparisons(operand, path: here, allowEmptyValues: false))
        case "suffix": return .suffix(try comparisons(operand, path: here, allowEmptyValues: false))
        case "all", "any":
            guard case .array(let items) = operand, !items.isEmpty else { throw invalid("\(here) must be a non-empty array of filters") }
            var filters: [EventFilter] = []
            for (index, item) in items.enumerated() {
                filters.append(try parse(item, path: "\(here)[\(index)]", depth: depth + 1, count: &count))
            }
            return dialect == "all" ? .all(filters) : .any(filters)
        case "not":
            return .not(try parse(operand, path: here, depth: depth + 1, count: &count))
        default:
            throw invalid("\(path) has the unknown dialect '\(dialect.prefix(64))': use exact, prefix, suffix, all, any or not")
        }
    }

    private static func comparisons(_ operand: JSONValue, path: String, allowEmptyValues: Bool) throws(BespokeError) -> [String: String] {
        guard case .object(let members) = operand, !members.isEmpty else {
            throw invalid("\(path) must be a non-empty object of attribute names and strings")
        }
        var result: [String: String] = [:]
        for (key, value) in members {
            try checkKey(key, path: path)
            guard case .string(let text) = value else { throw invalid("\(path).\(key) must be a string") }
            guard text.utf8.count <= maxValueBytes else { throw invalid("\(path).\(key) is longer than \(maxValueBytes) bytes") }
            guard allowEmptyValues || !text.isEmpty else { throw invalid("\(path).\(key) must not be empty") }
            result[key] = text
        }
        return result
    }

    private static func checkKey(_ key: String, path: String) throws(BespokeError) {
        guard !key.isEmpty, key.utf8.count <= maxKeyBytes else { throw invalid("\(path) has a key that is empty or longer than \(maxKeyBytes) bytes") }
        if key.hasPrefix("data.") {
            guard !key.split(separator: ".", omittingEmptySubsequences: false).contains(where: \.isEmpty) else {
                throw invalid("\(path).\(key) names an empty data member")
            }
        } else {
            // Context attribute names: lower-case letters and digits (CloudEvents 1.0).
            guard key.utf8.allSatisfy({ (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
            else { throw invalid("\(path).\(key) is neither an attribute name (a-z, 0-9) nor a data member (data.name)") }
        }
    }

    private static func invalid(_ message: String) -> BespokeError {
        BespokeError(.invalidRequest, message)
    }

    /// The filter's JSON form, as ``init(json:)`` reads it.
    public var json: JSONValue {
        switch self {
        case .exact(let comparisons): .object(["exact": .object(comparisons.mapValues(JSONValue.string))])
        case .prefix(let comparisons): .object(["prefix": .object(comparisons.mapValues(JSONValue.string))])
        case .suffix(let comparisons): .object(["suffix": .object(comparisons.mapValues(JSONValue.string))])
        case .all(let filters): .object(["all": .array(filters.map(\.json))])
        case .any(let filters): .object(["any": .array(filters.map(\.json))])
        case .not(let filter): .object(["not": filter.json])
        }
    }

    // MARK: Matching

    /// Whether `event` passes the filter.
    public func matches(_ event: CloudEvent) -> Bool {
        switch self {
        case .exact(let comparisons): comparisons.allSatisfy { key, value in Self.value(of: key, in: event) == value }
        case .prefix(let comparisons): comparisons.allSatisfy { key, value in Self.value(of: key, in: event)?.hasPrefix(value) == true }
        case .suffix(let comparisons): comparisons.allSatisfy { key, value in Self.value(of: key, in: event)?.hasSuffix(value) == true }
        case .all(let filters): filters.allSatisfy { $0.matches(event) }
        case .any(let filters): filters.contains { $0.matches(event) }
        case .not(let filter): !filter.matches(event)
        }
    }

    /// The string a key compares: an attribute's value, or a data member's; nil when there is none.
    static func value(of key: String, in event: CloudEvent) -> String? {
        switch key {
        case "id": return event.id
        case "source": return event.source
        case "type": return event.type
        case "specversion": return event.specversion
        case "time": return event.time
        case "datacontenttype": return event.datacontenttype
        case "dataschema": return event.dataschema
        case "subject": return event.subject
        default: break
        }
        guard key.hasPrefix("data.") else { return event.extensions[key].flatMap(scalar) }
        var value = event.data
        for member in key.split(separator: ".").dropFirst() {
            guard case .object(let members)? = value else { return nil }
            value = members[String(member)]
        }
        return value.flatMap(scalar)
    }

    /// A scalar in the form a filter compares; nil for null, objects and arrays.
    private static func scalar(_ value: JSONValue) -> String? {
        switch value {
        case .string(let text): return text
        case .bool(let flag): return flag ? "true" : "false"
        case .number(let number):
            if let integer = JSONValue.exactInteger(number) { return String(integer) }
            return String(number)
        case .null, .array, .object: return nil
        }
    }
}
