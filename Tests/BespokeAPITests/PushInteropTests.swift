import BespokeTestSupport
import Foundation
import HummingbirdTesting
import Testing

/// Real pushes of the platform checked by independent implementations (installed by `.ci/run`):
/// the signatures by Python `standardwebhooks`, the events by the Python `cloudevents` SDK.
@Suite("Push interop (Python standardwebhooks and cloudevents)")
struct PushInteropTests {
    private let script = """
        import json, os, sys
        from standardwebhooks.webhooks import Webhook
        from cloudevents.http import from_http
        headers = json.loads(os.environ["PUSH_HEADERS"])
        body = os.environ["PUSH_BODY"]
        try:
            Webhook(os.environ["PUSH_SECRET"]).verify(body, headers)
        except Exception as error:
            print("refused: %s" % error)
            sys.exit(0)
        event = from_http(headers, body)
        print(json.dumps({"id": event["id"], "type": event["type"], "source": event["source"],
                          "tenantid": event.get("tenantid"), "hold": event.get("bespokehold"), "data": event.data}))
        """

    private func check(_ push: WebhookReceiver.Received, secret: String) throws -> [String: Any] {
        let headers = try JSONSerialization.data(withJSONObject: push.headers)
        let result = try ChildProcess.run(
            URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", script],
            environment: [
                "PUSH_HEADERS": String(decoding: headers, as: UTF8.self), "PUSH_BODY": String(decoding: push.body, as: UTF8.self),
                "PUSH_SECRET": secret,
            ]
        )
        #expect(result.status == 0, "python failed: \(result.output)")
        let output = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
        return (try? JSONSerialization.jsonObject(with: Data(output.utf8))) as? [String: Any] ?? ["refused": output]
    }

    @Test func pushedEventsVerifyAndParseWithPythonLibraries() async throws {
        let fixture = try await APIFixture.customizable()
        let receiver = try await WebhookReceiver.start()
        defer { receiver.stop() }
        try await fixture.test { client in
            try await fixture.catalog("OrderSubmitted", client: client)
            try await fixture.catalog("OrderAwaitingValidation", client: client)
            let (_, observerSecret) = try await fixture.register(type: "OrderSubmitted", mode: "observe", url: receiver.url, client: client)
            let (_, interceptorSecret) = try await fixture.register(
                type: "OrderAwaitingValidation", mode: "intercept", url: receiver.url, client: client
            )
            try await fixture.publish(id: "o-1", type: "OrderSubmitted", data: #"{"orderId":"o-1","note":"café"}"#, client: client)
            try await receiver.waitFor(1)
            try await fixture.publish(id: "o-2", type: "OrderAwaitingValidation", client: client)
            let pushes = try await receiver.waitFor(2)

            let observed = try check(pushes[0], secret: observerSecret)
            #expect(observed["id"] as? String == "o-1")
            #expect(observed["type"] as? String == "OrderSubmitted")
            #expect(observed["tenantid"] as? String == "acme")
            #expect((observed["data"] as? [String: Any])?["note"] as? String == "café")

            let intercepted = try check(pushes[1], secret: interceptorSecret)
            #expect(intercepted["id"] as? String == "o-2")
            #expect((intercepted["hold"] as? String)?.hasSuffix(".0") == true)
            // Signed with each registration's own secret: the other one does not verify it.
            #expect(try check(pushes[1], secret: observerSecret)["refused"] != nil)
        }
    }
}
