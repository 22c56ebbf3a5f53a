import BespokeCore
public import Hummingbird

/// Refuses callers whose credentials lack `scope`: `403 insufficient_scope`.
public struct RequireScope: RouterMiddleware {
    public typealias Context = TenantRequestContext
    let scope: String

    public init(_ scope: String) {
        self.scope = scope
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard context.caller.has(scope: scope) else {
            throw BespokeError(.insufficientScope, "this call needs the scope '\(scope)'")
        }
        return try await next(request, context)
    }
}

extension RouterGroup where Context == TenantRequestContext {
    /// A group of the same path whose routes need `scope`.
    public func scoped(_ scope: String) -> RouterGroup<TenantRequestContext> {
        group().add(middleware: RequireScope(scope))
    }
}
