#include "sink/delta_log_cleanup.h"

#include "common/file_util.h"
#include "sink/delta_checkpoint.h"

#include <algorithm>
#include <climits>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

namespace medallion::sink {
namespace {

constexpr int64_t kStaleTempMs = 3'600'000;

/// The log directory's files that matter to the cleanup, by kind.
struct LogListing {
  std::map<int64_t, DirEntry> entries;      // version -> JSON entry (its path in `name`)
  std::set<int64_t> complete_checkpoints;   // single-part, or multi-part with every part
  /// Every deletable file with the newest version it serves (a compacted entry's last).
  std::vector<std::pair<int64_t, std::string>> versioned;
  std::vector<DirEntry> temps;               // with their paths in `name`
};

arrow::Result<LogListing> ListLog(const std::string& log_dir) {
  LogListing out;
  // version -> part count -> parts seen
  std::map<int64_t, std::map<int64_t, std::set<int64_t>>> checkpoint_parts;
  ARROW_ASSIGN_OR_RAISE(std::vector<DirEntry> items, ListDir(log_dir));
  for (DirEntry& item : items) {
    const std::string name = item.name;
    const std::string path = log_dir + "/" + name;
    item.name = path;
    if (name.find(".tmp.") != std::string::npos) {
      out.temps.push_back(item);
      continue;
    }
    const int64_t v = DecimalPrefix(name, 20);
    if (v < 0) continue;
    const std::string_view rest = std::string_view(name).substr(20);
    if (rest == ".json") {
      out.entries[v] = item;
      out.versioned.emplace_back(v, path);
    } else if (rest.starts_with(".checkpoint.")) {
      // Single-part, multi-part (both counted when complete) or V2 "%020d.checkpoint.<uuid>.<ext>".
      if (const auto checkpoint = ParseCheckpointFileName(name)) {
        checkpoint_parts[v][checkpoint->parts].insert(checkpoint->part);
      }
      out.versioned.emplace_back(v, path);
    } else if (rest == ".crc") {
      out.versioned.emplace_back(v, path);
    } else if (rest.size() == 1 + 20 + 15 && rest[0] == '.' && rest.substr(21) == ".compacted.json") {
      const int64_t last = DecimalPrefix(rest.substr(1), 20);
      if (last >= v) out.versioned.emplace_back(last, path);
    }
  }
  for (const auto& [v, by_count] : checkpoint_parts) {
    for (const auto& [count, seen] : by_count) {
      if (static_cast<int64_t>(seen.size()) == count) out.complete_checkpoints.insert(v);
    }
  }
  std::sort(out.versioned.begin(), out.versioned.end());
  return out;
}

/// The newest version at or below `limit` whose entry is older than `cutoff_ms`, with entry
/// times made non-decreasing along the versions; -1 if there is none.
int64_t NewestExpiredVersion(const std::map<int64_t, DirEntry>& entries, int64_t limit, int64_t cutoff_ms) {
  int64_t expired = -1;
  int64_t previous_ms = INT64_MIN;
  for (const auto& [v, entry] : entries) {
    if (v > limit) break;
    previous_ms = std::max(previous_ms, entry.modified_ms);
    if (previous_ms >= cutoff_ms) break;
    expired = v;
  }
  // Versions below the oldest entry left (deleted by an earlier cleanup) are expired too, but
  // only the entries still here decide how far this cleanup may go.
  return expired;
}

/// Deletes `path`; a file already gone is fine.
arrow::Status Delete(const std::string& path) {
  arrow::Status st = RemoveFile(path);
  return st.ok() ? st : st.WithMessage("cannot delete expired log file: ", st.message());
}

}  // namespace

arrow::Result<LogCleanup> CleanUpExpiredLog(const std::string& log_dir, int64_t newest_checkpoint,
                                            int64_t now_ms, int64_t retention_ms) {
  ARROW_ASSIGN_OR_RAISE(LogListing listing, ListLog(log_dir));
  const int64_t cutoff_ms = now_ms - retention_ms;
  LogCleanup result;
  for (const DirEntry& temp : listing.temps) {
    if (temp.modified_ms < std::min(cutoff_ms, now_ms - kStaleTempMs)) {
      ARROW_RETURN_NOT_OK(Delete(temp.name));
      ++result.files_deleted;
    }
  }
  const int64_t boundary = NewestExpiredVersion(listing.entries, newest_checkpoint, cutoff_ms);
  if (boundary < 0) return result;
  auto it = listing.complete_checkpoints.upper_bound(boundary);
  if (it == listing.complete_checkpoints.begin()) return result;
  result.kept_from = *std::prev(it);
  for (const auto& [v, path] : listing.versioned) {
    if (v >= result.kept_from) break;
    ARROW_RETURN_NOT_OK(Delete(path));
    ++result.files_deleted;
  }
  return result;
}

}  // namespace medallion::sink
