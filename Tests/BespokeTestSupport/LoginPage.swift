/// Reading the platform's login page as a browser would.
public enum LoginPage {
    /// The value of the signed `request` field of the login form, or nil when the page has none.
    public static func formToken(in html: String) -> String? {
        guard let range = html.range(of: #"name="request" value=""#) else { return nil }
        let rest = html[range.upperBound...]
        return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
    }
}
