import AsyncHTTPClient
import Foundation

/// `bespoke bench receiver` as a child process: the fast endpoint of the deliveries phase.
final class ReceiverProcess: Sendable {
    private let process: Process
    let port: Int

    private init(process: Process, port: Int) {
        self.process = process
        self.port = port
    }

    static func start(executable: String) throws -> ReceiverProcess {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        // The receiver stops by itself should this process die without stopping it.
        process.arguments = ["bench", "receiver", "--parent-pid", String(ProcessInfo.processInfo.processIdentifier)]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        var text = ""
        while !text.contains("\n") {
            let chunk = pipe.fileHandleForReading.availableData
            guard !chunk.isEmpty else { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        guard let line = text.split(separator: "\n").first, line.hasPrefix("listening on "),
            let port = Int(line.dropFirst("listening on ".count))
        else {
            process.terminate()
            throw BenchError("the receiver process did not start: \(text)")
        }
        return ReceiverProcess(process: process, port: port)
    }

    func url(_ path: String) -> String { "http://127.0.0.1:\(port)/\(path)" }

    /// Seconds of CPU the process has used so far.
    var cpuSeconds: Double? { ProcessCPUTime.seconds(pid: process.processIdentifier) }

    /// How many pushes `/fast` has answered.
    func count() async -> Int {
        guard let response = try? await HTTPClient.shared.execute(HTTPClientRequest(url: url("count")), timeout: .seconds(5)),
            let body = try? await response.body.collect(upTo: 1024)
        else { return 0 }
        return Int(String(buffer: body)) ?? 0
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }
}
