#include "engine/checkpoint.h"

#include <dirent.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <simdjson.h>

#include "common/dir_lock.h"
#include "common/fault_point.h"
#include "common/file_util.h"
#include "common/uuid.h"

namespace medallion::engine {
namespace {

std::string Path(const std::string& dir, const char* kind, int64_t id) {
  return dir + "/" + kind + "/" + std::to_string(id);
}

/// Largest numeric file name in dir/kind, or -1.
int64_t LatestId(const std::string& dir, const char* kind) {
  int64_t best = -1;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir + "/" + kind, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    best = std::max<int64_t>(best, std::stoll(name));
  }
  return best;
}

}  // namespace

std::string PlanToJson(const BatchPlan& plan) {
  std::string out = "{\"batch_id\":" + std::to_string(plan.batch_id) + ",\"topic\":\"" + plan.topic +
                    "\",\"ingest_time_us\":" + std::to_string(plan.ingest_time_us) + ",\"offsets\":{";
  bool first = true;
  for (const auto& [p, r] : plan.offsets) {
    out += (first ? "\"" : ",\"") + std::to_string(p) + "\":[" + std::to_string(r.start) + "," +
           std::to_string(r.end) + "]";
    first = false;
  }
  out += "},\"next\":{";
  first = true;
  for (const auto& [p, n] : plan.next) {
    out += (first ? "\"" : ",\"") + std::to_string(p) + "\":" + std::to_string(n);
    first = false;
  }
  out += "},\"ends\":{";
  first = true;
  for (const auto& [p, e] : plan.ends) {
    out += (first ? "\"" : ",\"") + std::to_string(p) + "\":" + std::to_string(e);
    first = false;
  }
  out += "}}\n";
  return out;
}

std::set<int32_t> BatchPlan::Behind() const {
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
  simdjson::dom::object offsets, next;
  if (root["batch_id"].get(batch_id) || root["topic"].get(topic) ||
      root["ingest_time_us"].get(ingest) || root["offsets"].get(offsets) || root["next"].get(next)) {
    return arrow::Status::Invalid("batch plan misses a field");
  }
  plan.batch_id = batch_id;
  plan.topic = std::string(topic);
  plan.ingest_time_us = ingest;
  for (auto [key, value] : offsets) {
    simdjson::dom::array range;
    int64_t start, end;
    if (value.get(range) || range.at(0).get(start) || range.at(1).get(end)) {
      return arrow::Status::Invalid("batch plan: bad range for partition ", key);
    }
    plan.offsets[std::stoi(std::string(key))] = {start, end};
  }
  for (auto [key, value] : next) {
    int64_t n;
    if (value.get(n)) return arrow::Status::Invalid("batch plan: bad next offset");
    plan.next[std::stoi(std::string(key))] = n;
  }
  simdjson::dom::object ends;
  if (root["ends"].get(ends) == simdjson::SUCCESS) {  // absent in older plans
    for (auto [key, value] : ends) {
      int64_t e;
      if (value.get(e)) return arrow::Status::Invalid("batch plan: bad end offset");
      plan.ends[std::stoi(std::string(key))] = e;
    }
  }
  return plan;
}

arrow::Result<std::unique_ptr<Checkpoint>> Checkpoint::Open(const std::string& dir) {
  for (const char* sub : {"offsets", "commits", "state"}) {
    ARROW_RETURN_NOT_OK(MakeDirs(dir + "/" + sub));
  }
  ARROW_ASSIGN_OR_RAISE(auto lock, DirLock::Acquire(dir + "/.lock", "checkpoint", dir));
  const std::string meta = dir + "/metadata";
  std::string query_id;
  if (PathExists(meta)) {
    ARROW_ASSIGN_OR_RAISE(auto text, ReadFile(meta));
    simdjson::dom::parser parser;
    std::string_view id;
    if (parser.parse(text).at_key("id").get(id) != simdjson::SUCCESS) {
      return arrow::Status::Invalid("checkpoint metadata '", meta, "' is corrupt");
    }
    query_id = std::string(id);
  } else {
    ARROW_ASSIGN_OR_RAISE(query_id, RandomUuid());
    ARROW_RETURN_NOT_OK(WriteFileAtomic(meta, "{\"id\":\"" + query_id + "\"}\n"));
  }
  return std::unique_ptr<Checkpoint>(new Checkpoint(dir, query_id, LatestId(dir, "commits"), std::move(lock)));
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
  ARROW_RETURN_NOT_OK(WriteFileAtomic(Path(dir_, "offsets", plan.batch_id), PlanToJson(plan)));
  FaultPoint("plan.after_write");
  return arrow::Status::OK();
}

arrow::Status Checkpoint::WriteState(int64_t id, const std::string& bytes) {
  FaultPoint("state.before_write");
  return WriteFileAtomic(Path(dir_, "state", id), bytes);
}

arrow::Status Checkpoint::WriteCommit(int64_t id) {
  FaultPoint("commit.before_write");
  ARROW_RETURN_NOT_OK(WriteFileAtomic(Path(dir_, "commits", id), "{\"batch_id\":" + std::to_string(id) + "}\n"));
  last_committed_ = id;
  FaultPoint("commit.after_write");
  return arrow::Status::OK();
}

void Checkpoint::Prune(int64_t id, int retain) {
  const int64_t below = id - retain;
  if (below <= 0) return;
  for (const char* kind : {"offsets", "commits", "state"}) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir_ + "/" + kind, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
      if (std::stoll(name) < below) std::filesystem::remove(entry.path(), ec);
    }
  }
}

}  // namespace medallion::engine
