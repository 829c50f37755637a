#include "cli/run_command.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>

#include <spdlog/spdlog.h>

#include "cli/run_config.h"
#include "common/object_store.h"
#include "common/duration.h"
#include "engine/gold_stage.h"
#include "engine/group_stage.h"
#include "engine/pipeline.h"
#include "engine/status_board.h"
#include "serve/listen_address.h"
#include "serve/status_server.h"

namespace medallion::cli {
namespace {

std::atomic<bool> g_stop{false};

/// Accepts integers > 0 and says so when it rejects one.
const CLI::Validator kPositiveInt(
    [](std::string& text) -> std::string {
      try {
        size_t used = 0;
        const long long v = std::stoll(text, &used);
        if (used == text.size() && v > 0) return "";
      } catch (const std::exception&) {
      }
      return "expected an integer from 1 to 9223372036854775807, got '" + text + "'";
    },
    "INT>0");

void OnSignal(int) { g_stop.store(true); }

/// Flag values as typed by the user; unset flags leave the config's value alone.
struct RunFlags {
  std::string config;
  std::optional<std::string> brokers, topic, group_id, data_dir, checkpoint_dir, starting_offsets,
      trigger_interval, max_wait, side_commit_interval, bronze_commit_interval, window_size, window_slide,
      compression, output_mode, allowed_lateness, idle_timeout, dedup_horizon, dedup_scope, metrics_file, http,
      gold_commit_interval, scale_mode;
  std::optional<std::string> max_future_skew, payments_topic, payment_before, payment_after;
  std::optional<int64_t> max_records, max_bytes, max_batches;
  std::optional<int64_t> top_n;
  std::optional<std::string> fail_on_data_loss, compaction, log_retention;
  std::optional<int64_t> compaction_min_files, compaction_target_bytes;
  bool until_caught_up = false;
};

[[noreturn]] void Fail(const std::string& message) {
  std::fprintf(stderr, "medallion run: %s\n", message.c_str());
  objstore::Shutdown();
  std::exit(2);
}

/// The flag's duration in microseconds, at least `min_us`; exits 2 naming the flag otherwise.
int64_t DurationFlag(const char* flag, const std::string& text, int64_t min_us = 1) {
  auto v = ParseDurationMicros(text, /*allow_zero=*/min_us == 0);
  if (!v || *v < min_us) {
    Fail(std::string(flag) + " must be a duration such as 500ms, 5s or 1m, " +
         DurationRange(min_us) + ", got '" + text + "'");
  }
  return *v;
}

void Execute(const RunFlags& f) {
  engine::PipelineOptions o;
  if (!f.config.empty()) {
    auto st = ApplyConfigFile(f.config, &o);
    if (!st.ok()) Fail(st.message());
  }
  if (f.brokers) o.source.brokers = *f.brokers;
  if (f.topic) o.source.topic = *f.topic;
  if (f.group_id) o.source.group_id = *f.group_id;
  if (f.starting_offsets) o.source.starting_offsets = *f.starting_offsets;
  if (f.fail_on_data_loss) o.source.fail_on_data_loss = *f.fail_on_data_loss == "true";
  if (f.data_dir) o.data_dir = *f.data_dir;
  if (f.checkpoint_dir) o.checkpoint_dir = *f.checkpoint_dir;
  if (f.metrics_file) o.metrics_file = *f.metrics_file;
  if (f.http) o.http_listen = *f.http;
  if (f.trigger_interval) o.trigger_interval_ms = DurationFlag("--trigger-interval", *f.trigger_interval, 1000) / 1000;
  if (f.max_wait) o.limits.max_wait_ms = DurationFlag("--max-batch-wait", *f.max_wait, 1000) / 1000;
  if (f.side_commit_interval) {
    o.side_commit_interval_us = DurationFlag("--side-commit-interval", *f.side_commit_interval, /*min_us=*/0);
  }
  if (f.bronze_commit_interval) {
    o.bronze_commit_interval_us = DurationFlag("--bronze-commit-interval", *f.bronze_commit_interval, /*min_us=*/0);
  }
  if (f.window_size) o.window_size_us = DurationFlag("--window-size", *f.window_size);
  if (f.window_slide) o.window_slide_us = DurationFlag("--window-slide", *f.window_slide);
  else if (f.window_size) o.window_slide_us = o.window_size_us;
  if (f.compression && *f.compression != o.parquet.compression) {
    o.parquet.compression = *f.compression;
    o.parquet.compression_level.reset();  // a config file's level was for its own codec
  }
  if (f.output_mode) o.output_mode = *f.output_mode;
  if (f.gold_commit_interval) {
    o.gold_commit_interval_us = DurationFlag("--gold-commit-interval", *f.gold_commit_interval, /*min_us=*/0);
  }
  if (f.allowed_lateness) o.allowed_lateness_us = DurationFlag("--allowed-lateness", *f.allowed_lateness);
  if (f.idle_timeout) o.idle_timeout_us = DurationFlag("--idle-timeout", *f.idle_timeout);
  if (f.dedup_horizon) o.dedup_horizon_us = DurationFlag("--dedup-horizon", *f.dedup_horizon);
  if (f.dedup_scope) o.dedup_scope = engine::DedupScopeNamed(*f.dedup_scope);
  if (f.scale_mode) o.scale_mode = engine::ScaleModeNamed(*f.scale_mode);
  if (f.max_future_skew) o.max_future_skew_us = DurationFlag("--max-future-skew", *f.max_future_skew);
  if (f.payments_topic) o.payments_topic = *f.payments_topic;
  if (f.payment_before) o.payment_before_us = DurationFlag("--payment-before", *f.payment_before);
  if (f.payment_after) o.payment_after_us = DurationFlag("--payment-after", *f.payment_after);
  if (f.max_records) o.limits.max_records = *f.max_records;
  if (f.max_bytes) o.limits.max_bytes = *f.max_bytes;
  if (f.max_batches) o.max_batches = *f.max_batches;
  if (f.top_n) {
    if (*f.top_n > std::numeric_limits<int>::max()) {
      Fail("--top-n must be an integer from 1 to " + std::to_string(std::numeric_limits<int>::max()) + ", got " +
           std::to_string(*f.top_n));
    }
    o.top_n = static_cast<int>(*f.top_n);
  }
  if (f.compaction) o.compaction = *f.compaction == "on";
  if (f.compaction_target_bytes) o.compactor.compaction.SetTarget(*f.compaction_target_bytes);
  if (f.compaction_min_files) {
    if (*f.compaction_min_files < 2 || *f.compaction_min_files > std::numeric_limits<int>::max()) {
      Fail("--compaction-min-files must be an integer from 2 to " + std::to_string(std::numeric_limits<int>::max()) +
           ", got " + std::to_string(*f.compaction_min_files));
    }
    o.compactor.compaction.min_files = static_cast<int>(*f.compaction_min_files);
  }
  if (f.log_retention) o.log_retention_us = DurationFlag("--log-retention", *f.log_retention);
  o.until_caught_up = f.until_caught_up;
  if (auto st = ValidateOptions(o); !st.ok()) Fail(st.message());
  if (objstore::IsS3(o.data_dir) || objstore::IsS3(o.checkpoint_dir)) {
    if (auto st = objstore::ConfigureS3(o.s3); !st.ok()) Fail("s3.endpoint (or AWS_ENDPOINT_URL): " + st.message());
  }
  if (objstore::IsAzure(o.data_dir) || objstore::IsAzure(o.checkpoint_dir)) {
    if (auto st = objstore::ConfigureAzure(o.azure); !st.ok()) {
      Fail("azure.endpoint (or the BlobEndpoint of AZURE_STORAGE_CONNECTION_STRING): " + st.message());
    }
  }
  // The endpoint is bound before anything else starts, so a bad or busy address stops
  // start-up at once (exit 2) without touching the checkpoint or the broker.
  const std::string http_name = f.http ? "--http" : "http.listen (--http)";
  std::optional<serve::ListenAddress> http_address;
  if (!o.http_listen.empty()) {
    auto address = serve::ParseListenAddress(o.http_listen);
    if (!address.ok()) Fail(http_name + ": " + address.status().message());
    http_address = *address;
  }
  std::shared_ptr<engine::StatusBoard> board;  // set once the pipeline is made
  std::mutex board_mutex;
  std::unique_ptr<serve::StatusServer> server;
  if (http_address) {
    // Until the pipeline exists, the endpoint shows a status with no batch (not ready).
    auto starting = std::make_shared<const metrics::RunStatus>([&o] {
      metrics::RunStatus s;
      s.brokers = o.source.brokers;
      s.topic = o.source.topic;
      s.ready_max_lag = o.ready_max_lag;
      return s;
    }());
    auto made = serve::StatusServer::Make(*http_address, [&board, &board_mutex, starting] {
      std::shared_ptr<engine::StatusBoard> b;
      {
        std::lock_guard<std::mutex> lock(board_mutex);
        b = board;
      }
      return b ? b->Snapshot() : starting;
    });
    if (!made.ok()) Fail(http_name + ": " + made.status().message());
    server = std::move(*made);
    server->Start();
    spdlog::info("serving /metrics, /healthz, /readyz, /status and the status page on http://{}", o.http_listen);
  }

  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  // Runs an engine (the pipeline, a group member or the Gold stage) made by `made`, its status
  // on the endpoint.
  auto run_engine = [&](auto made) {
    if (!made.ok() && engine::IsBatchGivenUp(made.status())) {
      // Not a user error (2): a batch that keeps failing needs an operator (see the message).
      std::fprintf(stderr, "medallion run: %s\n", made.status().message().c_str());
      if (server) server->Stop();
      objstore::Shutdown();
      std::exit(3);
    }
    if (!made.ok()) {
      if (server) server->Stop();  // no thread may outlive the exit
      Fail(made.status().ToString());
    }
    auto& runner = *made;
    {
      std::lock_guard<std::mutex> lock(board_mutex);
      board = runner->status_board();
    }
    auto st = runner->Run(g_stop);
    if (server) server->Stop();
    if (!st.ok()) {
      runner.reset();  // its threads stop before the store's client goes (Fail shuts it down)
      Fail(st.ToString());
    }
  };
  if (o.scale_mode == engine::ScaleMode::kGold) {
    run_engine(engine::GoldStage::Make(o));
  } else if (o.scale_mode == engine::ScaleMode::kGroup) {
    run_engine(engine::GroupStage::Make(o));
  } else {
    run_engine(engine::Pipeline::Make(o));
  }
}

}  // namespace

void AddRunCommand(CLI::App& app) {
  auto flags = std::make_shared<RunFlags>();
  CLI::App* run = app.add_subcommand("run", "Consume the topic and keep Bronze/Silver/Gold up to date");
  run->add_option("--config", flags->config, "TOML config file (flags override it)")->check(CLI::ExistingFile);
  run->add_option("--brokers", flags->brokers, "Kafka bootstrap servers (default 127.0.0.1:19092)");
  run->add_option("--topic", flags->topic, "topic to read (default orders)");
  run->add_option("--payments-topic", flags->payments_topic,
                  "payments topic to join with the orders (default: none, no join)");
  run->add_option("--payment-before", flags->payment_before,
                  "a payment may come this long before its order (default 15m)");
  run->add_option("--payment-after", flags->payment_after,
                  "a payment may come this long after its order (default 1h)");
  run->add_option("--group-id", flags->group_id, "consumer group for lag monitoring (default medallion)");
  run->add_option("--starting-offsets", flags->starting_offsets, "earliest|latest for a new checkpoint")
      ->check(CLI::IsMember({"earliest", "latest"}));
  run->add_option("--fail-on-data-loss", flags->fail_on_data_loss,
                  "true (default): stop when the topic no longer holds records not yet read; "
                  "false: warn and skip them")
      ->check(CLI::IsMember({"true", "false"}));
  run->add_option("--data-dir", flags->data_dir, "root of the tables (default data)");
  run->add_option("--checkpoint-dir", flags->checkpoint_dir, "checkpoint directory (default checkpoint)");
  run->add_option("--metrics-file", flags->metrics_file,
                  "Prometheus text file rewritten after every batch (e.g. for node_exporter's "
                  "textfile collector)");
  run->add_option("--http", flags->http,
                  "serve /metrics, /healthz, /readyz, /status and a status page on IP:PORT, "
                  "e.g. 127.0.0.1:9464 (default: off)");
  run->add_flag("--until-caught-up", flags->until_caught_up,
                "process what the topic holds now, then exit (like availableNow)");
  run->add_option("--trigger-interval", flags->trigger_interval, "continuous trigger period, e.g. 1s");
  run->add_option("--max-batch-records", flags->max_records, "records per micro-batch at most")
      ->check(kPositiveInt);
  run->add_option("--max-batch-bytes", flags->max_bytes, "bytes per micro-batch at most")->check(kPositiveInt);
  run->add_option("--max-batch-wait", flags->max_wait, "time spent filling one micro-batch at most, e.g. 1s");
  run->add_option("--side-commit-interval", flags->side_commit_interval,
                  "commit Quarantine's and Late's rows at most this often (default 1s; 0s: with every "
                  "batch that has some); the checkpoint holds them meanwhile");
  run->add_option("--bronze-commit-interval", flags->bronze_commit_interval,
                  "commit Bronze's rows at most this often (default 1s; 0s: with every batch); the "
                  "checkpoint keeps their offsets meanwhile, a restart reads them again from Kafka");
  run->add_option("--max-batches", flags->max_batches, "stop after this many batches")->check(kPositiveInt);
  run->add_option("--window-size", flags->window_size, "Gold window size, e.g. 1m");
  run->add_option("--window-slide", flags->window_slide, "Gold window slide (default: the size, tumbling)");
  run->add_option("--top-n", flags->top_n, "rows of gold/top_products")->check(kPositiveInt);
  run->add_option("--output-mode", flags->output_mode,
                  "Gold windows: update (open windows rewritten each batch) or append (final only)")
      ->check(CLI::IsMember({"update", "append"}));
  run->add_option("--gold-commit-interval", flags->gold_commit_interval,
                  "commit the Gold snapshots at most this often (default 1s; 0s: with every batch "
                  "that changes them; a batch that closes a window always commits them)");
  run->add_option("--allowed-lateness", flags->allowed_lateness,
                  "watermark = max event time (min over active partitions) minus this, e.g. 2m");
  run->add_option("--idle-timeout", flags->idle_timeout,
                  "a partition silent this long stops holding the watermark, e.g. 30s");
  run->add_option("--dedup-horizon", flags->dedup_horizon,
                  "event_ids are remembered until the watermark is this far past them, e.g. 1h");
  run->add_option("--dedup-scope", flags->dedup_scope,
                  "partition: each Kafka partition's own watermark, event by event, decides the dedup "
                  "horizon; query: the query's watermark, batch by batch (default: what the query "
                  "recorded; query for a new one)")
      ->check(CLI::IsMember({"query", "partition"}));
  run->add_option("--scale-mode", flags->scale_mode,
                  "single: this process reads every partition (default); group: it is one member of the "
                  "consumer group --group-id and writes the partitions the group gives it beside other "
                  "members (Bronze, Quarantine, Silver, Late; needs --dedup-scope partition); gold: it keeps "
                  "the Gold tables from Silver's log beside the members (one at a time holds the lease in "
                  "--checkpoint-dir; others wait to take over)")
      ->check(CLI::IsMember({"single", "group", "gold"}));
  run->add_option("--max-future-skew", flags->max_future_skew,
                  "an event further ahead of its Kafka timestamp is quarantined, e.g. 10m");
  run->add_option("--compression", flags->compression,
                  "Parquet codec of every table without its own [parquet.<layer>] codec (default zstd)")
      ->check(CLI::IsMember({"zstd", "lz4_raw", "snappy", "none"}));
  run->add_option("--compaction", flags->compaction,
                  "on (default): merge the append tables' small files beside a continuous run; off")
      ->check(CLI::IsMember({"on", "off"}));
  run->add_option("--compaction-target-bytes", flags->compaction_target_bytes,
                  "size a merged file aims at (default 67108864, 64 MiB)")
      ->check(kPositiveInt);
  run->add_option("--compaction-min-files", flags->compaction_min_files,
                  "small files a run needs before they are merged (default 8)");
  run->add_option("--log-retention", flags->log_retention,
                  "Delta log entries older than this are deleted behind a checkpoint (default 1d)");
  run->callback([flags] { Execute(*flags); });
}

}  // namespace medallion::cli
