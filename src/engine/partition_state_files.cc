#include "engine/partition_state_files.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <vector>

#include "common/file_util.h"
#include "engine/checkpoint.h"

namespace medallion::engine {
namespace {

/// A listing of a partition's state files: the offsets with a full file, and for each offset
/// the bases of its deltas.
struct Listing {
  std::set<int64_t> fulls;
  std::map<int64_t, std::set<int64_t>> deltas;
};

/// The offset a file name is for (`<offset>` or `<offset>.from-<base>`), with the base of a
/// delta; nullopt for other names (a write in progress).
std::optional<std::pair<int64_t, std::optional<int64_t>>> ParseName(const std::string& name) {
  const auto dot = name.find('.');
  const std::optional<int64_t> offset = ParseBatchId(name.substr(0, dot));
  if (!offset) return std::nullopt;
  if (dot == std::string::npos) return std::make_pair(*offset, std::optional<int64_t>());
  constexpr std::string_view kFrom = ".from-";
  if (name.compare(dot, kFrom.size(), kFrom) != 0) return std::nullopt;
  const std::optional<int64_t> base = ParseBatchId(name.substr(dot + kFrom.size()));
  if (!base || *base >= *offset) return std::nullopt;
  return std::make_pair(*offset, base);
}

arrow::Result<Listing> List(const std::string& dir) {
  ARROW_ASSIGN_OR_RAISE(auto entries, ListDir(dir));
  Listing out;
  for (const DirEntry& e : entries) {
    const auto parsed = ParseName(e.name);
    if (!parsed) continue;
    if (parsed->second) {
      out.deltas[parsed->first].insert(*parsed->second);
    } else {
      out.fulls.insert(parsed->first);
    }
  }
  return out;
}

/// The chain that reaches `offset`: the offsets from a full file to `offset`, oldest first
/// (each after the first read as a delta from the one before); empty when none does. A full
/// file at an offset ends the search there; among deltas the nearest base is tried first.
std::vector<int64_t> Chain(const Listing& files, int64_t offset) {
  std::set<int64_t> unreachable;
  std::function<std::vector<int64_t>(int64_t)> reach = [&](int64_t at) -> std::vector<int64_t> {
    if (files.fulls.contains(at)) return {at};
    if (unreachable.contains(at)) return {};
    auto it = files.deltas.find(at);
    if (it != files.deltas.end()) {
      for (auto base = it->second.rbegin(); base != it->second.rend(); ++base) {
        std::vector<int64_t> chain = reach(*base);
        if (!chain.empty()) {
          chain.push_back(at);
          return chain;
        }
      }
    }
    unreachable.insert(at);
    return {};
  };
  return reach(offset);
}

}  // namespace

arrow::Status PartitionStateFiles::Restore(Operator* op, int64_t offset) {
  ARROW_ASSIGN_OR_RAISE(Listing files, List(dir_));
  const std::vector<int64_t> chain = Chain(files, offset);
  if (chain.empty()) {
    return arrow::Status::KeyError("no state file of partition ", partition_, " reaches offset ", offset, " in '",
                                   dir_, "'");
  }
  const std::string full_path = dir_ + "/" + FullName(chain.front());
  ARROW_ASSIGN_OR_RAISE(std::string full, ReadFile(full_path));
  arrow::Status st = op->RestorePartition(partition_, full);
  if (!st.ok()) return st.WithMessage(full_path, ": ", st.message());
  full_offset_ = chain.front();
  full_bytes_ = static_cast<int64_t>(full.size());
  delta_bytes_ = 0;
  deltas_ = 0;
  for (size_t i = 1; i < chain.size(); ++i) {
    const std::string path = dir_ + "/" + DeltaName(chain[i], chain[i - 1]);
    ARROW_ASSIGN_OR_RAISE(std::string delta, ReadFile(path));
    st = op->ApplyPartitionDelta(partition_, delta);
    if (!st.ok()) return st.WithMessage(path, ": ", st.message());
    delta_bytes_ += static_cast<int64_t>(delta.size());
    ++deltas_;
  }
  keep_from_ = full_offset_;
  last_offset_ = offset;
  return arrow::Status::OK();
}

arrow::Status PartitionStateFiles::Write(Operator* op, int64_t end) {
  keep_from_ = full_offset_;
  if (!last_offset_ || !full_offset_ || delta_bytes_ >= full_bytes_ || deltas_ >= kMaxDeltaFiles) {
    const std::string full = op->SnapshotPartition(partition_);
    ARROW_RETURN_NOT_OK(WriteFileAtomic(dir_ + "/" + FullName(end), full));
    full_offset_ = end;
    full_bytes_ = static_cast<int64_t>(full.size());
    delta_bytes_ = 0;
    deltas_ = 0;
    last_offset_ = end;
    return arrow::Status::OK();
  }
  const std::string delta = op->SnapshotPartitionDelta(partition_);
  ARROW_RETURN_NOT_OK(WriteFileAtomic(dir_ + "/" + DeltaName(end, *last_offset_), delta));
  delta_bytes_ += static_cast<int64_t>(delta.size());
  ++deltas_;
  last_offset_ = end;
  return arrow::Status::OK();
}

void PartitionStateFiles::Prune() {
  if (!keep_from_) return;
  auto entries = ListDir(dir_);
  if (!entries.ok()) return;
  for (const DirEntry& e : *entries) {
    const auto parsed = ParseName(e.name);
    if (parsed && parsed->first < *keep_from_) (void)RemoveFile(dir_ + "/" + e.name);
  }
}

}  // namespace medallion::engine
