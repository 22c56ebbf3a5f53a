import DequeModule

/// At most `limit` pushes in flight to one endpoint; the others wait their turn, in order.
actor EndpointLimiter {
    private var available: Int
    private var waiters: Deque<CheckedContinuation<Void, Never>> = []

    init(limit: Int) {
        self.available = max(1, limit)
    }

    func acquire() async {
        if available > 0 {
            available -= 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    func release() {
        if let next = waiters.popFirst() {
            next.resume()
        } else {
            available += 1
        }
    }

    /// Runs `body` holding one of the endpoint's slots.
    func withSlot<T: Sendable>(_ body: @Sendable () async -> T) async -> T {
        await acquire()
        let result = await body()
        release()
        return result
    }
}
