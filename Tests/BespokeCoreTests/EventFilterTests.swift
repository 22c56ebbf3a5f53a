import BespokeCore
import Foundation
import Testing

@Suite("Event filters")
struct EventFilterTests {
    private func filter(_ json: String) throws -> EventFilter {
        try EventFilter(json: JSONDecoder().decode(JSONValue.self, from: Data(json.utf8)))
    }

    private let order: CloudEvent = {
        var event = CloudEvent(
            id: "o-1", source: "/shop/ordering", type: "OrderSubmitted",
            data: .object([
                "total": .number(1200), "express": .bool(true), "rate": .number(2.5),
                "address": .object(["country": .string("NO"), "city": .string("Oslo")]), "lines": .array([]), "note": .null,
            ])
        )
        event.subject = "order/o-1"
        event.partitionKey = "o-1"
        return event
    }()

    @Test(arguments: [
        // Attributes, extensions, data members and their JSON forms.
        (#"{"exact":{"source":"/shop/ordering"}}"#, true),
        (#"{"exact":{"source":"/shop"}}"#, false),
        (#"{"exact":{"partitionkey":"o-1","subject":"order/o-1"}}"#, true),
        (#"{"exact":{"partitionkey":"o-1","subject":"order/o-2"}}"#, false),
        (#"{"exact":{"data.address.country":"NO"}}"#, true),
        (#"{"exact":{"data.total":"1200"}}"#, true),
        (#"{"exact":{"data.express":"true"}}"#, true),
        (#"{"exact":{"data.rate":"2.5"}}"#, true),
        (#"{"prefix":{"source":"/shop/"}}"#, true),
        (#"{"suffix":{"data.address.city":"slo"}}"#, true),
        (#"{"suffix":{"data.address.city":"SLO"}}"#, false),
        // Missing, null, objects and arrays match nothing, even an empty exact value.
        (#"{"exact":{"data.missing":""}}"#, false),
        (#"{"exact":{"data.note":""}}"#, false),
        (#"{"prefix":{"data.address":"{"}}"#, false),
        (#"{"exact":{"data.address.country.code":"NO"}}"#, false),
        (#"{"exact":{"dataschema":""}}"#, false),
        // Combinations.
        (#"{"all":[{"exact":{"data.address.country":"NO"}},{"not":{"exact":{"data.express":"false"}}}]}"#, true),
        (#"{"all":[{"exact":{"data.address.country":"NO"}},{"exact":{"data.express":"false"}}]}"#, false),
        (#"{"any":[{"exact":{"data.address.country":"SE"}},{"exact":{"data.address.country":"NO"}}]}"#, true),
        (#"{"any":[{"exact":{"data.address.country":"SE"}},{"exact":{"data.address.country":"DK"}}]}"#, false),
        (#"{"not":{"prefix":{"type":"Order"}}}"#, false),
    ])
    func matchesWhatItSays(json: String, matches: Bool) throws {
        #expect(try filter(json).matches(order) == matches, "\(json)")
    }

    @Test(arguments: [
        (#"[]"#, "must be an object with one member"),
        (#"{"exact":{"a":"b"},"prefix":{"a":"b"}}"#, "must be an object with one member"),
        (#"{"regex":{"source":".*"}}"#, "unknown dialect 'regex'"),
        (#"{"exact":{}}"#, "filter.exact must be a non-empty object"),
        (#"{"exact":{"source":3}}"#, "filter.exact.source must be a string"),
        (#"{"prefix":{"source":""}}"#, "filter.prefix.source must not be empty"),
        (#"{"exact":{"Source":"x"}}"#, "neither an attribute name"),
        (#"{"exact":{"data..x":"x"}}"#, "names an empty data member"),
        (#"{"all":[]}"#, "filter.all must be a non-empty array"),
        (#"{"any":[{"exact":{"a":"b"}},{"nope":{}}]}"#, "filter.any[1] has the unknown dialect 'nope'"),
        (#"{"not":{"not":{"not":{"not":{"not":{"not":{"not":{"not":{"exact":{"a":"b"}}}}}}}}}}"#, "deeper than 8"),
    ])
    func badFiltersAreRefusedSayingWhereAndWhy(json: String, message: String) throws {
        do {
            _ = try filter(json)
            Issue.record("\(json) was accepted")
        } catch let error as BespokeError {
            #expect(error.code == .invalidRequest)
            #expect(error.message.contains(message), "\(error.message)")
        }
    }

    @Test func tooManyFiltersOrLongValuesAreRefused() throws {
        let many = (0..<70).map { _ in #"{"exact":{"a":"b"}}"# }.joined(separator: ",")
        #expect(throws: BespokeError.self) { try filter(#"{"any":[\#(many)]}"#) }
        let long = String(repeating: "x", count: EventFilter.maxValueBytes + 1)
        #expect(throws: BespokeError.self) { try filter(#"{"exact":{"source":"\#(long)"}}"#) }
    }

    @Test func itsJSONFormReadsBackAsTheSameFilter() throws {
        let original = try filter(#"{"all":[{"exact":{"data.total":"1200","source":"/shop"}},{"not":{"any":[{"suffix":{"subject":"x"}},{"prefix":{"id":"o"}}]}}]}"#)
        #expect(try EventFilter(json: original.json) == original)
    }
}
