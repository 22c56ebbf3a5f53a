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
        serialize(sortedMembers: members.sorted { $0.key < $1.key }, into: &out)
    }

    /// Writes an object whose members are already in key order (no key twice).
    static func serialize(sortedMembers members: [(key: String, value: JSONValue)], into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        for (index, member) in members.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            serialize(string: member.key, into: &out)
            out.append(UInt8(ascii: ":"))
            member.value.serialize(into: &out)
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

    /// Copies runs of bytes that need no escape whole, escaping the rest one by one.
    static func serialize(string value: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { bytes in
            var run = 0
            for index in bytes.indices {
                let byte = bytes[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                if run < index { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run..<index])) }
                escape(byte, into: &out)
                run = index + 1
            }
            if run < bytes.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run...])) }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// A quote, a backslash or a control character, escaped as `JSONEncoder` does.
    private static func escape(_ byte: UInt8, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\\"))
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(byte)
        case 0x0A: out.append(UInt8(ascii: "n"))
        case 0x0D: out.append(UInt8(ascii: "r"))
        case 0x09: out.append(UInt8(ascii: "t"))
        case 0x08: out.append(UInt8(ascii: "b"))
        case 0x0C: out.append(UInt8(ascii: "f"))
        default:
            func hex(_ digit: UInt8) -> UInt8 { digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10 }
            out.append(UInt8(ascii: "u"))
            out.append(UInt8(ascii: "0"))
            out.append(UInt8(ascii: "0"))
            out.append(hex(byte >> 4))
            out.append(hex(byte & 0x0F))
        }
    }
}
