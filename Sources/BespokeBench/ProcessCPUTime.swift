import Foundation

/// CPU time (user and system) a process has used so far, from `/proc/<pid>/stat`.
///
/// Throughput on a shared host moves with its neighbours; the CPU a process spends on a fixed
/// amount of work moves much less, so the benchmarks report both.
enum ProcessCPUTime {
    /// Seconds of CPU `pid` has used (this process when nil); nil where `/proc` is not there.
    static func seconds(pid: Int32? = nil) -> Double? {
        let path = "/proc/\(pid.map(String.init) ?? "self")/stat"
        guard let stat = try? String(contentsOfFile: path, encoding: .utf8),
            let afterName = stat.lastIndex(of: ")")
        else { return nil }
        // After the command name: state is field 3, utime field 14, stime field 15.
        let fields = stat[stat.index(after: afterName)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
