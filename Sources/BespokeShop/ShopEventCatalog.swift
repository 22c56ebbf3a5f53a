public import BespokeCore
import Foundation

/// What the shop declares to the platform's catalog: its event types with the JSON Schema of
/// their data, which of them tenants may intercept, and the UI slots of its pages.
///
/// The shop declares; it never asks which tenant registered what.
public enum ShopEventCatalog {
    /// One declaration for the platform's catalog.
    public struct Entry: Sendable {
        public let type: String
        public let summary: String
        public let schema: JSONValue
        public let interceptable: Bool
        public let mutableFields: [String]
    }

    /// Every event type the shop raises.
    public static let events: [Entry] = ShopEventType.allCases.map { type in
        let described = describe(type)
        return Entry(
            type: type.rawValue, summary: described.summary, schema: parse(described.schema), interceptable: described.interceptable,
            mutableFields: []
        )
    }

    /// The UI slots of the storefront: a tenant's `ui` registration names one, and the platform
    /// posts the slot's context (this schema) to it.
    public static let slots: [Entry] = UISlot.allCases.map { slot in
        Entry(type: slot.rawValue, summary: slot.summary, schema: parse(slot.contextSchema), interceptable: false, mutableFields: [])
    }

    private static func describe(_ type: ShopEventType) -> (summary: String, schema: String, interceptable: Bool) {
        let orderReference = object(["orderId": string])
        switch type {
        case .userCheckoutAccepted: return ("A buyer checked out their basket.", checkoutSchema, false)
        case .orderStarted: return ("An order was created from a checkout.", object(["userId": string, "orderId": string]), false)
        case .gracePeriodConfirmed: return ("The order's grace period ended.", orderReference, false)
        case .orderStockConfirmed: return ("Every line of the order is in stock (reserved).", orderReference, false)
        case .orderPaymentSucceeded: return ("The order was charged.", orderReference, false)
        case .orderPaymentFailed: return ("Charging the order failed.", orderReference, false)
        case .orderStockRejected:
            let items = array(object(["productId": string, "hasStock": #"{"type":"boolean"}"#]))
            return ("Some line of the order is out of stock.", object(["orderId": string, "orderStockItems": items]), false)
        case .productPriceChanged:
            return ("A product's price changed.", object(["productId": string, "newPrice": integer, "oldPrice": integer]), false)
        case .orderStatusChangedToSubmitted, .orderStatusChangedToAwaitingValidation, .orderStatusChangedToStockConfirmed,
            .orderStatusChangedToPaid, .orderStatusChangedToShipped, .orderStatusChangedToCancelled:
            // Status changes may be held by a tenant (intercepted): the order goes on only once
            // it resumes them.
            return ("The order's status changed.", statusSchema, true)
        }
    }

    static let string = #"{"type":"string","minLength":1}"#
    static let integer = #"{"type":"integer","minimum":0}"#

    static func object(_ members: KeyValuePairs<String, String>, required: [String]? = nil) -> String {
        let properties = members.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",")
        let names = (required ?? members.map(\.key)).map { "\"\($0)\"" }.joined(separator: ",")
        return #"{"type":"object","properties":{"# + properties + #"},"required":["# + names + "]}"
    }

    static func array(_ items: String) -> String { #"{"type":"array","items":"# + items + "}" }

    static let statusSchema = object(
        [
            "orderId": string, "orderStatus": string, "buyerName": string,
            "orderStockItems": array(object(["productId": string, "units": #"{"type":"integer","minimum":1}"#])),
            "total": integer,
        ],
        required: ["orderId", "orderStatus", "buyerName"]
    )

    static let checkoutSchema = object([
        "userId": string, "requestId": string,
        "address": object(["street": string, "city": string, "zipCode": string, "country": string]),
        "cardHolderName": string, "cardNumberLast4": #"{"type":"string","minLength":4,"maxLength":4}"#,
        "items": array(
            object(["productId": string, "productName": string, "unitPrice": integer, "units": #"{"type":"integer","minimum":1}"#])
        ),
    ])

    static func parse(_ json: String) -> JSONValue {
        // The schemas are constants of this file; a typo is a programming error.
        try! JSONDecoder().decode(JSONValue.self, from: Data(json.utf8))
    }
}
