#include "cli/run_config.h"

#include <algorithm>
#include <limits>
#include <set>
#include <string>

#include <spdlog/spdlog.h>
#include <toml++/toml.h>

#include "common/duration.h"

namespace medallion::cli {
namespace {

/// Reads one table of the config, checking each key against what it knows.
class Section {
 public:
  Section(const toml::table* table, std::string name) : table_(table), name_(std::move(name)) {}

  arrow::Status String(const char* key, std::string* out) {
    known_.insert(key);
    const toml::node* node = Get(key);
    if (node == nullptr) return arrow::Status::OK();
    auto v = node->value<std::string>();
    if (!node->is_string() || !v || v->empty()) return Bad(key, "a non-empty string");
    *out = *v;
    return arrow::Status::OK();
  }

  arrow::Status Bool(const char* key, bool* out) {
    known_.insert(key);
    const toml::node* node = Get(key);
    if (node == nullptr) return arrow::Status::OK();
    auto v = node->value<bool>();
    if (!node->is_boolean() || !v) return Bad(key, "true or false");
    *out = *v;
    return arrow::Status::OK();
  }

  arrow::Status Choice(const char* key, std::initializer_list<const char*> choices, std::string* out) {
    std::string value = *out;
    ARROW_RETURN_NOT_OK(String(key, &value));
    std::string expected;
    for (const char* c : choices) {
      if (value == c) {
        *out = value;
        return arrow::Status::OK();
      }
      expected += (expected.empty() ? "\"" : " | \"") + std::string(c) + "\"";
    }
    return Bad(key, "one of " + expected);
  }

  /// An integer from 1 to the largest `Int` (or `max`, if smaller).
  template <typename Int>
  arrow::Status Positive(const char* key, Int* out, int64_t max = std::numeric_limits<Int>::max()) {
    known_.insert(key);
    const toml::node* node = Get(key);
    if (node == nullptr) return arrow::Status::OK();
    max = std::min<int64_t>(max, std::numeric_limits<Int>::max());
    auto v = node->value<int64_t>();
    if (!node->is_integer() || !v || *v <= 0 || *v > max) {
      return Bad(key, "an integer from 1 to " + std::to_string(max));
    }
    *out = static_cast<Int>(*v);
    return arrow::Status::OK();
  }

  /// Any int (range checks belong to the caller, which knows what the value pairs with).
  arrow::Status Int(const char* key, std::optional<int>* out) {
    known_.insert(key);
    const toml::node* node = Get(key);
    if (node == nullptr) return arrow::Status::OK();
    auto v = node->value<int64_t>();
    if (!node->is_integer() || !v || *v < std::numeric_limits<int>::min() || *v > std::numeric_limits<int>::max()) {
      return Bad(key, "an integer");
    }
    *out = static_cast<int>(*v);
    return arrow::Status::OK();
  }

  /// An integer from 0 to the largest int64.
  arrow::Status Count(const char* key, int64_t* out) {
    known_.insert(key);
    const toml::node* node = Get(key);
    if (node == nullptr) return arrow::Status::OK();
    auto v = node->value<int64_t>();
    if (!node->is_integer() || !v || *v < 0) return Bad(key, "an integer from 0 to 9223372036854775807");
    *out = *v;
    return arrow::Status::OK();
  }

  /// A ratio: a number (float or integer) from 0 to 1.
  arrow::Status Ratio(const char* key, double* out) {
    known_.insert(key);
    const toml::node* node = Get(key);
    if (node == nullptr) return arrow::Status::OK();
    auto v = node->value<double>();
    if (!(node->is_floating_point() || node->is_integer()) || !v || !(*v >= 0 && *v <= 1)) {
      return Bad(key, "a number from 0 to 1 (a ratio, e.g. 0.05)");
    }
    *out = *v;
    return arrow::Status::OK();
  }

  /// A duration from `min_us` (1us, or 1ms for values the engine counts in ms, or 0 where
  /// "0s" means off) to kMaxDurationMicros.
  arrow::Status Duration(const char* key, int64_t* out_us, int64_t min_us = 1) {
    known_.insert(key);
    const toml::node* node = Get(key);
    if (node == nullptr) return arrow::Status::OK();
    auto v = node->value<std::string>();
    auto micros = v ? ParseDurationMicros(*v, /*allow_zero=*/min_us == 0) : std::nullopt;
    if (!node->is_string() || !micros || *micros < min_us) {
      return Bad(key, std::string("a duration string such as \"500ms\", \"5s\" or \"1m\", ") +
                          DurationRange(min_us));
    }
    *out_us = *micros;
    return arrow::Status::OK();
  }

