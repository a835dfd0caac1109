import CLinux

/// How wfd's heap gives memory back.
public enum ProcessMemory {
    /// Fixes glibc's malloc thresholds, which it otherwise raises whenever a large block is freed
    /// (start-up frees many: the tables of 10,000 jobs as they grow), after which freed memory at
    /// the top of each heap is kept for good: with 10,000 jobs, 37 MiB resident and growing
    /// instead of 32 flat (BENCHMARKS.md). Blocks of 256 KiB and more are mapped on their own and
    /// given back when freed; a heap gives back what is free at its top beyond 1 MiB.
    public static func fixMallocThresholds() {
        mallopt(M_MMAP_THRESHOLD, 256 * 1024)
        mallopt(M_TRIM_THRESHOLD, 1024 * 1024)
    }
}
