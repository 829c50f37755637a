#pragma once

#include <string>

#include <arrow/status.h>

#include "engine/pipeline_options.h"

namespace medallion::cli {

/// Sliding windows per event at most (window_size / window_slide): each line joins that
/// many windows.
constexpr int64_t kMaxWindowsPerEvent = 100;
/// Bytes per batch at most (batch.max_bytes): 1 GiB.
constexpr int64_t kMaxBatchBytes = int64_t{1} << 30;

/// Applies a TOML config file to `options`. Every key is checked: an unknown key or a
/// value of the wrong form is an error naming the key (as "section.key") and the expected
/// form. Integers are from 1 to the largest value their option holds; durations from 1us
/// to 36500d. Keys (all optional):
///
///     [kafka]   brokers, topic, group_id, starting_offsets ("earliest"|"latest"),
///               [kafka.properties] any librdkafka property as a string
///     [batch]   max_records, max_bytes (integers > 0; max_bytes at most 1 GiB), max_wait,
///               trigger_interval (durations of at least 1ms)
///     [paths]   data_dir, checkpoint_dir
///     [gold]    window_size, window_slide (durations; at most 100 windows per event),
///               top_n (integer > 0),
///               output_mode ("update"|"append")
///     [watermark] allowed_lateness, idle_timeout, dedup_horizon, max_future_skew (durations)
///     [parquet] compression ("zstd"|"lz4_raw"|"snappy"|"none"), compression_level (an
///               integer in the codec's range: zstd -131072..22), row_group_rows (integer > 0)
///     [parquet.<layer>] compression, compression_level: the codec of one layer's tables
///               (bronze, quarantine, silver, late, gold) instead of [parquet]'s
///     [delta]   checkpoint_interval (integer > 0), removed_file_retention, log_retention
///               (durations)
///     [compaction] enabled (bool), target_file_bytes (integer > 0), min_files (integer >= 2),
///               cpu_share (0..1, above 0), join_row_groups (bool), recent_files_bytes
///               (integer >= 0, no effect: earlier builds')
///     [metrics] file
///     [http]    listen ("IP:PORT"), ready_max_lag (integer >= 0)
///     [alerts]  quarantine_ratio, quarantine_reason_ratio, late_ratio (0..1), max_lag
///               (integer >= 0), no_batch_for, window (durations of at least 1ms)
arrow::Status ApplyConfigFile(const std::string& path, engine::PipelineOptions* options);

/// Checks the cross-field rules of a complete set of options (window size a multiple of
/// the slide, and so on), naming the offending key.
arrow::Status ValidateOptions(const engine::PipelineOptions& options);

}  // namespace medallion::cli
