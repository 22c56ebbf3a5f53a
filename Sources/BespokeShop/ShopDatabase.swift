import BespokeSQLite
import Foundation
public import GRDB

/// The shop's own SQLite database (`shop.sqlite`), apart from the platform's store: a product
/// keeps its data to itself. Each service owns its tables; every row carries its tenant, and
/// every query names one.
public struct ShopDatabase: Sendable {
    public let pool: DatabasePool

    /// Opens (and migrates) the database at `path`.
    public init(path: String, durability: SQLiteStore.Durability = .full) throws {
        var configuration = Configuration()
        configuration.busyMode = .shortSteps(timeout: .seconds(10))
        let synchronous = durability == .full ? "FULL" : "NORMAL"
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(pool)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    -- Which tenants run the shop, and how their shop looks and behaves.
                    CREATE TABLE shop_tenants (
                        tenant_id TEXT PRIMARY KEY,
                        name TEXT NOT NULL,
                        colour TEXT NOT NULL,
                        payment_outcome TEXT NOT NULL,
                        created_at REAL NOT NULL
                    );
                    -- Catalog
                    CREATE TABLE catalog_items (
                        tenant_id TEXT NOT NULL,
                        id TEXT NOT NULL,
                        name TEXT NOT NULL,
                        description TEXT NOT NULL,
                        price INTEGER NOT NULL,
                        stock INTEGER NOT NULL,
                        PRIMARY KEY (tenant_id, id)
                    );
                    CREATE TABLE stock_reservations (
                        tenant_id TEXT NOT NULL,
                        order_id TEXT NOT NULL,
                        items TEXT NOT NULL,
                        state TEXT NOT NULL,
                        updated_at REAL NOT NULL,
                        PRIMARY KEY (tenant_id, order_id)
                    );
                    -- Basket
                    CREATE TABLE basket_items (
                        tenant_id TEXT NOT NULL,
                        buyer TEXT NOT NULL,
                        product_id TEXT NOT NULL,
                        product_name TEXT NOT NULL,
                        unit_price INTEGER NOT NULL,
                        old_unit_price INTEGER,
                        quantity INTEGER NOT NULL,
                        PRIMARY KEY (tenant_id, buyer, product_id)
                    );
                    CREATE TABLE basket_checkouts (
                        tenant_id TEXT NOT NULL,
                        request_id TEXT NOT NULL,
                        buyer TEXT NOT NULL,
                        order_id TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        started_at REAL,
                        PRIMARY KEY (tenant_id, request_id)
                    );
                    -- Ordering
                    CREATE TABLE orders (
                        tenant_id TEXT NOT NULL,
                        id TEXT NOT NULL,
                        buyer TEXT NOT NULL,
                        status TEXT NOT NULL,
                        street TEXT NOT NULL,
                        city TEXT NOT NULL,
                        zip_code TEXT NOT NULL,
                        country TEXT NOT NULL,
                        card_holder TEXT NOT NULL,
                        card_last4 TEXT NOT NULL,
                        total INTEGER NOT NULL,
                        created_at REAL NOT NULL,
                        updated_at REAL NOT NULL,
                        grace_confirmed_at REAL,
                        cancel_reason TEXT,
                        PRIMARY KEY (tenant_id, id)
                    );
                    CREATE INDEX orders_by_buyer ON orders(tenant_id, buyer, created_at);
                    CREATE INDEX orders_in_grace ON orders(status, created_at) WHERE grace_confirmed_at IS NULL;
                    CREATE TABLE order_lines (
                        tenant_id TEXT NOT NULL,
                        order_id TEXT NOT NULL,
                        line INTEGER NOT NULL,
                        product_id TEXT NOT NULL,
                        product_name TEXT NOT NULL,
                        unit_price INTEGER NOT NULL,
                        units INTEGER NOT NULL,
                        PRIMARY KEY (tenant_id, order_id, line)
                    );
                    -- Payment
                    CREATE TABLE payments (
                        tenant_id TEXT NOT NULL,
                        order_id TEXT NOT NULL,
                        outcome TEXT NOT NULL,
                        amount INTEGER NOT NULL,
                        created_at REAL NOT NULL,
                        refunded_at REAL,
                        PRIMARY KEY (tenant_id, order_id)
                    );
                    -- Storefront sign-in links: single use, short-lived, stored hashed.
                    CREATE TABLE sign_in_codes (
                        code_hash TEXT PRIMARY KEY,
                        tenant_id TEXT NOT NULL,
                        buyer TEXT NOT NULL,
                        role TEXT NOT NULL,
                        expires_at REAL NOT NULL
                    );
                    -- Events raised with a state change, in the same transaction, until the relay
                    -- has published them to the bus.
                    CREATE TABLE outbox (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        tenant_id TEXT NOT NULL,
                        envelope BLOB NOT NULL,
                        created_at REAL NOT NULL
                    );
                    -- Events each service has handled (SQLiteInbox).
                    CREATE TABLE inbox (
                        tenant_id TEXT NOT NULL,
                        consumer TEXT NOT NULL,
                        event_key TEXT NOT NULL,
                        processed_at REAL NOT NULL,
                        PRIMARY KEY (tenant_id, consumer, event_key)
                    ) WITHOUT ROWID;
                    """
            )
        }
        migrator.registerMigration("v2-inbox-retention") { db in
            // The inbox sweep (SQLiteInboxSweeper) deletes the oldest records first.
            try db.execute(sql: "CREATE INDEX inbox_by_processed_at ON inbox(processed_at)")
        }
        return migrator
    }

    /// Every table with a `tenant_id` column, for purging a tenant.
    static let tenantTables = [
        "catalog_items", "stock_reservations", "basket_items", "basket_checkouts", "orders", "order_lines", "payments",
        "sign_in_codes", "outbox", "inbox", "shop_tenants",
    ]
}
