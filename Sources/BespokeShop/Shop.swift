public import BespokeBus
public import BespokeCore
import BespokeSQLite
public import BespokeStorage
import Foundation
import GRDB
public import Logging
import Metrics
public import ServiceLifecycle

/// The main product: a multi-tenant shop whose services (Catalog, Basket, Ordering, Payment)
/// talk to each other only through integration events on the bus.
///
/// Each service owns its tables in ``ShopDatabase``. A state change and the events it raises
/// commit together (``OutboxRelay`` publishes them); each service consumes its events through
/// its own subscription per tenant and handles each event once (inbox by event id), in the
/// transaction of its effect. The shop never asks which customizations exist: the bus holds
/// back an intercepted event, and the shop simply sees it later.
public final class Shop: Sendable {
    public let database: ShopDatabase
    public let bus: EventBus
    public let configuration: ShopConfiguration
    public let catalog: CatalogService
    public let basket: BasketService
    public let ordering: OrderingService
    let payment: PaymentService
    public let relay: OutboxRelay
    let logger: Logger
    let newOrders = WakeSignal()
    let tenantsChanged = WakeSignal()

    public init(
        database: ShopDatabase, bus: EventBus, configuration: ShopConfiguration = ShopConfiguration(),
        extensions: any ExtensionPointCaller = NoExtensions(), logger: Logger
    ) {
        self.database = database
        self.bus = bus
        self.configuration = configuration
        self.logger = logger
        catalog = CatalogService(database: database, logger: logger)
        basket = BasketService(database: database, configuration: configuration, extensions: extensions)
        ordering = OrderingService(database: database, logger: logger)
        payment = PaymentService(logger: logger)
        relay = OutboxRelay(database: database, bus: bus, configuration: configuration, logger: logger) { tenant in
            try await Self.ensureSubscriptions(bus: bus, tenant: tenant)
        }
    }

    /// The shop's background services, to run after the bus (and stop before it): the outbox
    /// relay, the event consumers, the grace-period worker and the inbox's sweep.
    public var services: [any Service] {
        [relay, ShopConsumers(shop: self), GracePeriodWorker(shop: self), inboxSweeper]
    }

    /// Deletes the services' inbox records past ``ShopConfiguration/inboxRetention``.
    var inboxSweeper: SQLiteInboxSweeper {
        SQLiteInboxSweeper(
            pool: database.pool, retention: configuration.inboxRetention, interval: configuration.inboxSweepInterval, logger: logger
        )
    }

    /// Wakes the relay: for commands that wrote to the outbox.
    public var outboxChanged: @Sendable () -> Void {
        { [relay] in relay.wake() }
    }

    // MARK: Tenants

    /// The tenant's shop, or nil when the tenant does not run the shop.
    public func settings(_ tenant: TenantID) async throws -> ShopSettings? {
        try await database.pool.read { db in try Self.settings(db, tenant: tenant) }
    }

    /// Every tenant that runs the shop.
    public func tenants() async throws -> [ShopSettings] {
        try await database.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM shop_tenants ORDER BY tenant_id").map(Self.settings)
        }
    }

    /// Opens (or changes) a tenant's shop; its subscriptions exist when this returns.
    public func enable(_ settings: ShopSettings) async throws {
        try await Self.save(settings, in: database)
        try await Self.ensureSubscriptions(bus: bus, tenant: settings.tenant)
        tenantsChanged.signal()
    }

    /// Writes a tenant's shop settings (also where no bus runs: subscriptions are then made
    /// when the shop next starts, before any of its events is published).
    public static func save(_ settings: ShopSettings, in database: ShopDatabase) async throws {
        try settings.validate()
        try await database.pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO shop_tenants (tenant_id, name, colour, payment_outcome, created_at) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (tenant_id) DO UPDATE SET name = excluded.name, colour = excluded.colour,
                        payment_outcome = excluded.payment_outcome
                    """,
                arguments: [settings.tenant.rawValue, settings.name, settings.colour, settings.paymentOutcome.rawValue, Date().timeIntervalSince1970]
            )
        }
    }

    /// Creates the shop's subscriptions of a tenant that lacks them.
    static func ensureSubscriptions(bus: EventBus, tenant: TenantID) async throws {
        for service in ShopService.allCases where (try? bus.subscription(tenant: tenant, name: service.subscriptionName)) == nil {
            do {
                _ = try await bus.createSubscription(
                    tenant: tenant, name: service.subscriptionName, types: service.consumes.map(\.rawValue),
                    policy: DeliveryPolicy(maxAttempts: 10, initialBackoff: .milliseconds(200), maxBackoff: .seconds(60), ackTimeout: .seconds(30))
                )
            } catch let error as BespokeError where error.code == .conflict {
                continue
            }
        }
    }

    // MARK: Events

    /// Handles one delivery for a service: at most once per event (inbox), in one transaction
    /// with its effect and the events the effect raises.
    func handle(_ delivery: Delivery, by service: ShopService) async throws {
        let event = try delivery.event()
        guard let type = ShopEventType(rawValue: event.type), service.consumes.contains(type) else { return }
        // Only the shop's own services raise its events; a tenant publishing one of these
        // types into its namespace cannot move the shop (`/bespoke/` sources are reserved).
        guard event.source == ShopEventType.source(type.publisher) else {
            logger.warning(
                "ignored an event the shop did not raise",
                metadata: ["tenant": "\(delivery.tenant)", "type": "\(event.type)", "source": "\(event.source)"]
            )
            return
        }
        let tenant = delivery.tenant
        let handled = try await SQLiteInbox(pool: database.pool, consumer: service.subscriptionName).process(
            tenant: tenant, eventKey: delivery.eventKey
        ) { [catalog, basket, ordering, payment] db in
            switch service {
            case .catalog: try catalog.apply(event, type, tenant: tenant, db)
            case .basket: try basket.apply(event, type, tenant: tenant, db)
            case .ordering: try ordering.apply(event, type, tenant: tenant, db)
            case .payment: try payment.apply(event, type, tenant: tenant, db)
            }
        }
        Counter(label: "bespoke_shop_events_handled_total", dimensions: [("service", service.rawValue), ("duplicate", handled ? "false" : "true")])
            .increment()
        guard handled else { return }
        relay.wake()
        if type == .userCheckoutAccepted { newOrders.signal() }
    }

    // MARK: Rows

    static func settings(_ db: Database, tenant: TenantID) throws -> ShopSettings? {
        try Row.fetchOne(db, sql: "SELECT * FROM shop_tenants WHERE tenant_id = ?", arguments: [tenant.rawValue]).map(settings)
    }

    static func settings(_ row: Row) -> ShopSettings {
        ShopSettings(
            tenant: TenantID(trusted: row["tenant_id"]), name: row["name"], colour: row["colour"],
            paymentOutcome: ShopSettings.PaymentOutcome(rawValue: row["payment_outcome"]) ?? .succeed
        )
    }
}

extension Shop: TenantDataOwner {
    /// Deletes every row of the tenant in every table of the shop, in one transaction.
    public func purge(tenant: TenantID) async throws -> [String: Int] {
        let rows = try await database.pool.write { db in
            var rows: [String: Int] = [:]
            for table in ShopDatabase.tenantTables {
                try db.execute(sql: "DELETE FROM \(table) WHERE tenant_id = ?", arguments: [tenant.rawValue])
                rows["shop.\(table)"] = db.changesCount
            }
            return rows
        }
        relay.forget(tenant)
        tenantsChanged.signal()
        return rows
    }
}
