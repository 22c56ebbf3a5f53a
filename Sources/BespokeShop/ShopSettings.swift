public import BespokeCore
import Foundation

/// A tenant's shop: its name and colour in the storefront, and how the simulated payment
/// provider answers for it.
public struct ShopSettings: Sendable, Equatable, Codable {
    /// What the simulated payment provider does with this tenant's orders.
    public enum PaymentOutcome: String, Sendable, Codable, CaseIterable {
        case succeed, fail
    }

    public var tenant: TenantID
    public var name: String
    /// A CSS colour `#rrggbb`.
    public var colour: String
    public var paymentOutcome: PaymentOutcome

    public init(tenant: TenantID, name: String, colour: String = "#2f6f4f", paymentOutcome: PaymentOutcome = .succeed) {
        self.tenant = tenant
        self.name = name
        self.colour = colour
        self.paymentOutcome = paymentOutcome
    }

    /// - Throws: ``BespokeError`` `invalid_request` for an empty or long name or a colour
    ///   that is not `#rrggbb` (the colour goes into the page's CSS).
    public func validate() throws(BespokeError) {
        guard !name.isEmpty, name.count <= 100 else { throw BespokeError(.invalidRequest, "name must be 1-100 characters") }
        let hex = colour.utf8.dropFirst()
        guard colour.utf8.first == UInt8(ascii: "#"), hex.count == 6,
            hex.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) || ($0 >= 0x41 && $0 <= 0x46) })
        else { throw BespokeError(.invalidRequest, "colour must be #rrggbb") }
    }
}
