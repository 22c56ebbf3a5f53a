import BespokeCore
import Hummingbird

extension Request {
    /// The `limit` query parameter of a listing: 1-1000, `defaultLimit` when absent.
    /// - Throws: ``BespokeError`` `invalid_request` for anything else.
    package func pageLimit(default defaultLimit: Int = 100) throws(BespokeError) -> Int {
        guard let raw = uri.queryParameters.get("limit") else { return defaultLimit }
        guard let value = Int(raw), (1...1000).contains(value) else {
            throw BespokeError(.invalidRequest, "'limit' must be between 1 and 1000")
        }
        return value
    }
}
