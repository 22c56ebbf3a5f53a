/// How one push to an endpoint went.
struct PushOutcome: Sendable {
    /// The HTTP status; nil when no response came.
    let status: Int?
    let latency: Duration
    let error: String?
    /// The delay the endpoint asked for (`Retry-After`), if any.
    let retryAfter: Duration?

    var succeeded: Bool { status.map { (200..<300).contains($0) } ?? false }
    /// 410 Gone: the endpoint is no more, and is disabled.
    var gone: Bool { status == 410 }

    /// A short reason for the delivery's failure record.
    var reason: String {
        if let error { return error }
        if let status { return "endpoint answered \(status)" }
        return "no response"
    }
}
