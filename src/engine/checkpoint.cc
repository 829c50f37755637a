#include "engine/checkpoint.h"

#include <dirent.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <string_view>

#include <simdjson.h>

#include "common/dir_lock.h"
#include "common/fault_point.h"
#include "common/file_util.h"
#include "common/object_store.h"
#include "common/uuid.h"
#include "sink/json_text.h"

namespace medallion::engine {
namespace {

std::string Path(const std::string& dir, const char* kind, int64_t id) {
  return dir + "/" + kind + "/" + std::to_string(id);
}

constexpr const char* kKinds[] = {"offsets", "commits", "state", "attempts"};

/// True for the partial files of WriteFileAtomic ("<id>.tmp.<pid>.<n>") and hidden files,
/// which are not batches.
bool IsPartialOrHidden(const std::string& name) {
  return name.starts_with(".") || name.find(".tmp.") != std::string::npos;
}

/// Largest batch id among the files of dir/kind, or -1. A file named otherwise is an
/// error naming it: the checkpoint was damaged, and skipping or guessing could lose data.
arrow::Result<int64_t> LatestId(const std::string& dir, const char* kind) {
  int64_t best = -1;
  auto listing = ListDir(dir + "/" + kind);
  if (!listing.ok()) {
    return arrow::Status::IOError("checkpoint '", dir, "': cannot list ", kind, "/: ", listing.status().message());
  }
  for (const DirEntry& entry : *listing) {
    const std::string& name = entry.name;
    if (IsPartialOrHidden(name)) continue;
    const std::optional<int64_t> id = ParseBatchId(name);
    if (!id) {
      return arrow::Status::Invalid("checkpoint '", dir, "': ", kind, "/", name,
                                    " is not named by a batch id (digits, at most 9223372036854775807); "
                                    "the checkpoint directory is damaged. Move that file out of it, or "
                                    "restore the checkpoint directory from a copy");
    }
    best = std::max(best, *id);
  }
  return best;
}

/// The partition id a plan's JSON key names.
arrow::Result<int32_t> ParsePartition(std::string_view key) {
  int32_t p = 0;
  const auto [end, err] = std::from_chars(key.data(), key.data() + key.size(), p);
  if (err != std::errc() || end != key.data() + key.size() || p < 0) {
    return arrow::Status::Invalid("batch plan: '", key, "' is not a partition id");
  }
  return p;
}

}  // namespace

std::optional<int64_t> ParseBatchId(std::string_view name) {
  if (name.empty() || name.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  int64_t id = 0;
  const auto [end, err] = std::from_chars(name.data(), name.data() + name.size(), id);
  if (err != std::errc() || end != name.data() + name.size()) return std::nullopt;
  return id;
}

namespace {

/// `"offsets":{...},"next":{...},"ends":{...}` of one topic.
std::string PositionsJson(const source::BatchOffsets& offsets, const std::map<int32_t, int64_t>& next,
                          const std::map<int32_t, int64_t>& ends) {
  std::string out = "\"offsets\":{";
  bool first = true;
  for (const auto& [p, r] : offsets) {
    out += (first ? "\"" : ",\"") + std::to_string(p) + "\":[" + std::to_string(r.start) + "," +
           std::to_string(r.end) + "]";
    first = false;
  }
  using Named = std::pair<const char*, const std::map<int32_t, int64_t>*>;
  for (const auto& [name, map] : {Named{"next", &next}, Named{"ends", &ends}}) {
    out += std::string("},\"") + name + "\":{";
    first = true;
    for (const auto& [p, n] : *map) {
      out += (first ? "\"" : ",\"") + std::to_string(p) + "\":" + std::to_string(n);
      first = false;
    }
  }
  return out + "}";
}

/// Reads the offsets, next and (if present: older plans have none) ends of one topic.
arrow::Status ReadPositions(simdjson::dom::element root, source::BatchOffsets* offsets,
                            std::map<int32_t, int64_t>* next, std::map<int32_t, int64_t>* ends) {
  simdjson::dom::object offsets_json, next_json;
  if (root["offsets"].get(offsets_json) || root["next"].get(next_json)) {
    return arrow::Status::Invalid("batch plan misses a field");
  }
  for (auto [key, value] : offsets_json) {
    simdjson::dom::array range;
    int64_t start, end;
    if (value.get(range) || range.at(0).get(start) || range.at(1).get(end)) {
      return arrow::Status::Invalid("batch plan: bad range for partition ", key);
    }
    ARROW_ASSIGN_OR_RAISE(const int32_t p, ParsePartition(key));
    if (start < 0 || end < start) {
      return arrow::Status::Invalid("batch plan: partition ", p, "'s range [", start, ", ", end,
                                    ") is not one of offsets 0 <= start <= end");
    }
    (*offsets)[p] = {start, end};
  }
  for (auto [key, value] : next_json) {
    int64_t n;
    if (value.get(n) || n < 0) return arrow::Status::Invalid("batch plan: bad next offset");
    ARROW_ASSIGN_OR_RAISE(const int32_t p, ParsePartition(key));
    (*next)[p] = n;
  }
  simdjson::dom::object ends_json;
  if (root["ends"].get(ends_json) == simdjson::SUCCESS) {
    for (auto [key, value] : ends_json) {
      int64_t e;
      if (value.get(e) || e < -1) return arrow::Status::Invalid("batch plan: bad end offset");
      ARROW_ASSIGN_OR_RAISE(const int32_t p, ParsePartition(key));
      (*ends)[p] = e;
    }
  }
  return arrow::Status::OK();
}

}  // namespace

std::string PlanToJson(const BatchPlan& plan) {
  // Topics are escaped: Kafka's names never need it, but a plan must read back as written.
  std::string out = "{\"batch_id\":" + std::to_string(plan.batch_id) + ",\"topic\":";
  sink::AppendJsonString(&out, plan.topic);
  out += ",\"ingest_time_us\":" + std::to_string(plan.ingest_time_us) + "," +
         PositionsJson(plan.offsets, plan.next, plan.ends);
  if (plan.payments) {
    out += ",\"payments\":{\"topic\":";
    sink::AppendJsonString(&out, plan.payments->topic);
    out += "," + PositionsJson(plan.payments->offsets, plan.payments->next, plan.payments->ends) + "}";
  }
  return out + "}\n";
}

std::set<int32_t> PartitionsBehind(const std::map<int32_t, int64_t>& next, const std::map<int32_t, int64_t>& ends) {
  std::set<int32_t> behind;
  for (const auto& [p, end] : ends) {
    auto it = next.find(p);
    if (end < 0 || it == next.end() || it->second < end) behind.insert(p);
  }
  return behind;
}

arrow::Result<BatchPlan> PlanFromJson(const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json).get(root) != simdjson::SUCCESS) {
    return arrow::Status::Invalid("batch plan is not valid JSON");
  }
  BatchPlan plan;
  int64_t batch_id, ingest;
  std::string_view topic;
  if (root["batch_id"].get(batch_id) || root["topic"].get(topic) || root["ingest_time_us"].get(ingest)) {
    return arrow::Status::Invalid("batch plan misses a field");
  }
  plan.batch_id = batch_id;
  plan.topic = std::string(topic);
  plan.ingest_time_us = ingest;
  ARROW_RETURN_NOT_OK(ReadPositions(root, &plan.offsets, &plan.next, &plan.ends));
  simdjson::dom::element payments;
  if (root["payments"].get(payments) == simdjson::SUCCESS) {
    TopicPlan& side = plan.payments.emplace();
    std::string_view payments_topic;
    if (payments["topic"].get(payments_topic)) return arrow::Status::Invalid("batch plan: payments misses its topic");
    side.topic = std::string(payments_topic);
    ARROW_RETURN_NOT_OK(ReadPositions(payments, &side.offsets, &side.next, &side.ends));
  }
  return plan;
}

