import Foundation

/// A validator for the subset of JSON Schema (2020-12) the event catalog uses: `type`,
/// `properties`, `required`, `additionalProperties` (boolean or schema), `items`, `enum`,
/// `const`, `minimum`, `maximum`, `minLength`, `maxLength`, `minItems`, `maxItems`.
/// Other keywords are ignored, as the specification asks of unknown ones.
public struct JSONSchema: Sendable, Equatable {
    public let schema: JSONValue

    /// - Throws: ``BespokeError`` `invalid_request` when `schema` is not an object or a boolean.
    public init(_ schema: JSONValue) throws(BespokeError) {
        switch schema {
        case .object, .bool: self.schema = schema
        default: throw BespokeError(.invalidRequest, "a JSON Schema must be an object or a boolean")
        }
    }

    /// The violations of the schema by `value`, each with its JSON Pointer; empty when valid.
    public func violations(of value: JSONValue) -> [String] {
        var found: [String] = []
        Self.check(value, against: schema, at: "", into: &found)
        return found
    }

    private static func check(_ value: JSONValue, against schema: JSONValue, at path: String, into found: inout [String]) {
        let here = path.isEmpty ? "/" : path
        switch schema {
        case .bool(let allowed):
            if !allowed { found.append("\(here): not allowed") }
            return
        case .object: break
        default: return
        }
        if let type = schema["type"] {
            let names: [String] = switch type {
            case .string(let name): [name]
            case .array(let values): values.compactMap(\.stringValue)
            default: []
            }
            if !names.isEmpty, !names.contains(where: { matches(value, type: $0) }) {
                found.append("\(here): must be of type \(names.joined(separator: " or "))")
                return
            }
        }
        if case .array(let options)? = schema["enum"], !options.contains(value) {
            found.append("\(here): must be one of the enumerated values")
        }
        if let constant = schema["const"], constant != value {
            found.append("\(here): must equal the constant value")
        }
        switch value {
        case .number(let number):
            if case .number(let minimum)? = schema["minimum"], number < minimum { found.append("\(here): must be at least \(minimum)") }
            if case .number(let maximum)? = schema["maximum"], number > maximum { found.append("\(here): must be at most \(maximum)") }
        case .string(let string):
            let length = string.count
            if case .number(let minimum)? = schema["minLength"], Double(length) < minimum {
                found.append("\(here): must be at least \(Int(minimum)) characters")
            }
            if case .number(let maximum)? = schema["maxLength"], Double(length) > maximum {
                found.append("\(here): must be at most \(Int(maximum)) characters")
            }
        case .array(let items):
            if case .number(let minimum)? = schema["minItems"], Double(items.count) < minimum {
                found.append("\(here): must have at least \(Int(minimum)) items")
            }
            if case .number(let maximum)? = schema["maxItems"], Double(items.count) > maximum {
                found.append("\(here): must have at most \(Int(maximum)) items")
            }
            if let itemSchema = schema["items"] {
                for (index, item) in items.enumerated() { check(item, against: itemSchema, at: "\(path)/\(index)", into: &found) }
            }
        case .object(let members):
            if case .array(let required)? = schema["required"] {
                for name in required.compactMap(\.stringValue) where members[name] == nil {
                    found.append("\(here): required member '\(name)' is missing")
                }
            }
            var properties: [String: JSONValue] = [:]
            if case .object(let declared)? = schema["properties"] { properties = declared }
            for (name, member) in members.sorted(by: { $0.key < $1.key }) {
                let memberPath = "\(path)/\(escape(name))"
                if let memberSchema = properties[name] {
                    check(member, against: memberSchema, at: memberPath, into: &found)
                } else if let additional = schema["additionalProperties"] {
                    if additional == .bool(false) {
                        found.append("\(memberPath): is not an allowed member")
                    } else {
                        check(member, against: additional, at: memberPath, into: &found)
                    }
                }
            }
        default: break
        }
    }

    private static func matches(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("number", .number), ("string", .string), ("array", .array), ("object", .object):
            true
        case ("integer", .number(let number)): number.rounded() == number
        default: false
        }
    }

    /// JSON Pointer escaping of a member name.
    private static func escape(_ name: String) -> String {
        name.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }
}
