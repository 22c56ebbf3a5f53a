import Mustache

/// The scanning station's pages (Mustache; every value is escaped, no script).
struct ScanStationPages: Sendable {
    let library: MustacheLibrary

    init() throws {
        var library = MustacheLibrary()
        try library.register(Self.layoutStart + Self.orders + Self.layoutEnd, named: "orders")
        try library.register(Self.layoutStart + Self.order + Self.layoutEnd, named: "order")
        self.library = library
    }

    func render(_ object: [String: Any], _ name: String) -> String {
        library.render(object, withTemplate: name) ?? ""
    }

    private static let layoutStart = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>RFID scanning station</title>
        <style>
        body { font-family: "DejaVu Sans", sans-serif; margin: 2rem; color: #222; }
        header { background: #1d4f91; color: white; padding: .8rem 1rem; margin: -2rem -2rem 1.5rem; }
        table { border-collapse: collapse; } td, th { border-bottom: 1px solid #ccc; padding: .4rem .8rem; text-align: left; }
        .done { color: #1b7a2e; font-weight: bold; } .waiting { color: #a35a00; font-weight: bold; }
        input[name=tag] { font-family: monospace; width: 14rem; }
        </style></head>
        <body><header><strong>RFID scanning station</strong> · tenant's own service</header>

        """

    private static let layoutEnd = """

        </body></html>
        """

    private static let orders = """
        <h1>Orders held for scanning</h1>
        {{^orders}}<p>No order is waiting. Orders appear here when they reach AwaitingValidation.</p>{{/orders}}
        {{#hasOrders}}<table><tr><th>Order</th><th>Buyer</th><th>Lines scanned</th><th>Status</th></tr>{{/hasOrders}}
        {{#orders}}<tr><td><a href="/orders/{{orderId}}">{{orderId}}</a></td><td>{{buyer}}</td><td>{{scanned}} / {{count}}</td>
        <td>{{#released}}<span class="done">released</span>{{/released}}{{^released}}<span class="waiting">held</span>{{/released}}</td></tr>
        {{/orders}}
        {{#hasOrders}}</table>{{/hasOrders}}
        """

    private static let order = """
        <p><a href="/">All orders</a></p>
        <h1>Order {{orderId}}</h1>
        <p>Buyer: {{buyer}} ·
        {{#released}}<span class="done" id="status">All lines scanned: released to stock confirmation and payment.</span>{{/released}}
        {{^released}}<span class="waiting" id="status">Held by the platform until every line is scanned ({{scanned}} of {{count}}).</span>{{/released}}</p>
        {{#problem}}<p class="waiting">{{problem}}</p>{{/problem}}
        <table><tr><th>Product</th><th>Units</th><th>Tag</th></tr>
        {{#lines}}<tr><td>{{productId}}</td><td>{{units}}</td><td>
        {{#tag}}<span class="done">{{tag}}</span>{{/tag}}
        {{^tag}}<form method="post" action="/orders/{{orderId}}/scan"><input type="hidden" name="productId" value="{{productId}}">
        <input name="tag" required maxlength="64" placeholder="scan or type the tag"> <button type="submit">Scan</button></form>{{/tag}}
        </td></tr>
        {{/lines}}
        </table>
        """
}
