#include "common/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include <arrow/filesystem/filesystem.h>
#include <arrow/buffer.h>
#include <arrow/io/file.h>
#include <arrow/io/memory.h>
#include <arrow/util/io_util.h>

#include "common/fault_point.h"
#include "common/object_store.h"

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

std::atomic<int64_t> sync_count{0}, sync_nanos{0}, slow_syncs{0};

/// One slow fsync: its number among the slow ones (from 1), its seconds and what it synced.
struct SlowSync {
  int64_t number = 0;
  double seconds = 0;
  std::string path;
};
/// The last slow fsyncs, slot number % size (they are rare, so a lock costs nothing).
std::mutex slow_mutex;
std::array<SlowSync, 16> recent_slow;

/// fsync(2) of `fd` (the file or directory `path`), timed into the totals DiskSyncs() gives;
/// errno as fsync left it.
int TimedFsync(int fd, const std::string& path) {
  const auto started = std::chrono::steady_clock::now();
  const int rc = ::fsync(fd);
  const int error = errno;
  FaultPoint("fsync.after");  // with ":stop", a stalled disk
  const auto nanos =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started).count();
  sync_count.fetch_add(1, std::memory_order_relaxed);
  sync_nanos.fetch_add(nanos, std::memory_order_relaxed);
  if (nanos >= static_cast<int64_t>(kSlowDiskSyncSeconds * 1e9)) {
    const int64_t number = slow_syncs.fetch_add(1, std::memory_order_relaxed) + 1;
    std::lock_guard lock(slow_mutex);
    recent_slow[static_cast<size_t>(number) % recent_slow.size()] = {number, static_cast<double>(nanos) / 1e9, path};
  }
  errno = error;
  return rc;
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
  if (TimedFsync(fd, path) != 0) {
    auto st = ErrnoStatus("cannot fsync", path);
    ::close(fd);
    ::unlink(path.c_str());
    return st;
  }
  if (::close(fd) != 0) return ErrnoStatus("cannot close", path);
  return arrow::Status::OK();
}

}  // namespace

bool IsTransientStoreError(const arrow::Status& status) {
  return status.IsIOError() && arrow::internal::ErrnoFromStatus(status) != ENOENT;
}

void PauseBeforeStoreRetry(int attempt) { std::this_thread::sleep_for(std::chrono::milliseconds(50 << attempt)); }

namespace {

/// Writes `contents` to the object `url` with one PUT, all or nothing.
arrow::Status PutObject(const std::string& url, std::string_view contents) {
  if (objstore::IsAzure(url)) return RetryingStoreRequest([&] { return objstore::PutAzureBlob(url, contents); });
  ARROW_ASSIGN_OR_RAISE(objstore::Location where, objstore::Locate(url));
  return RetryingStoreRequest([&]() -> arrow::Status {
    ARROW_ASSIGN_OR_RAISE(auto out, where.fs->OpenOutputStream(where.path));
    ARROW_RETURN_NOT_OK(out->Write(contents.data(), static_cast<int64_t>(contents.size())));
    return out->Close();
  });
}

int64_t MillisOf(arrow::fs::TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

/// The object-store listing of `url`: files (and with `recursive`, at any depth).
arrow::Result<std::vector<DirEntry>> ListObjects(const std::string& url, bool recursive,
                                                 std::string_view skip_folder) {
  const std::string skip_part = "/" + std::string(skip_folder) + "/";
  // In a recursive listing: a folder, or a file under a folder named `skip_folder`.
  auto skipped = [&](const std::string& name, bool is_dir) {
    return recursive && (is_dir || (!skip_folder.empty() && ("/" + name).find(skip_part) != std::string::npos));
  };
  std::vector<DirEntry> out;
  if (objstore::IsAzure(url)) {
    ARROW_ASSIGN_OR_RAISE(auto infos, RetryingStoreRequest([&] { return objstore::ListAzure(url, recursive); }));
    for (DirEntry& info : infos) {
      if (!skipped(info.name, info.is_dir)) out.push_back(std::move(info));
    }
    return out;
  }
  ARROW_ASSIGN_OR_RAISE(objstore::Location where, objstore::Locate(url));
  arrow::fs::FileSelector selector;
  selector.base_dir = where.path;
  selector.allow_not_found = true;
  selector.recursive = recursive;
  ARROW_ASSIGN_OR_RAISE(auto infos, RetryingStoreRequest([&] { return where.fs->GetFileInfo(selector); }));
  for (const auto& info : infos) {
    DirEntry entry;
    entry.name = info.path().substr(where.path.size() + 1);
    entry.is_dir = info.IsDirectory();
    if (skipped(entry.name, entry.is_dir)) continue;
    entry.size = info.size() < 0 ? 0 : info.size();
    entry.modified_ms = MillisOf(info.mtime());
    out.push_back(std::move(entry));
  }
  return out;
}

/// `entry` with the size and modification time of `st`.
DirEntry WithStat(DirEntry entry, const struct stat& st) {
  entry.size = st.st_size;
  entry.modified_ms = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1'000'000;
  return entry;
}

/// A local listing's entries, or the error that cut it short (a missing directory lists empty).
arrow::Result<std::vector<DirEntry>> ListingResult(std::vector<DirEntry> entries, const std::error_code& ec,
                                                   const std::string& dir) {
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return arrow::Status::IOError("cannot list '", dir, "': ", ec.message());
  }
  return entries;
}

}  // namespace

