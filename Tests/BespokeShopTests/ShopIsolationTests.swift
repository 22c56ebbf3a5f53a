import BespokeCore
import BespokeShop
import Foundation
import GRDB
import Hummingbird
import HummingbirdTesting
import Testing

/// Two tenants ordering at once never see each other's products, baskets or orders.
@Suite("Shop: tenant isolation")
struct ShopIsolationTests {
    /// Every shop route, with the ids of the other tenant's product and order where it takes one.
    static func routes(product: String, order: String) -> [(HTTPRequest.Method, String, String?)] {
        [
            (.get, "", nil), (.put, "", #"{"name":"Taken over"}"#),
            (.get, "catalog/items", nil), (.post, "catalog/items", #"{"id":"x","name":"X","description":"","price":1,"stock":1}"#),
            (.get, "catalog/items/\(product)", nil), (.put, "catalog/items/\(product)/price", #"{"price":1}"#),
            (.put, "catalog/items/\(product)/stock", #"{"stock":0}"#),
            (.get, "basket", nil), (.put, "basket/items/\(product)", #"{"quantity":1}"#), (.delete, "basket/items/\(product)", nil),
            (.post, "basket/checkout", #"{"address":{"street":"s","city":"c","zipCode":"z","country":"NO"},"cardHolderName":"x","cardNumber":"4111111111111111"}"#),
            (.get, "orders", nil), (.get, "orders/\(order)", nil), (.post, "orders/\(order)/cancel", nil),
            (.get, "admin/orders", nil), (.post, "admin/orders/\(order)/cancel", nil), (.post, "admin/orders/\(order)/ship", nil),
            (.post, "sign-in-links", #"{"buyer":"mallory"}"#),
        ]
    }

    @Test func concurrentTenantsSeeOnlyTheirOwnAndEveryRouteRefusesTheOther() async throws {
        let fixture = try await ShopFixture.make()
        try await fixture.test { client in
            let acme = ShopFixture.acme, globex = ShopFixture.globex
            // Both tenants order at the same time, with the same buyer name.
            async let acmeOrders = withThrowingTaskGroup(of: (String, String).self) { group in
                for n in 0..<4 {
                    let buyer = n == 0 ? "sam" : "sam\(n)"
                    group.addTask { (buyer, try await client.placeOrder(acme, key: fixture.acmeKey, buyer: buyer, [("mug", 1)])) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            async let globexOrder = client.placeOrder(globex, key: fixture.globexKey, buyer: "sam", [("lamp", 1)])
            let (placed, theirs) = try await (acmeOrders, globexOrder)
            for (buyer, order) in placed {
                try await client.waitForOrder(acme, key: fixture.acmeKey, buyer: buyer, order, status: "Paid")
            }
            let mine = placed.filter { $0.0 == "sam" }.map(\.1)
            try await client.waitForOrder(globex, key: fixture.globexKey, buyer: "sam", theirs, status: "Paid")

            let acmeList = try await client.shop(.get, acme, "orders", key: fixture.acmeKey, buyer: "sam").json["orders"] as? [[String: Any]] ?? []
            let globexList = try await client.shop(.get, globex, "orders", key: fixture.globexKey, buyer: "sam").json["orders"] as? [[String: Any]] ?? []
            #expect(Set(acmeList.compactMap { $0["id"] as? String }) == Set(mine))
            #expect(globexList.compactMap { $0["id"] as? String } == [theirs])
            let acmeProducts = try await client.shop(.get, acme, "catalog/items", key: fixture.acmeKey).text
            #expect(!acmeProducts.contains("Globex") && !acmeProducts.contains("lamp"))
            #expect(try await client.stock(globex, key: fixture.globexKey, "lamp") == 2)

            // A key of acme on globex's routes: 404, exactly as for a tenant that does not exist.
            for (method, path, body) in Self.routes(product: "lamp", order: theirs) {
                let response = try await client.shop(method, globex, path, key: fixture.acmeKey, buyer: "sam", json: body)
                #expect(response.status == .notFound, "\(method) \(path): \(response.status)")
                #expect(response.errorCode == "not_found")
            }
            // Acme's own routes with globex's product and order ids find nothing.
            for (method, path, body) in Self.routes(product: "lamp", order: theirs)
            where path.contains("lamp") || path.contains(theirs) {
                let response = try await client.shop(method, acme, path, key: fixture.acmeKey, buyer: "sam", json: body)
                #expect(response.status == .notFound, "\(method) \(path): \(response.status)")
            }
            // Nothing of globex changed.
            #expect(try await client.stock(globex, key: fixture.globexKey, "lamp") == 2)
            let lamp = try await client.shop(.get, globex, "catalog/items/lamp", key: fixture.globexKey).json
            #expect(lamp["price"] as? Int == 3_000)
            let globexOrder2 = try await client.shop(.get, globex, "orders/\(theirs)", key: fixture.globexKey, buyer: "sam").json
            #expect(globexOrder2["status"] as? String == "Paid")
            let settings = try await client.shop(.get, globex, "", key: fixture.globexKey).json
            #expect(settings["name"] as? String == "Globex Lamps")
        }
    }

    @Test func aBuyerSeesOnlyTheirOwnOrdersAndBadRequestsGetClearErrors() async throws {
        let fixture = try await ShopFixture.make()
        try await fixture.test { client in
            let acme = ShopFixture.acme, key = fixture.acmeKey
            let order = try await client.placeOrder(acme, key: key, buyer: "alice", [("mug", 1)])
            let other = try await client.shop(.get, acme, "orders/\(order)", key: key, buyer: "bob")
            #expect(other.status == .notFound)
            let list = try await client.shop(.get, acme, "orders", key: key, buyer: "bob").json["orders"] as? [Any]
            #expect(list?.isEmpty == true)

            let noBuyer = try await client.shop(.get, acme, "basket", key: key)
            #expect(noBuyer.status == .badRequest)
            #expect(noBuyer.errorCode == "invalid_request")
            let badBuyer = try await client.shop(.get, acme, "basket", key: key, buyer: "<script>")
            #expect(badBuyer.status == .badRequest)
            let noKey = try await client.shop(.get, acme, "catalog/items", key: nil)
            #expect(noKey.status == .unauthorized)
            let empty = try await client.shop(.post, acme, "basket/checkout", key: key, buyer: "zed", json: Self.checkoutJSON)
            #expect(empty.status == .badRequest)
            #expect(empty.errorCode == "invalid_request")
            let tooMany = try await client.shop(.put, acme, "basket/items/mug", key: key, buyer: "zed", json: #"{"quantity":-1}"#)
            #expect(tooMany.status == .badRequest)
            let notJSON = try await client.shop(.put, acme, "basket/items/mug", key: key, buyer: "zed", json: "{")
            #expect(notJSON.errorCode == "invalid_json")
            let badColour = try await client.shop(.put, acme, "", key: key, json: #"{"name":"x","colour":"red;}"}"#)
            #expect(badColour.status == .badRequest)
            let badCard = try await client.shop(.put, acme, "basket/items/mug", key: key, buyer: "zed", json: #"{"quantity":1}"#)
            #expect(badCard.status == .ok)
            let card = try await client.shop(
                .post, acme, "basket/checkout", key: key, buyer: "zed",
                json: #"{"address":{"street":"s","city":"c","zipCode":"z","country":"NO"},"cardHolderName":"x","cardNumber":"12"}"#
            )
            #expect(card.status == .badRequest)
            #expect(card.text.contains("cardNumber"))
            // A shop the tenant never opened is not found.
            let none = try await fixture.shop.settings(TenantID(trusted: "nobody"))
            #expect(none == nil)
        }
    }

    @Test func deletingATenantPurgesItsShopAndLeavesTheOtherAlone() async throws {
        let fixture = try await ShopFixture.make()
        try await fixture.test { client in
            let acmeOrder = try await client.placeOrder(ShopFixture.acme, key: fixture.acmeKey, buyer: "alice", [("mug", 1)])
            try await client.waitForOrder(ShopFixture.acme, key: fixture.acmeKey, buyer: "alice", acmeOrder, status: "Paid")
            let globexOrder = try await client.placeOrder(ShopFixture.globex, key: fixture.globexKey, buyer: "bob", [("lamp", 1)])
            try await client.waitForOrder(ShopFixture.globex, key: fixture.globexKey, buyer: "bob", globexOrder, status: "Paid")

            let purge = try await fixture.platform.manager.deleteTenant(ShopFixture.acme)
            #expect(purge.rowsByTable["shop.orders"] == 1)
            #expect(purge.rowsByTable["shop.catalog_items"] == 2)
            #expect((purge.rowsByTable["shop.inbox"] ?? 0) > 0)
            let left = try await fixture.shop.database.pool.read { db in
                try ["shop_tenants", "catalog_items", "orders", "order_lines", "payments", "inbox", "basket_checkouts", "stock_reservations"]
                    .map { try Int.fetchOne(db, sql: "SELECT count(*) FROM \($0) WHERE tenant_id = 'acme'") ?? -1 }
            }
            #expect(left.allSatisfy { $0 == 0 }, "\(left)")
            let theirs = try await client.shop(.get, ShopFixture.globex, "orders/\(globexOrder)", key: fixture.globexKey, buyer: "bob")
            #expect(theirs.json["status"] as? String == "Paid")
            #expect(try await client.stock(ShopFixture.globex, key: fixture.globexKey, "lamp") == 2)
        }
    }

    static let checkoutJSON = #"{"address":{"street":"s","city":"c","zipCode":"z","country":"NO"},"cardHolderName":"x","cardNumber":"4111111111111111"}"#
}
