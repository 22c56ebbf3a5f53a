import BespokeSQLite
import BespokeStorage
import Foundation

/// The storage backends the contract suite runs against. The PostgreSQL engine joins here.
enum StoreBackend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite

    var testDescription: String { rawValue }

    /// A fresh, empty store.
    func makeStore() throws -> any PlatformStore {
        switch self {
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bespoke-contract-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            return try SQLiteStore(path: directory.appendingPathComponent("store.sqlite").path)
        }
    }
}

import Testing
