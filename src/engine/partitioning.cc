#include "engine/partitioning.h"

#include <map>

#include <arrow/array.h>
#include <arrow/builder.h>
#include <arrow/compute/api_vector.h>
#include <arrow/datum.h>
#include <arrow/record_batch.h>

#include "common/time_util.h"

namespace medallion::engine {

arrow::Result<std::vector<sink::PartitionedBatch>> SplitByDate(
    const std::shared_ptr<arrow::RecordBatch>& batch, const std::string& time_column,
    const std::string& partition_name) {
  auto times = std::dynamic_pointer_cast<arrow::TimestampArray>(batch->GetColumnByName(time_column));
  if (!times) return arrow::Status::Invalid("SplitByDate: no timestamp column ", time_column);
  std::map<int32_t, std::vector<int64_t>> rows_by_day;
  for (int64_t i = 0; i < batch->num_rows(); ++i) {
    rows_by_day[MicrosToEpochDays(times->Value(i))].push_back(i);
  }
  std::vector<sink::PartitionedBatch> parts;
  for (auto& [day, rows] : rows_by_day) {
    sink::PartitionedBatch part;
    part.values = {{partition_name, FormatDate(int64_t{day} * 86400 * 1000000)}};
    if (rows_by_day.size() == 1) {
      part.batch = batch;
    } else {
      arrow::Int64Builder idx;
      ARROW_RETURN_NOT_OK(idx.AppendValues(rows));
      ARROW_ASSIGN_OR_RAISE(auto indices, idx.Finish());
      ARROW_ASSIGN_OR_RAISE(auto taken, arrow::compute::Take(batch, indices));
      part.batch = taken.record_batch();
    }
    parts.push_back(std::move(part));
  }
  return parts;
}

std::string HourPartitionValue(int64_t micros) {
  constexpr int64_t kHourUs = 3'600'000'000LL;
  const int64_t hours = micros / kHourUs - (micros % kHourUs < 0 ? 1 : 0);
  return std::to_string(((hours % 24) + 24) % 24);
}

sink::PartitionedBatch BronzePart(int64_t ingest_time_us, std::shared_ptr<arrow::RecordBatch> batch) {
  return {{{"ingest_date", FormatDate(ingest_time_us)}, {"ingest_hour", HourPartitionValue(ingest_time_us)}},
          std::move(batch)};
}

arrow::Result<std::vector<sink::PartitionedBatch>> BronzeParts(const std::shared_ptr<arrow::RecordBatch>& rows) {
  constexpr int64_t kHourUs = 3'600'000'000LL;
  auto times = std::dynamic_pointer_cast<arrow::TimestampArray>(rows->GetColumnByName("ingest_time"));
  if (!times) return arrow::Status::Invalid("BronzeParts: no ingest_time column");
  auto hour_of = [&](int64_t i) {
    const int64_t t = times->Value(i);
    return t / kHourUs - (t % kHourUs < 0 ? 1 : 0);
  };
  // The rows of one batch share its ingest time, so an hour's rows are runs of batches: a
  // part is a slice, or its runs concatenated when the clock went back across an hour.
  std::map<int64_t, std::vector<std::shared_ptr<arrow::RecordBatch>>> runs;
  for (int64_t begin = 0; begin < rows->num_rows();) {
    const int64_t hour = hour_of(begin);
    int64_t end = begin + 1;
    while (end < rows->num_rows() && hour_of(end) == hour) ++end;
    runs[hour].push_back(rows->Slice(begin, end - begin));
    begin = end;
  }
  std::vector<sink::PartitionedBatch> parts;
  for (auto& [hour, slices] : runs) {
    std::shared_ptr<arrow::RecordBatch> batch = slices.front();
    if (slices.size() > 1) {
      ARROW_ASSIGN_OR_RAISE(batch, arrow::ConcatenateRecordBatches(slices));
    }
    parts.push_back(BronzePart(hour * kHourUs, std::move(batch)));
  }
  return parts;
}

std::string PartitionAppId(const std::string& query_id, const std::string& topic, int32_t partition) {
  return query_id + "/" + topic + "/" + std::to_string(partition);
}

sink::SourceTxns PartitionTxns(const std::string& query_id, const std::string& topic,
                               const source::BatchOffsets& offsets) {
  sink::SourceTxns txns;
  txns.reserve(offsets.size());
  for (const auto& [partition, range] : offsets) txns.emplace_back(PartitionAppId(query_id, topic, partition), range.end);
  return txns;
}

}  // namespace medallion::engine
