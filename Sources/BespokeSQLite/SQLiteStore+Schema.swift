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
                    CREATE INDEX events_by_tenant ON events(tenant_id, seq);
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
                        cursor INTEGER NOT NULL,
                        UNIQUE (tenant_id, name)
                    );
                    CREATE TABLE delivery_failures (
                        tenant_id TEXT NOT NULL,
                        subscription_id INTEGER NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
                        event_seq INTEGER NOT NULL,
                        attempts INTEGER NOT NULL,
                        not_before REAL,
                        last_error TEXT,
                        PRIMARY KEY (subscription_id, event_seq)
                    ) WITHOUT ROWID;
                    CREATE TABLE redeliveries (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        tenant_id TEXT NOT NULL,
                        subscription_id INTEGER NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
                        event_seq INTEGER NOT NULL REFERENCES events(seq) ON DELETE CASCADE,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        not_before REAL,
                        last_error TEXT
                    );
                    CREATE INDEX redeliveries_by_subscription ON redeliveries(subscription_id, id);
                    CREATE INDEX redeliveries_by_event ON redeliveries(subscription_id, event_seq);
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
                    CREATE INDEX dead_letters_by_event ON dead_letters(subscription_id, event_seq);
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
        migrator.registerMigration("v2-customization") { db in
            try db.execute(
                sql: """
                    CREATE TABLE event_catalog (
                        type TEXT PRIMARY KEY NOT NULL,
                        summary TEXT NOT NULL,
                        schema TEXT NOT NULL,
                        interceptable INTEGER NOT NULL,
                        mutable_fields TEXT NOT NULL,
                        updated_at REAL NOT NULL
                    );
                    CREATE TABLE customizations (
                        id TEXT PRIMARY KEY NOT NULL,
                        tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
                        event_type TEXT NOT NULL,
                        mode TEXT NOT NULL,
                        url TEXT NOT NULL,
                        sort_order INTEGER NOT NULL,
                        timeout_ms INTEGER NOT NULL,
                        hold_deadline_ms INTEGER NOT NULL,
                        on_deadline TEXT NOT NULL,
                        enabled INTEGER NOT NULL,
                        disabled_reason TEXT,
                        secrets TEXT NOT NULL,
                        created_at REAL NOT NULL
                    );
                    CREATE INDEX customizations_by_tenant ON customizations(tenant_id, event_type);
                    CREATE TABLE delivery_attempts (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
                        customization_id TEXT NOT NULL REFERENCES customizations(id) ON DELETE CASCADE,
                        message_id TEXT NOT NULL,
                        event_id TEXT NOT NULL,
                        attempted_at REAL NOT NULL,
                        status INTEGER,
                        latency_us INTEGER NOT NULL,
                        error TEXT
                    );
                    CREATE INDEX delivery_attempts_by_customization ON delivery_attempts(customization_id, id);
                    CREATE TABLE holds (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
                        source TEXT NOT NULL,
                        event_id TEXT NOT NULL,
                        type TEXT NOT NULL,
                        partition_key TEXT,
                        envelope BLOB NOT NULL,
                        state TEXT NOT NULL,
                        customization_id TEXT,
                        deadline REAL,
                        on_deadline TEXT,
                        passed TEXT NOT NULL,
                        pushed_at REAL,
                        reason TEXT,
                        created_at REAL NOT NULL,
                        UNIQUE (tenant_id, source, event_id)
                    );
                    CREATE INDEX holds_active_by_key ON holds(tenant_id, partition_key, id) WHERE state IN ('held', 'waiting');
                    CREATE INDEX holds_by_state ON holds(tenant_id, state, id);
                    """
            )
        }
        migrator.registerMigration("v3-tenant-manager") { db in
            // Every change to what the in-memory customization indexes mirror bumps one
            // version, by trigger, so each process polls one row to see another's changes.
            var sql = """
                ALTER TABLE tenants ADD COLUMN suspended_at REAL;
                ALTER TABLE customizations ADD COLUMN failing_since REAL;
                ALTER TABLE holds ADD COLUMN closed_at REAL;
                CREATE INDEX holds_by_closed_at ON holds(closed_at) WHERE closed_at IS NOT NULL;
                CREATE TABLE configuration_version (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    version INTEGER NOT NULL
                );
                INSERT INTO configuration_version (id, version) VALUES (1, 1);
                CREATE INDEX inbox_by_tenant ON inbox(tenant_id);
                CREATE INDEX delivery_failures_by_tenant ON delivery_failures(tenant_id);
                CREATE INDEX redeliveries_by_tenant ON redeliveries(tenant_id);
                CREATE INDEX dead_letters_by_tenant ON dead_letters(tenant_id);
                CREATE INDEX subscriptions_by_tenant ON subscriptions(tenant_id);
                CREATE INDEX delivery_attempts_by_tenant ON delivery_attempts(tenant_id);

                """
            let watched = [
                ("event_catalog", "INSERT"), ("event_catalog", "UPDATE"), ("event_catalog", "DELETE"),
                ("customizations", "INSERT"), ("customizations", "UPDATE"), ("customizations", "DELETE"),
                ("tenants", "UPDATE OF suspended_at"), ("tenants", "DELETE"),
            ]
            for (table, operation) in watched {
                let name = "\(table)_\(operation.split(separator: " ").first!.lowercased())_bumps_version"
                sql += """
                    CREATE TRIGGER \(name) AFTER \(operation) ON \(table)
                    BEGIN UPDATE configuration_version SET version = version + 1 WHERE id = 1; END;

                    """
            }
            try db.execute(sql: sql)
        }
        migrator.registerMigration("v4-identity") { db in
            try db.execute(
                sql: """
                    CREATE TABLE users (
                        id TEXT PRIMARY KEY,
                        tenant_id TEXT NOT NULL REFERENCES tenants(id),
                        username TEXT NOT NULL,
                        password_hash TEXT NOT NULL,
                        scopes TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        UNIQUE (tenant_id, username)
                    );
                    CREATE TABLE oauth_clients (
                        id TEXT PRIMARY KEY,
                        tenant_id TEXT NOT NULL REFERENCES tenants(id),
                        name TEXT NOT NULL,
                        secret_hash TEXT,
                        scopes TEXT NOT NULL,
                        redirect_uris TEXT NOT NULL,
                        created_at REAL NOT NULL
                    );
                    CREATE INDEX oauth_clients_by_tenant ON oauth_clients(tenant_id);
                    CREATE TABLE authorization_codes (
                        code_hash TEXT PRIMARY KEY,
                        tenant_id TEXT NOT NULL REFERENCES tenants(id),
                        client_id TEXT NOT NULL,
                        user_id TEXT NOT NULL,
                        redirect_uri TEXT NOT NULL,
                        scopes TEXT NOT NULL,
                        code_challenge TEXT NOT NULL,
                        nonce TEXT,
                        auth_time REAL NOT NULL,
                        expires_at REAL NOT NULL
                    );
                    CREATE INDEX authorization_codes_by_tenant ON authorization_codes(tenant_id);
                    CREATE TABLE refresh_tokens (
                        token_hash TEXT PRIMARY KEY,
                        tenant_id TEXT NOT NULL REFERENCES tenants(id),
                        client_id TEXT NOT NULL,
                        user_id TEXT NOT NULL,
                        scopes TEXT NOT NULL,
                        family_id TEXT NOT NULL,
                        expires_at REAL NOT NULL,
                        used_at REAL,
                        revoked_at REAL
                    );
                    CREATE INDEX refresh_tokens_by_family ON refresh_tokens(tenant_id, family_id);
                    CREATE TABLE signing_keys (
                        kid TEXT PRIMARY KEY,
                        private_key_pem TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        retires_at REAL
                    );
                    """
            )
        }
        migrator.registerMigration("v5-event-retention") { db in
            // Deleting an event checks, by foreign key, that no dead letter or redelivery refers
            // to it: without an index led by the event, every deletion scanned both tables.
            try db.execute(
                sql: """
                    CREATE INDEX dead_letters_by_event_seq ON dead_letters(event_seq);
                    CREATE INDEX redeliveries_by_event_seq ON redeliveries(event_seq);
                    """
            )
        }
        migrator.registerMigration("v6-expiry") { db in
            // The sweeps of inbox records and the deletions of expired refresh tokens and
            // authorization codes find the oldest rows by these, not by scanning the tables.
            try db.execute(
                sql: """
                    CREATE INDEX inbox_by_processed_at ON inbox(processed_at);
                    CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens(expires_at);
                    CREATE INDEX authorization_codes_by_expiry ON authorization_codes(expires_at);
                    """
            )
        }
        migrator.registerMigration("v7-customization-filter") { db in
            // A customization's event filter, its JSON form (nil: every event of its type).
            try db.execute(sql: "ALTER TABLE customizations ADD COLUMN filter TEXT")
        }
        migrator.registerMigration("v8-customization-rate-limit") { db in
            // Pushes a second to the endpoint at most (nil: no limit but its concurrency).
            try db.execute(sql: "ALTER TABLE customizations ADD COLUMN rate_limit REAL")
        }
        migrator.registerMigration("v9-customization-max-attempts") { db in
            // Pushes of one event at most (nil: the platform's retry schedule).
            try db.execute(sql: "ALTER TABLE customizations ADD COLUMN max_attempts INTEGER")
        }
        return migrator
    }
}
