public import Hummingbird
public import BespokeCore

/// On every tenant API call, once the tenant is resolved: takes a token from the tenant's rate
/// limit (`429 rate_limited` with `Retry-After` when there is none) and counts the call.
public struct TenantTrafficMiddleware: RouterMiddleware {
    public typealias Context = TenantRequestContext
    let limiter: TenantRateLimiter
    let counter: APICallCounter

    public init(limiter: TenantRateLimiter, counter: APICallCounter) {
        self.limiter = limiter
        self.counter = counter
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let wait = limiter.acquire(context.tenant) {
            let seconds = max(1, Int((Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18).rounded(.up)))
            throw BespokeError(.rateLimited, "tenant '\(context.tenant)' is over its rate limit; retry in \(seconds) s", retryAfterSeconds: seconds)
        }
        counter.record(tenant: context.tenant, kind: context.caller.kind)
        return try await next(request, context)
    }
}
