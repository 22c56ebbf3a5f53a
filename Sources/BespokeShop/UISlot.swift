/// The named places in the storefront's pages that tenants' UI extensions may fill.
///
/// An extension answers with entries (label, value, optional link) that the shop renders with
/// its own templates, escaped: a tenant never supplies markup or script.
public enum UISlot: String, Sendable, CaseIterable {
    /// Extra columns of the My Orders table: an entry's `key` is an order id, its `label` the
    /// column heading, its `value` the cell.
    case myOrdersColumns = "ui.my-orders.columns"
    /// A panel on the order detail page: label/value rows about the order.
    case orderDetailPanel = "ui.order-detail.panel"
    /// A badge on a product, in the catalog and on the product's page: `key` is a product id.
    case productBadge = "ui.product.badge"

    var summary: String {
        switch self {
        case .myOrdersColumns: "Extra columns of the My Orders table (entry key: order id)."
        case .orderDetailPanel: "A panel of label/value rows on the order detail page."
        case .productBadge: "A badge on products in the catalog (entry key: product id)."
        }
    }

    /// The JSON Schema of the context the slot's extensions receive.
    var contextSchema: String {
        let ids = ShopEventCatalog.array(ShopEventCatalog.string)
        switch self {
        case .myOrdersColumns:
            return ShopEventCatalog.object(["buyer": ShopEventCatalog.string, "orderIds": ids])
        case .orderDetailPanel:
            return ShopEventCatalog.object(["buyer": ShopEventCatalog.string, "orderId": ShopEventCatalog.string, "status": ShopEventCatalog.string])
        case .productBadge:
            return ShopEventCatalog.object(["productIds": ids])
        }
    }
}
