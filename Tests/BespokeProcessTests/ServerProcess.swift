import AsyncHTTPClient
import BespokeTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The `bespoke` binary next to the test bundle (SwiftPM builds it because this target
/// depends on it), or `BESPOKE_BINARY`.
let bespokeBinary: URL = {
    if let path = ProcessInfo.processInfo.environment["BESPOKE_BINARY"] { return URL(fileURLWithPath: path) }
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    if directory.lastPathComponent == "MacOS" || directory.pathExtension == "xctest" {
        directory = directory.deletingLastPathComponent()
    }
    return directory.appendingPathComponent("bespoke")
}()

/// A `bespoke serve` child process on a free loopback port.
final class ServerProcess: Sendable {
    let process: Process
    let port: Int
    let logPath: String

    var baseURL: String { "http://127.0.0.1:\(port)" }

    private init(process: Process, port: Int, logPath: String) {
        self.process = process
        self.port = port
        self.logPath = logPath
    }

    /// Starts the server and waits for its "listening" line.
    static func start(dataDirectory: String, environment: [String: String] = [:]) async throws -> ServerProcess {
        let logPath = dataDirectory + "/server-\(UUID().uuidString).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        let process = Process()
        process.executableURL = bespokeBinary
        process.arguments = ["serve", "--data-dir", dataDirectory, "--port", "0", "--durability", "full", "--log-level", "warning"]
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = log
        process.standardError = log
        try process.run()
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            if let range = text.range(of: "bespoke listening on http://127.0.0.1:") {
                let digits = text[range.upperBound...].prefix { $0.isNumber }
                if let port = Int(digits) { return ServerProcess(process: process, port: port, logPath: logPath) }
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        process.terminate()
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        throw ProcessTestError("server did not start; log:\n\(text)")
    }

    func signal(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// Waits for the process to exit and returns its status.
    func waitForExit(timeout: Duration = .seconds(30)) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            guard ContinuousClock.now < deadline else { throw ProcessTestError("server did not exit within \(timeout)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationStatus
    }
}

/// Runs `bespoke` with arguments to completion and returns its output.
func runBespoke(_ arguments: [String]) async throws -> String {
    let (status, output) = try runBespokeWithStatus(arguments)
    guard status == 0 else { throw ProcessTestError("bespoke \(arguments) failed: \(output)") }
    return output
}

/// Runs `bespoke` to completion and returns its exit status and combined output.
func runBespokeWithStatus(_ arguments: [String], environment: [String: String] = [:]) throws -> (Int32, String) {
    try ChildProcess.run(bespokeBinary, arguments, environment: environment)
}

/// Creates a tenant with the CLI and returns its API key.
func createTenant(_ id: String, dataDirectory: String) async throws -> String {
    let output = try await runBespoke(["tenant", "create", id, "--data-dir", dataDirectory])
    guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("api key:") }) else {
        throw ProcessTestError("no key in: \(output)")
    }
    return String(line.dropFirst("api key:".count)).trimmingCharacters(in: .whitespaces)
}

struct ProcessTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func temporaryDirectory() throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("bespoke-process-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A small JSON-over-HTTP client.
struct JSONClient: Sendable {
    let key: String

    func send(_ method: HTTPMethod, _ url: String, json: String? = nil, timeout: TimeAmount = .seconds(30)) async throws -> (status: Int, body: [String: Any]) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(key)")
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: json))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: timeout)
        let body = try await response.body.collect(upTo: 16 * 1024 * 1024)
        let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:]
        return (Int(response.status.code), object)
    }
}