arrow::Result<std::optional<std::string>> ReadQueryId(const std::string& dir) {
  const std::string meta = dir + "/metadata";
  if (!PathExists(meta)) return std::nullopt;
  ARROW_ASSIGN_OR_RAISE(auto text, ReadFile(meta));
  simdjson::dom::parser parser;
  std::string_view id;
  if (parser.parse(text).at_key("id").get(id) != simdjson::SUCCESS) {
    return arrow::Status::Invalid("checkpoint metadata '", meta, "' is corrupt");
  }
  return std::optional<std::string>(std::string(id));
}

arrow::Result<std::string> SharedQueryId(const std::string& dir) {
  ARROW_ASSIGN_OR_RAISE(auto existing, ReadQueryId(dir));
  if (existing) return *existing;
  ARROW_ASSIGN_OR_RAISE(const std::string id, RandomUuid());
  ARROW_ASSIGN_OR_RAISE(bool created, CreateFileExclusive(dir + "/metadata", "{\"id\":\"" + id + "\"}\n"));
  if (created) return id;
  ARROW_ASSIGN_OR_RAISE(existing, ReadQueryId(dir));
  if (!existing) return arrow::Status::IOError("checkpoint metadata in '", dir, "' vanished");
  return *existing;
}

arrow::Result<int64_t> LastCommittedBatch(const std::string& dir) {
  int64_t last = -1;
  for (const char* kind : {"state", "commits"}) {
    // A local folder not created yet (`status` before the first run); on an object store a
    // folder is a prefix, listed empty.
    if (!IsObjectStorePath(dir) && !PathExists(dir + "/" + kind)) continue;
    ARROW_ASSIGN_OR_RAISE(const int64_t latest, LatestId(dir, kind));
    last = std::max(last, latest);
  }
  return last;
}

