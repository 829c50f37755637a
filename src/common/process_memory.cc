#include "common/process_memory.h"

#include <sys/prctl.h>

namespace medallion {

bool DisableTransparentHugePages() { return ::prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0; }

}  // namespace medallion
