import AsyncHTTPClient
import Foundation
import NIOCore

/// Asks the shipping company (``FakeShipper`` in the demo) for an estimated delivery date.
struct ShipperClient: Sendable {
    let baseURL: String
    let httpClient: HTTPClient
    let timeout: TimeAmount

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    func estimate(zipCode: String, country: String, units: Int) async throws -> String {
        struct Asked: Encodable { let zipCode: String; let country: String; let units: Int }
        struct Answer: Decodable { let estimatedDelivery: String }
        var request = HTTPClientRequest(url: baseURL + "/estimates")
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(data: try JSONEncoder().encode(Asked(zipCode: zipCode, country: country, units: units))))
        let response = try await httpClient.execute(request, timeout: timeout)
        let body = try await response.body.collect(upTo: 64 * 1024)
        guard response.status == .ok else { throw Failure(description: "the shipper answered \(response.status.code)") }
        return try JSONDecoder().decode(Answer.self, from: Data(body.readableBytesView)).estimatedDelivery
    }
}