arrow::Result<std::unique_ptr<Checkpoint>> Checkpoint::Open(const std::string& dir) {
  for (const char* sub : kKinds) {
    ARROW_RETURN_NOT_OK(MakeDirs(dir + "/" + sub));
  }
  // On an object store there is no lock to take: two writers are fenced by the plans
  // (WritePlan creates a batch's plan only if no writer has) and by the table log.
  std::unique_ptr<DirLock> lock;
  if (IsObjectStorePath(dir)) {
    ARROW_RETURN_NOT_OK(objstore::CheckConditionalPut(dir));
  } else {
    ARROW_ASSIGN_OR_RAISE(lock, DirLock::Acquire(dir + "/.lock", "checkpoint", dir));
  }
  const std::string meta = dir + "/metadata";
  ARROW_ASSIGN_OR_RAISE(std::optional<std::string> existing, ReadQueryId(dir));
  std::string query_id;
  if (existing) {
    query_id = std::move(*existing);
  } else {
    ARROW_ASSIGN_OR_RAISE(query_id, RandomUuid());
    ARROW_RETURN_NOT_OK(WriteFileAtomic(meta, "{\"id\":\"" + query_id + "\"}\n"));
  }
  ARROW_RETURN_NOT_OK(LatestId(dir, "offsets"));  // a misnamed plan is refused as well
  ARROW_ASSIGN_OR_RAISE(const int64_t last_attempt, LatestId(dir, "attempts"));
  ARROW_ASSIGN_OR_RAISE(const int64_t last_committed, LastCommittedBatch(dir));
  auto checkpoint = std::unique_ptr<Checkpoint>(new Checkpoint(dir, query_id, last_committed, std::move(lock)));
  checkpoint->attempts_may_exist_ = last_attempt >= 0;
  return checkpoint;
}

arrow::Result<std::optional<BatchPlan>> Checkpoint::ReadPlan(int64_t id) const {
  const std::string path = Path(dir_, "offsets", id);
  if (!PathExists(path)) return std::nullopt;
  ARROW_ASSIGN_OR_RAISE(auto text, ReadFile(path));
  ARROW_ASSIGN_OR_RAISE(auto plan, PlanFromJson(text));
  return plan;
}

arrow::Result<std::optional<std::string>> Checkpoint::ReadState(int64_t id) const {
  const std::string path = Path(dir_, "state", id);
  if (!PathExists(path)) return std::nullopt;
  ARROW_ASSIGN_OR_RAISE(auto bytes, ReadFile(path));
  return bytes;
}