bool IsObjectStorePath(std::string_view path) { return objstore::IsObjectStore(path); }

arrow::Status SyncDir(const std::string& path) {
  if (IsObjectStorePath(path)) return arrow::Status::OK();
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("cannot open directory", path);
  const int rc = TimedFsync(fd, path);
  const int error = errno;
  ::close(fd);
  errno = error;
  if (rc != 0) return ErrnoStatus("cannot fsync directory", path);
  return arrow::Status::OK();
}

arrow::Status SyncFile(int fd, const std::string& path) {
  if (TimedFsync(fd, path) != 0) return ErrnoStatus("cannot fsync", path);
  return arrow::Status::OK();
}

DiskSyncTotals DiskSyncs() {
  DiskSyncTotals totals;
  totals.count = sync_count.load(std::memory_order_relaxed);
  totals.seconds = static_cast<double>(sync_nanos.load(std::memory_order_relaxed)) / 1e9;
  totals.slow = slow_syncs.load(std::memory_order_relaxed);
  return totals;
}

std::optional<std::string> DiskStallSince(const DiskSyncTotals& before) {
  const DiskSyncTotals now = DiskSyncs();
  if (now.slow <= before.slow) return std::nullopt;
  char threshold[32], seconds[32];
  std::snprintf(threshold, sizeof threshold, "%g", kSlowDiskSyncSeconds);
  std::snprintf(seconds, sizeof seconds, "%.3f", now.seconds - before.seconds);
  std::string line = "the disk stalled: " + std::to_string(now.slow - before.slow) + " of the process's " +
                     std::to_string(now.count - before.count) + " fsyncs meanwhile took " + threshold +
                     " s or longer, " + seconds + " s of fsync in all";
  {
    // The longest of them still remembered names the file (or folder) it synced.
    std::lock_guard lock(slow_mutex);
    const SlowSync* longest = nullptr;
    for (const SlowSync& slow : recent_slow) {
      if (slow.number > before.slow && slow.number <= now.slow && (!longest || slow.seconds > longest->seconds)) {
        longest = &slow;
      }
    }
    if (longest) {
      std::snprintf(seconds, sizeof seconds, "%.3f", longest->seconds);
      line += std::string("; the longest ") + seconds + " s, of " + longest->path;
    }
  }
  return line +
         " (a disk shared with a busy writer, such as a Kafka broker, stalls fsync while the kernel writes that "
         "writer's data back)";
}

arrow::Status WriteFileAtomic(const std::string& path, std::string_view contents) {
  if (IsObjectStorePath(path)) return PutObject(path, contents);
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
  if (IsObjectStorePath(path)) return objstore::PutIfAbsent(path, contents);
  const std::string tmp = TempPathFor(path);
  ARROW_RETURN_NOT_OK(WriteAndSync(tmp, contents));
  // renameat2(RENAME_NOREPLACE) moves the file in only if the name is free, in one step; a
  // file system without it (EINVAL) gets the same outcome from link, then unlink of the temp.
  int rc = ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE);
  int error = errno;
  if (rc != 0 && (error == EINVAL || error == ENOSYS)) {
    rc = ::link(tmp.c_str(), path.c_str());
    error = errno;
    if (rc == 0) ::unlink(tmp.c_str());
  }
  if (rc != 0) {
    ::unlink(tmp.c_str());
    if (error == EEXIST) return false;
    errno = error;
    return ErrnoStatus("cannot move into", path);
  }
  ARROW_RETURN_NOT_OK(SyncDir(ParentDir(path)));
  return true;
}

arrow::Result<std::string> ReadFile(const std::string& path) {
  if (IsObjectStorePath(path)) {
    ARROW_ASSIGN_OR_RAISE(objstore::Location where, objstore::Locate(path));
    return RetryingStoreRequest([&]() -> arrow::Result<std::string> {
      ARROW_ASSIGN_OR_RAISE(auto input, where.fs->OpenInputFile(where.path));
      ARROW_ASSIGN_OR_RAISE(int64_t size, input->GetSize());
      ARROW_ASSIGN_OR_RAISE(auto buffer, input->ReadAt(0, size));
      return buffer->ToString();
    });
  }
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
  if (IsObjectStorePath(path)) return arrow::Status::OK();
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return arrow::Status::IOError("cannot create directory '", path, "': ", ec.message());
  return arrow::Status::OK();
}

