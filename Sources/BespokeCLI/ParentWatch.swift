#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ServiceLifecycle

/// Returns when the process that started this one is gone (it was killed and this process
/// was handed to init), so a supervised child never outlives its supervisor.
struct ParentWatch: Service {
    let parent: Int32

    func run() async throws {
        while getppid() == parent {
            try await Task.sleep(for: .milliseconds(500))
            if Task.isShuttingDownGracefully { return }
        }
    }
}
