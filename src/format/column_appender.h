#pragma once

#include <climits>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/array.h>
#include <arrow/buffer.h>
#include <arrow/result.h>
#include <arrow/util/bit_util.h>

namespace medallion::format {

/// Columns the parser appends to in its hot loop. Values go into plain vectors, with no
/// Status per value: Arrow's builders return one per append, and on 200k events those
/// appends were a fifth of the parse. Finish hands the vectors to Arrow as buffers without
/// a copy and starts the next batch with room for as many values as this one had.
namespace column_detail {

/// Validity bytes (one per value) packed into an Arrow bitmap; null if every value is valid.
inline arrow::Result<std::shared_ptr<arrow::Buffer>> PackValidity(const std::vector<uint8_t>& valid,
                                                                  int64_t null_count) {
  if (null_count == 0) return nullptr;
  const auto n = static_cast<int64_t>(valid.size());
  ARROW_ASSIGN_OR_RAISE(auto bitmap, arrow::AllocateEmptyBitmap(n));
  uint8_t* bits = bitmap->mutable_data();
  for (int64_t i = 0; i < n; ++i) {
    if (valid[static_cast<size_t>(i)]) arrow::bit_util::SetBit(bits, i);
  }
  return std::shared_ptr<arrow::Buffer>(std::move(bitmap));
}

}  // namespace column_detail

/// A utf8 column.
class StringColumn {
 public:
  StringColumn() { offsets_.push_back(0); }

  void Append(std::string_view v) {
    data_.append(v.data(), v.size());
    offsets_.push_back(static_cast<int32_t>(data_.size()));
    valid_.push_back(1);
  }
  void AppendNull() {
    offsets_.push_back(static_cast<int32_t>(data_.size()));
    valid_.push_back(0);
    ++null_count_;
  }
  void Append(const std::optional<std::string_view>& v) { v ? Append(*v) : AppendNull(); }

  int64_t length() const { return static_cast<int64_t>(valid_.size()); }

  arrow::Result<std::shared_ptr<arrow::Array>> Finish() {
    const int64_t n = length();
    const size_t rows = valid_.size(), bytes = data_.size();
    if (bytes > static_cast<size_t>(INT32_MAX)) {
      return arrow::Status::CapacityError("a string column of one batch holds ", bytes,
                                          " bytes, more than utf8's 2 GiB; lower batch.max_bytes");
    }
    ARROW_ASSIGN_OR_RAISE(auto validity, column_detail::PackValidity(valid_, null_count_));
    std::shared_ptr<arrow::Buffer> data;
    if (bytes == 0) {
      ARROW_ASSIGN_OR_RAISE(data, arrow::AllocateBuffer(0));
    } else {
      data = arrow::Buffer::FromString(std::move(data_));
    }
    auto array = arrow::MakeArray(arrow::ArrayData::Make(
        arrow::utf8(), n, {std::move(validity), arrow::Buffer::FromVector(std::move(offsets_)), std::move(data)},
        null_count_));
    offsets_ = {};
    offsets_.reserve(rows + 1);
    offsets_.push_back(0);
    data_ = {};
    data_.reserve(bytes + bytes / 8);
    valid_ = {};
    valid_.reserve(rows);
    null_count_ = 0;
    return array;
  }

 private:
  std::vector<int32_t> offsets_;
  std::string data_;
  std::vector<uint8_t> valid_;
  int64_t null_count_ = 0;
};

/// A column of fixed-width values: `CType` as stored (int32_t, int64_t; timestamps as
/// int64_t) under the Arrow type given at construction.
template <typename CType>
class FixedColumn {
 public:
  explicit FixedColumn(std::shared_ptr<arrow::DataType> type) : type_(std::move(type)) {}

  void Append(CType v) {
    values_.push_back(v);
    valid_.push_back(1);
  }
  void AppendNull() {
    values_.push_back(CType{});
    valid_.push_back(0);
    ++null_count_;
  }

  int64_t length() const { return static_cast<int64_t>(valid_.size()); }

  arrow::Result<std::shared_ptr<arrow::Array>> Finish() {
    const int64_t n = length();
    const size_t rows = valid_.size();
    ARROW_ASSIGN_OR_RAISE(auto validity, column_detail::PackValidity(valid_, null_count_));
    auto array = arrow::MakeArray(arrow::ArrayData::Make(
        type_, n, {std::move(validity), arrow::Buffer::FromVector(std::move(values_))}, null_count_));
    values_ = {};
    values_.reserve(rows);
    valid_ = {};
    valid_.reserve(rows);
    null_count_ = 0;
    return array;
  }

 private:
  std::shared_ptr<arrow::DataType> type_;
  std::vector<CType> values_;
  std::vector<uint8_t> valid_;
  int64_t null_count_ = 0;
};

/// A decimal128 column of values given as integers in units of the type's scale.
class ScaledDecimalColumn {
 public:
  explicit ScaledDecimalColumn(std::shared_ptr<arrow::DataType> type)
      : type_(std::move(type)), values_(arrow::int64()) {}

  void Append(int64_t scaled) { values_.Append(scaled); }
  void AppendNull() { values_.AppendNull(); }
  int64_t length() const { return values_.length(); }

  /// Widens the int64 values to the two little-endian 64-bit words of a decimal128.
  arrow::Result<std::shared_ptr<arrow::Array>> Finish() {
    ARROW_ASSIGN_OR_RAISE(auto narrow, values_.Finish());
    const auto& data = *narrow->data();
    const int64_t n = data.length;
    const auto* in = data.GetValues<int64_t>(1);
    std::vector<uint64_t> wide(static_cast<size_t>(2 * n));
    for (int64_t i = 0; i < n; ++i) {
      wide[static_cast<size_t>(2 * i)] = static_cast<uint64_t>(in[i]);
      wide[static_cast<size_t>(2 * i + 1)] = in[i] < 0 ? ~uint64_t{0} : 0;
    }
    return arrow::MakeArray(arrow::ArrayData::Make(
        type_, n, {data.buffers[0], arrow::Buffer::FromVector(std::move(wide))}, data.null_count));
  }

 private:
  std::shared_ptr<arrow::DataType> type_;
  FixedColumn<int64_t> values_;
};

}  // namespace medallion::format
