import ArgumentParser
struct BenchBusCommand: AsyncParsableCommand { func run() async throws {} }
