/// One thing a UI extension shows in a slot of the product's pages: structured data that the
/// product renders with its own templates, so a tenant never supplies markup or script.
public struct UISlotEntry: Sendable, Equatable, Codable {
    /// What the entry is about where the slot lists several things (an order id, a product
    /// id); nil for the slot as a whole.
    public var key: String?
    public var label: String
    public var value: String
    /// An optional http(s) link.
    public var link: String?

    public init(key: String? = nil, label: String, value: String, link: String? = nil) {
        self.key = key
        self.label = label
        self.value = value
        self.link = link
    }

    /// Limits of an entry: longer texts, other link schemes and more entries are refused.
    public static let maxLabelLength = 80
    public static let maxValueLength = 500
    public static let maxKeyLength = 200
    public static let maxLinkLength = 2000
    public static let maxEntries = 200

    /// Why the entry cannot be shown, or nil when it can.
    public var problem: String? {
        if label.isEmpty || label.count > Self.maxLabelLength { return "label must be 1-\(Self.maxLabelLength) characters" }
        if value.count > Self.maxValueLength { return "value must be at most \(Self.maxValueLength) characters" }
        if let key, key.isEmpty || key.count > Self.maxKeyLength { return "key must be 1-\(Self.maxKeyLength) characters" }
        if let link {
            let lower = link.lowercased()
            guard link.count <= Self.maxLinkLength, lower.hasPrefix("https://") || lower.hasPrefix("http://") else {
                return "link must be an http(s) URL of at most \(Self.maxLinkLength) characters"
            }
        }
        return nil
    }
}

/// Fills the named UI slots of the product's pages from the UI extensions tenants registered.
///
/// The product asks for a slot with its context and gets entries; it never learns which
/// extensions exist. Extensions that fail, answer badly or miss the slot's deadline are left
/// out: the page renders without them.
public protocol UISlotProvider: Sendable {
    func entries(for slot: String, tenant: TenantID, context: JSONValue) async -> [UISlotEntry]
}
