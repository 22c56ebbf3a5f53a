public import BespokeCore
public import Foundation

/// Tenants.
public protocol TenantStore: Sendable {
    /// Creates a tenant. - Throws: ``BespokeError`` `conflict` when the id is taken.
    func createTenant(_ tenant: TenantRecord) async throws
    func tenant(_ id: TenantID) async throws -> TenantRecord?
    func listTenants() async throws -> [TenantRecord]
    /// Suspends the tenant at `date`, or reinstates it when `date` is nil; `false` when there
    /// is no such tenant. Suspending a suspended tenant keeps the first date.
    func setSuspended(_ id: TenantID, at date: Date?) async throws -> Bool
    /// Deletes the tenant and every row of it in every table, in one transaction; nil when
    /// there is no such tenant.
    func purgeTenant(_ id: TenantID) async throws -> TenantPurge?
}

/// Tenant API keys, stored hashed.
public protocol APIKeyStore: Sendable {
    func insertAPIKey(_ key: APIKeyRecord) async throws
    /// The key whose secret hashes to `secretHash`, revoked or not.
    func apiKey(secretHash: String) async throws -> APIKeyRecord?
    func apiKeys(tenant: TenantID) async throws -> [APIKeyRecord]
    /// Marks a key revoked; `false` when the tenant has no such key.
    func revokeAPIKey(tenant: TenantID, id: String, at date: Date) async throws -> Bool
}

/// Durable subscriptions.
public protocol SubscriptionStore: Sendable {
    /// - Throws: ``BespokeError`` `conflict` when the tenant already has a subscription of that name.
    func createSubscription(_ subscription: NewSubscription, at date: Date) async throws -> Subscription
    func subscription(tenant: TenantID, name: String) async throws -> Subscription?
    func subscriptions(tenant: TenantID) async throws -> [Subscription]
    /// Deletes a subscription with its pending deliveries and dead letters; `false` if absent.
    func deleteSubscription(tenant: TenantID, name: String) async throws -> Bool
    /// Every subscription of every tenant: read once at start-up to build the bus's in-memory index.
    func allSubscriptions() async throws -> [Subscription]
}

/// The event log, subscription cursors, failures, redeliveries and dead letters.
public protocol EventLogStore: Sendable {
    /// Applies the writes in one transaction, in order, and returns one result per write.
    /// Either every write takes effect or, when this throws, none does.
    func apply(_ writes: [BusWrite]) async throws -> [BusWriteResult]
    /// Up to `limit` pending stream deliveries of a subscription: events of its tenant and
    /// types after `after` (or its stored cursor, whichever is later), in log order.
    func pendingDeliveries(_ subscription: Subscription, after: Int64?, limit: Int) async throws -> DeliveryPage
    /// A subscription's pending redeliveries (redriven dead letters), oldest first.
    func redeliveries(_ subscription: Subscription) async throws -> [Delivery]
    /// A subscription's dead letters with ids above `after`, in id order.
    func deadLetters(tenant: TenantID, subscription: SubscriptionID, after: DeadLetterID?, limit: Int) async throws -> [DeadLetter]
    /// How many deliveries are pending for a subscription: redeliveries, and stream deliveries
    /// after its cursor or `settledThrough` (what the caller knows to be settled), whichever is later.
    func pendingCount(_ subscription: Subscription, settledThrough: Int64?) async throws -> Int
    /// One step of a retention sweep: looks at up to `limit` events stored before `date`, in log
    /// order after `position` (nil: from the log's start), and deletes those no subscription can
    /// need again: at or before the cursor of every subscription of their tenant (every event,
    /// for a tenant without subscriptions: a new subscription starts at the log's end), and
    /// neither a dead letter's nor a redelivery's. A sweep goes on from the step's
    /// ``EventDeletion/resumeAfter`` until it is nil, so each event kept is looked at once.
    func deleteSettledEvents(storedBefore date: Date, after position: Int64?, limit: Int) async throws -> EventDeletion
    /// The subscriptions that have yet to settle an event stored before `date`, or a
    /// redelivery of one: those keeping their tenant's log from a retention with that cutoff.
    /// By tenant, then name.
    func subscriptionsHoldingBack(storedBefore date: Date) async throws -> [Subscription]
}

/// The consumer-side idempotency record: which events a consumer has already processed.
public protocol InboxStore: Sendable {
    /// Records that `consumer` processed `eventKey`; `false` when it was already recorded.
    func markProcessed(tenant: TenantID, consumer: String, eventKey: String, at date: Date) async throws -> Bool
    /// Whether `consumer` has processed `eventKey`.
    func isProcessed(tenant: TenantID, consumer: String, eventKey: String) async throws -> Bool
    /// Forgets up to `limit` of the records made before `date`, oldest first, of every tenant
    /// and consumer, and returns how many it forgot: a redelivery of their events would run
    /// its effect again, so the retention must outlast any redelivery (see ARCHITECTURE.md).
    func deleteProcessed(before date: Date, limit: Int) async throws -> Int
}

/// The product's event catalog.
public protocol CatalogStore: Sendable {
    /// Creates or replaces the entry of its type.
    func putCatalogEntry(_ entry: CatalogEntry) async throws
    func catalogEntries() async throws -> [CatalogEntry]
    /// `false` when the type is not in the catalog.
    func deleteCatalogEntry(type: String) async throws -> Bool
}

