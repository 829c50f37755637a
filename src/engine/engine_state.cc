#include "engine/engine_state.h"

#include <map>
#include <set>

#include "ops/state_codec.h"

namespace medallion::engine {
namespace {

constexpr std::string_view kTag = "engine.state";
/// The oldest format this build restores: version 3 (fields in a fixed order, no payment
/// join); version 4 appended the payment join's fields.
constexpr uint32_t kOldestVersion = 3;

/// One state file, its parts by name.
struct StateFile {
  bool full = false;
  std::map<std::string, std::string, std::less<>> parts;
};

arrow::Result<StateFile> ParseStateFile(std::string_view bytes) {
  ARROW_ASSIGN_OR_RAISE(auto r, ops::StateReader::Open(bytes, kTag, EngineState::kVersion));
  if (r.version() < kOldestVersion) {
    return arrow::Status::Invalid("engine state version ", r.version(), "; this medallion reads versions ",
                                  kOldestVersion, " to ", EngineState::kVersion,
                                  " (start with a new checkpoint directory)");
  }
  StateFile file;
  if (r.version() >= 5) {
    ARROW_ASSIGN_OR_RAISE(file.full, r.ReadBool());
    ARROW_ASSIGN_OR_RAISE(const uint64_t n, r.ReadCount(8));  // two length prefixes at least
    for (uint64_t i = 0; i < n; ++i) {
      ARROW_ASSIGN_OR_RAISE(std::string name, r.ReadString());
      ARROW_ASSIGN_OR_RAISE(std::string part, r.ReadString());
      if (!file.parts.emplace(std::move(name), std::move(part)).second) {
        return arrow::Status::Invalid("engine state holds a part twice");
      }
    }
    ARROW_RETURN_NOT_OK(r.Finish());
    return file;
  }
  // Versions 3 and 4: the fields in their fixed order. An empty payment field is a state
  // written without a payment join: that part is absent.
  auto read = [&](const char* name, bool payment_join) -> arrow::Status {
    ARROW_ASSIGN_OR_RAISE(std::string part, r.ReadString());
    if (!part.empty() || !payment_join) file.parts[name] = std::move(part);
    return arrow::Status::OK();
  };
  ARROW_RETURN_NOT_OK(read("watermark", false));
  ARROW_ASSIGN_OR_RAISE(file.full, r.ReadBool());
  for (const char* name : {"dedup", "windows", "top_products", "customer_spend"}) {
    ARROW_RETURN_NOT_OK(read(name, false));
  }
  if (r.version() >= 4) {
    for (const char* name : {"payments_watermark", "payment_dedup", "paid_orders", "payment_join"}) {
      ARROW_RETURN_NOT_OK(read(name, true));
    }
  }
  ARROW_RETURN_NOT_OK(r.Finish());
  return file;
}

}  // namespace

std::string EngineState::Serialize(bool full) const {
  int64_t unused = 0;
  return SerializeCounting(full, &unused);
}

std::string EngineState::SerializeCounting(bool full, int64_t* incremental_bytes) const {
  ops::StateWriter w(kTag, kVersion);
  w.WriteBool(full);
  w.WriteInt<uint64_t>(parts_.size());
  for (const StatePart& part : parts_) {
    w.WriteString(part.name);
    if (!part.incremental()) {
      w.WriteString(part.snapshot());
      continue;
    }
    const std::string bytes = full ? part.snapshot() : part.delta();
    *incremental_bytes += static_cast<int64_t>(bytes.size());
    w.WriteString(bytes);
  }
  return std::move(w).Finish();
}

std::string EngineState::SerializeBatch(int64_t batch_id) {
  const bool full = last_full_ < 0 || delta_bytes_ >= full_bytes_ || batch_id - last_full_ > kMaxDeltaFiles;
  int64_t incremental = 0;
  std::string out = SerializeCounting(full, &incremental);
  if (full) {
    last_full_ = batch_id;
    full_bytes_ = incremental;
    delta_bytes_ = 0;
  } else {
    delta_bytes_ += incremental;
  }
  return out;
}

arrow::Status EngineState::Restore(int64_t last, const StateFileReader& read,
                                  const std::function<int64_t(int64_t)>& previous) {
  // The files from state/<last> back to the newest full one, newest first.
  std::vector<StateFile> files;
  for (int64_t id = last;; id = previous ? previous(id) : id - 1) {
    if (id < 0) return arrow::Status::Invalid("no full engine state at or before batch ", last);
    ARROW_ASSIGN_OR_RAISE(std::string bytes, read(id));
    auto file = ParseStateFile(bytes);
    if (!file.ok()) return file.status().WithMessage("state/", id, ": ", file.status().message());
    files.push_back(std::move(*file));
    if (files.back().full) {
      last_full_ = id;
      break;
    }
  }
  // The cadence goes on from the files read: the full one and the deltas after it.
  auto incremental_bytes = [this](const StateFile& file) {
    int64_t n = 0;
    for (const StatePart& part : parts_) {
      auto it = file.parts.find(part.name);
      if (part.incremental() && it != file.parts.end()) n += static_cast<int64_t>(it->second.size());
    }
    return n;
  };
  full_bytes_ = incremental_bytes(files.back());
  delta_bytes_ = 0;
  for (size_t i = 0; i + 1 < files.size(); ++i) delta_bytes_ += incremental_bytes(files[i]);
  std::set<std::string, std::less<>> known;
  for (const StatePart& part : parts_) known.insert(part.name);
  for (const StateFile& file : files) {
    for (const auto& [name, bytes] : file.parts) {
      if (!known.contains(name)) {
        return arrow::Status::Invalid("engine state holds part '", name,
                                      "', which this run does not have (was the query changed?)");
      }
    }
  }
  for (const StatePart& part : parts_) {
    auto newest = files.front().parts.find(part.name);
    if (!part.incremental()) {
      if (newest != files.front().parts.end()) ARROW_RETURN_NOT_OK(part.restore(newest->second));
      continue;
    }
    auto base = files.back().parts.find(part.name);
    if (base != files.back().parts.end()) ARROW_RETURN_NOT_OK(part.restore(base->second));
    for (auto file = files.rbegin() + 1; file != files.rend(); ++file) {
      auto delta = file->parts.find(part.name);
      if (delta != file->parts.end()) ARROW_RETURN_NOT_OK(part.apply_delta(delta->second));
    }
  }
  return arrow::Status::OK();
}

}  // namespace medallion::engine
