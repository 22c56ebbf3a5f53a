import BespokeCore
import BespokeShop
import Foundation

/// The JSON shapes of the shop's REST API (see `openapi.yaml`).
enum ShopAPI {
    struct Settings: Codable {
        let name: String
        let colour: String?
        let paymentOutcome: ShopSettings.PaymentOutcome?
    }

    struct SettingsBody: Encodable {
        let tenant: String
        let name: String
        let colour: String
        let paymentOutcome: String

        init(_ settings: ShopSettings) {
            tenant = settings.tenant.rawValue
            name = settings.name
            colour = settings.colour
            paymentOutcome = settings.paymentOutcome.rawValue
        }
    }

    struct Items: Encodable { let items: [CatalogItem] }
    struct Price: Decodable { let price: Int }
    struct Stock: Decodable { let stock: Int }
    struct Quantity: Decodable { let quantity: Int }

    struct Basket: Encodable {
        let buyer: String
        let items: [BasketItem]
        let total: Int

        init(buyer: String, items: [BasketItem]) {
            self.buyer = buyer
            self.items = items
            total = items.reduce(0) { $0 + $1.unitPrice * $1.quantity }
        }
    }

    struct Checkout: Decodable {
        let requestId: String?
        let address: Address
        let cardHolderName: String
        let cardNumber: String
    }

    struct CheckoutAccepted: Encodable {
        let orderId: String
        let location: String
    }

    struct OrderBody: Encodable {
        let id: String
        let buyer: String
        let status: String
        let address: Address
        let cardHolderName: String
        let cardNumberLast4: String
        let lines: [OrderLineData]
        let total: Int
        let createdAt: String
        let updatedAt: String
        let cancelReason: String?

        init(_ order: Order) {
            id = order.id
            buyer = order.buyer
            status = order.status.eventName
            address = order.address
            cardHolderName = order.cardHolderName
            cardNumberLast4 = order.cardNumberLast4
            lines = order.lines
            total = order.total
            createdAt = RFC3339.format(order.createdAt)
            updatedAt = RFC3339.format(order.updatedAt)
            cancelReason = order.cancelReason
        }
    }

    struct Orders: Encodable { let orders: [OrderBody] }

    struct SignInLinkRequest: Decodable {
        let buyer: String
        let role: ShopSession.Role?
    }

    struct SignInLink: Encodable {
        let path: String
        let expiresAt: String
    }
}
