#pragma once

#include <string>
#include <string_view>

#include <arrow/result.h>
#include <arrow/status.h>

namespace medallion {

/// Writes `contents` to `path` durably and atomically: a temp file beside it is
/// written and fsynced, then renamed over `path`, then the directory is fsynced.
/// Readers see the old or the new file, never a torn one.
arrow::Status WriteFileAtomic(const std::string& path, std::string_view contents);

/// Creates `path` with `contents` only if it does not exist yet (temp file + link()).
/// Returns true if this call created it, false if it already existed. The write is
/// durable before the name appears. This is the commit primitive of the table log.
arrow::Result<bool> CreateFileExclusive(const std::string& path, std::string_view contents);

/// Reads a whole file.
arrow::Result<std::string> ReadFile(const std::string& path);

/// mkdir -p.
arrow::Status MakeDirs(const std::string& path);

/// fsyncs a directory so that entries created in it survive a crash.
arrow::Status SyncDir(const std::string& path);

/// True if a file or directory exists at `path`.
bool PathExists(const std::string& path);

}  // namespace medallion
