#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/object_store.h"
#include "metrics/alert_rules.h"
#include "engine/compactor.h"
#include "sink/parquet_file.h"
#include "source/kafka_source.h"

namespace medallion::engine {

/// Which watermark the dedup horizon follows (`watermark.dedup_scope`): the query's, batch by
/// batch, or each Kafka partition's own, event by event (ops::PartitionDedup). kRecorded: the
/// one the query recorded ("query" for a new query or one recorded without it).
enum class DedupScope { kRecorded, kQuery, kPartition };

/// The setting's text: "query", "partition" ("" for kRecorded).
inline const char* DedupScopeName(DedupScope scope) {
  return scope == DedupScope::kQuery ? "query" : scope == DedupScope::kPartition ? "partition" : "";
}
/// The scope named `name`, or kRecorded for any other text.
inline DedupScope DedupScopeNamed(std::string_view name) {
  return name == "query" ? DedupScope::kQuery : name == "partition" ? DedupScope::kPartition : DedupScope::kRecorded;
}

/// How the work of a query is split between processes (README, "Several processes").
enum class ScaleMode { kSingle, kGroup, kGold };

/// The mode named "group" or "gold"; kSingle for any other text (the choices are checked
/// where the setting is read).
inline ScaleMode ScaleModeNamed(std::string_view name) {
  return name == "group" ? ScaleMode::kGroup : name == "gold" ? ScaleMode::kGold : ScaleMode::kSingle;
}

/// Everything `medallion run` can be told (flags and the TOML config both fill this).
struct PipelineOptions {
  source::SourceOptions source;
  source::BatchLimits limits;
  std::string data_dir = "data";
  std::string checkpoint_dir = "checkpoint";
  /// The S3 store of an s3:// data or checkpoint directory (the [s3] keys), and Azure Blob
  /// Storage for an abfs:// or az:// one (the [azure] keys).
  objstore::S3Config s3;
  objstore::AzureConfig azure;
  /// Process what is in the topic at start-up, then exit (Spark's availableNow).
  bool until_caught_up = false;
  /// Continuous trigger: a batch starts at most this often.
  int64_t trigger_interval_ms = 1000;
  /// Quarantine's and Late's rows are committed at most this often (0: by every batch that
  /// has some); meanwhile the engine state of every batch holds them (PendingAppends), so a
  /// kill loses none, and a run commits them before it ends. Held rows are committed anyway
  /// once they reach 1 MiB. One second by default, as Gold's snapshots: in a continuous run
  /// with a short trigger they were two of the five files a batch wrote.
  int64_t side_commit_interval_us = 1'000'000;
  /// Bronze's rows likewise: committed at most this often (0: with every batch), held in
  /// memory meanwhile while the engine state keeps their offsets (HeldBronze: a restart reads
  /// them again from Kafka), committed anyway once they reach 8 MiB or 64 batches (a catch-up
  /// batch, larger, is committed at once). One second by default: in a continuous run with a 100 ms trigger
  /// Bronze's file, fsyncs and log entry were a fifth of a batch's CPU, and Silver, which
  /// readers wait for, is not delayed by it.
  int64_t bronze_commit_interval_us = 1'000'000;
  /// Gold window size and slide (equal: tumbling).
  int64_t window_size_us = 60'000'000;
  int64_t window_slide_us = 60'000'000;
  /// Gold window output: "update" (open windows rewritten every batch, final ones
  /// appended) or "append" (a window is written once, when final).
  std::string output_mode = "update";
  /// Watermark = min over active partitions of max event time, minus this.
  int64_t allowed_lateness_us = 120'000'000;
  /// A partition without data for this long stops holding the watermark back.
  int64_t idle_timeout_us = 30'000'000;
  /// An event more than this far ahead of its record's time (min of Kafka timestamp and
  /// ingest time) is quarantined (event_time_in_future) and never moves the watermark.
  int64_t max_future_skew_us = 600'000'000;
  /// Dedup remembers an event_id until the watermark passes its event time by this much.
  int64_t dedup_horizon_us = 3'600'000'000LL;
  /// Which watermark the dedup horizon follows; a query cannot change it.
  DedupScope dedup_scope = DedupScope::kRecorded;
  /// The payments topic joined with the orders (EVENTS.md); empty: no payments side, no
  /// join, no payment tables (today's runs unchanged).
  std::string payments_topic;
  /// The join's interval around an order's event time: its CAPTURED payment may come up
  /// to payment_before before it and up to payment_after after it. Checkout flows capture
  /// within minutes; delayed capture and bank redirects take up to an hour; a payment
  /// service that publishes before the order service gives payments a few minutes ahead.
  int64_t payment_before_us = 15 * 60'000'000LL;
  int64_t payment_after_us = 60 * 60'000'000LL;
  /// Rows of gold/top_products.
  int top_n = 100;
  /// The Gold snapshots (top products, customer spend, the open windows) are committed at
  /// most this often (0: by every batch that changes them). A batch that closes a window
  /// commits them anyway, and a run commits what it deferred before it ends, so only the
  /// freshness of the snapshots between batches is traded; see Pipeline::Impl::GoldDue.
  /// One second by default: a continuous run with a short trigger wrote three of its seven
  /// files per batch for Gold (22% of the CPU of 308 batches of 650 records), and a batch
  /// longer than a second (a catch-up) commits Gold every batch as before.
  int64_t gold_commit_interval_us = 1'000'000;
  /// The Gold snapshots' share, at most, of the batch thread's time: after a snapshot commit
  /// that took t (wall time), the next comes no sooner than t / gold_snapshot_share, if that
  /// is longer than gold_commit_interval. customer_spend holds a row per customer ever seen and
  /// is written whole: 270,000 customers took 0.33 s a commit, so a million would take over a
  /// second, every second, and hold every batch back as long. 0.25 by default: the snapshots
  /// of a few thousand customers (a few ms) keep the interval; the cost of many stretches it
  /// instead of the latency to Silver. Not applied with gold_commit_interval 0 (every batch).
  double gold_snapshot_share = 0.25;
  /// A Delta log checkpoint every this many commits: 100, not Delta's 10, because a streaming
  /// table commits up to ten times a second and each checkpoint rewrites every live file's
  /// action (on two cores, seven tables' checkpoints a second made the latency's tail).
  int log_checkpoint_interval = 100;
  /// A file removed from a table (a replaced Gold snapshot) is deleted this long after
  /// its removal, so readers of recent versions keep working.
  int64_t removed_file_retention_us = 600'000'000;
  /// Log entries and checkpoints older than this are deleted once a newer checkpoint covers
  /// them; versions this recent stay readable (time travel). One day, not Delta's 30: at one
  /// commit per table per second, 30 days is 2.6 million entries per _delta_log, which every
  /// open lists; a day is 86,400. Both retentions are recorded in a new table's properties
  /// (delta.logRetentionDuration, delta.deletedFileRetentionDuration) and an existing table's
  /// properties win, so that other Delta writers and VACUUM keep to the same schedule.
  int64_t log_retention_us = 86'400'000'000LL;
  /// Auto-compaction of the append tables beside the stream (Compactor); off: files stay
  /// as the batches wrote them.
  bool compaction = true;
  /// `[scale] mode`. kGroup: this process is one member of the consumer group, writing the
  /// append tables beside other members (engine::GroupStage); kGold: it keeps the Gold tables
  /// from Silver's log beside them (engine::GoldStage); kSingle: one process does it all.
  ScaleMode scale_mode = ScaleMode::kSingle;
  /// Several processes write these tables (group mode's members and the Gold stage).
  bool shared_tables() const { return scale_mode != ScaleMode::kSingle; }
  CompactorOptions compactor;
  /// Checkpoint batches kept (offsets/ and state/ files).
  int retain_batches = 20;
  /// Stop after this many batches (0 = no limit); for tests and benchmarks.
  int64_t max_batches = 0;
  /// A Prometheus text file rewritten after every batch (empty: none); see BatchMetrics.
  std::string metrics_file;
  /// Address the HTTP endpoint listens on, "host:port" (empty: none); served by
  /// `medallion run`, which binds it before the pipeline starts.
  std::string http_listen;
  /// /readyz answers 200 while the lag is known and at most this many records.
  int64_t ready_max_lag = 10000;
  /// The engine's own alert rules ([alerts]).
  metrics::AlertRules alerts;
  /// Threads used to parse a batch and to write its tables (1: everything on one).
  int threads = 2;
  /// Parquet settings of every table ([parquet], --compression) ...
  sink::ParquetOptions parquet;
  /// ... except the codec of the layers named here ([parquet.<layer>]), which replaces
  /// `parquet`'s for that layer's tables. Layers: "bronze", "quarantine", "silver", "late",
  /// "gold" (the payment tables belong to the layer their folder names).
  struct Codec {
    std::string compression;
    std::optional<int> compression_level;
  };
  std::map<std::string, Codec> layer_codecs;
};

/// The layers that take a codec of their own ([parquet.<layer>]).
inline constexpr const char* kParquetLayers[] = {"bronze", "quarantine", "silver", "late", "gold"};

}  // namespace medallion::engine
