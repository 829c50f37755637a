#include "common/dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace medallion {

arrow::Result<std::unique_ptr<DirLock>> DirLock::Acquire(const std::string& lock_file,
                                                         std::string_view what,
                                                         const std::string& dir) {
  const int fd = ::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return arrow::Status::IOError("cannot open lock file '", lock_file, "'");
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return arrow::Status::IOError(what, " '", dir, "' is in use by another medallion process (lock ",
                                  lock_file, " held)");
  }
  return std::unique_ptr<DirLock>(new DirLock(fd));
}

DirLock::~DirLock() { ::close(fd_); }

}  // namespace medallion
