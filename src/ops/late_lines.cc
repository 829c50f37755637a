#include "ops/late_lines.h"

#include <limits>

#include <arrow/array.h>
#include <arrow/builder.h>
#include <arrow/compute/api_vector.h>
#include <arrow/datum.h>

#include "format/schemas.h"

namespace medallion::ops {

arrow::Result<std::shared_ptr<arrow::RecordBatch>> BuildLateLines(
    const arrow::RecordBatch& lines, const std::vector<LateLine>* picks, int64_t window_size_us,
    std::string_view reason, std::optional<int64_t> watermark_us, int64_t batch_id,
    const std::vector<int64_t>* line_watermarks) {
  auto* pool = arrow::default_memory_pool();
  arrow::Int64Builder rows(pool);
  arrow::TimestampBuilder start(format::TimestampType(), pool), end(format::TimestampType(), pool),
      watermark(format::TimestampType(), pool);
  arrow::StringBuilder reason_b(pool);
  arrow::Int64Builder batch_b(pool);
  const int64_t n = picks ? static_cast<int64_t>(picks->size()) : lines.num_rows();
  for (int64_t i = 0; i < n; ++i) {
    if (picks) {
      ARROW_RETURN_NOT_OK(rows.Append((*picks)[i].row));
      ARROW_RETURN_NOT_OK(start.Append((*picks)[i].window_start_us));
      ARROW_RETURN_NOT_OK(end.Append((*picks)[i].window_start_us + window_size_us));
    } else {
      ARROW_RETURN_NOT_OK(rows.Append(i));
      ARROW_RETURN_NOT_OK(start.AppendNull());
      ARROW_RETURN_NOT_OK(end.AppendNull());
    }
    ARROW_RETURN_NOT_OK(reason_b.Append(reason));
    if (line_watermarks) {
      const int64_t wm = (*line_watermarks)[picks ? (*picks)[i].row : i];
      ARROW_RETURN_NOT_OK(wm == std::numeric_limits<int64_t>::min() ? watermark.AppendNull() : watermark.Append(wm));
    } else {
      ARROW_RETURN_NOT_OK(watermark_us ? watermark.Append(*watermark_us) : watermark.AppendNull());
    }
    ARROW_RETURN_NOT_OK(batch_b.Append(batch_id));
  }
  ARROW_ASSIGN_OR_RAISE(auto indices, rows.Finish());
  auto take = [&](const char* name) -> arrow::Result<std::shared_ptr<arrow::Array>> {
    auto column = lines.GetColumnByName(name);
    if (!column) return arrow::Status::Invalid("BuildLateLines: no column ", name);
    ARROW_ASSIGN_OR_RAISE(auto d, arrow::compute::Take(column, indices));
    return d.make_array();
  };
  std::vector<std::shared_ptr<arrow::Array>> cols;
  for (const char* name : {"event_id", "order_id", "line_no", "event_time", "category", "quantity", "line_amount"}) {
    ARROW_ASSIGN_OR_RAISE(auto c, take(name));
    cols.push_back(std::move(c));
  }
  for (arrow::ArrayBuilder* b : std::initializer_list<arrow::ArrayBuilder*>{&start, &end, &reason_b, &watermark, &batch_b}) {
    std::shared_ptr<arrow::Array> a;
    ARROW_RETURN_NOT_OK(b->Finish(&a));
    cols.push_back(std::move(a));
  }
  for (const char* name : {"kafka_partition", "kafka_offset"}) {
    ARROW_ASSIGN_OR_RAISE(auto c, take(name));
    cols.push_back(std::move(c));
  }
  return arrow::RecordBatch::Make(format::LateSchema(), n, std::move(cols));
}

arrow::Result<std::vector<int64_t>> PerLine(const arrow::RecordBatch& lines, const arrow::RecordBatch& events,
                                            const RowSelection& rows, const std::vector<int64_t>& per_row) {
  auto column = [](const arrow::RecordBatch& b, const char* name) { return b.GetColumnByName(name); };
  auto line_p = std::dynamic_pointer_cast<arrow::Int32Array>(column(lines, "kafka_partition"));
  auto line_o = std::dynamic_pointer_cast<arrow::Int64Array>(column(lines, "kafka_offset"));
  auto event_p = std::dynamic_pointer_cast<arrow::Int32Array>(column(events, "kafka_partition"));
  auto event_o = std::dynamic_pointer_cast<arrow::Int64Array>(column(events, "kafka_offset"));
  if (!line_p || !line_o || !event_p || !event_o || per_row.size() != rows.size()) {
    return arrow::Status::Invalid("PerLine: needs kafka_partition and kafka_offset, and a value per row");
  }
  std::vector<int64_t> out;
  out.reserve(lines.num_rows());
  size_t k = 0;
  for (int64_t j = 0; j < lines.num_rows(); ++j) {
    while (k < rows.size() &&
           (event_p->Value(rows[k]) != line_p->Value(j) || event_o->Value(rows[k]) != line_o->Value(j))) {
      ++k;
    }
    if (k == rows.size()) return arrow::Status::Invalid("PerLine: a line of no selected row");
    out.push_back(per_row[k]);
  }
  return out;
}

}  // namespace medallion::ops