bool PathExists(const std::string& path) {
  if (IsObjectStorePath(path)) {
    auto where = objstore::Locate(path);
    if (!where.ok()) return false;
    auto info = RetryingStoreRequest([&] { return where->fs->GetFileInfo(where->path); });
    return info.ok() && info->type() != arrow::fs::FileType::NotFound;
  }
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

arrow::Result<std::vector<DirEntry>> ListDir(const std::string& dir) {
  if (IsObjectStorePath(dir)) return ListObjects(dir, /*recursive=*/false, {});
  std::vector<DirEntry> out;
  std::error_code ec;
  for (const auto& item : std::filesystem::directory_iterator(dir, ec)) {
    DirEntry entry;
    entry.name = item.path().filename().string();
    struct stat st{};
    if (::stat(item.path().c_str(), &st) != 0) continue;  // removed since the listing
    entry.is_dir = S_ISDIR(st.st_mode);
    out.push_back(WithStat(std::move(entry), st));
  }
  return ListingResult(std::move(out), ec, dir);
}

arrow::Result<std::vector<DirEntry>> ListFilesUnder(const std::string& dir, std::string_view skip_folder) {
  if (IsObjectStorePath(dir)) return ListObjects(dir, /*recursive=*/true, skip_folder);
  std::vector<DirEntry> out;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->is_directory() && it->path().filename() == skip_folder) {
      it.disable_recursion_pending();
      continue;
    }
    struct stat st{};
    if (!it->is_regular_file() || ::stat(it->path().c_str(), &st) != 0) continue;
    DirEntry entry;
    entry.name = std::filesystem::relative(it->path(), dir).string();
    out.push_back(WithStat(std::move(entry), st));
  }
  return ListingResult(std::move(out), ec, dir);
}

arrow::Status RemoveFile(const std::string& path) {
  if (objstore::IsAzure(path)) {
    arrow::Status st = RetryingStoreRequest([&] { return objstore::DeleteAzureBlob(path); });
    return arrow::internal::ErrnoFromStatus(st) == ENOENT ? arrow::Status::OK() : st;
  }
  if (IsObjectStorePath(path)) {
    ARROW_ASSIGN_OR_RAISE(objstore::Location where, objstore::Locate(path));
    arrow::Status st = RetryingStoreRequest([&] { return where.fs->DeleteFile(where.path); });
    return arrow::internal::ErrnoFromStatus(st) == ENOENT ? arrow::Status::OK() : st;
  }
  if (::unlink(path.c_str()) == 0 || errno == ENOENT) return arrow::Status::OK();
  return ErrnoStatus("cannot delete", path);
}

namespace {

/// An Azure blob written whole: the bytes are kept in memory and sent with one Put Blob at
/// Close (see objstore::PutAzureBlob), so a process killed before then leaves nothing behind.
class WholeBlobOutputStream : public arrow::io::OutputStream {
 public:
  WholeBlobOutputStream(std::string url, std::shared_ptr<arrow::io::BufferOutputStream> buffer)
      : url_(std::move(url)), buffer_(std::move(buffer)) {}
  arrow::Status Write(const void* data, int64_t nbytes) override { return buffer_->Write(data, nbytes); }
  arrow::Result<int64_t> Tell() const override { return buffer_->Tell(); }
  bool closed() const override { return closed_; }
  arrow::Status Close() override {
    if (closed_) return arrow::Status::OK();
    closed_ = true;
    ARROW_ASSIGN_OR_RAISE(auto bytes, buffer_->Finish());
    return RetryingStoreRequest([&] { return objstore::PutAzureBlob(url_, bytes->ToString()); });
  }

 private:
  std::string url_;
  std::shared_ptr<arrow::io::BufferOutputStream> buffer_;
  bool closed_ = false;
};

}  // namespace

arrow::Result<std::shared_ptr<arrow::io::OutputStream>> OpenOutputFile(const std::string& path) {
  if (objstore::IsAzure(path)) {
    ARROW_ASSIGN_OR_RAISE(auto buffer, arrow::io::BufferOutputStream::Create());
    return std::make_shared<WholeBlobOutputStream>(path, std::move(buffer));
  }
  if (IsObjectStorePath(path)) {
    ARROW_ASSIGN_OR_RAISE(objstore::Location where, objstore::Locate(path));
    return where.fs->OpenOutputStream(where.path);
  }
  return arrow::io::FileOutputStream::Open(path);
}

arrow::Result<std::shared_ptr<arrow::io::RandomAccessFile>> OpenInputFile(const std::string& path) {
  if (IsObjectStorePath(path)) {
    ARROW_ASSIGN_OR_RAISE(objstore::Location where, objstore::Locate(path));
    return where.fs->OpenInputFile(where.path);
  }
  return arrow::io::ReadableFile::Open(path);
}

}  // namespace medallion
