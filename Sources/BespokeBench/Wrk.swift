import Foundation

/// `wrk` (Debian's package) driving requests, at full speed or near a fixed rate.
enum Wrk {
    struct Result {
        let requestsPerSecond: Double
        /// Requests answered in the whole run.
        let requests: Int
        let p50Ms: Double
        let p99Ms: Double
        let errors: Int
    }

    static var executable: String? {
        ["/usr/bin/wrk", "/usr/local/bin/wrk"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs wrk against `url`. With `rate`, each connection waits between requests so that all
    /// of them together send about `rate` requests a second (latency excludes the wait).
    static func run(
        url: String, method: String = "GET", body: String? = nil, headers: [String: String], connections: Int, seconds: Int, rate: Double? = nil,
        directory: String
    ) throws -> Result {
        guard let wrk = executable else { throw BenchError("wrk is not installed (apt-get install wrk)") }
        var connections = connections
        var lua = headers.map { "wrk.headers[\"\($0.key)\"] = \"\($0.value)\"" }.joined(separator: "\n")
        lua += "\nwrk.method = \"\(method)\"\n"
        if let body {
            lua += "wrk.body = \"" + body.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"\n"
        }
        if let rate {
            let delayMs = 20.0
            connections = max(2, Int((rate * delayMs / 1000).rounded()))
            lua += "\nfunction delay() return \(Int(delayMs)) end\n"
        }
        let script = (directory as NSString).appendingPathComponent("wrk-\(UUID().uuidString).lua")
        try lua.write(toFile: script, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: wrk)
        process.arguments = ["-t2", "-c\(connections)", "-d\(seconds)s", "--latency", "-s", script, url]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        func value(after prefix: String) -> String? {
            output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.first { $0.hasPrefix(prefix) }
                .map { String($0.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces) }
        }
        guard let rps = value(after: "Requests/sec:").flatMap(Double.init), let p50 = value(after: "50%").flatMap(milliseconds),
            let p99 = value(after: "99%").flatMap(milliseconds)
        else { throw BenchError("wrk printed no figures:\n\(output)") }
        let non2xx = value(after: "Non-2xx or 3xx responses:").flatMap { Int($0) } ?? 0
        // "  123456 requests in 5.00s, 10.00MB read"
        let requests = output.split(separator: "\n").first { $0.contains(" requests in ") }
            .flatMap { $0.split(separator: " ").first }.flatMap { Int($0) } ?? 0
        return Result(requestsPerSecond: rps, requests: requests, p50Ms: p50, p99Ms: p99, errors: non2xx)
    }

    /// `1.23ms`, `850.00us`, `1.02s` as milliseconds.
    static func milliseconds(_ text: String) -> Double? {
        for (unit, factor) in [("us", 0.001), ("ms", 1.0), ("s", 1000.0)] where text.hasSuffix(unit) {
            return Double(text.dropLast(unit.count)).map { $0 * factor }
        }
        return nil
    }
}

/// nginx (Debian's package) as a plain reverse proxy in front of one upstream, with keep-alive
/// connections to it, as many workers as cores.
final class NginxProcess: Sendable {
    private let process: Process
    let port: Int

    private init(process: Process, port: Int) {
        self.process = process
        self.port = port
    }

    /// CPU seconds nginx (its master and workers) has used so far.
    var cpuSeconds: Double? { ProcessCPUTime.seconds(includingChildrenOf: process.processIdentifier) }

    static var executable: String? {
        ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func start(upstreamPort: Int, port: Int, directory: String) throws -> NginxProcess {
        guard let nginx = executable else { throw BenchError("nginx is not installed (apt-get install nginx-light)") }
        let prefix = (directory as NSString).appendingPathComponent("nginx")
        try FileManager.default.createDirectory(atPath: prefix + "/logs", withIntermediateDirectories: true)
        let conf = prefix + "/nginx.conf"
        try """
            worker_processes auto;
            daemon off;
            pid \(prefix)/nginx.pid;
            error_log \(prefix)/logs/error.log warn;
            events { worker_connections 4096; }
            http {
                access_log off;
                client_body_temp_path \(prefix)/body;
                proxy_temp_path \(prefix)/proxy;
                fastcgi_temp_path \(prefix)/fastcgi;
                uwsgi_temp_path \(prefix)/uwsgi;
                scgi_temp_path \(prefix)/scgi;
                upstream upstream { server 127.0.0.1:\(upstreamPort); keepalive 256; }
                server {
                    listen 127.0.0.1:\(port);
                    location / {
                        proxy_pass http://upstream;
                        proxy_http_version 1.1;
                        proxy_set_header Connection "";
                    }
                }
            }
            """.write(toFile: conf, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: nginx)
        process.arguments = ["-p", prefix, "-c", conf]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Ready once it accepts connections (a slow start, or a port taken meanwhile, must not
        // pass for nginx's figures).
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning, !FreePort.isListening(port), Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        guard process.isRunning, FreePort.isListening(port) else {
            if process.isRunning { process.terminate() }
            throw BenchError("nginx did not start; see \(prefix)/logs/error.log")
        }
        return NginxProcess(process: process, port: port)
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
