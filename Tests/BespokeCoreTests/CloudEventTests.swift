import BespokeCore
import Foundation
import Testing

@Suite("CloudEvents envelope")
struct CloudEventTests {
    private func decode(_ json: String, limits: EventLimits = EventLimits()) throws(BespokeError) -> CloudEvent {
        try CloudEvent.decode(Data(json.utf8), limits: limits)
    }

    private func code(_ json: String) -> BespokeError.Code? {
        do {
            _ = try decode(json)
            return nil
        } catch {
            return error.code
        }
    }

    @Test func decodesAStructuredEventWithExtensions() throws {
        let event = try decode(
            """
            {"specversion":"1.0","id":"a1","source":"/shop/ordering","type":"OrderStarted",
             "time":"2026-11-23T10:00:00.123Z","datacontenttype":"application/json",
             "partitionkey":"order-7","traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
             "data":{"orderId":7,"lines":[1,2]}}
            """
        )
        #expect(event.id == "a1")
        #expect(event.source == "/shop/ordering")
        #expect(event.type == "OrderStarted")
        #expect(event.partitionKey == "order-7")
        #expect(event.traceparent == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        #expect(event.data?["orderId"] == .number(7))
    }

    @Test func roundTripsThroughItsEncoding() throws {
        var event = CloudEvent(id: "x", source: "/s", type: "T", data: .object(["n": .number(1.5), "s": .string("é")]))
        event.partitionKey = "k"
        let decoded = try CloudEvent.decode(event.encoded())
        #expect(decoded == event)
    }

    /// `encoded()` writes the attributes without building ``CloudEvent/jsonObject``; its bytes
    /// must stay those of serializing that dictionary, which sorts keys as `JSONEncoder` does.
    @Test func encodesTheSameBytesAsItsJSONObject() throws {
        var full = CloudEvent(
            id: "id \"1\"", source: "/s\\x", type: "T", time: "2026-12-02T10:00:00Z", subject: "line\nbreak",
            data: .object(["z": .number(1), "a": .string("é \u{01}")]),
            extensions: ["zeta": .string("z"), "alpha": .number(2), "datax": .bool(true)]
        )
        full.dataschema = "https://schemas.example/t"
        full.partitionKey = "k"
        full.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        var binary = CloudEvent(id: "b", source: "/s", type: "T", datacontenttype: nil)
        binary.dataBase64 = "AAEC"
        // An extension named like an attribute: the attribute wins when set, the extension stays when not.
        let shadowing = CloudEvent(id: "s", source: "/s", type: "T", extensions: ["subject": .string("ext"), "id": .string("ext")])
        for event in [full, binary, shadowing, CloudEvent(id: "m", source: "/", type: "t")] {
            var expected: [UInt8] = []
            JSONValue.object(event.jsonObject).serialize(into: &expected)
            #expect(Array(event.encoded()) == expected)
        }
        let shadowed = try #require(try JSONSerialization.jsonObject(with: shadowing.encoded()) as? [String: Any])
        #expect(shadowed["id"] as? String == "s")
        #expect(shadowed["subject"] as? String == "ext")
    }

