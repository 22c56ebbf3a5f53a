import BespokeCore
import Foundation
import Hummingbird

/// `application/x-www-form-urlencoded` bodies, as OAuth2 endpoints take them.
package enum FormBody {
    /// The fields of a form body; a repeated field keeps its first value.
    package static func fields(_ request: Request, limit: Int = 16 * 1024) async throws -> [String: String] {
        let body = try await JSONBody.collect(request, limit: limit)
        return parse(String(decoding: body, as: UTF8.self))
    }

    package static func parse(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decode(parts[0]), !name.isEmpty, fields[name] == nil else { continue }
            fields[name] = parts.count > 1 ? decode(parts[1]) ?? "" : ""
        }
        return fields
    }

    static func decode(_ part: Substring) -> String? {
        part.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }
}
