// swift-tools-version: 6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "bespoke",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "bespoke", targets: ["BespokeCLI"]),
        .library(name: "BespokeCore", targets: ["BespokeCore"]),
        .library(name: "BespokeBus", targets: ["BespokeBus"]),
        .library(name: "BespokeSDK", targets: ["BespokeSDK"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.20.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.1.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.24.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.0.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.24.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // Domain types shared by every part of the platform: CloudEvents envelope, tenant ids, errors, limits.
        .target(
            name: "BespokeCore",
            swiftSettings: swiftSettings
        ),
        // Repository protocols the bus and the stores are written against. No backend specifics here.
        .target(
            name: "BespokeStorage",
            dependencies: ["BespokeCore"],
            swiftSettings: swiftSettings
        ),
        // The embedded default backend: SQLite through GRDB, WAL mode.
        .target(
            name: "BespokeSQLite",
            dependencies: [
                "BespokeStorage",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The durable multi-tenant event bus: group commit, fair scheduling, delivery, retries, dead letters.
        .target(
            name: "BespokeBus",
            dependencies: [
                "BespokeStorage",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Standard Webhooks: secrets, signing and verification (the platform's pushes, the tenant SDK).
        .target(
            name: "BespokeWebhooks",
            dependencies: ["BespokeCore", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        // The Tenant Manager (event catalog, customization registrations and their in-memory
        // index) and the webhook dispatcher that pushes to tenants' endpoints.
        .target(
            name: "BespokeCustomization",
            dependencies: [
                "BespokeBus",
                "BespokeWebhooks",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Identity: tenant users and service clients, the OAuth2 / OpenID Connect authorization
        // server's grants, ES256 signing keys with rotation, and access-token verification.
        .target(
            name: "BespokeIdentity",
            dependencies: [
                "BespokeStorage",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The public HTTP API of the bus (publish, pull, ack, dead letters) and its OpenAPI document.
        .target(
            name: "BespokeAPI",
            dependencies: [
                "BespokeBus",
                "BespokeCustomization",
                "BespokeIdentity",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            resources: [.copy("Resources/openapi.yaml"), .copy("Resources/Templates")],
            swiftSettings: swiftSettings
        ),
        // Assembles the platform from configuration: stores, bus, HTTP server, all under ServiceLifecycle.
        .target(
            name: "BespokeServer",
            dependencies: [
                "BespokeAPI",
                "BespokeSQLite",
                "BespokeShop",
                "BespokeShopWeb",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The main product: a multi-tenant shop (Catalog, Basket, Ordering, Payment) that talks
        // to itself only through integration events on the bus, with an outbox and an inbox. It
        // knows nothing of customizations.
        .target(
            name: "BespokeShop",
            dependencies: [
                "BespokeBus",
                "BespokeSQLite",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The shop's HTTP faces: its REST API under /v1/tenants/{tenant}/shop and the
        // server-rendered storefront (Mustache) with its UI slots.
        .target(
            name: "BespokeShopWeb",
            dependencies: [
                "BespokeAPI",
                "BespokeIdentity",
                "BespokeShop",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            resources: [.copy("Templates")],
            swiftSettings: swiftSettings
        ),
        // The tenant SDK: what a tenant's customization service is written with (webhook
        // verification, typed events, client-credentials tokens, holds, publishing, extension
        // points and UI slots on Hummingbird). It talks to the platform only over HTTP.
        .target(
            name: "BespokeSDK",
            dependencies: [
                "BespokeCore",
                "BespokeWebhooks",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The paper's tenant services, written with the SDK, each its own process and database
        // in the demo: Tenant A's shipping service (and the fake shipping company it asks),
        // Tenant B's RFID scanning service.
        .target(
            name: "BespokeScenarios",
            dependencies: [
                "BespokeSDK",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Benchmarks printed by `bespoke bench`.
        .target(
            name: "BespokeBench",
            dependencies: [
                "BespokeScenarios",
                "BespokeServer",
                "BespokeShop",
                "BespokeWebhooks",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The `bespoke` executable: a thin `@main` over argument parsing.
        .executableTarget(
            name: "BespokeCLI",
            dependencies: [
                "BespokeServer",
                "BespokeBench",
                "BespokeScenarios",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BespokeCoreTests",
            dependencies: ["BespokeCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BespokeStorageTests",
            dependencies: ["BespokeSQLite"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BespokeBusTests",
            dependencies: ["BespokeBus", "BespokeSQLite"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BespokeAPITests",
            dependencies: [
                "BespokeSDK",
                "BespokeServer",
                "BespokeTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Helpers shared by test targets.
        .target(
            name: "BespokeTestSupport",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Tests/BespokeTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BespokeShopTests",
            dependencies: [
                "BespokeServer",
                "BespokeWebhooks",
                "BespokeTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BespokeWebhooksTests",
            dependencies: ["BespokeWebhooks", "BespokeTestSupport"],
            swiftSettings: swiftSettings
        ),
        // Runs the real `bespoke` binary: crash (SIGKILL) and graceful shutdown (SIGTERM) over HTTP.
        .testTarget(
            name: "BespokeProcessTests",
            dependencies: [
                "BespokeCLI",
                "BespokeSQLite",
                "BespokeTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
