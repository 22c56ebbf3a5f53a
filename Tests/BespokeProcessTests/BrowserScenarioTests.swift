import Foundation
import Testing

/// The scenarios in a real browser: headless Chromium (Debian's `chromium`), driven over the
/// DevTools protocol by `Tests/browser/storefront_flow.py`, signs in on the login page as a
/// Tenant A user and a Tenant B user, orders through the storefront's forms, scans Tenant B's
/// order at its scanning station, and leaves screenshots in `test-artifacts/`.
/// BESPOKE_SKIP_BROWSER=1 skips it on a machine without Chromium.
@Suite("Demo: the scenarios in a real browser", .serialized, .enabled(if: ProcessInfo.processInfo.environment["BESPOKE_SKIP_BROWSER"] != "1"))
struct BrowserScenarioTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var chromium: String? {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs the driver; returns its exit status and output.
    static func drive(_ arguments: [String]) async throws -> (Int32, String) {
        let chromium = try #require(chromium, "headless Chromium is needed: apt-get install chromium (or BESPOKE_SKIP_BROWSER=1)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", root.appendingPathComponent("Tests/browser/storefront_flow.py").path, "--chromium", chromium] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        // Wait on a Dispatch thread, not the cooperative pool.
        return await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                let data = output.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                continuation.resume(returning: (process.terminationStatus, String(decoding: data, as: UTF8.self)))
            }
        }
    }

    /// The driver's last line: `{"orderId": ..., "screenshots": [...]}`.
    static func result(_ output: String) throws -> (order: String, screenshots: [String]) {
        let line = try #require(output.split(separator: "\n").last { $0.hasPrefix("{") }, "no result in: \(output)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        return (try #require(object["orderId"] as? String), object["screenshots"] as? [String] ?? [])
    }

    static func isPNG(_ path: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: path), data.count > 10_000 else { return false }
        return data.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
    }

    @Test func tenantAAndTenantBUsersOrderInChromium() async throws {
        let demo = try await DemoProcess.start()
        defer { demo.forceKill() }
        let artifacts = Self.root.appendingPathComponent("test-artifacts").path
        try FileManager.default.createDirectory(atPath: artifacts, withIntermediateDirectories: true)

        let (aStatus, aOutput) = try await Self.drive([
            "--base", demo.baseURL, "--tenant", "acme", "--user", "alice", "--password", "alice-password",
            "--product", "mug-white:2", "--product", "socks:1", "--out", artifacts, "--scenario", "shipping",
        ])
        #expect(aStatus == 0, "\(aOutput)")
        let a = try Self.result(aOutput)
        #expect(a.screenshots.map { ($0 as NSString).lastPathComponent } == ["my-orders-acme.png"])
        #expect(a.screenshots.allSatisfy(Self.isPNG))
        // The order the browser placed is alice's, in acme's shop, with its date.
        try await demo.waitForOrder("acme", buyer: "alice", a.order, status: "Paid")
        #expect(DemoScenarioTests.hasDate(try await demo.storefront("acme", buyer: "alice", "orders")))

        let (bStatus, bOutput) = try await Self.drive([
            "--base", demo.baseURL, "--tenant", "globex", "--user", "bob", "--password", "bob-password",
            "--product", "hoodie-black:1", "--product", "notebook:1", "--out", artifacts, "--scenario", "rfid", "--rfid", demo.rfidURL,
        ])
        #expect(bStatus == 0, "\(bOutput)")
        let b = try Self.result(bOutput)
        #expect(
            b.screenshots.map { ($0 as NSString).lastPathComponent }
                == ["order-detail-globex-held.png", "rfid-station-globex.png", "order-detail-globex-confirmed.png"]
        )
        #expect(b.screenshots.allSatisfy(Self.isPNG))
        #expect(try await demo.orderStatus("globex", buyer: "bob", b.order) == "Paid")

        // A wrong password stays on the login page: the driver fails, nothing is ordered.
        let (badStatus, _) = try await Self.drive([
            "--base", demo.baseURL, "--tenant", "acme", "--user", "alice", "--password", "wrong", "--product", "socks:1",
            "--out", artifacts, "--scenario", "shipping",
        ])
        #expect(badStatus != 0)
        let orders = try await demo.shop(.GET, "acme", "orders", buyer: "alice").json["orders"] as? [[String: Any]] ?? []
        #expect(orders.count == 1)
        #expect(try await demo.stop() == 0)
    }
}