    @Test(arguments: [
        (#"{"id":"1","source":"/s","type":"t"}"#, BespokeError.Code.missingAttribute),
        (#"{"specversion":"1.0","source":"/s","type":"t"}"#, .missingAttribute),
        (#"{"specversion":"1.0","id":"1","type":"t"}"#, .missingAttribute),
        (#"{"specversion":"1.0","id":"1","source":"/s"}"#, .missingAttribute),
        (#"{"specversion":"0.3","id":"1","source":"/s","type":"t"}"#, .unsupportedSpecVersion),
        (#"{"specversion":1.0,"id":"1","source":"/s","type":"t"}"#, .unsupportedSpecVersion),
        (#"{"specversion":"1.0","id":"","source":"/s","type":"t"}"#, .invalidAttribute),
        (#"{"specversion":"1.0","id":7,"source":"/s","type":"t"}"#, .invalidAttribute),
        (#"{"specversion":"1.0","id":"1","source":"/s","type":"t","time":"yesterday"}"#, .invalidAttribute),
        (#"{"specversion":"1.0","id":"1","source":"/s","type":"t","Bad_Name":"x"}"#, .invalidAttribute),
        (#"{"specversion":"1.0","id":"1","source":"/s","type":"t","ext":{"a":1}}"#, .invalidAttribute),
        (#"{"specversion":"1.0","id":"1","source":"/s","type":"t","traceparent":"garbage"}"#, .invalidAttribute),
        (#"{"specversion":"1.0","id":"1","source":"/s","type":"t","data":1,"data_base64":"AA=="}"#, .invalidAttribute),
        (#"{"specversion":"1.0","id":"1","source":"/s","type":"t","partitionkey":""}"#, .invalidAttribute),
        (#"{"specversion":"1.0","id":"1""#, .invalidJSON),
        (#"[1,2]"#, .invalidJSON),
        (#"not json"#, .invalidJSON),
    ])
    func refusesInvalidEvents(json: String, expected: BespokeError.Code) {
        #expect(code(json) == expected)
    }

    @Test func refusesEventsOverTheSizeLimit() {
        let big = String(repeating: "x", count: 70 * 1024)
        let json = #"{"specversion":"1.0","id":"1","source":"/s","type":"t","data":""# + big + #""}"#
        #expect(code(json) == .eventTooLarge)
        // A larger configured limit admits it.
        #expect(throws: Never.self) { try decode(json, limits: EventLimits(maxEventBytes: 128 * 1024)) }
    }

    @Test func limitsNeverGoBelowWhatCloudEventsRequires() {
        #expect(EventLimits(maxEventBytes: 1000).maxEventBytes == 64 * 1024)
    }

    @Test func decodesBatchesAndNamesTheFailingItem() throws {
        let ok = #"[{"specversion":"1.0","id":"1","source":"/s","type":"t"},{"specversion":"1.0","id":"2","source":"/s","type":"t"}]"#
        #expect(try CloudEvent.decodeBatch(Data(ok.utf8)).map(\.id) == ["1", "2"])
        let bad = #"[{"specversion":"1.0","id":"1","source":"/s","type":"t"},{"specversion":"1.0","source":"/s","type":"t"}]"#
        #expect {
            try CloudEvent.decodeBatch(Data(bad.utf8))
        } throws: { error in
            let error = error as? BespokeError
            return error?.code == .missingAttribute && error?.message.contains("batch item 1") == true
        }
        #expect(throws: BespokeError.self) { try CloudEvent.decodeBatch(Data("[]".utf8)) }
        let many = "[" + Array(repeating: #"{"specversion":"1.0","id":"1","source":"/s","type":"t"}"#, count: 3).joined(separator: ",") + "]"
        #expect {
            try CloudEvent.decodeBatch(Data(many.utf8), limits: EventLimits(maxBatchEvents: 2))
        } throws: { ($0 as? BespokeError)?.code == .payloadTooLarge }
    }
}

@Suite("Identifiers and trace context")
struct IdentifierTests {
    @Test(arguments: ["acme", "a", "tenant-42", String(repeating: "a", count: 63)])
    func acceptsValidTenantIDs(raw: String) throws {
        #expect(try TenantID(validating: raw).rawValue == raw)
    }

    @Test(arguments: ["", "-acme", "Acme", "acme_1", "a b", "ä", String(repeating: "a", count: 64)])
    func refusesInvalidTenantIDs(raw: String) {
        #expect(throws: BespokeError.self) { try TenantID(validating: raw) }
    }

    @Test func parsesAndGeneratesTraceparent() throws {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let parsed = try #require(TraceParent(header))
        #expect(parsed.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(parsed.description == header)
        #expect(TraceParent("00-00000000000000000000000000000000-00f067aa0ba902b7-01") == nil)
        #expect(TraceParent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01") == nil)
        let random = TraceParent.random()
        #expect(TraceParent(random.description) == random)
        #expect(random != TraceParent.random())
    }
}
