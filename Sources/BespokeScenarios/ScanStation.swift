import Foundation
import Hummingbird

/// The scanning station's routes: the page of held orders, one order's lines with a scan
/// form each, and the same as JSON under `/api` for tools.
struct ScanStation: Sendable {
    let store: ScanStore
    let worker: ReleaseWorker
    let pages: ScanStationPages

    /// What an RFID tag's printed form is made of (EPC hex, dashes).
    static let tagCharacters = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")

    /// An order as `GET /api/orders/{id}` shows it (its hold ticket stays inside the service).
    struct OrderStatus: Encodable {
        let orderId: String
        let buyer: String
        let released: Bool
        let lines: [ScanStore.Line]
    }

    struct ScanForm: Decodable {
        let productId: String
        let tag: String
    }

    func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.get("/") { _, _ in try await self.ordersPage() }
        router.get("orders/:id") { _, context in try await self.orderPage(try context.parameters.require("id"), problem: nil) }
        router.post("orders/:id/scan") { request, context in try await self.scan(request, context: context) }
        router.get("api/orders/:id") { _, context -> Response in
            guard let order = try await self.store.order(try context.parameters.require("id")) else {
                throw HTTPError(.notFound, message: "no such order here")
            }
            let status = OrderStatus(orderId: order.orderId, buyer: order.buyer, released: order.released, lines: order.lines)
            var response = Response(status: .ok, body: .init(byteBuffer: ByteBuffer(data: try JSONEncoder().encode(status))))
            response.headers[.contentType] = "application/json"
            return response
        }
    }

    private func ordersPage() async throws -> Response {
        let orders = try await store.orders().map { order -> [String: Any] in
            ["orderId": order.orderId, "buyer": order.buyer, "scanned": order.scanned, "count": order.lines.count, "released": order.released]
        }
        return html(pages.render(["orders": orders, "hasOrders": !orders.isEmpty], "orders"))
    }

    private func orderPage(_ id: String, problem: String?, status: HTTPResponse.Status = .ok) async throws -> Response {
        guard let order = try await store.order(id) else { throw HTTPError(.notFound, message: "order \(id) is not held here") }
        var object: [String: Any] = [
            "orderId": order.orderId, "buyer": order.buyer, "scanned": order.scanned, "count": order.lines.count,
            "released": order.released,
            "lines": order.lines.map { line -> [String: Any] in
                var row: [String: Any] = ["orderId": order.orderId, "productId": line.productId, "units": line.units]
                if let tag = line.tag { row["tag"] = tag }
                return row
            },
        ]
        if let problem { object["problem"] = problem }
        return html(pages.render(object, "order"), status: status)
    }

    /// Records a tag from the form (or JSON), publishes it and releases the order when it was
    /// the last line; then shows the order again.
    private func scan<Context: RequestContext>(_ request: Request, context: Context) async throws -> Response {
        let id = try context.parameters.require("id")
        let body = try await request.body.collect(upTo: 16 * 1024)
        let form: ScanForm
        do {
            if request.headers[.contentType]?.hasPrefix("application/json") == true {
                form = try JSONDecoder().decode(ScanForm.self, from: Data(body.readableBytesView))
            } else {
                form = try URLEncodedFormDecoder().decode(ScanForm.self, from: String(buffer: body))
            }
        } catch {
            return try await orderPage(id, problem: "A scan needs a product and a tag.", status: .badRequest)
        }
        let tag = form.tag.trimmingCharacters(in: .whitespaces)
        guard (1...64).contains(tag.count), tag.unicodeScalars.allSatisfy(Self.tagCharacters.contains) else {
            return try await orderPage(id, problem: "A tag is 1 to 64 letters, digits, '-', '_' or '.'.", status: .badRequest)
        }
        guard try await store.scan(orderID: id, productID: form.productId, tag: tag) else {
            return try await orderPage(id, problem: "No such line waits for a scan.", status: .conflict)
        }
        await worker.pass()
        var response = Response(status: .seeOther)
        response.headers[.location] = "/orders/\(id)"
        return response
    }

    private func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        var response = Response(status: status, body: .init(byteBuffer: ByteBuffer(string: text)))
        response.headers[.contentType] = "text/html; charset=utf-8"
        return response
    }
}
