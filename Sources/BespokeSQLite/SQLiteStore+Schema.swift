import GRDB

extension SQLiteStore {
    /// The schema, as a sequence of migrations. Every table carries its tenant.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-bus") { db in
            try db.execute(
                sql: """
                    CREATE TABLE tenants (
                        id TEXT PRIMARY KEY NOT NULL,
                        name TEXT NOT NULL,
                        created_at REAL NOT NULL
                    );
                    CREATE TABLE api_keys (
                        id TEXT PRIMARY KEY NOT NULL,
                        tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
                        secret_hash TEXT NOT NULL UNIQUE,
                        created_at REAL NOT NULL,
                        revoked_at REAL
                    );
                    CREATE INDEX api_keys_by_tenant ON api_keys(tenant_id);
                    CREATE TABLE events (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
                        source TEXT NOT NULL,
                        event_id TEXT NOT NULL,
                        type TEXT NOT NULL,
                        partition_key TEXT,
                        stored_at REAL NOT NULL,
                        envelope BLOB NOT NULL,
                        UNIQUE (tenant_id, source, event_id)
                    );
                    CREATE TABLE subscriptions (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
                        name TEXT NOT NULL,
                        types TEXT NOT NULL,
                        max_attempts INTEGER NOT NULL,
                        initial_backoff_ms INTEGER NOT NULL,
                        max_backoff_ms INTEGER NOT NULL,
                        ack_timeout_ms INTEGER NOT NULL,
                        created_at REAL NOT NULL,
                        UNIQUE (tenant_id, name)
                    );
                    CREATE TABLE deliveries (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
                        subscription_id INTEGER NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
                        event_seq INTEGER NOT NULL REFERENCES events(seq) ON DELETE CASCADE,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        not_before REAL,
                        last_error TEXT
                    );
                    CREATE INDEX deliveries_by_subscription ON deliveries(subscription_id, id);
                    CREATE INDEX deliveries_by_event ON deliveries(event_seq);
                    CREATE TABLE dead_letters (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
                        subscription_id INTEGER NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
                        event_seq INTEGER NOT NULL REFERENCES events(seq) ON DELETE CASCADE,
                        attempts INTEGER NOT NULL,
                        reason TEXT NOT NULL,
                        failed_at REAL NOT NULL
                    );
                    CREATE INDEX dead_letters_by_subscription ON dead_letters(subscription_id, id);
                    CREATE INDEX dead_letters_by_event ON dead_letters(event_seq);
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
        return migrator
    }
}
