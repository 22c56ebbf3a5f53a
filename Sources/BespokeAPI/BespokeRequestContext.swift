public import BespokeCore
public import BespokeIdentity
public import Hummingbird
import Logging

/// Who is calling, once authenticated.
public enum Caller: Sendable, Equatable {
    /// A holder of a tenant API key: the admin bootstrap, with every tenant scope.
    case tenantKey(tenant: TenantID, keyID: String)
    /// A holder of an access token the platform issued.
    case token(TokenCaller)
    /// The operator, with the admin token.
    case admin

    /// The tenant the caller's credentials belong to; nil for the operator.
    public var tenant: TenantID? {
        switch self {
        case .tenantKey(let tenant, _): tenant
        case .token(let token): token.tenant
        case .admin: nil
        }
    }

    /// User, service, key or admin: what API calls are counted by.
    public var kind: CallerKind {
        switch self {
        case .tenantKey: .key
        case .token(let token): token.kind
        case .admin: .admin
        }
    }

    /// Whether the credentials carry `scope` (a tenant key carries them all).
    public func has(scope: String) -> Bool {
        switch self {
        case .tenantKey: true
        case .token(let token): token.scopes.contains(scope)
        case .admin: false
        }
    }
}

/// The verified content of an access token.
public struct TokenCaller: Sendable, Equatable {
    public let tenant: TenantID
    /// The user's id (`usr_...`) or the service client's id (`cli_...`).
    public let subject: String
    public let scopes: Set<String>
    public let kind: CallerKind
    public let clientID: String
    public let username: String?

    public init(tenant: TenantID, subject: String, scopes: Set<String>, kind: CallerKind, clientID: String, username: String?) {
        self.tenant = tenant
        self.subject = subject
        self.scopes = scopes
        self.kind = kind
        self.clientID = clientID
        self.username = username
    }
}

/// What the gateway knows of every request before any handler runs: its id, its trace
/// context, and the caller.
public struct BespokeRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The authenticated caller, if any.
    public var caller: Caller?
    /// The request's id: the `X-Request-Id` it came with when well formed, else a new one.
    /// Echoed in the response and passed to extensions as their correlation id.
    public var requestID: String
    /// The W3C trace context of this hop: the caller's trace id, or a new trace.
    public var traceParent: TraceParent
    /// How deep in a chain of synchronous extensions this request is (`Bespoke-Extension-Depth`).
    public var extensionDepth: Int

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.caller = nil
        self.requestID = ""
        // Set by `RequestTracingMiddleware`, first of all middleware.
        self.traceParent = .placeholder
        self.extensionDepth = 0
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
    /// The caller, of this tenant.
    public let caller: Caller
    public let requestID: String
    public let traceParent: TraceParent
    public let extensionDepth: Int

    public init(context: BespokeRequestContext) throws {
        guard let caller = context.caller, let tenant = caller.tenant else {
            throw BespokeError(.unauthorized, "an access token or tenant API key is required (Authorization: Bearer ...)")
        }
        guard context.parameters.get("tenant") == tenant.rawValue else {
            throw BespokeError.notFound("tenant")
        }
        self.coreContext = context.coreContext
        self.tenant = tenant
        self.caller = caller
        self.requestID = context.requestID
        self.traceParent = context.traceParent
        self.extensionDepth = context.extensionDepth
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
