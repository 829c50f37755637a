#include "cli/status_command.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <arrow/result.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include "common/file_util.h"
#include "common/object_store.h"
#include "common/time_util.h"
#include "engine/checkpoint.h"
#include "sink/delta_log.h"
#include "sink/json_text.h"
#include "sink/table_directory.h"
#include "sink/table_reader.h"
#include "source/kafka_source.h"

namespace medallion::cli {
namespace {

/// How long the broker may take to answer the metadata and offset queries.
constexpr int kBrokerTimeoutMs = 3000;

/// Everything the flags of `medallion status` set.
struct StatusFlags {
  std::string data_dir = "data";
  std::string checkpoint_dir = "checkpoint";
  std::string brokers = "127.0.0.1:19092";
  std::string topic;  ///< empty: the checkpoint's topic, else "orders"
  bool json = false;
};

/// One failed-attempts record (checkpoint/attempts/<B>).
struct AttemptsInfo {
  int64_t batch = 0;
  int64_t failures = 0;
  std::string last_error;
};

/// One table's figures from its log.
struct TableInfo {
  std::string name;
  int64_t version = -1;
  int64_t files = 0;
  int64_t bytes = 0;
  int64_t rows = 0;          ///< -1 when an add action has no numRecords
  int64_t query_batch = -1;  ///< the txn version of the checkpoint's query
  std::string error;
};

/// What `status` reports.
struct StatusReport {
  std::string query_id;
  int64_t last_committed = -1;
  std::optional<engine::BatchPlan> last_plan;  ///< plan of the last committed batch
  std::optional<engine::BatchPlan> planned;    ///< offsets/<C+1>: waiting to be replayed
  std::vector<AttemptsInfo> attempts;
  std::vector<TableInfo> tables;
  std::string topic;
  bool broker_reachable = false;
  std::string broker_error;
  std::map<int32_t, int64_t> ends;
};

[[noreturn]] void Fail(const std::string& message) {
  std::fprintf(stderr, "medallion status: %s\n", message.c_str());
  objstore::Shutdown();
  std::exit(2);
}

/// The batch ids of the files in `dir/kind`, sorted; partial and hidden files skipped.
std::vector<int64_t> BatchIds(const std::string& dir, const char* kind) {
  std::vector<int64_t> ids;
  auto listing = ListDir(dir + "/" + kind);
  if (!listing.ok()) return ids;
  for (const DirEntry& entry : *listing) {
    if (const auto id = engine::ParseBatchId(entry.name)) ids.push_back(*id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

/// The plan offsets/<id> of the checkpoint in `dir`, if it exists.
arrow::Result<std::optional<engine::BatchPlan>> ReadPlan(const std::string& dir, int64_t id) {
  const std::string path = dir + "/offsets/" + std::to_string(id);
  if (id < 0 || !PathExists(path)) return std::nullopt;
  ARROW_ASSIGN_OR_RAISE(auto text, ReadFile(path));
  auto plan = engine::PlanFromJson(text);
  if (!plan.ok()) return plan.status().WithMessage("'", path, "': ", plan.status().message());
  return std::optional<engine::BatchPlan>(std::move(*plan));
}

/// Reads the checkpoint directory without locking it or creating anything.
arrow::Status ReadCheckpoint(const std::string& dir, StatusReport* report) {
  ARROW_ASSIGN_OR_RAISE(const auto query_id, engine::ReadQueryId(dir));
  if (query_id) report->query_id = *query_id;
  ARROW_ASSIGN_OR_RAISE(report->last_committed, engine::LastCommittedBatch(dir));
  ARROW_ASSIGN_OR_RAISE(report->last_plan, ReadPlan(dir, report->last_committed));
  ARROW_ASSIGN_OR_RAISE(report->planned, ReadPlan(dir, report->last_committed + 1));
  for (int64_t id : BatchIds(dir, "attempts")) {
    const std::string path = dir + "/attempts/" + std::to_string(id);
    auto text = ReadFile(path);
    if (!text.ok()) continue;  // removed by a commit in between
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    AttemptsInfo info{id, 0, ""};
    std::string_view error;
    if (parser.parse(*text).get(root) != simdjson::SUCCESS || root["failures"].get(info.failures) ||
        root["last_error"].get(error)) {
      info.last_error = "(the record '" + path + "' is corrupt)";
    } else {
      info.last_error = std::string(error);
    }
    report->attempts.push_back(std::move(info));
  }
  return arrow::Status::OK();
}

/// A table's figures from its log's add actions; a log that cannot be read gives its error.
TableInfo ReadTableInfo(const std::string& data_dir, const std::string& name, const std::string& query_id) {
  TableInfo info;
  info.name = name;
  auto log = sink::DeltaLog::OpenForRead(data_dir + "/" + name, name);
  if (!log.ok()) {
    info.error = log.status().message();
    return info;
  }
  info.version = (*log)->version();
  info.query_batch = query_id.empty() ? -1 : (*log)->TxnVersion(query_id);
  for (const auto& [path, add] : (*log)->live_files()) {
    ++info.files;
    info.bytes += add.size;
    const int64_t rows = sink::RowCountFromStats(add);
    if (rows < 0 || info.rows < 0) {
      info.rows = -1;
    } else {
      info.rows += rows;
    }
  }
  return info;
}

/// The end offsets of the report's topic, or why the brokers did not give them.
void ReadEnds(const StatusFlags& flags, StatusReport* report) {
  source::SourceOptions options;
  options.brokers = flags.brokers;
  options.topic = report->topic;
  auto source = source::KafkaSource::Make(options);
  if (!source.ok()) {
    report->broker_error = source.status().message();
    return;
  }
  auto partitions = (*source)->Partitions(kBrokerTimeoutMs);
  if (!partitions.ok()) {
    report->broker_error = partitions.status().message();
    return;
  }
  auto ends = (*source)->EndOffsets(kBrokerTimeoutMs);
  if (!ends.ok()) {
    report->broker_error = ends.status().message();
    return;
  }
  report->ends = std::move(*ends);
  report->broker_reachable = true;
}

/// The checkpoint's next offset per partition (after the last committed batch); none when no
/// batch is committed or the lag is asked for another topic than the checkpoint's.
std::map<int32_t, int64_t> NextOffsets(const StatusReport& report) {
  if (!report.last_plan || report.last_plan->topic != report.topic) return {};
  return report.last_plan->next;
}

/// `v` as JSON or text; NumOrNull gives null (JSON) for a negative, unknown value.
std::string Num(int64_t v) { return std::to_string(v); }
std::string NumOrNull(int64_t v) { return v < 0 ? "null" : std::to_string(v); }

/// A plan's ranges as {"<partition>":{"start":S,"end":E}}.
std::string RangesJson(const engine::BatchPlan& plan) {
  std::string out = "{";
  for (const auto& [p, range] : plan.offsets) {
    if (out.size() > 1) out += ",";
    out += "\"" + Num(p) + "\":{\"start\":" + Num(range.start) + ",\"end\":" + Num(range.end) + "}";
  }
  return out + "}";
}

/// A plan as JSON: batch id, topic, ingest time, ranges and next offsets.
std::string PlanJson(const engine::BatchPlan& plan) {
  std::string next = "{";
  for (const auto& [p, n] : plan.next) next += (next.size() > 1 ? ",\"" : "\"") + Num(p) + "\":" + Num(n);
  return "{\"batch_id\":" + Num(plan.batch_id) + ",\"topic\":" + sink::JsonString(plan.topic) +
         ",\"ingest_time\":" + sink::JsonString(FormatIso8601Micros(plan.ingest_time_us)) +
         ",\"offsets\":" + RangesJson(plan) + ",\"next\":" + next + "}}";
}

/// Prints the report as one JSON object and a newline.
void PrintJson(const StatusFlags& flags, const StatusReport& r) {
  std::string out = "{\"checkpoint\":{\"dir\":" + sink::JsonString(flags.checkpoint_dir) +
                    ",\"query_id\":" + (r.query_id.empty() ? "null" : sink::JsonString(r.query_id)) +
                    ",\"last_committed_batch\":" + NumOrNull(r.last_committed) +
                    ",\"last_batch\":" + (r.last_plan ? PlanJson(*r.last_plan) : "null") +
                    ",\"planned_batch\":" + (r.planned ? PlanJson(*r.planned) : "null") + ",\"failed_attempts\":[";
  for (size_t i = 0; i < r.attempts.size(); ++i) {
    out += (i ? ",{" : "{") + std::string("\"batch_id\":") + Num(r.attempts[i].batch) +
           ",\"failures\":" + Num(r.attempts[i].failures) +
           ",\"last_error\":" + sink::JsonString(r.attempts[i].last_error) + "}";
  }
  out += "]},\"tables\":[";
  for (size_t i = 0; i < r.tables.size(); ++i) {
    const TableInfo& t = r.tables[i];
    out += (i ? ",{" : "{") + std::string("\"name\":") + sink::JsonString(t.name) +
           ",\"version\":" + NumOrNull(t.version) + ",\"files\":" + Num(t.files) + ",\"bytes\":" + Num(t.bytes) +
           ",\"rows\":" + NumOrNull(t.rows) + ",\"query_batch\":" + NumOrNull(t.query_batch) +
           ",\"error\":" + (t.error.empty() ? "null" : sink::JsonString(t.error)) + "}";
  }
  out += "],\"lag\":{\"brokers\":" + sink::JsonString(flags.brokers) + ",\"topic\":" + sink::JsonString(r.topic) +
         ",\"reachable\":" + (r.broker_reachable ? "true" : "false") +
         ",\"error\":" + (r.broker_error.empty() ? "null" : sink::JsonString(r.broker_error));
  if (r.broker_reachable) {
    const auto next = NextOffsets(r);
    int64_t total = 0;
    out += ",\"partitions\":{";
    bool first = true;
    for (const auto& [p, end] : r.ends) {
      auto it = next.find(p);
      const int64_t at = it == next.end() ? -1 : it->second;
      const int64_t lag = at < 0 ? -1 : std::max<int64_t>(0, end - at);
      if (lag > 0) total += lag;
      out += (first ? "\"" : ",\"") + Num(p) + "\":{\"next\":" + NumOrNull(at) + ",\"end\":" + Num(end) +
             ",\"lag\":" + NumOrNull(lag) + "}";
      first = false;
    }
    out += "},\"total\":" + Num(total);
  } else {
    out += ",\"partitions\":null,\"total\":null";
  }
  out += "}}\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
}

/// Prints the report as aligned text in three parts: checkpoint, tables, lag.
void PrintText(const StatusFlags& flags, const StatusReport& r) {
  std::printf("checkpoint %s\n", flags.checkpoint_dir.c_str());
  std::printf("  query id              %s\n", r.query_id.empty() ? "(none yet)" : r.query_id.c_str());
  if (r.last_committed < 0) {
    std::printf("  last committed batch  none\n");
  } else {
    std::printf("  last committed batch  %lld\n", static_cast<long long>(r.last_committed));
  }
  if (r.last_plan) {
    std::printf("  last batch offsets    (ingest time %s)\n", FormatIso8601Micros(r.last_plan->ingest_time_us).c_str());
    for (const auto& [p, range] : r.last_plan->offsets) {
      std::printf("    %s/%d  [%lld, %lld)\n", r.last_plan->topic.c_str(), p, static_cast<long long>(range.start),
                  static_cast<long long>(range.end));
    }
  }
  if (r.planned) {
    std::printf("  planned batch         %lld, not committed: the next run replays it\n",
                static_cast<long long>(r.planned->batch_id));
    for (const auto& [p, range] : r.planned->offsets) {
      std::printf("    %s/%d  [%lld, %lld)\n", r.planned->topic.c_str(), p, static_cast<long long>(range.start),
                  static_cast<long long>(range.end));
    }
  } else {
    std::printf("  planned batch         none\n");
  }
  if (r.attempts.empty()) std::printf("  failed attempts       none\n");
  for (const auto& a : r.attempts) {
    std::printf("  failed attempts       batch %lld: %lld (last error: %s)\n", static_cast<long long>(a.batch),
                static_cast<long long>(a.failures), a.last_error.c_str());
  }
  std::printf("tables under %s\n", flags.data_dir.c_str());
  std::printf("  %-34s %8s %7s %14s %12s %12s\n", "table", "version", "files", "bytes", "rows", "query batch");
  for (const auto& t : r.tables) {
    if (!t.error.empty()) {
      std::printf("  %-34s %s\n", t.name.c_str(), t.error.c_str());
      continue;
    }
    std::printf("  %-34s %8lld %7lld %14lld %12s %12s\n", t.name.c_str(), static_cast<long long>(t.version),
                static_cast<long long>(t.files), static_cast<long long>(t.bytes),
                t.rows < 0 ? "?" : Num(t.rows).c_str(), t.query_batch < 0 ? "-" : Num(t.query_batch).c_str());
  }
  std::printf("lag of topic %s at %s\n", r.topic.c_str(), flags.brokers.c_str());
  if (!r.broker_reachable) {
    std::printf("  brokers not reachable: %s\n", r.broker_error.c_str());
    return;
  }
  const auto next = NextOffsets(r);
  int64_t total = 0;
  std::printf("  %-9s %14s %14s %12s\n", "partition", "next", "end", "lag");
  for (const auto& [p, end] : r.ends) {
    auto it = next.find(p);
    const int64_t lag = it == next.end() ? -1 : std::max<int64_t>(0, end - it->second);
    if (lag > 0) total += lag;
    std::printf("  %-9d %14s %14lld %12s\n", p, it == next.end() ? "-" : Num(it->second).c_str(),
                static_cast<long long>(end), lag < 0 ? "?" : Num(lag).c_str());
  }
  std::printf("  total lag %lld records\n", static_cast<long long>(total));
}

/// Reads everything (read-only), then prints; a missing directory exits 2 naming it.
void Execute(const StatusFlags& flags) {
  spdlog::set_level(spdlog::level::off);  // stdout carries the report; errors are in it
  if (!PathExists(flags.checkpoint_dir)) {
    Fail("checkpoint directory '" + flags.checkpoint_dir + "' does not exist (--checkpoint-dir)");
  }
  auto tables = sink::ListTables(flags.data_dir);
  if (!tables.ok()) Fail(tables.status().message() + " (--data-dir)");
  StatusReport report;
  if (auto st = ReadCheckpoint(flags.checkpoint_dir, &report); !st.ok()) Fail(st.message());
  for (const std::string& name : *tables) report.tables.push_back(ReadTableInfo(flags.data_dir, name, report.query_id));
  report.topic = !flags.topic.empty() ? flags.topic : report.last_plan ? report.last_plan->topic : "orders";
  ReadEnds(flags, &report);
  if (flags.json) {
    PrintJson(flags, report);
  } else {
    PrintText(flags, report);
  }
  std::fflush(stdout);
}

}  // namespace

void AddStatusCommand(CLI::App& app) {
  auto flags = std::make_shared<StatusFlags>();
  CLI::App* status = app.add_subcommand(
      "status", "Show the checkpoint, the tables and the lag (read-only, beside a running engine or not)");
  status->add_option("--data-dir", flags->data_dir, "root of the tables (default data)");
  status->add_option("--checkpoint-dir", flags->checkpoint_dir, "checkpoint directory (default checkpoint)");
  status->add_option("--brokers", flags->brokers, "Kafka bootstrap servers for the lag (default 127.0.0.1:19092)");
  status->add_option("--topic", flags->topic, "topic for the lag (default: the checkpoint's topic, else orders)");
  status->add_flag("--json", flags->json, "print one JSON object instead of text");
  status->callback([flags] { Execute(*flags); });
}

}  // namespace medallion::cli
