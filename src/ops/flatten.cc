#include "ops/flatten.h"

#include <arrow/array.h>
#include <arrow/buffer.h>
#include <arrow/builder.h>
#include <arrow/compute/api_vector.h>
#include <arrow/datum.h>
#include <arrow/util/int_util_overflow.h>

#include "common/check.h"
#include "format/schemas.h"

namespace medallion::ops {

namespace {
/// An index array over `indices`, which it takes over without a copy.
std::shared_ptr<arrow::Int64Array> IndexArray(std::vector<int64_t> indices) {
  const auto n = static_cast<int64_t>(indices.size());
  return std::make_shared<arrow::Int64Array>(n, arrow::Buffer::FromVector(std::move(indices)));
}
}  // namespace

int64_t LineAmountUnits(int64_t quantity, int64_t unit_price_units,
                        std::optional<int64_t> discount_units) {
  int64_t line_amount = 0;
  const bool overflow =
      arrow::internal::MultiplyWithOverflow(quantity, unit_price_units, &line_amount);
  MEDALLION_CHECK(!overflow);
  MEDALLION_CHECK_OP(line_amount, <=, kMaxMoneyUnits);
  if (discount_units) {
    MEDALLION_CHECK_OP(*discount_units, >=, 0);
    MEDALLION_CHECK_OP(*discount_units, <=, line_amount);
    line_amount -= *discount_units;
  }
  return line_amount;
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> FlattenToOrderLines(
    const arrow::RecordBatch& events, const RowSelection& rows) {
  auto items = std::dynamic_pointer_cast<arrow::ListArray>(events.GetColumnByName("items"));
  if (!items) return arrow::Status::Invalid("FlattenToOrderLines: no list column 'items'");
  const auto& item = static_cast<const arrow::StructArray&>(*items->values());

  // For each line: the event row it comes from, its item in the list's values, and its
  // number within the event.
  std::vector<int64_t> parent, item_pos;
  arrow::Int32Builder line_no;
  for (const int64_t row : rows) {
    const int64_t begin = items->value_offset(row);
    const int64_t end = items->value_offset(row + 1);
    for (int64_t j = begin; j < end; ++j) {
      parent.push_back(row);
      item_pos.push_back(j);
      ARROW_RETURN_NOT_OK(line_no.Append(static_cast<int32_t>(j - begin + 1)));
    }
  }
  const auto lines = static_cast<int64_t>(parent.size());
  ARROW_ASSIGN_OR_RAISE(auto line_no_arr, line_no.Finish());
  // When the selected rows' items follow each other in the list's values (every row, or a
  // run of rows), the item columns are one slice of them, without a copy.
  const bool items_contiguous = lines == 0 || item_pos.back() - item_pos.front() + 1 == lines;
  const int64_t first_item = lines == 0 ? 0 : item_pos.front();
  const auto parent_idx = IndexArray(std::move(parent));
  const auto item_idx = items_contiguous ? nullptr : IndexArray(std::move(item_pos));

  auto take_event = [&](const char* name) -> arrow::Result<std::shared_ptr<arrow::Array>> {
    ARROW_ASSIGN_OR_RAISE(auto d, arrow::compute::Take(events.GetColumnByName(name), parent_idx));
    return d.make_array();
  };
  auto take_item = [&](const char* name) -> arrow::Result<std::shared_ptr<arrow::Array>> {
    auto field = item.GetFieldByName(name);
    if (!field) return arrow::Status::Invalid("FlattenToOrderLines: item has no field ", name);
    if (items_contiguous) return field->Slice(first_item, lines);
    ARROW_ASSIGN_OR_RAISE(auto d, arrow::compute::Take(field, item_idx));
    return d.make_array();
  };

  ARROW_ASSIGN_OR_RAISE(auto quantity, take_item("quantity"));
  ARROW_ASSIGN_OR_RAISE(auto unit_price, take_item("unit_price"));
  ARROW_ASSIGN_OR_RAISE(auto discount, take_item("discount"));
  const auto& q = static_cast<const arrow::Int64Array&>(*quantity);
  const auto& p = static_cast<const arrow::Decimal128Array&>(*unit_price);
  const auto& d = static_cast<const arrow::Decimal128Array&>(*discount);
  arrow::Decimal128Builder amount(format::MoneyType());
  ARROW_RETURN_NOT_OK(amount.Reserve(q.length()));
  for (int64_t i = 0; i < q.length(); ++i) {
    const auto price = static_cast<int64_t>(arrow::Decimal128(p.GetValue(i)).low_bits());
    std::optional<int64_t> off;
    if (d.IsValid(i)) off = static_cast<int64_t>(arrow::Decimal128(d.GetValue(i)).low_bits());
    amount.UnsafeAppend(arrow::Decimal128(LineAmountUnits(q.Value(i), price, off)));
  }
  ARROW_ASSIGN_OR_RAISE(auto line_amount, amount.Finish());

  std::vector<std::shared_ptr<arrow::Array>> cols;
  for (const char* name : {"event_id", "order_id", "event_time", "status", "customer_id",
                           "customer_name", "customer_email", "customer_country",
                           "customer_segment"}) {
    ARROW_ASSIGN_OR_RAISE(auto col, take_event(name));
    cols.push_back(std::move(col));
  }
  cols.push_back(line_no_arr);
  for (const char* name : {"product_id", "product_name", "category"}) {
    ARROW_ASSIGN_OR_RAISE(auto col, take_item(name));
    cols.push_back(std::move(col));
  }
  cols.push_back(quantity);
  cols.push_back(unit_price);
  cols.push_back(line_amount);
  for (const char* name : {"payment_method", "currency", "kafka_partition", "kafka_offset", "schema_version",
                           "channel", "customer_loyalty_tier"}) {
    ARROW_ASSIGN_OR_RAISE(auto col, take_event(name));
    cols.push_back(std::move(col));
  }
  ARROW_ASSIGN_OR_RAISE(auto sku, take_item("sku"));
  cols.push_back(std::move(sku));
  cols.push_back(discount);
  return arrow::RecordBatch::Make(format::SilverSchema(), lines, std::move(cols));
}

}  // namespace medallion::ops
