import Foundation

/// RFC 3339 timestamps, as CloudEvents `time` uses them.
public enum RFC3339 {
    /// Whether `value` parses as an RFC 3339 date-time (with or without fractional seconds).
    public static func isValid(_ value: String) -> Bool {
        parse(value) != nil
    }

    /// Parses an RFC 3339 date-time.
    public static func parse(_ value: String) -> Date? {
        if let date = try? Date(value, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) {
            return date
        }
        return try? Date(value, strategy: Date.ISO8601FormatStyle())
    }

    /// Formats a date with millisecond precision in UTC.
    public static func format(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
