import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The paper's scenarios end to end: `bespoke demo` starts the platform, the shop and the
/// tenant services as separate processes; the tests drive them over real HTTP.
@Suite("Demo: the paper's scenarios, end to end", .serialized)
struct DemoScenarioTests {
    /// Whether a tenant's column of My Orders shows a date as the shipping company writes it.
    static func hasDate(_ page: String) -> Bool { page.contains(#/<td class="slot">\d{4}-\d{2}-\d{2}</td>/#) }

    @Test func badDemoAndServiceSettingsFailFastWithAClearMessage() throws {
        for (arguments, message) in [
            (["demo", "--grace-period", "inf"], "--grace-period is 0 to 3600 seconds"),
            (["demo", "--services-port", "65535"], "--services-port is 1 to 65533"),
            (["scenario", "shipper", "--latency-ms=-5"], "--latency-ms is 0 to 10000"),
            (["scenario", "shipping", "--tenant", "acme", "--database", "/tmp/x.sqlite", "--shipper", "http://127.0.0.1:1", "--countries", ""],
             "--countries lists two-letter country codes"),
            (["scenario", "rfid", "--tenant", "globex", "--database", "/tmp/x.sqlite"], "BESPOKE_CLIENT_ID and BESPOKE_CLIENT_SECRET"),
        ] {
            let (status, output) = try runBespokeWithStatus(arguments)
            #expect(status != 0 && output.contains(message), "bespoke \(arguments): \(status) \(output)")
        }
    }

    @Test func tenantAGetsShippingDatesAndRefusesFarAddressesWhileTenantCIsUntouched() async throws {
        let demo = try await DemoProcess.start()
        defer { demo.forceKill() }
        // Tenant A: the order goes through as always; its shipping service, which only
        // observed it, adds the date to alice's My Orders.
        let order = try await demo.placeOrder("acme", buyer: "alice", [("mug-white", 2), ("socks", 1)])
        try await demo.waitForOrder("acme", buyer: "alice", order, status: "Paid")
        var page = ""
        try await eventually("acme's My Orders shows the order's shipping date", timeout: .seconds(20)) {
            page = try await demo.storefront("acme", buyer: "alice", "orders")
            return page.contains("SHIPPING DATE") && Self.hasDate(page)
        }
        // The synchronous extension: outside the delivery area, the checkout is refused with
        // the tenant's reason, and no order is made.
        let refused = try await demo.checkout("acme", buyer: "alice", [("cap-blue", 1)], country: "US")
        #expect(refused.status == 422, "\(refused.text)")
        #expect(refused.text.contains("extension_rejected") && refused.text.contains("We deliver only to"), "\(refused.text)")
        let orders = try await demo.shop(.GET, "acme", "orders", buyer: "alice").json["orders"] as? [[String: Any]] ?? []
        #expect(orders.count == 1, "only the first order exists: \(orders)")

        // Tenant C: no customization; the same far-away order is accepted and completes, and
        // its pages have no column of anyone else's.
        let initech = try await demo.checkout("initech", buyer: "carol", [("cap-blue", 1)], country: "US")
        #expect(initech.status == 202, "\(initech.text)")
        let initechOrder = try #require(initech.json["orderId"] as? String)
        try await demo.waitForOrder("initech", buyer: "carol", initechOrder, status: "Paid")
        let carol = try await demo.storefront("initech", buyer: "carol", "orders")
        #expect(carol.contains(initechOrder) && !carol.contains("SHIPPING DATE") && !carol.contains("RFID"))
        // Tenant B has customizations of its own, but not A's column either.
        #expect(try await !demo.storefront("globex", buyer: "bob", "orders").contains("SHIPPING DATE"))

        // Ctrl-C (SIGTERM) stops the tenant services with the platform.
        let services = ["shipper", "shipping", "rfid"].compactMap { demo.servicePID($0) }
        #expect(services.count == 3)
        #expect(try await demo.stop() == 0, "\(demo.output)")
        for pid in services { #expect(kill(pid, 0) != 0, "service \(pid) outlived the demo") }
    }

    @Test func tenantBHoldsOrdersUntilScannedEvenWhenItsServiceIsKilledWhileHolding() async throws {
        let demo = try await DemoProcess.start()
        defer { demo.forceKill() }
        let order = try await demo.placeOrder("globex", buyer: "bob", [("hoodie-black", 1), ("notebook", 3)])
        // The RFID service intercepted the order at AwaitingValidation: it stays there.
        try await eventually("the RFID service holds the order", timeout: .seconds(20)) {
            try await demo.send(.GET, "\(demo.rfidURL)/api/orders/\(order)").status == 200
        }
        try await Task.sleep(for: .seconds(2))
        #expect(try await demo.orderStatus("globex", buyer: "bob", order) == "AwaitingValidation")
        let detail = try await demo.storefront("globex", buyer: "bob", "orders/\(order)")
        #expect(detail.contains("0 of 2 lines scanned"), "the order detail shows the scanning status")

        // The service dies while it holds the order; the supervisor starts it again.
        let first = try #require(demo.servicePID("rfid"))
        kill(first, SIGKILL)
        try await eventually("the RFID service is running again", timeout: .seconds(30)) {
            guard let pid = demo.servicePID("rfid"), pid != first else { return false }
            return (try? await demo.send(.GET, "\(demo.rfidURL)/health"))?.status == 200
        }
        #expect(try await demo.orderStatus("globex", buyer: "bob", order) == "AwaitingValidation", "nothing released it meanwhile")
        // Its log keeps what the first run wrote (the restart appends to it), and each run's
        // first line (written at once, not left in a buffer the kill would lose).
        let log = (try? String(contentsOfFile: "\(demo.dataDirectory)/logs/rfid.log", encoding: .utf8)) ?? ""
        #expect(log.contains("holding order for scanning"), "\(log)")
        #expect(log.components(separatedBy: " listening on http://").count - 1 == 2, "\(log)")

        // Scanning one line is not enough; the second releases the held event.
        let station = try await demo.send(.GET, "\(demo.rfidURL)/orders/\(order)")
        #expect(station.status == 200 && station.text.contains("hoodie-black") && station.text.contains("notebook"))
        let list = try await demo.send(.GET, "\(demo.rfidURL)/")
        #expect(list.text.contains("<table>") && list.text.contains(order), "the station lists the held order in its table")
        #expect(!detail.contains(demo.rfidURL), "the buyer gets no link to the warehouse's station")
        let scan = try await demo.send(
            .POST, "\(demo.rfidURL)/orders/\(order)/scan", body: "productId=hoodie-black&tag=E200-3412-0001",
            contentType: "application/x-www-form-urlencoded"
        )
        #expect(scan.status == 303, "\(scan.text)")
        let again = try await demo.send(
            .POST, "\(demo.rfidURL)/orders/\(order)/scan", body: "productId=hoodie-black&tag=E200-9999", contentType: "application/x-www-form-urlencoded"
        )
        #expect(again.status == 409, "a line is scanned once")
        let badTag = try await demo.send(
            .POST, "\(demo.rfidURL)/orders/\(order)/scan", body: "productId=notebook&tag=%3Cscript%3E", contentType: "application/x-www-form-urlencoded"
        )
        #expect(badTag.status == 400 && !badTag.text.contains("<script>"))
        try await Task.sleep(for: .seconds(1))
        #expect(try await demo.orderStatus("globex", buyer: "bob", order) == "AwaitingValidation")
        #expect(try await demo.storefront("globex", buyer: "bob", "orders/\(order)").contains("1 of 2 lines scanned"))
        let wrong = try await demo.send(
            .POST, "\(demo.rfidURL)/orders/\(order)/scan", body: "productId=not-in-order&tag=X", contentType: "application/x-www-form-urlencoded"
        )
        #expect(wrong.status == 409)
        _ = try await demo.send(
            .POST, "\(demo.rfidURL)/orders/\(order)/scan", body: #"{"productId":"notebook","tag":"E200-3412-0002"}"#
        )
        try await demo.waitForOrder("globex", buyer: "bob", order, status: "Paid")
        let released = try await demo.storefront("globex", buyer: "bob", "orders/\(order)")
        #expect(released.contains("all 2 lines scanned"), "the detail shows the order released")
        #expect(!released.contains(#"<span class="note">()</span>"#), "no empty cancellation reason")

        // The scans went onto the bus as the tenant's own events (the audit subscription sees
        // every event; each partition's next event comes once the one before is acked).
        var scanned = 0
        let auth = [("Authorization", "Bearer \(demo.keys["globex"] ?? "")")]
        try await eventually("two RFIDTagScanned events reach globex's audit subscription", timeout: .seconds(15)) {
            let pulled = try await demo.send(.POST, "/v1/tenants/globex/subscriptions/audit/pull", headers: auth, body: #"{"max":100,"waitMs":200}"#)
            let messages = pulled.json["messages"] as? [[String: Any]] ?? []
            scanned += messages.filter { ($0["event"] as? [String: Any])?["type"] as? String == "RFIDTagScanned" }.count
            let receipts = messages.compactMap { $0["deliveryId"] as? String }.map { "\"\($0)\"" }.joined(separator: ",")
            if !receipts.isEmpty {
                _ = try await demo.send(.POST, "/v1/tenants/globex/subscriptions/audit/ack", headers: auth, body: #"{"deliveryIds":[\#(receipts)]}"#)
            }
            return scanned >= 2
        }
        #expect(scanned == 2)
        #expect(try await demo.stop() == 0)
    }

    @Test func anOutageOfTheShippingCompanyOnlyDelaysTheDate() async throws {
        let demo = try await DemoProcess.start()
        defer { demo.forceKill() }
        #expect(try await demo.send(.PUT, "\(demo.shipperURL)/admin/outage", body: #"{"down":true}"#).status == 200)
        let order = try await demo.placeOrder("acme", buyer: "alice", [("backpack", 1)])
        try await demo.waitForOrder("acme", buyer: "alice", order, status: "Paid")
        try await eventually("My Orders says the date is being estimated", timeout: .seconds(20)) {
            try await demo.storefront("acme", buyer: "alice", "orders").contains(#"<td class="slot">estimating…</td>"#)
        }
        #expect(!Self.hasDate(try await demo.storefront("acme", buyer: "alice", "orders")))

        #expect(try await demo.send(.PUT, "\(demo.shipperURL)/admin/outage", body: #"{"down":false}"#).status == 200)
        try await eventually("the date appears once the shipper is back", timeout: .seconds(30)) {
            Self.hasDate(try await demo.storefront("acme", buyer: "alice", "orders"))
        }
        #expect(try await demo.stop() == 0)
    }
}
