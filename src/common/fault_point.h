#pragma once

#include <string_view>

namespace medallion {

/// Named crash sites for the kill/restart tests. When the environment variable
/// MEDALLION_FAULT_POINT equals a point's name (optionally "name@N" to fire on the
/// N-th hit, counting from 1), reaching that point kills the process with SIGKILL,
/// exactly as a power cut would: no destructors, no flush. Unset, a point costs one
/// branch. Points: see docs in README ("Fault points").
void FaultPoint(std::string_view name);

}  // namespace medallion
