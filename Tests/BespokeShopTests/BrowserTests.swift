import BespokeCore
import BespokeShop
import BespokeTestSupport
import Foundation
import HummingbirdTesting
import Testing

/// A real browser: headless Chromium (Debian's `chromium`, installed by `.ci/run`) signs in to
/// the storefront over real HTTP, renders My Orders, and leaves a screenshot in
/// `test-artifacts/`. Set BESPOKE_SKIP_BROWSER=1 to skip it on a machine without Chromium.
@Suite("Shop: a real browser", .enabled(if: ProcessInfo.processInfo.environment["BESPOKE_SKIP_BROWSER"] != "1"))
struct BrowserTests {
    static var chromium: String? {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
                let path = "\(directory)/\(name)"
                if FileManager.default.isExecutableFile(atPath: path) { return path }
            }
        }
        return nil
    }

    /// `test-artifacts/` at the package root.
    static var artifacts: URL {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let directory = root.appendingPathComponent("test-artifacts")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// Runs headless Chromium on `url` with `arguments`; returns what it printed.
    static func browse(_ url: String, _ arguments: [String]) async throws -> String {
        let chromium = try #require(Self.chromium, "headless Chromium is needed: apt-get install chromium (or BESPOKE_SKIP_BROWSER=1)")
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("chromium-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: profile) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: chromium)
        process.arguments = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--hide-scrollbars",
            "--user-data-dir=\(profile.path)", "--window-size=1200,640",
        ] + arguments + [url]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Read and wait on a Dispatch thread: blocking the (two-thread) cooperative pool would
        // starve the very server Chromium is talking to.
        let (data, status) = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                let data = output.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                continuation.resume(returning: (data, process.terminationStatus))
            }
        }
        #expect(status == 0, "chromium exited with \(status)")
        return String(decoding: data, as: UTF8.self)
    }

    @Test func myOrdersRendersInChromiumWithTheTenantsColumnAndNothingOfAnotherTenant() async throws {
        let fixture = try await ShopFixture.make()
        let shipping = try await StorefrontTests.shippingDateExtension(value: "2026-12-04")
        defer { shipping.stop() }
        _ = try await fixture.platform.manager.register(
            tenant: ShopFixture.acme, eventType: UISlot.myOrdersColumns.rawValue, mode: .ui, url: shipping.url
        )
        try await fixture.test(.live) { client in
            let port = try #require(client.port)
            let acme = ShopFixture.acme, globex = ShopFixture.globex
            let first = try await client.placeOrder(acme, key: fixture.acmeKey, buyer: "alice", [("mug", 2)])
            let second = try await client.placeOrder(acme, key: fixture.acmeKey, buyer: "alice", [("hoodie", 1)])
            let theirs = try await client.placeOrder(globex, key: fixture.globexKey, buyer: "alice", [("lamp", 1)])
            for order in [first, second] { try await client.waitForOrder(acme, key: fixture.acmeKey, buyer: "alice", order, status: "Paid") }
            try await client.waitForOrder(globex, key: fixture.globexKey, buyer: "alice", theirs, status: "Paid")

            func link() async throws -> String {
                let response = try await client.shop(.post, acme, "sign-in-links", key: fixture.acmeKey, json: #"{"buyer":"alice"}"#)
                return "http://127.0.0.1:\(port)" + (try #require(response.json["path"] as? String))
            }
            let screenshot = Self.artifacts.appendingPathComponent("my-orders-acme.png")
            try? FileManager.default.removeItem(at: screenshot)
            _ = try await Self.browse(try await link(), ["--screenshot=\(screenshot.path)"])
            let png = try Data(contentsOf: screenshot)
            #expect(png.count > 5_000 && png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "a PNG of the page")
            print("screenshot of My Orders: \(screenshot.path)")

            let dom = try await Self.browse(try await link(), ["--dump-dom"])
            #expect(dom.contains("My Orders") && dom.contains("Acme Outfitters"))
            #expect(dom.contains("SHIPPING DATE") && dom.contains("2026-12-04"))
            #expect(dom.contains(String(first.prefix(8))) && dom.contains(String(second.prefix(8))))
            // Nothing of globex: not its shop's name, its product, its order, nor its colour.
            for foreign in ["Globex", "Lamp", String(theirs.prefix(8)), "#0055aa"] {
                #expect(!dom.contains(foreign), "'\(foreign)' of another tenant is on acme's page")
            }
        }
    }
}