  /// Marks a key as a sub-table handled elsewhere.
  void Known(const char* key) { known_.insert(key); }

  /// Fails on the first key this section did not ask for.
  arrow::Status RejectUnknown() const {
    if (table_ == nullptr) return arrow::Status::OK();
    for (const auto& [k, v] : *table_) {
      if (!known_.contains(std::string(k.str()))) {
        std::string list;
        for (const auto& key : known_) list += (list.empty() ? "" : ", ") + key;
        return arrow::Status::Invalid("config: unknown key '", name_, ".", k.str(), "' (known keys in [",
                                      name_, "]: ", list, ")");
      }
    }
    return arrow::Status::OK();
  }
  bool Has(const char* key) const { return Get(key) != nullptr; }

 private:
  const toml::node* Get(const char* key) const { return table_ ? table_->get(key) : nullptr; }
  arrow::Status Bad(const char* key, const std::string& expected) const {
    return arrow::Status::Invalid("config: key '", name_, ".", key, "' must be ", expected);
  }

  const toml::table* table_;
  std::string name_;
  std::set<std::string> known_;
};

/// A codec's keys, compression and compression_level, in `section` (named `name`); the
/// level is checked against the codec it goes with, whichever of the two the file sets.
arrow::Status ParquetCodec(Section* section, const std::string& name, std::string* compression,
                           std::optional<int>* level) {
  const std::string before = *compression;
  ARROW_RETURN_NOT_OK(section->Choice("compression", {"zstd", "lz4_raw", "snappy", "none"}, compression));
  const bool codec_changed = *compression != before;
  std::optional<int> chosen_level;
  ARROW_RETURN_NOT_OK(section->Int("compression_level", &chosen_level));
  if (chosen_level) {
    *level = chosen_level;
  } else if (codec_changed) {
    level->reset();  // a level chosen for another codec does not carry over
  }
  const arrow::Status st = sink::CheckCompression(*compression, *level);
  if (!st.ok()) return arrow::Status::Invalid("config: [", name, "]: ", st.message());
  return arrow::Status::OK();
}

}  // namespace

arrow::Status ApplyConfigFile(const std::string& path, engine::PipelineOptions* o) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return arrow::Status::Invalid("config file '", path, "' is not valid TOML: ", e.description(),
                                  " at line ", e.source().begin.line);
  }
  static const std::set<std::string> kSections = {"kafka",   "payments", "batch",   "paths",
                                                  "gold",    "watermark", "parquet", "delta",
                                                  "compaction", "metrics", "http", "alerts", "scale", "s3",
                                                  "azure"};
  for (const auto& [k, v] : root) {
    if (!kSections.contains(std::string(k.str())) || !v.is_table()) {
      return arrow::Status::Invalid("config: unknown section '", k.str(),
                                    "' (expected [kafka], [payments], [batch], [paths], [gold], [watermark], [parquet], [delta], "
                                    "[compaction], [metrics], [http], [alerts], [scale], [s3], [azure])");
    }
  }
  Section kafka(root["kafka"].as_table(), "kafka");
  ARROW_RETURN_NOT_OK(kafka.String("brokers", &o->source.brokers));
  ARROW_RETURN_NOT_OK(kafka.String("topic", &o->source.topic));
  ARROW_RETURN_NOT_OK(kafka.String("group_id", &o->source.group_id));
  ARROW_RETURN_NOT_OK(kafka.Choice("starting_offsets", {"earliest", "latest"}, &o->source.starting_offsets));
  ARROW_RETURN_NOT_OK(kafka.Bool("fail_on_data_loss", &o->source.fail_on_data_loss));
  kafka.Known("properties");
  ARROW_RETURN_NOT_OK(kafka.RejectUnknown());
  if (const toml::node* props = root["kafka"]["properties"].node()) {
    if (!props->is_table()) return arrow::Status::Invalid("config: 'kafka.properties' must be a table");
    for (const auto& [k, v] : *props->as_table()) {
      auto s = v.value<std::string>();
      if (!v.is_string() || !s) {
        return arrow::Status::Invalid("config: key 'kafka.properties.", k.str(), "' must be a string");
      }
      o->source.extra[std::string(k.str())] = *s;
    }
  }
  Section payments(root["payments"].as_table(), "payments");
  ARROW_RETURN_NOT_OK(payments.String("topic", &o->payments_topic));
  ARROW_RETURN_NOT_OK(payments.Duration("before", &o->payment_before_us));
  ARROW_RETURN_NOT_OK(payments.Duration("after", &o->payment_after_us));
  ARROW_RETURN_NOT_OK(payments.RejectUnknown());
  Section batch(root["batch"].as_table(), "batch");
  ARROW_RETURN_NOT_OK(batch.Positive("max_records", &o->limits.max_records));
  ARROW_RETURN_NOT_OK(batch.Positive("max_bytes", &o->limits.max_bytes));
  int64_t wait_us = o->limits.max_wait_ms * 1000, trigger_us = o->trigger_interval_ms * 1000;
  ARROW_RETURN_NOT_OK(batch.Duration("max_wait", &wait_us, /*min_us=*/1000));
  ARROW_RETURN_NOT_OK(batch.Duration("trigger_interval", &trigger_us, /*min_us=*/1000));
  o->limits.max_wait_ms = wait_us / 1000;
  o->trigger_interval_ms = trigger_us / 1000;
  ARROW_RETURN_NOT_OK(batch.Duration("side_commit_interval", &o->side_commit_interval_us, /*min_us=*/0));
  ARROW_RETURN_NOT_OK(batch.Duration("bronze_commit_interval", &o->bronze_commit_interval_us, /*min_us=*/0));
  ARROW_RETURN_NOT_OK(batch.RejectUnknown());
  Section paths(root["paths"].as_table(), "paths");
  ARROW_RETURN_NOT_OK(paths.String("data_dir", &o->data_dir));
  ARROW_RETURN_NOT_OK(paths.String("checkpoint_dir", &o->checkpoint_dir));
  ARROW_RETURN_NOT_OK(paths.RejectUnknown());
  Section s3(root["s3"].as_table(), "s3");
  ARROW_RETURN_NOT_OK(s3.String("endpoint", &o->s3.endpoint));
  ARROW_RETURN_NOT_OK(s3.String("region", &o->s3.region));
  if (root["s3"]["path_style"].node() != nullptr) {
    bool path_style = false;
    ARROW_RETURN_NOT_OK(s3.Bool("path_style", &path_style));
    o->s3.path_style = path_style;
  }
  ARROW_RETURN_NOT_OK(s3.RejectUnknown());
  Section azure(root["azure"].as_table(), "azure");
  ARROW_RETURN_NOT_OK(azure.String("endpoint", &o->azure.endpoint));
  ARROW_RETURN_NOT_OK(azure.RejectUnknown());
  Section gold(root["gold"].as_table(), "gold");
  ARROW_RETURN_NOT_OK(gold.Duration("window_size", &o->window_size_us));
  o->window_slide_us = o->window_size_us;  // tumbling unless window_slide says otherwise
  ARROW_RETURN_NOT_OK(gold.Duration("window_slide", &o->window_slide_us));
  ARROW_RETURN_NOT_OK(gold.Positive("top_n", &o->top_n));
  ARROW_RETURN_NOT_OK(gold.Choice("output_mode", {"update", "append"}, &o->output_mode));
  ARROW_RETURN_NOT_OK(gold.Duration("commit_interval", &o->gold_commit_interval_us, /*min_us=*/0));
  ARROW_RETURN_NOT_OK(gold.Ratio("snapshot_share", &o->gold_snapshot_share));
  ARROW_RETURN_NOT_OK(gold.RejectUnknown());
  Section watermark(root["watermark"].as_table(), "watermark");
  ARROW_RETURN_NOT_OK(watermark.Duration("allowed_lateness", &o->allowed_lateness_us));
  ARROW_RETURN_NOT_OK(watermark.Duration("idle_timeout", &o->idle_timeout_us));
  ARROW_RETURN_NOT_OK(watermark.Duration("dedup_horizon", &o->dedup_horizon_us));
  ARROW_RETURN_NOT_OK(watermark.Duration("max_future_skew", &o->max_future_skew_us));
  if (watermark.Has("dedup_scope")) {  // absent: the query's recorded scope
    std::string scope;
    ARROW_RETURN_NOT_OK(watermark.Choice("dedup_scope", {"query", "partition"}, &scope));
    o->dedup_scope = engine::DedupScopeNamed(scope);
  }
  ARROW_RETURN_NOT_OK(watermark.RejectUnknown());
  Section parquet(root["parquet"].as_table(), "parquet");
  ARROW_RETURN_NOT_OK(ParquetCodec(&parquet, "parquet", &o->parquet.compression, &o->parquet.compression_level));
  ARROW_RETURN_NOT_OK(parquet.Positive("row_group_rows", &o->parquet.row_group_rows));
  for (const char* layer : engine::kParquetLayers) {
    parquet.Known(layer);
    const toml::node* node = root["parquet"][layer].node();
    if (node == nullptr) continue;
    const std::string name = std::string("parquet.") + layer;
    if (!node->is_table()) {
      return arrow::Status::Invalid("config: '", name, "' must be a table ([", name, "] with compression and, ",
                                    "optionally, compression_level)");
    }
    Section codec(node->as_table(), name);
    engine::PipelineOptions::Codec chosen;
    // compression is required here: Choice refuses the empty value it starts from.
    ARROW_RETURN_NOT_OK(ParquetCodec(&codec, name, &chosen.compression, &chosen.compression_level));
    ARROW_RETURN_NOT_OK(codec.RejectUnknown());
    o->layer_codecs[layer] = chosen;
  }
  ARROW_RETURN_NOT_OK(parquet.RejectUnknown());
  Section delta(root["delta"].as_table(), "delta");
  ARROW_RETURN_NOT_OK(delta.Positive("checkpoint_interval", &o->log_checkpoint_interval));
  ARROW_RETURN_NOT_OK(delta.Duration("removed_file_retention", &o->removed_file_retention_us));
  ARROW_RETURN_NOT_OK(delta.Duration("log_retention", &o->log_retention_us));
  ARROW_RETURN_NOT_OK(delta.RejectUnknown());
  Section compaction(root["compaction"].as_table(), "compaction");
  sink::CompactionOptions& merge = o->compactor.compaction;
  ARROW_RETURN_NOT_OK(compaction.Bool("enabled", &o->compaction));
  int64_t target = merge.target_file_bytes;
  ARROW_RETURN_NOT_OK(compaction.Positive("target_file_bytes", &target));
  merge.SetTarget(target);
  ARROW_RETURN_NOT_OK(compaction.Positive("min_files", &merge.min_files));
  ARROW_RETURN_NOT_OK(compaction.Ratio("cpu_share", &o->compactor.cpu_share));
  ARROW_RETURN_NOT_OK(compaction.Bool("join_row_groups", &merge.join_row_groups));
  if (compaction.Has("recent_files_bytes")) {
    // Earlier builds kept the rows of files just written for their first merge, which now
    // copies their row groups instead: the setting is checked, then has no effect.
    int64_t unused = 0;
    ARROW_RETURN_NOT_OK(compaction.Count("recent_files_bytes", &unused));
    spdlog::warn("[compaction] recent_files_bytes has no effect any more (a first merge copies row groups); "
                 "remove it");
  }
  ARROW_RETURN_NOT_OK(compaction.RejectUnknown());
  Section scale(root["scale"].as_table(), "scale");
  if (scale.Has("mode")) {
    std::string mode;
    ARROW_RETURN_NOT_OK(scale.Choice("mode", {"single", "group", "gold"}, &mode));
    o->scale_mode = engine::ScaleModeNamed(mode);
  }
  ARROW_RETURN_NOT_OK(scale.RejectUnknown());
  Section metrics(root["metrics"].as_table(), "metrics");
  ARROW_RETURN_NOT_OK(metrics.String("file", &o->metrics_file));
  ARROW_RETURN_NOT_OK(metrics.RejectUnknown());
  Section http(root["http"].as_table(), "http");
  ARROW_RETURN_NOT_OK(http.String("listen", &o->http_listen));
  ARROW_RETURN_NOT_OK(http.Count("ready_max_lag", &o->ready_max_lag));
  ARROW_RETURN_NOT_OK(http.RejectUnknown());
  Section alerts(root["alerts"].as_table(), "alerts");
  ARROW_RETURN_NOT_OK(alerts.Ratio("quarantine_ratio", &o->alerts.quarantine_ratio));
  ARROW_RETURN_NOT_OK(alerts.Ratio("quarantine_reason_ratio", &o->alerts.quarantine_reason_ratio));
  ARROW_RETURN_NOT_OK(alerts.Ratio("late_ratio", &o->alerts.late_ratio));
  ARROW_RETURN_NOT_OK(alerts.Count("max_lag", &o->alerts.max_lag));
  ARROW_RETURN_NOT_OK(alerts.Duration("no_batch_for", &o->alerts.no_batch_for_us, /*min_us=*/1000));
  ARROW_RETURN_NOT_OK(alerts.Duration("window", &o->alerts.window_us, /*min_us=*/1000));
  return alerts.RejectUnknown();
}

