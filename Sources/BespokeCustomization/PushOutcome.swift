/// How one push to an endpoint went.
struct PushOutcome: Sendable {
    /// The HTTP status; nil when no response came.
    let status: Int?
    let latency: Duration
    let error: String?
    /// The delay the endpoint asked for (`Retry-After`), if any.
    let retryAfter: Duration?
    /// The push was cancelled (the platform is stopping): it says nothing of the endpoint, is
    /// neither logged nor counted against it, and is made again after the restart.
    var cancelled = false

    static let cancelledPush = PushOutcome(status: nil, latency: .zero, error: "cancelled", retryAfter: nil, cancelled: true)

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
