#include "ops/late_lines.h"

#include <arrow/array.h>
#include <arrow/builder.h>
#include <arrow/compute/api_vector.h>
#include <arrow/datum.h>

#include "format/schemas.h"

namespace medallion::ops {

arrow::Result<std::shared_ptr<arrow::RecordBatch>> BuildLateLines(
    const arrow::RecordBatch& lines, const std::vector<LateLine>* picks, int64_t window_size_us,
    std::string_view reason, std::optional<int64_t> watermark_us, int64_t batch_id) {
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
    ARROW_RETURN_NOT_OK(watermark_us ? watermark.Append(*watermark_us) : watermark.AppendNull());
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

}  // namespace medallion::ops
