#include "common/arrow_bytes.h"

#include <arrow/type.h>
#include <arrow/type_traits.h>
#include <arrow/util/byte_size.h>

namespace medallion {
namespace {

template <typename Offset>
int64_t BinaryBytes(const arrow::ArrayData& data) {
  const Offset* offsets = data.GetValues<Offset>(1);
  const int64_t n = data.length;
  const int64_t values = (offsets == nullptr || n == 0) ? 0 : static_cast<int64_t>(offsets[n] - offsets[0]);
  return n * static_cast<int64_t>(sizeof(Offset)) + values;  // an offset per value, as Arrow counts them
}

}  // namespace

int64_t ValueBytes(const arrow::Array& array) {
  const arrow::ArrayData& data = *array.data();
  const int64_t n = data.length;
  const arrow::Type::type id = data.type->id();
  const int64_t validity = (!data.buffers.empty() && data.buffers[0] != nullptr) ? (n + 7) / 8 : 0;
  switch (id) {
    case arrow::Type::NA:
      return 0;
    case arrow::Type::STRING:
    case arrow::Type::BINARY:
      return validity + BinaryBytes<int32_t>(data);
    case arrow::Type::LARGE_STRING:
    case arrow::Type::LARGE_BINARY:
      return validity + BinaryBytes<int64_t>(data);
    default:
      break;
  }
  if (arrow::is_primitive(id) || arrow::is_decimal(id) || id == arrow::Type::FIXED_SIZE_BINARY) {
    const int bits = static_cast<const arrow::FixedWidthType&>(*data.type).bit_width();
    return validity + (n * bits + 7) / 8;
  }
  return arrow::util::ReferencedBufferSize(array).ValueOr(0);
}

int64_t ValueBytes(const arrow::RecordBatch& batch) {
  int64_t bytes = 0;
  for (int i = 0; i < batch.num_columns(); ++i) bytes += ValueBytes(*batch.column(i));
  return bytes;
}

}  // namespace medallion
