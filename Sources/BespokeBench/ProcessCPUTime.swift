import Foundation

/// CPU time (user and system) a process has used so far, from `/proc/<pid>/stat`.
///
/// Throughput on a shared host moves with its neighbours; the CPU a process spends on a fixed
/// amount of work moves much less, so the benchmarks report both.
enum ProcessCPUTime {
    /// Seconds of CPU `pid` has used (this process when nil); nil where `/proc` is not there.
    static func seconds(pid: Int32? = nil) -> Double? {
        processStat(pid.map(String.init) ?? "self").map(\.seconds)
    }

    /// Seconds of CPU `pid` and its children (nginx's workers, say) have used so far; nil where
    /// `/proc` is not there.
    static func seconds(includingChildrenOf pid: Int32) -> Double? {
        guard var total = seconds(pid: pid) else { return nil }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries where entry.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
            if let child = processStat(entry), child.parent == pid { total += child.seconds }
        }
        return total
    }

    /// A process's parent and CPU seconds, from `/proc/<process>/stat`.
    private static func processStat(_ process: String) -> (parent: Int32, seconds: Double)? {
        guard let line = try? String(contentsOfFile: "/proc/\(process)/stat", encoding: .utf8),
            let afterName = line.lastIndex(of: ")")
        else { return nil }
        // After the command name: state is field 3, the parent field 4, utime field 14, stime field 15.
        let fields = line[line.index(after: afterName)...].split(separator: " ")
        guard fields.count > 13, let parent = Int32(fields[1]), let user = Double(fields[11]), let system = Double(fields[12]) else {
            return nil
        }
        return (parent, (user + system) / Double(sysconf(Int32(_SC_CLK_TCK))))
    }
}