/// Checks a data or checkpoint directory: a local path, s3://bucket[/prefix], or an Azure URL
/// (abfs[s]://container@account/prefix, az://container/prefix); another URL scheme is refused
/// rather than taken for a local folder named "gs:".
arrow::Status ValidateStoragePath(const std::string& path, const char* name) {
  if (path.empty()) return arrow::Status::Invalid(name, " must not be empty");
  if (objstore::IsS3(path)) {
    const std::string rest = path.substr(5);
    if (rest.empty() || rest.front() == '/') {
      return arrow::Status::Invalid(name, " '", path, "' names no bucket (expected s3://bucket/prefix)");
    }
    return arrow::Status::OK();
  }
  if (objstore::IsAzure(path)) {
    const std::string rest = path.substr(path.find("://") + 3);
    const std::string authority = rest.substr(0, rest.find('/'));
    if (authority.empty() || authority.front() == '@' ||
        (!path.starts_with("az://") && authority.find('@') == std::string::npos)) {
      return arrow::Status::Invalid(name, " '", path, "' names no container and account (expected "
                                    "abfs://container@account/prefix or az://container/prefix)");
    }
    return arrow::Status::OK();
  }
  if (const auto sep = path.find("://"); sep != std::string::npos) {
    return arrow::Status::Invalid(name, " '", path, "': the scheme '", path.substr(0, sep),
                                  "' is not supported; use a local path, s3://bucket/prefix or "
                                  "abfs://container@account/prefix");
  }
  return arrow::Status::OK();
}

