import BespokeCore
import Foundation
import Testing

@Suite("JSON serialization")
struct JSONSerializationTests {
    private func foundation(_ value: JSONValue) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    private func direct(_ value: JSONValue) -> String {
        var bytes: [UInt8] = []
        value.serialize(into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test(arguments: [
        JSONValue.object([
            "z": .string("quote \" backslash \\ slash / newline \n tab \t cr \r bell \u{07} nul \u{00} é 日本 🙂"),
            "a": .array([.number(1), .number(-2.5), .number(1e-7), .number(12345678901234), .bool(true), .bool(false), .null]),
            "m": .object(["b": .object([:]), "a": .array([])]),
            "n": .number(0.1), "big": .number(1e300),
        ]),
        .string(""), .array([]), .number(-0.0), .number(42),
        // Escapes at the edges of the unescaped runs the writer copies whole, and every short form.
        .string("\"\u{08}\u{0C}\u{1F}x\\\n"), .string("\t"), .string("plain"),
        .object(["a10": .number(1), "a9": .number(2), "B": .number(3), "a": .number(4), "_": .null]),
    ])
    func matchesFoundationsEncoder(value: JSONValue) throws {
        #expect(direct(value) == (try foundation(value)))
        // And it parses back to the same value.
        let parsed = try JSONDecoder().decode(JSONValue.self, from: Data(direct(value).utf8))
        #expect(parsed == value)
    }
}
