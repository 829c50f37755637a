#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <arrow/result.h>

namespace medallion {

/// An exclusive, advisory lock held by this process until the object is destroyed: flock()
/// on a lock file. The kernel drops it when the process dies, so a kill -9 leaves no stale
/// lock. It guards a directory that only one medallion process may write (a checkpoint, a
/// data directory) against a second process on the same machine.
class DirLock {
 public:
  /// Creates `lock_file` if needed and locks it; if another process holds it, fails with
  /// "<what> '<dir>' is in use by another medallion process".
  static arrow::Result<std::unique_ptr<DirLock>> Acquire(const std::string& lock_file,
                                                        std::string_view what,
                                                        const std::string& dir);
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  explicit DirLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace medallion
