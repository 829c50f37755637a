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

/// The validity of a column being appended to: one byte per value, packed into an Arrow
/// bitmap when the batch is finished (no bitmap at all if every value is valid).
class Validity {
 public:
  void Valid() { valid_.push_back(1); }
  void Null() {
    valid_.push_back(0);
    ++null_count_;
  }
  int64_t length() const { return static_cast<int64_t>(valid_.size()); }
  int64_t null_count() const { return null_count_; }

  /// The bitmap of the values so far (null if none is null); starts over with room for as
  /// many values.
  arrow::Result<std::shared_ptr<arrow::Buffer>> Finish() {
    const int64_t n = length();
    std::shared_ptr<arrow::Buffer> bitmap;
    if (null_count_ > 0) {
      ARROW_ASSIGN_OR_RAISE(auto bits, arrow::AllocateEmptyBitmap(n));
      for (int64_t i = 0; i < n; ++i) {
        if (valid_[static_cast<size_t>(i)]) arrow::bit_util::SetBit(bits->mutable_data(), i);
      }
      bitmap = std::move(bits);
    }
    valid_ = {};
    valid_.reserve(static_cast<size_t>(n));
    null_count_ = 0;
    return bitmap;
  }

 private:
  std::vector<uint8_t> valid_;
  int64_t null_count_ = 0;
};

}  // namespace column_detail

/// A utf8 column.
class StringColumn {
 public:
  StringColumn() { offsets_.push_back(0); }

  void Append(std::string_view v) {
    data_.append(v.data(), v.size());
    offsets_.push_back(static_cast<int32_t>(data_.size()));
    validity_.Valid();
  }
  void AppendNull() {
    offsets_.push_back(static_cast<int32_t>(data_.size()));
    validity_.Null();
  }
  void Append(const std::optional<std::string_view>& v) { v ? Append(*v) : AppendNull(); }

  int64_t length() const { return validity_.length(); }

  arrow::Result<std::shared_ptr<arrow::Array>> Finish() {
    const int64_t n = length();
    const int64_t nulls = validity_.null_count();
    const size_t bytes = data_.size();
    if (bytes > static_cast<size_t>(INT32_MAX)) {
      return arrow::Status::CapacityError("a string column of one batch holds ", bytes,
                                          " bytes, more than utf8's 2 GiB; lower batch.max_bytes");
    }
    ARROW_ASSIGN_OR_RAISE(auto validity, validity_.Finish());
    std::shared_ptr<arrow::Buffer> data;
    if (bytes == 0) {
      ARROW_ASSIGN_OR_RAISE(data, arrow::AllocateBuffer(0));
    } else {
      data = arrow::Buffer::FromString(std::move(data_));
    }
    auto array = arrow::MakeArray(arrow::ArrayData::Make(
        arrow::utf8(), n, {std::move(validity), arrow::Buffer::FromVector(std::move(offsets_)), std::move(data)},
        nulls));
    offsets_ = {};
    offsets_.reserve(static_cast<size_t>(n) + 1);
    offsets_.push_back(0);
    data_ = {};
    data_.reserve(bytes + bytes / 8);
    return array;
  }

 private:
  std::vector<int32_t> offsets_;
  std::string data_;
  column_detail::Validity validity_;
};

/// A column of fixed-width values: `CType` as stored (int32_t, int64_t; timestamps as
/// int64_t) under the Arrow type given at construction.
template <typename CType>
class FixedColumn {
 public:
  explicit FixedColumn(std::shared_ptr<arrow::DataType> type) : type_(std::move(type)) {}

  void Append(CType v) {
    values_.push_back(v);
    validity_.Valid();
  }
  void AppendNull() {
    values_.push_back(CType{});
    validity_.Null();
  }

  int64_t length() const { return validity_.length(); }

  arrow::Result<std::shared_ptr<arrow::Array>> Finish() {
    const int64_t n = length();
    const int64_t nulls = validity_.null_count();
    ARROW_ASSIGN_OR_RAISE(auto validity, validity_.Finish());
    auto array = arrow::MakeArray(arrow::ArrayData::Make(
        type_, n, {std::move(validity), arrow::Buffer::FromVector(std::move(values_))}, nulls));
    values_ = {};
    values_.reserve(static_cast<size_t>(n));
    return array;
  }

 private:
  std::shared_ptr<arrow::DataType> type_;
  std::vector<CType> values_;
  column_detail::Validity validity_;
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