arrow::Status ValidateOptions(const engine::PipelineOptions& o) {
  ARROW_RETURN_NOT_OK(ValidateStoragePath(o.data_dir, "paths.data_dir (--data-dir)"));
  ARROW_RETURN_NOT_OK(ValidateStoragePath(o.checkpoint_dir, "paths.checkpoint_dir (--checkpoint-dir)"));
  if (o.window_slide_us <= 0 || o.window_slide_us > o.window_size_us || o.window_size_us % o.window_slide_us != 0) {
    return arrow::Status::Invalid("gold.window_slide (--window-slide) must divide gold.window_size "
                                  "(--window-size) and be no larger than it");
  }
  if (o.window_size_us / o.window_slide_us > kMaxWindowsPerEvent) {
    return arrow::Status::Invalid(
        "gold.window_size / gold.window_slide (--window-size / --window-slide) is ",
        o.window_size_us / o.window_slide_us, " windows per event; at most ", kMaxWindowsPerEvent,
        " are accepted: every Silver line is added to each sliding window that holds it, so the "
        "work and state per line grow with this ratio (use a larger slide or a smaller size)");
  }
  if (o.limits.max_bytes <= 0 || o.limits.max_bytes > kMaxBatchBytes) {
    return arrow::Status::Invalid("batch.max_bytes (--max-batch-bytes) must be from 1 to ", kMaxBatchBytes,
                                  " (1 GiB): a batch is held in memory, and librdkafka reads up to "
                                  "twice this ahead; got ", o.limits.max_bytes);
  }
  if (o.limits.max_wait_ms < 1) {
    return arrow::Status::Invalid("batch.max_wait (--max-batch-wait) must be from 1ms to 36500d");
  }
  if (o.trigger_interval_ms < 1) {
    return arrow::Status::Invalid("batch.trigger_interval (--trigger-interval) must be from 1ms to 36500d");
  }
  if (o.compactor.compaction.min_files < 2) {
    return arrow::Status::Invalid("compaction.min_files (--compaction-min-files) must be at least 2: "
                                  "merging one file into one gains nothing; got ",
                                  o.compactor.compaction.min_files);
  }
  if (o.compactor.cpu_share <= 0) {
    return arrow::Status::Invalid("compaction.cpu_share must be above 0 (turn compaction off with "
                                  "compaction.enabled = false, --compaction off)");
  }
  if (o.gold_snapshot_share <= 0) {
    return arrow::Status::Invalid("gold.snapshot_share must be above 0 (it is the largest share of the batch "
                                  "thread's time the Gold snapshots may take; 1 lets them take all of it)");
  }
  if (!o.payments_topic.empty() && o.payments_topic == o.source.topic) {
    return arrow::Status::Invalid("payments.topic (--payments-topic) '", o.payments_topic,
                                  "' is the orders topic (kafka.topic, --topic): payments need a topic of their own");
  }
  if (o.source.starting_offsets != "earliest" && o.source.starting_offsets != "latest") {
    return arrow::Status::Invalid("kafka.starting_offsets (--starting-offsets) must be \"earliest\" or \"latest\"");
  }
  return arrow::Status::OK();
}

}  // namespace medallion::cli
