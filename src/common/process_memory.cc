#include "common/process_memory.h"

#include <malloc.h>
#include <sys/prctl.h>

namespace medallion {

bool DisableTransparentHugePages() { return ::prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0; }

bool KeepFreedHeapMemory() {
  constexpr int kMmapThreshold = 32 << 20;  // glibc's upper bound for it on 64-bit
  constexpr int kTrimThreshold = 256 << 20;
  const bool mmap_set = ::mallopt(M_MMAP_THRESHOLD, kMmapThreshold) == 1;
  const bool trim_set = ::mallopt(M_TRIM_THRESHOLD, kTrimThreshold) == 1;
  return mmap_set && trim_set;
}

}  // namespace medallion
