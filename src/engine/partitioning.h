#pragma once

#include <memory>
#include <string>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include "sink/delta_transaction.h"
#include "sink/table.h"
#include "source/fetched_records.h"

namespace medallion::engine {

/// Splits `batch` by the UTC date of the timestamp column `time_column` into parts whose
/// partition value is {partition_name, "YYYY-MM-DD"}, in date order; row order within a
/// part is kept.
arrow::Result<std::vector<sink::PartitionedBatch>> SplitByDate(
    const std::shared_ptr<arrow::RecordBatch>& batch, const std::string& time_column,
    const std::string& partition_name);

/// The UTC hour of `micros` as an integer partition value, "0".."23", as Spark writes an
/// integer partition column. Zero-padded ("00".."09"), DuckDB's hive partitioning read
/// those folders as text while delta-rs and Spark read integers.
std::string HourPartitionValue(int64_t micros);

/// `batch` as the one part of a Bronze table's batch: partition ingest_date and ingest_hour
/// of the batch's ingest time `ingest_time_us` (every Bronze table is partitioned so).
sink::PartitionedBatch BronzePart(int64_t ingest_time_us, std::shared_ptr<arrow::RecordBatch> batch);

/// Bronze rows of several batches (held by bronze_commit_interval) as the parts of one
/// commit: by the UTC hour of their ingest_time column, each part as BronzePart would make it
/// for that hour, in hour order, row order within a part kept.
arrow::Result<std::vector<sink::PartitionedBatch>> BronzeParts(const std::shared_ptr<arrow::RecordBatch>& rows);

/// The source txns of a batch's commits to the tables fed by `topic`: each partition the
/// batch read, appId "<query id>/<topic>/<partition>" (PartitionAppId), with the partition's
/// next offset.
sink::SourceTxns PartitionTxns(const std::string& query_id, const std::string& topic,
                               const source::BatchOffsets& offsets);
std::string PartitionAppId(const std::string& query_id, const std::string& topic, int32_t partition);

}  // namespace medallion::engine
