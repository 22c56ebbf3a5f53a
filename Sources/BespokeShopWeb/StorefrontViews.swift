import BespokeCore
import BespokeShop
import Foundation

/// Builds the template contexts of the storefront's pages: plain dictionaries of strings,
/// so the templates (which escape everything they print) decide all markup.
enum StorefrontViews {
    static func money(_ cents: Int) -> String {
        String(format: "%d.%02d", cents / 100, cents % 100)
    }

    static func date(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm 'UTC'"
        return formatter.string(from: date)
    }

    static func product(_ item: CatalogItem, tenant: TenantID, badges: [UISlotEntry]) -> [String: Any] {
        [
            "id": item.id, "name": item.name, "description": item.description, "price": money(item.price),
            "inStock": item.stock > 0, "stock": item.stock, "url": "/shop/\(tenant)/products/\(item.id)",
            "badges": badges.map { ["label": $0.label, "value": $0.value] },
        ]
    }

    static func order(_ order: Order, tenant: TenantID) -> [String: Any] {
        [
            "id": order.id, "shortId": String(order.id.prefix(8)), "url": "/shop/\(tenant)/orders/\(order.id)",
            "date": date(order.createdAt), "status": order.status.eventName, "statusClass": order.status.rawValue,
            "total": money(order.total), "buyer": order.buyer, "cancellable": order.status.isCancellable,
            "shippable": order.status == .paid, "cancelReason": order.cancelReason ?? "", "cancelled": order.cancelReason != nil,
            "address": "\(order.address.street), \(order.address.zipCode) \(order.address.city), \(order.address.country)",
            "card": "\(order.cardHolderName), card ending \(order.cardNumberLast4)",
            "lines": order.lines.map {
                ["name": $0.productName, "units": $0.units, "unitPrice": money($0.unitPrice), "total": money($0.unitPrice * $0.units)] as [String: Any]
            },
        ]
    }

    /// A slot entry for a template: its value, and its link only when it is http(s).
    static func entry(_ entry: UISlotEntry?) -> [String: Any] {
        guard let entry else { return ["value": ""] }
        var view: [String: Any] = ["label": entry.label, "value": entry.value]
        if let link = entry.link, entry.problem == nil { view["link"] = link }
        return view
    }

    /// The My Orders table's extra columns: one per label the extensions answered (at most
    /// `maxColumns`), a cell per order.
    static func columns(_ entries: [UISlotEntry], orders: [Order], maxColumns: Int = 5) -> (labels: [String], cells: [String: [String: UISlotEntry]]) {
        let ids = Set(orders.map(\.id))
        var labels: [String] = []
        var cells: [String: [String: UISlotEntry]] = [:]
        for entry in entries {
            guard let key = entry.key, ids.contains(key) else { continue }
            if !labels.contains(entry.label) {
                guard labels.count < maxColumns else { continue }
                labels.append(entry.label)
            }
            cells[key, default: [:]][entry.label] = entry
        }
        return (labels, cells)
    }
}
