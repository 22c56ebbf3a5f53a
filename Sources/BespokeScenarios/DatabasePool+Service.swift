import GRDB

extension DatabasePool {
    /// Opens a tenant service's own SQLite database (WAL; writers wait up to 5 s for each
    /// other) and brings its schema up to date with `migration`, applied once.
    static func serviceDatabase(path: String, migration name: String, _ migrate: @escaping @Sendable (Database) throws -> Void) throws -> DatabasePool {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        let database = try DatabasePool(path: path, configuration: configuration)
        var migrator = DatabaseMigrator()
        migrator.registerMigration(name, migrate: migrate)
        try migrator.migrate(database)
        return database
    }
}
