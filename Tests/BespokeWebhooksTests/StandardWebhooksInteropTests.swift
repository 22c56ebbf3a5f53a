import BespokeTestSupport
import BespokeWebhooks
import Foundation
import Testing

/// Interoperability with an independent implementation: the `standardwebhooks` Python package
/// (installed by `.ci/run`).
@Suite("Standard Webhooks interop (Python standardwebhooks)")
struct StandardWebhooksInteropTests {
    /// Runs a Python script with the given environment and returns its standard output.
    private func python(_ script: String, environment: [String: String]) throws -> (status: Int32, output: String) {
        let result = try ChildProcess.run(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", script], environment: environment)
        return (result.status, result.output.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    private let verifyScript = """
        import os, sys
        from standardwebhooks.webhooks import Webhook
        headers = {"webhook-id": os.environ["WH_ID"], "webhook-timestamp": os.environ["WH_TS"], "webhook-signature": os.environ["WH_SIG"]}
        try:
            Webhook(os.environ["WH_SECRET"]).verify(os.environ["WH_BODY"], headers)
            print("verified")
        except Exception as error:
            print("refused: %s" % error)
        """

    private func pythonVerifies(secret: WebhookSecret, body: String, headers: [(name: String, value: String)]) throws -> String {
        let map = Dictionary(uniqueKeysWithValues: headers.map { ($0.name, $0.value) })
        let result = try python(verifyScript, environment: [
            "WH_SECRET": secret.text, "WH_BODY": body, "WH_ID": map["webhook-id"]!, "WH_TS": map["webhook-timestamp"]!,
            "WH_SIG": map["webhook-signature"]!,
        ])
        #expect(result.status == 0, "python failed: \(result.output)")
        return result.output
    }

    @Test func pythonVerifiesWhatBespokeSigns() throws {
        let secret = WebhookSecret.generate()
        let body = #"{"specversion":"1.0","id":"e1","source":"/shop","type":"OrderStarted","data":{"n":"é"}}"#
        let headers = WebhookSignature.headers(
            id: "msg_interop", timestamp: Int64(Date().timeIntervalSince1970), body: Data(body.utf8), secrets: [secret]
        )
        #expect(try pythonVerifies(secret: secret, body: body, headers: headers) == "verified")
        // And it refuses a tampered body, so the check above means something.
        #expect(try pythonVerifies(secret: secret, body: body + " ", headers: headers).hasPrefix("refused"))
        // During a rotation, a receiver knowing only the new secret accepts the message.
        let newSecret = WebhookSecret.generate()
        let rotated = WebhookSignature.headers(
            id: "msg_rot", timestamp: Int64(Date().timeIntervalSince1970), body: Data(body.utf8), secrets: [secret, newSecret]
        )
        #expect(try pythonVerifies(secret: newSecret, body: body, headers: rotated) == "verified")
    }

    @Test func bespokeVerifiesWhatPythonSigns() throws {
        let secret = WebhookSecret.generate()
        let body = #"{"hello":"world"}"#
        let timestamp = Int64(Date().timeIntervalSince1970)
        let result = try python(
            """
            import os
            from datetime import datetime, timezone
            from standardwebhooks.webhooks import Webhook
            print(Webhook(os.environ["WH_SECRET"]).sign("msg_py", datetime.fromtimestamp(int(os.environ["WH_TS"]), tz=timezone.utc), os.environ["WH_BODY"]))
            """,
            environment: ["WH_SECRET": secret.text, "WH_BODY": body, "WH_TS": String(timestamp)]
        )
        #expect(result.status == 0, "python failed: \(result.output)")
        let headers = ["webhook-id": "msg_py", "webhook-timestamp": String(timestamp), "webhook-signature": result.output]
        #expect(throws: Never.self) {
            try WebhookSignature.verify(body: Data(body.utf8), header: { headers[$0] }, secrets: [secret])
        }
    }
}
