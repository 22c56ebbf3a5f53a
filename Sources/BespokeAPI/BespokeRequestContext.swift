public import BespokeCore
public import Hummingbird
public import Logging

/// Who is calling, once authenticated.
public enum Caller: Sendable, Equatable {
    /// A holder of a tenant API key.
    case tenantKey(tenant: TenantID, keyID: String)
    /// The operator, with the admin token.
    case admin

    var tenant: TenantID? {
        if case .tenantKey(let tenant, _) = self { return tenant }
        return nil
    }
}

/// The request context of every route: the caller, set by ``APIKeyAuthenticator``.
public struct BespokeRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The authenticated caller, if any.
    public var caller: Caller?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.caller = nil
    }
}

/// The context of routes under `/v1/tenants/{tenant}`: the tenant is resolved once, from the
/// caller's credentials, and handlers get it non-optional.
///
/// A caller whose credentials belong to another tenant than the path names gets `404`, exactly
/// as for a tenant that does not exist, so the existence of other tenants never leaks.
public struct TenantRequestContext: ChildRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The tenant every operation of this request is scoped to.
    public let tenant: TenantID

    public init(context: BespokeRequestContext) throws {
        guard let caller = context.caller, let tenant = caller.tenant else {
            throw BespokeError(.unauthorized, "a tenant API key is required (Authorization: Bearer bk_...)")
        }
        guard context.parameters.get("tenant") == tenant.rawValue else {
            throw BespokeError.notFound("tenant")
        }
        self.coreContext = context.coreContext
        self.tenant = tenant
    }
}

/// The context of operator routes under `/v1/admin`.
public struct AdminRequestContext: ChildRequestContext {
    public var coreContext: CoreRequestContextStorage

    public init(context: BespokeRequestContext) throws {
        guard context.caller == .admin else {
            throw BespokeError(.unauthorized, "the admin token is required (Authorization: Bearer <admin token>)")
        }
        self.coreContext = context.coreContext
    }
}
