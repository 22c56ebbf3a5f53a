import BespokeCore
import Foundation
import GRDB

/// A demo catalog, so that one command gives a tenant a shop to try.
public enum ShopSeed {
    /// The demo products (prices in cents).
    public static let demoCatalog: [CatalogItem] = [
        CatalogItem(id: "hoodie-black", name: "Black Hoodie", description: "Warm, black, with the Bespoke logo.", price: 4_950, stock: 100),
        CatalogItem(id: "mug-white", name: "White Mug", description: "A 350 ml mug for long builds.", price: 1_250, stock: 200),
        CatalogItem(id: "tshirt-swift", name: "Swift T-Shirt", description: "Orange bird on organic cotton.", price: 2_400, stock: 150),
        CatalogItem(id: "cap-blue", name: "Blue Cap", description: "Keeps the sun off during deploys.", price: 1_800, stock: 80),
        CatalogItem(id: "sticker-pack", name: "Sticker Pack", description: "Ten stickers for your laptop.", price: 500, stock: 1_000),
        CatalogItem(id: "notebook", name: "Dotted Notebook", description: "A5, 120 pages, for architecture sketches.", price: 1_500, stock: 60),
        CatalogItem(id: "backpack", name: "Laptop Backpack", description: "Fits a 16-inch laptop and a spare keyboard.", price: 8_900, stock: 25),
        CatalogItem(id: "socks", name: "Rubber Duck Socks", description: "For debugging in comfort.", price: 900, stock: 300),
    ]

    /// Opens a tenant's shop with the demo catalog; products it already has are kept as they are.
    /// - Returns: how many products were added.
    @discardableResult
    public static func seed(_ settings: ShopSettings, catalog: [CatalogItem] = demoCatalog, in database: ShopDatabase) async throws -> Int {
        try await Shop.save(settings, in: database)
        for item in catalog { try CatalogService.validate(item) }
        return try await database.pool.write { db in
            var added = 0
            for item in catalog {
                if try Bool.fetchOne(
                    db, sql: "SELECT 1 FROM catalog_items WHERE tenant_id = ? AND id = ?", arguments: [settings.tenant.rawValue, item.id]
                ) == nil {
                    try CatalogService.insert(db, tenant: settings.tenant, item)
                    added += 1
                }
            }
            return added
        }
    }
}
