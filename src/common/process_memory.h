#pragma once

/// Process-wide memory settings that medallion's commands apply before they allocate.
namespace medallion {

/// Turns transparent huge pages off for this process (prctl PR_SET_THP_DISABLE; inherited by
/// children). Arrow's allocator (mimalloc) asks for huge pages on its arenas, so every fresh
/// 2 MB of a batch's buffers (freed and taken again batch after batch) faulted in a page the
/// kernel zeroed whole: about a fifth of the Bronze floor's CPU in perf, and 6-12% of a
/// catch-up run's. Returns false where the kernel refuses; nothing changes then.
bool DisableTransparentHugePages();

/// Lets glibc's malloc keep and reuse the memory a batch frees. It serves what Arrow's pool
/// does not (the Parquet encoder's file buffer, the log entry's and the state's strings);
/// left to itself it hands every block of more than its dynamic threshold back to the kernel
/// on free, and the next batch faults the same pages in again, zeroed. Fixing the mmap
/// threshold at 32 MiB and trimming only above 256 MiB free took a fifth of a catch-up run's
/// page faults away (1M events: 279-327k -> 232-267k, 0.15 CPU-s less in the kernel) for
/// 30-45 MB more peak RSS. Returns false where glibc refuses a setting.
bool KeepFreedHeapMemory();

}  // namespace medallion
