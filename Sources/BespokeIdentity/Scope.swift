/// The scopes of Bespoke's APIs. A token carries some; each route of the gateway needs one.
/// A tenant API key (the admin bootstrap) holds every tenant scope.
public enum Scope {
    /// Publish events to the tenant's bus.
    public static let eventsPublish = "events:publish"
    /// Subscriptions: create, pull, ack, nack, dead letters.
    public static let eventsConsume = "events:consume"
    /// Held events: list, resume, cancel.
    public static let holds = "holds"
    /// Customization registrations, their secrets and recovery.
    public static let customizations = "customizations"
    /// The shop as a buyer: catalog, basket, checkout, own orders.
    public static let shop = "shop"
    /// The shop's administration: every order, shipping, prices, stock, settings.
    public static let shopAdmin = "shop:admin"
    /// The tenant's users and OAuth clients.
    public static let identity = "identity"
    /// API call counts.
    public static let usage = "usage"

    /// OpenID Connect scopes, granted to user sign-ins.
    public static let openID = "openid"
    public static let profile = "profile"
    public static let offlineAccess = "offline_access"

    /// Every scope of the tenant APIs.
    public static let all: [String] = [eventsPublish, eventsConsume, holds, customizations, shop, shopAdmin, identity, usage]
    /// Scopes a client may be given: the APIs' and OpenID Connect's.
    public static let known: Set<String> = Set(all + [openID, profile, offlineAccess])
}

/// Who a token was issued to.
public enum CallerKind: String, Sendable, Codable, CaseIterable {
    /// A person signed in through the authorization endpoint.
    case user
    /// A tenant's service (a customization), with the client-credentials grant.
    case service
    /// A tenant API key (the admin bootstrap).
    case key
    /// The operator's admin token.
    case admin
}
