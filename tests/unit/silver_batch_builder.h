#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <arrow/api.h>
#include <gtest/gtest.h>

#include "format/schemas.h"

/// Test helpers for the Gold operators: Silver batches built by hand from a list of lines,
/// and ASSERT_OK macros for arrow::Status / arrow::Result.
namespace medallion::testing {

#define MEDALLION_ASSERT_OK(expr)                   \
  do {                                              \
    const ::arrow::Status _st = (expr);             \
    ASSERT_TRUE(_st.ok()) << _st.ToString();        \
  } while (false)

#define MEDALLION_ASSIGN_OR_FAIL_IMPL(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                  \
  ASSERT_TRUE(tmp.ok()) << tmp.status().ToString();    \
  lhs = std::move(tmp).ValueUnsafe()

#define MEDALLION_CONCAT_INNER(a, b) a##b
#define MEDALLION_CONCAT(a, b) MEDALLION_CONCAT_INNER(a, b)
#define MEDALLION_ASSIGN_OR_FAIL(lhs, rexpr) \
  MEDALLION_ASSIGN_OR_FAIL_IMPL(MEDALLION_CONCAT(_res_, __LINE__), lhs, rexpr)

/// 1.0 in money units (1/10000).
constexpr int64_t kUnit = format::kMoneyScale;
/// One minute in microseconds.
constexpr int64_t kMinute = 60'000'000;

/// One Silver row; fields not listed get plausible constants. line_amount is
/// quantity * unit_price unless set.
struct SilverLine {
  std::string event_id{};
  int64_t event_time_us = 0;
  std::string customer_id = "C-1";
  std::optional<std::string> customer_name = "Ann";
  std::optional<std::string> customer_country = "DE";
  int32_t line_no = 0;
  std::string product_id = "P-1";
  std::optional<std::string> product_name = "Widget";
  std::string category = "Toys";
  int64_t quantity = 1;
  int64_t unit_price = kUnit;  // money units
  std::optional<int64_t> line_amount{};  // money units; default quantity * unit_price
  int32_t partition = 0;
  int64_t offset = 0;
  int32_t schema_version = 1;
  std::optional<std::string> channel{}, customer_loyalty_tier{}, sku{};  // version 2
  std::optional<int64_t> discount{};                                      // money units
};

inline arrow::Status AppendOptional(arrow::StringBuilder& b, const std::optional<std::string>& v) {
  return v ? b.Append(*v) : b.AppendNull();
}

/// Builds a batch of format::SilverSchema() holding `lines` in order.
inline arrow::Result<std::shared_ptr<arrow::RecordBatch>> MakeSilverBatch(
    const std::vector<SilverLine>& lines) {
  auto* pool = arrow::default_memory_pool();
  arrow::StringBuilder event_id(pool), order_id(pool), status(pool), customer_id(pool),
      customer_name(pool), customer_email(pool), customer_country(pool), customer_segment(pool),
      product_id(pool), product_name(pool), category(pool), payment_method(pool), currency(pool),
      channel(pool), customer_loyalty_tier(pool), sku(pool);
  arrow::TimestampBuilder event_time(format::TimestampType(), pool);
  arrow::Int32Builder line_no(pool), partition(pool), schema_version(pool);
  arrow::Int64Builder quantity(pool), offset(pool);
  arrow::Decimal128Builder unit_price(format::MoneyType(), pool),
      line_amount(format::MoneyType(), pool), discount(format::MoneyType(), pool);
  for (const SilverLine& l : lines) {
    ARROW_RETURN_NOT_OK(event_id.Append(l.event_id));
    ARROW_RETURN_NOT_OK(order_id.Append("O-" + l.event_id));
    ARROW_RETURN_NOT_OK(event_time.Append(l.event_time_us));
    ARROW_RETURN_NOT_OK(status.Append("PAID"));
    ARROW_RETURN_NOT_OK(customer_id.Append(l.customer_id));
    ARROW_RETURN_NOT_OK(AppendOptional(customer_name, l.customer_name));
    ARROW_RETURN_NOT_OK(customer_email.Append(l.customer_id + "@example.com"));
    ARROW_RETURN_NOT_OK(AppendOptional(customer_country, l.customer_country));
    ARROW_RETURN_NOT_OK(customer_segment.Append("consumer"));
    ARROW_RETURN_NOT_OK(line_no.Append(l.line_no));
    ARROW_RETURN_NOT_OK(product_id.Append(l.product_id));
    ARROW_RETURN_NOT_OK(AppendOptional(product_name, l.product_name));
    ARROW_RETURN_NOT_OK(category.Append(l.category));
    ARROW_RETURN_NOT_OK(quantity.Append(l.quantity));
    ARROW_RETURN_NOT_OK(unit_price.Append(arrow::Decimal128(l.unit_price)));
    ARROW_RETURN_NOT_OK(line_amount.Append(
        arrow::Decimal128(l.line_amount.value_or(l.quantity * l.unit_price))));
    ARROW_RETURN_NOT_OK(payment_method.Append("card"));
    ARROW_RETURN_NOT_OK(currency.Append("USD"));
    ARROW_RETURN_NOT_OK(partition.Append(l.partition));
    ARROW_RETURN_NOT_OK(offset.Append(l.offset));
    ARROW_RETURN_NOT_OK(schema_version.Append(l.schema_version));
    ARROW_RETURN_NOT_OK(AppendOptional(channel, l.channel));
    ARROW_RETURN_NOT_OK(AppendOptional(customer_loyalty_tier, l.customer_loyalty_tier));
    ARROW_RETURN_NOT_OK(AppendOptional(sku, l.sku));
    ARROW_RETURN_NOT_OK(l.discount ? discount.Append(arrow::Decimal128(*l.discount)) : discount.AppendNull());
  }
  std::vector<std::shared_ptr<arrow::Array>> columns;
  for (arrow::ArrayBuilder* b : std::initializer_list<arrow::ArrayBuilder*>{
           &event_id, &order_id, &event_time, &status, &customer_id, &customer_name,
           &customer_email, &customer_country, &customer_segment, &line_no, &product_id,
           &product_name, &category, &quantity, &unit_price, &line_amount, &payment_method,
           &currency, &partition, &offset, &schema_version, &channel, &customer_loyalty_tier, &sku,
           &discount}) {
    std::shared_ptr<arrow::Array> a;
    ARROW_RETURN_NOT_OK(b->Finish(&a));
    columns.push_back(std::move(a));
  }
  return arrow::RecordBatch::Make(format::SilverSchema(), static_cast<int64_t>(lines.size()),
                                  std::move(columns));
}

/// `events` random events of one to three lines each, as Silver holds them: every event id
/// new (numbered from `*next_event`, which advances), the lines of an event together and
/// sharing its customer, time and Kafka position; customers "C-0".."C-<customers - 1>",
/// products "P-0".."P-<products - 1>", attributes (some null), times and positions drawn
/// from small ranges so that ties occur. For randomized tests of the Gold operators' state.
inline std::vector<SilverLine> RandomLines(std::mt19937_64& rng, int events, int customers, int products,
                                           int64_t* next_event) {
  auto pick = [&rng](int n) { return static_cast<int>(std::uniform_int_distribution<int>(0, n - 1)(rng)); };
  const std::vector<std::optional<std::string>> names = {std::nullopt, "Ann", "Bob"};
  const std::vector<std::optional<std::string>> countries = {std::nullopt, "DE", "US"};
  const std::vector<std::optional<std::string>> product_names = {std::nullopt, "Widget", "Gadget"};
  std::vector<SilverLine> lines;
  for (int e = 0; e < events; ++e) {
    SilverLine event{.event_id = "e" + std::to_string((*next_event)++),
                     .event_time_us = pick(1000),
                     .customer_id = "C-" + std::to_string(pick(customers)),
                     .customer_name = names[pick(3)],
                     .customer_country = countries[pick(3)],
                     .partition = pick(3),
                     .offset = pick(50)};
    const int n = 1 + pick(3);
    for (int l = 0; l < n; ++l) {
      SilverLine line = event;
      line.line_no = l;
      line.product_id = "P-" + std::to_string(pick(products));
      line.product_name = product_names[pick(3)];
      line.category = pick(2) == 0 ? "Toys" : "Books";
      line.quantity = 1 + pick(5);
      line.unit_price = pick(100 * static_cast<int>(kUnit));
      lines.push_back(std::move(line));
    }
  }
  return lines;
}

/// The batch without the column `name` (to test the missing-column error).
inline std::shared_ptr<arrow::RecordBatch> DropColumn(const arrow::RecordBatch& batch,
                                                      const std::string& name) {
  return batch.RemoveColumn(batch.schema()->GetFieldIndex(name)).ValueOrDie();
}

/// A cell rendered as text: decimals as "12.3400", timestamps as raw micros, null as
/// "null". Keeps expected tables in tests short and exact.
inline std::string Cell(const arrow::RecordBatch& batch, const std::string& column, int64_t row) {
  const auto& array = batch.GetColumnByName(column);
  if (array == nullptr) return "<no column " + column + ">";
  if (array->IsNull(row)) return "null";
  switch (array->type_id()) {
    case arrow::Type::STRING:
      return std::string(static_cast<const arrow::StringArray&>(*array).GetView(row));
    case arrow::Type::DECIMAL128:
      return static_cast<const arrow::Decimal128Array&>(*array).FormatValue(row);
    case arrow::Type::TIMESTAMP:
      return std::to_string(static_cast<const arrow::TimestampArray&>(*array).Value(row));
    case arrow::Type::INT64:
      return std::to_string(static_cast<const arrow::Int64Array&>(*array).Value(row));
    case arrow::Type::INT32:
      return std::to_string(static_cast<const arrow::Int32Array&>(*array).Value(row));
    default:
      return array->GetScalar(row).ValueOrDie()->ToString();
  }
}

/// Every row of `batch` as one "a|b|c" string per row, over the listed columns.
inline std::vector<std::string> Rows(const arrow::RecordBatch& batch,
                                     const std::vector<std::string>& columns) {
  std::vector<std::string> rows;
  for (int64_t r = 0; r < batch.num_rows(); ++r) {
    std::string row;
    for (size_t c = 0; c < columns.size(); ++c) {
      if (c > 0) row += "|";
      row += Cell(batch, columns[c], r);
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace medallion::testing
