/// A direct JSON writer for ``JSONValue`` trees: keys sorted, `/` unescaped, integers without a
/// fraction. It produces the same bytes as `JSONEncoder` with `.sortedKeys` and
/// `.withoutEscapingSlashes`, several times faster, which matters on the publish path.
extension JSONValue {
    /// Appends the JSON text of this value to `out`.
    public func serialize(into out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let value): out.append(contentsOf: (value ? "true" : "false").utf8)
        case .number(let value): Self.serialize(number: value, into: &out)
        case .string(let value): Self.serialize(string: value, into: &out)
        case .array(let values):
            out.append(UInt8(ascii: "["))
            for (index, value) in values.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                value.serialize(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            Self.serialize(object: members, into: &out)
        }
    }

    static func serialize(object members: [String: JSONValue], into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        for (index, key) in members.keys.sorted().enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            serialize(string: key, into: &out)
            out.append(UInt8(ascii: ":"))
            members[key]!.serialize(into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    static func serialize(number value: Double, into out: inout [UInt8]) {
        guard value.isFinite else {
            out.append(contentsOf: "null".utf8)
            return
        }
        if let integer = exactInteger(value) {
            out.append(contentsOf: String(integer).utf8)
        } else {
            out.append(contentsOf: "\(value)".utf8)
        }
    }

    static func serialize(string value: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x08: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
