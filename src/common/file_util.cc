#include "common/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

namespace medallion {
namespace {

arrow::Status ErrnoStatus(const std::string& what, const std::string& path) {
  return arrow::Status::IOError(what, " '", path, "': ", std::strerror(errno));
}

std::string TempPathFor(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  return path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
}

std::string ParentDir(const std::string& path) {
  auto parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

arrow::Status WriteAndSync(const std::string& path, std::string_view contents) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("cannot create", path);
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      auto st = ErrnoStatus("cannot write", path);
      ::close(fd);
      ::unlink(path.c_str());
      return st;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    auto st = ErrnoStatus("cannot fsync", path);
    ::close(fd);
    ::unlink(path.c_str());
    return st;
  }
  if (::close(fd) != 0) return ErrnoStatus("cannot close", path);
  return arrow::Status::OK();
}

}  // namespace

arrow::Status SyncDir(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("cannot open directory", path);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return ErrnoStatus("cannot fsync directory", path);
  return arrow::Status::OK();
}

arrow::Status WriteFileAtomic(const std::string& path, std::string_view contents) {
  const std::string tmp = TempPathFor(path);
  ARROW_RETURN_NOT_OK(WriteAndSync(tmp, contents));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    auto st = ErrnoStatus("cannot rename into", path);
    ::unlink(tmp.c_str());
    return st;
  }
  return SyncDir(ParentDir(path));
}

arrow::Result<bool> CreateFileExclusive(const std::string& path, std::string_view contents) {
  const std::string tmp = TempPathFor(path);
  ARROW_RETURN_NOT_OK(WriteAndSync(tmp, contents));
  const int rc = ::link(tmp.c_str(), path.c_str());
  const int link_errno = errno;
  ::unlink(tmp.c_str());
  if (rc != 0) {
    if (link_errno == EEXIST) return false;
    errno = link_errno;
    return ErrnoStatus("cannot link into", path);
  }
  ARROW_RETURN_NOT_OK(SyncDir(ParentDir(path)));
  return true;
}

arrow::Result<std::string> ReadFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("cannot open", path);
  std::string out;
  char buf[1 << 16];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      auto st = ErrnoStatus("cannot read", path);
      ::close(fd);
      return st;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

arrow::Status MakeDirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return arrow::Status::IOError("cannot create directory '", path, "': ", ec.message());
  return arrow::Status::OK();
}

bool PathExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace medallion
