#pragma once

#include <string_view>

namespace medallion {

/// Named crash sites for the kill/restart tests. When the environment variable
/// MEDALLION_FAULT_POINT equals a point's name (optionally "name@N" to fire on the
/// N-th hit, counting from 1), reaching that point kills the process with SIGKILL,
/// exactly as a power cut would: no destructors, no flush. With the suffix ":throw"
/// ("name@N:throw") the point instead throws std::bad_alloc on the N-th hit and every later
/// one, as an allocation that fails would: tests use it to check that no exception, in any
/// thread, ends the process through std::terminate. With ":stop" the point stops the process
/// (SIGSTOP) on the N-th hit only, as a long pause would (a frozen VM, a stalled disk): tests
/// of group mode use it to let the group move a member's partitions while it is mid-batch,
/// then SIGCONT it. Unset, a point costs one branch.
/// Points: see docs in README ("Fault points").
void FaultPoint(std::string_view name);

}  // namespace medallion
