#include "engine/query_settings.h"

#include <simdjson.h>

#include "common/file_util.h"
#include "sink/json_text.h"

namespace medallion::engine {
namespace {

/// A duration as the largest unit that divides it exactly: "90s", "2m", "1500ms".
std::string FormatDuration(int64_t us) {
  struct Unit {
    int64_t micros;
    const char* suffix;
  };
  static constexpr Unit kUnits[] = {{86'400'000'000LL, "d"}, {3'600'000'000LL, "h"}, {60'000'000, "m"},
                                    {1'000'000, "s"},        {1'000, "ms"},           {1, "us"}};
  for (const Unit& u : kUnits) {
    if (us != 0 && us % u.micros == 0) return std::to_string(us / u.micros) + u.suffix;
  }
  return std::to_string(us) + "us";
}

/// A codec as recorded: "zstd", "zstd level -1".
std::string CodecText(const std::string& name, std::optional<int> level) {
  return level ? name + " level " + std::to_string(*level) : name;
}

/// The codec of layer kParquetLayers[L] where it has its own, else "parquet.compression".
template <int L>
std::string LayerCodecText(const PipelineOptions& o) {
  auto codec = o.layer_codecs.find(kParquetLayers[L]);
  if (codec == o.layer_codecs.end()) return "parquet.compression";
  return CodecText(codec->second.compression, codec->second.compression_level);
}

constexpr const char* kLayerCodecEffect =
    "the layer's files written after the restart use it; files already written keep theirs "
    "(readers read both)";

const char* PolicyName(ChangePolicy policy) {
  switch (policy) {
    case ChangePolicy::kNextBatch:
      return "applied from the next batch";
    case ChangePolicy::kNewFiles:
      return "applied to files written from now on";
    case ChangePolicy::kRefuse:
      return "refused";
  }
  return "?";
}

arrow::Status Damaged(const std::string& path, const std::string& what) {
  return arrow::Status::Invalid(
      "checkpoint file '", path, "' is damaged (", what,
      "): it records the settings this query was started with (window size, top_n, ...). "
      "Restore it from a copy of the checkpoint directory; or, if you know the settings this "
      "checkpoint was run with, remove it and start with exactly those settings: they are "
      "recorded again then");
}

}  // namespace

const std::vector<QuerySetting>& QuerySettingsTable() {
  static const std::vector<QuerySetting> kTable = {
      {"kafka.topic", "--topic", ChangePolicy::kRefuse,
       [](const PipelineOptions& o) { return o.source.topic; },
       "the checkpoint's offsets are positions in the recorded topic"},
      {"payments.topic", "--payments-topic", ChangePolicy::kRefuse,
       [](const PipelineOptions& o) { return o.payments_topic.empty() ? std::string("(none)") : o.payments_topic; },
       "the checkpoint's offsets and join state belong to the recorded payments topic (or to a query "
       "without one), and the payment tables hold every batch of the query or none"},
      {"payments.before", "--payment-before", ChangePolicy::kRefuse,
       [](const PipelineOptions& o) { return FormatDuration(o.payment_before_us); },
       "the join already decided which orders and payments are final under the recorded interval"},
      {"payments.after", "--payment-after", ChangePolicy::kRefuse,
       [](const PipelineOptions& o) { return FormatDuration(o.payment_after_us); },
       "the join already decided which orders and payments are final under the recorded interval"},
      {"gold.window_size", "--window-size", ChangePolicy::kRefuse,
       [](const PipelineOptions& o) { return FormatDuration(o.window_size_us); },
       "the window state holds windows of one size and slide, and Gold's open and final windows "
       "of two sizes would overlap"},
      {"gold.window_slide", "--window-slide", ChangePolicy::kRefuse,
       [](const PipelineOptions& o) { return FormatDuration(o.window_slide_us); },
       "the window state holds windows of one size and slide, and Gold's open and final windows "
       "of two sizes would overlap"},
      {"gold.output_mode", "--output-mode", ChangePolicy::kNextBatch,
       [](const PipelineOptions& o) { return o.output_mode; },
       "update -> append: the next batch's commit removes the open windows' rows from Gold, and "
       "each comes back as a final row when its window closes; append -> update: the open "
       "windows are written from the next batch"},
      {"gold.top_n", "--top-n", ChangePolicy::kNextBatch,
       [](const PipelineOptions& o) { return std::to_string(o.top_n); },
       "the state keeps every product, so the next batch's gold/top_products has the new number of rows"},
      {"watermark.allowed_lateness", "--allowed-lateness", ChangePolicy::kNextBatch,
       [](const PipelineOptions& o) { return FormatDuration(o.allowed_lateness_us); },
       "the next batch computes the watermark with it; the watermark never moves back, so a "
       "longer lateness holds it where it is until the events catch up"},
      {"watermark.idle_timeout", "--idle-timeout", ChangePolicy::kNextBatch,
       [](const PipelineOptions& o) { return FormatDuration(o.idle_timeout_us); },
       "the next batch judges idle partitions with it"},
      {"watermark.max_future_skew", "--max-future-skew", ChangePolicy::kNextBatch,
       [](const PipelineOptions& o) { return FormatDuration(o.max_future_skew_us); },
       "records of the batches after the restart are judged with it; Quarantine rows already "
       "written stay"},
      {"watermark.dedup_horizon", "--dedup-horizon", ChangePolicy::kNextBatch,
       [](const PipelineOptions& o) { return FormatDuration(o.dedup_horizon_us); },
       "shorter: the next batch evicts ids by it and sends older events to Late "
       "(beyond_dedup_horizon); longer: the ids already evicted stay forgotten, so events older "
       "than the old horizon at the restart still go to Late until the watermark has moved on by "
       "the difference, and from then the full horizon holds"},
      {"watermark.dedup_scope", "--dedup-scope", ChangePolicy::kRefuse,
       [](const PipelineOptions& o) { return std::string(DedupScopeName(o.dedup_scope)); },
       "the dedup state holds the ids of one scope: per partition with their own watermarks, or "
       "of the whole query under its watermark"},
      {"parquet.compression", "--compression", ChangePolicy::kNewFiles,
       [](const PipelineOptions& o) { return CodecText(o.parquet.compression, o.parquet.compression_level); },
       "files written after the restart use it; files already written keep theirs (readers read both)"},
      {"parquet.bronze.compression", "", ChangePolicy::kNewFiles, LayerCodecText<0>, kLayerCodecEffect},
      {"parquet.quarantine.compression", "", ChangePolicy::kNewFiles, LayerCodecText<1>, kLayerCodecEffect},
      {"parquet.silver.compression", "", ChangePolicy::kNewFiles, LayerCodecText<2>, kLayerCodecEffect},
      {"parquet.late.compression", "", ChangePolicy::kNewFiles, LayerCodecText<3>, kLayerCodecEffect},
      {"parquet.gold.compression", "", ChangePolicy::kNewFiles, LayerCodecText<4>, kLayerCodecEffect},
      {"parquet.row_group_rows", "", ChangePolicy::kNewFiles,
       [](const PipelineOptions& o) { return std::to_string(o.parquet.row_group_rows); },
       "files written after the restart use it"},
  };
  return kTable;
}

QueryRecord RecordOf(const PipelineOptions& options) {
  QueryRecord record;
  for (const QuerySetting& s : QuerySettingsTable()) record.settings[s.key] = s.value(options);
  return record;
}

std::string QueryRecordToJson(const QueryRecord& record) {
  std::string out = "{\"version\":" + std::to_string(QueryRecord::kVersion) + ",\"settings\":{";
  bool first = true;
  for (const auto& [key, value] : record.settings) {
    out += (first ? "" : ",") + sink::JsonString(key) + ":" + sink::JsonString(value);
    first = false;
  }
  out += "}";
  if (record.dedup_floor_us != QueryRecord::kNoFloor) {
    out += ",\"dedup_floor_us\":" + std::to_string(record.dedup_floor_us);
  }
  out += "}\n";
  return out;
}

arrow::Result<QueryRecord> QueryRecordFromJson(std::string_view json, const std::string& path) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS) {
    return Damaged(path, "not valid JSON");
  }
  int64_t version = 0;
  if (root["version"].get(version) != simdjson::SUCCESS) return Damaged(path, "no integer \"version\"");
  if (version != QueryRecord::kVersion) {
    return arrow::Status::Invalid("checkpoint file '", path, "' is query record version ", version,
                                  "; this medallion reads version ", QueryRecord::kVersion,
                                  " (run the medallion that wrote it, or start with a new checkpoint "
                                  "directory and a new data directory)");
  }
  simdjson::dom::object settings;
  if (root["settings"].get(settings) != simdjson::SUCCESS) return Damaged(path, "no \"settings\" object");
  QueryRecord record;
  for (auto [key, value] : settings) {
    std::string_view text;
    if (value.get(text) != simdjson::SUCCESS) {
      return Damaged(path, "setting \"" + std::string(key) + "\" is not a string");
    }
    record.settings[std::string(key)] = std::string(text);
  }
  auto floor = root["dedup_floor_us"];
  if (floor.error() == simdjson::SUCCESS) {
    if (floor.get(record.dedup_floor_us) != simdjson::SUCCESS) {
      return Damaged(path, "\"dedup_floor_us\" is not an integer");
    }
  } else if (floor.error() != simdjson::NO_SUCH_FIELD) {
    return Damaged(path, "\"dedup_floor_us\" cannot be read");
  }
  return record;
}

std::string QueryRecordPath(const std::string& dir) { return dir + "/query.json"; }

arrow::Result<std::optional<QueryRecord>> ReadQueryRecord(const std::string& dir) {
  const std::string path = QueryRecordPath(dir);
  if (!PathExists(path)) return std::nullopt;
  ARROW_ASSIGN_OR_RAISE(auto text, ReadFile(path));
  ARROW_ASSIGN_OR_RAISE(auto record, QueryRecordFromJson(text, path));
  return std::optional<QueryRecord>(std::move(record));
}

arrow::Status WriteQueryRecord(const std::string& dir, const QueryRecord& record) {
  return WriteFileAtomic(QueryRecordPath(dir), QueryRecordToJson(record));
}

std::vector<SettingChange> DiffSettings(const QueryRecord& recorded, const QueryRecord& current) {
  std::vector<SettingChange> changes;
  for (const QuerySetting& s : QuerySettingsTable()) {
    auto old_value = recorded.settings.find(s.key);
    auto new_value = current.settings.find(s.key);
    if (old_value == recorded.settings.end() || new_value == current.settings.end()) continue;
    if (old_value->second != new_value->second) changes.push_back({&s, old_value->second, new_value->second});
  }
  return changes;
}

namespace {

/// "gold.window_size (--window-size)".
std::string Name(const QuerySetting& s) {
  return std::string(s.key) + (*s.flag ? std::string(" (") + s.flag + ")" : std::string());
}

}  // namespace

std::string DescribeChange(const SettingChange& change) {
  return Name(*change.setting) + " changed from " + change.recorded + " to " + change.current + ", " +
         PolicyName(change.setting->policy) + ": " + change.setting->effect;
}

arrow::Status CheckChanges(const std::vector<SettingChange>& changes, int64_t pending_batch,
                           const std::string& checkpoint_dir) {
  std::string refused, keep;
  for (const SettingChange& c : changes) {
    if (c.setting->policy != ChangePolicy::kRefuse && pending_batch < 0) continue;
    refused += (refused.empty() ? "" : "; ") + Name(*c.setting) + " was " + c.recorded + " and is now " +
               c.current;
    if (c.setting->policy == ChangePolicy::kRefuse) refused += std::string(" (refused: ") + c.setting->effect + ")";
    keep += (keep.empty() ? "" : ", ") + std::string(c.setting->key) + " = " + c.recorded;
  }
  if (refused.empty()) return arrow::Status::OK();
  if (pending_batch >= 0) {
    return arrow::Status::Invalid(
        "the query of checkpoint '", checkpoint_dir, "' changed: ", refused, ". Batch ", pending_batch,
        " was planned under the recorded settings and is not committed; it is replayed first and "
        "must give the output it was planned with. Run once with the recorded settings (", keep,
        "), e.g. with --max-batches 1, then restart with the new ones. Nothing was changed");
  }
  return arrow::Status::Invalid(
      "the query of checkpoint '", checkpoint_dir, "' changed: ", refused,
      ". Nothing was changed. To go on with this query, run with the recorded settings (", keep,
      "); to run the new query, start with a new checkpoint directory and a new data directory "
      "(the topic is read again from kafka.starting_offsets)");
}

}  // namespace medallion::engine
