public import BespokeCore
public import Foundation

/// A tenant as stored.
public struct TenantRecord: Sendable, Equatable {
    public let id: TenantID
    public var name: String
    public let createdAt: Date
    /// When the operator suspended the tenant; nil while it is active. A suspended tenant's
    /// credentials are refused and its endpoints receive no pushes; its data is kept.
    public var suspendedAt: Date?

    public init(id: TenantID, name: String, createdAt: Date, suspendedAt: Date? = nil) {
        self.id = id
        self.name = name
        self.createdAt = createdAt
        self.suspendedAt = suspendedAt
    }

    public var isSuspended: Bool { suspendedAt != nil }
}

/// What purging a tenant removed: rows by table.
public struct TenantPurge: Sendable, Equatable {
    public let rowsByTable: [String: Int]

    public init(rowsByTable: [String: Int]) {
        self.rowsByTable = rowsByTable
    }

    /// This purge with another part's rows added.
    public func adding(_ rows: [String: Int]) -> TenantPurge {
        TenantPurge(rowsByTable: rowsByTable.merging(rows, uniquingKeysWith: +))
    }

    public var totalRows: Int { rowsByTable.values.reduce(0, +) }
}

/// A tenant API key as stored: only a hash of the secret is kept.
public struct APIKeyRecord: Sendable, Equatable {
    /// Public identifier of the key (shown in listings; not a secret).
    public let id: String
    public let tenant: TenantID
    /// SHA-256 of the secret, lower-case hex.
    public let secretHash: String
    public let createdAt: Date
    public var revokedAt: Date?

    public init(id: String, tenant: TenantID, secretHash: String, createdAt: Date, revokedAt: Date? = nil) {
        self.id = id
        self.tenant = tenant
        self.secretHash = secretHash
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }
}

/// A part of the system that keeps rows of its own for tenants, apart from the platform's
/// store (a product's database): deleting a tenant purges them too.
public protocol TenantDataOwner: Sendable {
    /// Deletes every row of `tenant`. - Returns: the rows deleted per table, each name prefixed
    /// with the owner's (`shop.orders`).
    func purge(tenant: TenantID) async throws -> [String: Int]
}
