#pragma once

/// Process-wide memory settings that medallion's commands apply before they allocate.
namespace medallion {

/// Turns transparent huge pages off for this process (prctl PR_SET_THP_DISABLE; inherited by
/// children). Arrow's allocator (mimalloc) asks for huge pages on its arenas, so every fresh
/// 2 MB of a batch's buffers (freed and taken again batch after batch) faulted in a page the
/// kernel zeroed whole: about a fifth of the Bronze floor's CPU in perf, and 6-12% of a
/// catch-up run's. Returns false where the kernel refuses; nothing changes then.
bool DisableTransparentHugePages();

}  // namespace medallion
