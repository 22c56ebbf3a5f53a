public import BespokeCore

/// The shop's synchronous extension points: where it asks a tenant's service and waits.
///
/// - `ext.product.price`: when a product goes into a basket, the unit price to charge.
/// - `ext.basket.check`: before a checkout, whether the basket may be ordered.
/// - `ext.order.validate`: before the order is created, whether it is acceptable (address,
///   lines, total).
///
/// Each has a default answer, used when a tenant's extension fails and its registration fails
/// open: the list price, and acceptance.
public enum ShopExtensionPoints {
    private typealias Schema = ShopEventCatalog

    static let lines = Schema.array(
        Schema.object([
            "productId": Schema.string, "productName": Schema.string, "unitPrice": Schema.integer,
            "units": #"{"type":"integer","minimum":1}"#,
        ])
    )

    public static let price = ExtensionPoint(
        name: "ext.product.price",
        summary: "Quote the unit price (cents) of a product a buyer puts in their basket.",
        requestSchema: Schema.parse(
            Schema.object(["buyer": Schema.string, "productId": Schema.string, "productName": Schema.string, "listPrice": Schema.integer,
                           "units": Schema.integer])
        ),
        responseSchema: Schema.parse(
            Schema.object(["unitPrice": #"{"type":"integer","minimum":0,"maximum":100000000}"#, "note": Schema.string], required: ["unitPrice"])
        )
    )

    public static let basketCheck = ExtensionPoint(
        name: "ext.basket.check",
        summary: "Check a basket before its checkout: ok, or a message saying why not.",
        requestSchema: Schema.parse(Schema.object(["buyer": Schema.string, "items": lines, "total": Schema.integer])),
        responseSchema: Schema.parse(Schema.object(["ok": #"{"type":"boolean"}"#, "message": Schema.string], required: ["ok"]))
    )

    public static let orderValidation = ExtensionPoint(
        name: "ext.order.validate",
        summary: "Validate an order before it is created: valid, or the reason it is refused.",
        requestSchema: Schema.parse(
            Schema.object([
                "buyer": Schema.string, "items": lines, "total": Schema.integer,
                "address": Schema.object(["street": Schema.string, "city": Schema.string, "zipCode": Schema.string, "country": Schema.string]),
            ])
        ),
        responseSchema: Schema.parse(Schema.object(["valid": #"{"type":"boolean"}"#, "reason": Schema.string], required: ["valid"]))
    )

    public static let all = [price, basketCheck, orderValidation]

    /// The points as catalog entries (the request schema is what a tenant's endpoint receives).
    public static let catalogEntries: [ShopEventCatalog.Entry] = all.map {
        ShopEventCatalog.Entry(type: $0.name, summary: $0.summary, schema: $0.requestSchema, interceptable: false, mutableFields: [])
    }
}

/// No extensions: for a shop running without the platform's customization (tests, tools).
public struct NoExtensions: ExtensionPointCaller {
    public init() {}

    public func call(
        _ point: ExtensionPoint, tenant: TenantID, request: JSONValue, fallback: JSONValue, context: ExtensionCallContext
    ) async throws -> JSONValue? { nil }
}
