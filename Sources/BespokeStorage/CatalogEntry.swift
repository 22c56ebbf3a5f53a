public import BespokeCore
public import Foundation

/// One event type of the product's event catalog: what its data looks like, and what tenants
/// may do with it.
public struct CatalogEntry: Sendable, Equatable {
    /// The CloudEvents `type`.
    public let type: String
    public var summary: String
    /// The JSON Schema of the event's `data`.
    public var schema: JSONValue
    /// Whether tenants may register interceptors for this type.
    public var interceptable: Bool
    /// Top-level members of `data` an interceptor may change when it resumes the event.
    public var mutableFields: [String]
    public var updatedAt: Date

    public init(type: String, summary: String, schema: JSONValue, interceptable: Bool, mutableFields: [String], updatedAt: Date) {
        self.type = type
        self.summary = summary
        self.schema = schema
        self.interceptable = interceptable
        self.mutableFields = mutableFields
        self.updatedAt = updatedAt
    }
}
