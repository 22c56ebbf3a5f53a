import ArgumentParser
import BespokeSQLite
import Foundation

/// Where a benchmark's databases go and how durable its commits are.
struct BenchStorageOptions: ParsableArguments {
    @Option(help: "full or normal.") var durability = "full"
    @Option(name: .customLong("data-dir"), help: "Where the benchmark databases go (default: a temporary directory, removed after).")
    var dataDirectory: String?

    /// Runs `body` with the durability and a directory; a temporary one is removed after.
    func withStorage(_ body: (SQLiteStore.Durability, String) async throws -> Void) async throws {
        guard let durability = SQLiteStore.Durability(rawValue: durability) else {
            throw ValidationError("durability must be 'full' or 'normal'")
        }
        let directory = dataDirectory
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("bespoke-bench-\(UUID().uuidString)").path
        try await body(durability, directory)
        if dataDirectory == nil { try? FileManager.default.removeItem(atPath: directory) }
    }
}