/// Tenants' customization registrations and the log of pushes to their endpoints.
public protocol CustomizationStore: Sendable {
    func insertCustomization(_ customization: Customization) async throws
    /// Replaces a customization of its tenant; `false` when the tenant has none with its id.
    func updateCustomization(_ customization: Customization) async throws -> Bool
    /// `false` when the tenant has no customization with that id.
    func deleteCustomization(tenant: TenantID, id: String) async throws -> Bool
    func customizations(tenant: TenantID) async throws -> [Customization]
    /// Every customization of every tenant: the source of the in-memory index.
    func allCustomizations() async throws -> [Customization]
    /// Records since when every push to the customization's endpoint has failed (nil: it
    /// succeeded); `false` when the tenant has no customization with that id.
    func setFailingSince(tenant: TenantID, id: String, since: Date?) async throws -> Bool
    /// A number that changes whenever the catalog, a customization or a tenant's suspension
    /// changes, whichever process made the change: polled to keep in-memory indexes in sync.
    func configurationVersion() async throws -> Int64
    /// The catalog, every customization and the suspended tenants, read at one instant,
    /// with the ``configurationVersion()`` of that instant.
    func configurationSnapshot() async throws -> ConfigurationSnapshot
    func recordAttempts(_ attempts: [DeliveryAttempt]) async throws
    /// A page of a customization's push attempts matching `query`, newest first, each with its
    /// ``DeliveryAttempt/id``.
    func deliveryAttempts(tenant: TenantID, customization: String, matching query: AttemptQuery) async throws -> AttemptPage
    /// Of the `limit` oldest attempts in the log (by when they were recorded), deletes those
    /// made before `date`, and returns how many it deleted: fewer than `limit` once the oldest
    /// left are younger. Bounded by `limit`, however large the log.
    func deleteAttempts(madeBefore date: Date, limit: Int) async throws -> Int
}

/// Reading events in custody. (Holds change through ``BusWrite``, in the bus's commits.)
public protocol HoldStore: Sendable {
    func hold(tenant: TenantID, id: Int64) async throws -> Hold?
    /// A tenant's holds in the given states, oldest first.
    func holds(tenant: TenantID, states: [HoldState], limit: Int) async throws -> [Hold]
    /// Every active hold (held or waiting) of every tenant, oldest first: read at start-up.
    func activeHolds() async throws -> [Hold]
    /// Deletes up to `limit` holds closed (cancelled or dead-lettered) before `date`, oldest
    /// first, and returns how many it deleted.
    func deleteClosedHolds(closedBefore date: Date, limit: Int) async throws -> Int
}

/// What the in-memory customization index mirrors, read at one instant.
public struct ConfigurationSnapshot: Sendable {
    public let version: Int64
    public let catalog: [CatalogEntry]
    public let customizations: [Customization]
    public let suspendedTenants: Set<TenantID>

    public init(version: Int64, catalog: [CatalogEntry], customizations: [Customization], suspendedTenants: Set<TenantID>) {
        self.version = version
        self.catalog = catalog
        self.customizations = customizations
        self.suspendedTenants = suspendedTenants
    }
}

/// Everything the platform keeps, as one value a backend provides.
public typealias PlatformStore = TenantStore & APIKeyStore & SubscriptionStore & EventLogStore & InboxStore
    & CatalogStore & CustomizationStore & HoldStore

/// Users, OAuth2 clients, authorization codes, refresh tokens and signing keys.
///
/// Every tenant-owned record is read and changed through its tenant; the two global lookups
/// (`client(id:)` and the hashed codes and tokens) return records that name their tenant, and
/// the identity service checks it against the client presenting them.
public protocol IdentityStore: Sendable {
    /// - Throws: ``BespokeError`` `conflict` when the tenant already has a user of that name.
    func createUser(_ user: UserRecord) async throws
    func user(tenant: TenantID, username: String) async throws -> UserRecord?
    func user(tenant: TenantID, id: String) async throws -> UserRecord?
    func users(tenant: TenantID) async throws -> [UserRecord]
    /// Deletes a user and revokes its refresh tokens; `false` when the tenant has no such user.
    func deleteUser(tenant: TenantID, id: String, at date: Date) async throws -> Bool

    func createClient(_ client: ClientRecord) async throws
    /// The client with this `client_id`, of whichever tenant.
    func client(id: String) async throws -> ClientRecord?
    func clients(tenant: TenantID) async throws -> [ClientRecord]
    /// Deletes a client and revokes its refresh tokens; `false` when the tenant has no such client.
    func deleteClient(tenant: TenantID, id: String, at date: Date) async throws -> Bool

    func insertAuthorizationCode(_ code: AuthorizationCodeRecord) async throws
    /// Removes and returns the code (single use), or nil when it is unknown or expired at `date`.
    func consumeAuthorizationCode(hash: String, at date: Date) async throws -> AuthorizationCodeRecord?

    /// Stores a token. This and ``rotateRefreshToken(hash:replacement:at:)`` also delete up to
    /// two tokens expired by then (now, or the rotation's `date`), oldest first, so that
    /// expired tokens never pile up.
    func insertRefreshToken(_ token: RefreshTokenRecord) async throws
    /// Marks the token used and stores `replacement` (same family), in one transaction. A token
    /// already used or revoked revokes its family instead.
    func rotateRefreshToken(hash: String, replacement: RefreshTokenRecord, at date: Date) async throws -> RefreshRotation
    /// The unexpired token with this hash, used or not.
    func refreshToken(hash: String, at date: Date) async throws -> RefreshTokenRecord?
    /// Revokes every token of the family.
    func revokeRefreshFamily(tenant: TenantID, familyID: String, at date: Date) async throws

    /// Signing keys not yet retired at `date`, oldest first.
    func signingKeys(at date: Date) async throws -> [SigningKeyRecord]
    /// Adds `key` as the current key and retires every current key at `retiring`.
    func rotateSigningKey(to key: SigningKeyRecord, retiring: Date) async throws
}