arrow::Status Checkpoint::WritePlan(const BatchPlan& plan) {
  FaultPoint("plan.before_write");
  const std::string path = Path(dir_, "offsets", plan.batch_id);
  if (IsObjectStorePath(dir_)) {
    ARROW_ASSIGN_OR_RAISE(const bool created, CreateFileExclusive(path, PlanToJson(plan)));
    if (!created) {
      return arrow::Status::Invalid("checkpoint '", dir_, "': the plan of batch ", plan.batch_id,
                                    " was written by another process while this one was planning it; "
                                    "two medallion processes are using this checkpoint. Stop one");
    }
  } else {
    ARROW_RETURN_NOT_OK(WriteFileAtomic(path, PlanToJson(plan)));
  }
  FaultPoint("plan.after_write");
  return arrow::Status::OK();
}

arrow::Status Checkpoint::Commit(int64_t id, const std::string& state) {
  FaultPoint("commit.before_write");
  ARROW_RETURN_NOT_OK(WriteFileAtomic(Path(dir_, "state", id), state));
  last_committed_ = id;
  FaultPoint("commit.after_write");
  if (attempts_may_exist_) (void)RemoveFile(AttemptsPath(id));  // a stale record must not count later
  return arrow::Status::OK();
}

std::string Checkpoint::AttemptsPath(int64_t id) const { return Path(dir_, "attempts", id); }

arrow::Result<BatchAttempts> Checkpoint::ReadAttempts(int64_t id) const {
  const std::string path = AttemptsPath(id);
  BatchAttempts attempts;
  if (!PathExists(path)) return attempts;
  ARROW_ASSIGN_OR_RAISE(auto text, ReadFile(path));
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  std::string_view error;
  if (parser.parse(text).get(root) != simdjson::SUCCESS || root["failures"].get(attempts.failures) ||
      root["last_error"].get(error)) {
    return arrow::Status::Invalid("checkpoint file '", path, "' is corrupt; remove it to start counting "
                                  "the failed attempts of batch ", id, " again");
  }
  attempts.last_error = std::string(error);
  return attempts;
}

arrow::Result<BatchAttempts> Checkpoint::RecordFailedAttempt(int64_t id, const std::string& error) {
  BatchAttempts attempts;
  auto read = ReadAttempts(id);
  if (read.ok()) attempts = *read;  // a corrupt record is replaced: counting restarts at 1
  ++attempts.failures;
  attempts.last_error = error;
  attempts_may_exist_ = true;
  ARROW_RETURN_NOT_OK(WriteFileAtomic(AttemptsPath(id), "{\"batch_id\":" + std::to_string(id) +
                                                            ",\"failures\":" + std::to_string(attempts.failures) +
                                                            ",\"last_error\":" + sink::JsonString(error) + "}\n"));
  return attempts;
}

void Checkpoint::Prune(int64_t id, int retain, int64_t states_from) {
  const int64_t below = id - retain;
  if (below <= 0) return;
  static_assert(std::size(kKinds) == std::tuple_size_v<decltype(removed_below_)>, "one entry per folder");
  for (size_t k = 0; k < std::size(kKinds); ++k) {
    const char* kind = kKinds[k];
    const int64_t kind_below = std::string_view(kind) == "state" ? std::min(below, states_from) : below;
    int64_t& removed = removed_below_[k];
    if (removed < 0) {
      // First prune of this process: whatever an earlier run left, so the folder is listed.
      auto listing = ListDir(dir_ + "/" + kind);
      if (!listing.ok()) continue;
      for (const DirEntry& entry : *listing) {
        const std::optional<int64_t> batch = ParseBatchId(entry.name);
        if (batch && *batch < kind_below) (void)RemoveFile(Path(dir_, kind, *batch));
      }
    } else if (std::string_view(kind) != "attempts" || attempts_may_exist_) {
      // Since then files were only added, at ids above the last prune: remove them by name.
      for (int64_t b = removed; b < kind_below; ++b) (void)RemoveFile(Path(dir_, kind, b));
    }
    removed = std::max(removed, kind_below);
  }
}

}  // namespace medallion::engine
