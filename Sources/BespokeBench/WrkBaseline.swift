import Foundation

/// Runs `wrk` (Debian's package) against a URL with POST bodies and returns its requests/s,
/// or nil when wrk is not installed.
enum WrkBaseline {
    static func run(url: String, body: String, connections: Int, seconds: Int, directory: String) throws -> Double? {
        guard let wrk = ["/usr/bin/wrk", "/usr/local/bin/wrk"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            return nil
        }
        let script = (directory as NSString).appendingPathComponent("post.lua")
        let escaped = body.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        try """
            wrk.method = "POST"
            wrk.body = "\(escaped)"
            wrk.headers["Content-Type"] = "application/cloudevents+json"
            """.write(toFile: script, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: wrk)
        process.arguments = ["-t2", "-c\(connections)", "-d\(seconds)s", "-s", script, url]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard let line = output.split(separator: "\n").first(where: { $0.contains("Requests/sec:") }),
            let value = Double(line.split(separator: " ").last ?? "")
        else {
            throw BenchError("wrk printed no rate:\n\(output)")
        }
        return value
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
