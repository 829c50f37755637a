#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/io/interfaces.h>
#include <arrow/result.h>
#include <arrow/status.h>

namespace medallion {

// Every function here takes a local path or an object-store URL (s3://bucket/key, see
// common/object_store.h). On an object store a PUT is all-or-nothing, so the atomic writes
// need no temp file, directories are only key prefixes (MakeDirs and SyncDir do nothing), and
// CreateFileExclusive is a conditional PUT.

/// True if `path` is an object-store URL rather than a local path.
bool IsObjectStorePath(std::string_view path);

/// True for an object-store error worth another try: an I/O error other than "not found"
/// (a connection the store closed, a timeout). The idempotent operations here retry such an
/// error three times (50, 100, 200 ms apart) before they return it.
bool IsTransientStoreError(const arrow::Status& status);

/// Sleeps 50, 100, 200 ms for `attempt` 0, 1, 2.
void PauseBeforeStoreRetry(int attempt);

namespace file_util_detail {
inline const arrow::Status& StatusOf(const arrow::Status& status) { return status; }
template <typename T>
const arrow::Status& StatusOf(const arrow::Result<T>& result) {
  return result.status();
}
}  // namespace file_util_detail

/// Runs an idempotent object-store request, again after 50, 100 and 200 ms while it fails with
/// a transient error (IsTransientStoreError): one such error is not an outage. A key that is
/// not there is an answer, not an error to retry. `request` returns a Status or a Result.
template <typename Request>
auto RetryingStoreRequest(Request&& request) -> decltype(request()) {
  for (int attempt = 0;; ++attempt) {
    auto result = request();
    const arrow::Status& status = file_util_detail::StatusOf(result);
    if (attempt == 3 || !IsTransientStoreError(status)) return result;
    PauseBeforeStoreRetry(attempt);
  }
}

/// Writes `contents` to `path` durably and atomically: a temp file beside it is
/// written and fsynced, then renamed over `path`, then the directory is fsynced.
/// Readers see the old or the new file, never a torn one.
arrow::Status WriteFileAtomic(const std::string& path, std::string_view contents);

/// Creates `path` with `contents` only if it does not exist yet (temp file, then
/// renameat2(RENAME_NOREPLACE), or link() where the file system lacks it).
/// Returns true if this call created it, false if it already existed. The write is
/// durable before the name appears. This is the commit primitive of the table log.
arrow::Result<bool> CreateFileExclusive(const std::string& path, std::string_view contents);

/// Reads a whole file.
arrow::Result<std::string> ReadFile(const std::string& path);

/// mkdir -p.
arrow::Status MakeDirs(const std::string& path);

/// fsyncs a directory so that entries created in it survive a crash.
arrow::Status SyncDir(const std::string& path);

/// fsync(2) of the open file `fd` (named `path` in the error), counted in DiskSyncs().
arrow::Status SyncFile(int fd, const std::string& path);

/// An fsync that takes this long or longer counts as slow: the disk stalled (on a shared
/// disk, typically behind the kernel writing back another process's data).
constexpr double kSlowDiskSyncSeconds = 0.1;

/// The fsyncs of files and directories this process made (SyncFile, SyncDir and every write
/// here that syncs): how many, the seconds they took, how many were slow.
struct DiskSyncTotals {
  int64_t count = 0;
  double seconds = 0;
  int64_t slow = 0;
};
DiskSyncTotals DiskSyncs();

/// When some of the fsyncs since `before` (DiskSyncs() then) were slow: says how many, of how
/// many, how long they took in all and which file or folder the longest synced, for the log
/// line of the batch they slowed. Absent when none was.
std::optional<std::string> DiskStallSince(const DiskSyncTotals& before);

/// True if a file or directory exists at `path` (on an object store: an object, or a
/// prefix with objects under it).
bool PathExists(const std::string& path);

/// One name in a directory listing.
struct DirEntry {
  std::string name;   ///< file name, or for ListFilesUnder the path relative to the listed directory
  bool is_dir = false;
  int64_t size = 0;
  int64_t modified_ms = 0;  ///< since the epoch
};

/// The entries directly in `dir`, unsorted. A directory that does not exist lists empty.
arrow::Result<std::vector<DirEntry>> ListDir(const std::string& dir);

/// Every file below `dir`, at any depth, except under folders named `skip_folder`; names are
/// relative to `dir`. A directory that does not exist lists empty.
arrow::Result<std::vector<DirEntry>> ListFilesUnder(const std::string& dir, std::string_view skip_folder);

/// Deletes the file `path`; one already gone is fine.
arrow::Status RemoveFile(const std::string& path);

/// A new file to write at `path` (replacing one there); on an object store it appears whole
/// when the stream is closed (S3: uploaded in parts when large; Azure: kept in memory and sent
/// with one Put Blob, up to the service's 5,000 MiB).
arrow::Result<std::shared_ptr<arrow::io::OutputStream>> OpenOutputFile(const std::string& path);

/// `path` opened for random reads.
arrow::Result<std::shared_ptr<arrow::io::RandomAccessFile>> OpenInputFile(const std::string& path);

}  // namespace medallion
