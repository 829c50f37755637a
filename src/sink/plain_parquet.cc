#include "sink/plain_parquet.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/array.h>
#include <arrow/type.h>

#include "sink/thrift_compact.h"

namespace medallion::sink {
namespace {

// Parquet's Thrift enums and type ids (parquet.thrift), as far as this writer uses them.
enum PhysicalType : int32_t { kBoolean = 0, kInt32 = 1, kInt64 = 2, kDouble = 5, kByteArray = 6, kFixedLen = 7 };
enum ConvertedType : int32_t { kUtf8 = 0, kDecimal = 5, kDate = 6, kTimestampMicros = 10 };
enum Repetition : int32_t { kRequired = 0, kOptional = 1 };
enum Encoding : int32_t { kPlain = 0, kRle = 3 };
enum Codec : int32_t { kUncompressed = 0, kSnappy = 1, kZstd = 6, kLz4Raw = 7 };
constexpr int32_t kDataPage = 0;

using thrift::AppendVarint;

/// Thrift's compact protocol, writing only: structs of fields with increasing ids, lists,
/// i32 / i64 / bool / binary.
class Thrift {
 public:
  void I32(int16_t id, int32_t v) {
    Field(id, thrift::kI32);
    thrift::AppendZigZag(&out_, v);
  }
  void I64(int16_t id, int64_t v) {
    Field(id, thrift::kI64);
    thrift::AppendZigZag(&out_, v);
  }
  void Bool(int16_t id, bool v) { Field(id, v ? thrift::kTrue : thrift::kFalse); }
  void Binary(int16_t id, std::string_view v) {
    Field(id, thrift::kBinary);
    Bytes(v);
  }
  void BeginStruct(int16_t id) {
    Field(id, thrift::kStruct);
    last_.push_back(0);
  }
  /// A struct that is an element of a list (no field header).
  void BeginElement() { last_.push_back(0); }
  void EndStruct() {
    out_.push_back(0);
    last_.pop_back();
  }
  void BeginList(int16_t id, thrift::Type element, size_t size) {
    Field(id, thrift::kList);
    thrift::AppendListHeader(&out_, element, size);
  }
  void ElementI32(int32_t v) { thrift::AppendZigZag(&out_, v); }
  void ElementBinary(std::string_view v) { Bytes(v); }
  /// The bytes so far, the outermost struct closed.
  std::string Finish() && {
    out_.push_back(0);
    return std::move(out_);
  }

 private:
  void Bytes(std::string_view v) {
    AppendVarint(&out_, v.size());
    out_.append(v);
  }
  void Field(int16_t id, thrift::Type type) { thrift::AppendFieldHeader(&out_, &last_.back(), id, type); }

  std::string out_;
  std::vector<int16_t> last_{0};
};

template <typename T>
void PutLE(std::string* out, T v) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &v, sizeof(T));  // x86-64 and ARM64 are little-endian, as Parquet is
  out->append(bytes, sizeof(T));
}

/// How one column is laid out in Parquet.
struct Leaf {
  int32_t physical = kByteArray;
  int32_t type_length = 0;  // FIXED_LEN_BYTE_ARRAY only
  std::optional<int32_t> converted;
  int32_t scale = 0, precision = 0;
  enum class Logical { kNone, kString, kDate, kTimestamp, kDecimal } logical = Logical::kNone;
  bool utc = false;
};

std::optional<Leaf> LeafOf(const arrow::DataType& type) {
  Leaf leaf;
  switch (type.id()) {
    case arrow::Type::STRING:
      leaf.physical = kByteArray;
      leaf.converted = kUtf8;
      leaf.logical = Leaf::Logical::kString;
      return leaf;
    case arrow::Type::BINARY:
      leaf.physical = kByteArray;
      return leaf;
    case arrow::Type::BOOL:
      leaf.physical = kBoolean;
      return leaf;
    case arrow::Type::INT32:
      leaf.physical = kInt32;
      return leaf;
    case arrow::Type::INT64:
      leaf.physical = kInt64;
      return leaf;
    case arrow::Type::DOUBLE:
      leaf.physical = kDouble;
      return leaf;
    case arrow::Type::DATE32:
      leaf.physical = kInt32;
      leaf.converted = kDate;
      leaf.logical = Leaf::Logical::kDate;
      return leaf;
    case arrow::Type::TIMESTAMP: {
      const auto& ts = static_cast<const arrow::TimestampType&>(type);
      if (ts.unit() != arrow::TimeUnit::MICRO) return std::nullopt;
      leaf.physical = kInt64;
      leaf.utc = !ts.timezone().empty();
      if (leaf.utc) leaf.converted = kTimestampMicros;  // the converted type means UTC-adjusted
      leaf.logical = Leaf::Logical::kTimestamp;
      return leaf;
    }
    case arrow::Type::DECIMAL128: {
      const auto& d = static_cast<const arrow::Decimal128Type&>(type);
      leaf.physical = kFixedLen;
      leaf.type_length = arrow::DecimalType::DecimalSize(d.precision());  // as Arrow's writer
      leaf.converted = kDecimal;
      leaf.scale = d.scale();
      leaf.precision = d.precision();
      leaf.logical = Leaf::Logical::kDecimal;
      return leaf;
    }
    default:
      return std::nullopt;
  }
}

/// Definition levels of a nullable column (bit width 1) as Parquet's RLE / bit-packing
/// hybrid: one RLE run when every value is present, else one bit-packed run, whose bits are
/// the validity bits in order.
std::string DefinitionLevels(const arrow::Array& values) {
  std::string out;
  const int64_t n = values.length();
  if (values.null_count() == 0) {
    AppendVarint(&out, static_cast<uint64_t>(n) << 1);
    out.push_back(1);
    return out;
  }
  const int64_t groups = (n + 7) / 8;
  AppendVarint(&out, static_cast<uint64_t>(groups) << 1 | 1);
  const size_t start = out.size();
  out.resize(start + static_cast<size_t>(groups), 0);
  for (int64_t i = 0; i < n; ++i) {
    if (values.IsValid(i)) out[start + static_cast<size_t>(i / 8)] |= static_cast<char>(1 << (i % 8));
  }
  return out;
}

/// The PLAIN encoding of the column's present values.
void PlainValues(const arrow::Array& values, const Leaf& leaf, std::string* out) {
  const int64_t n = values.length();
  switch (values.type_id()) {
    case arrow::Type::STRING:
    case arrow::Type::BINARY: {
      const auto& a = static_cast<const arrow::BinaryArray&>(values);
      for (int64_t i = 0; i < n; ++i) {
        if (a.IsNull(i)) continue;
        const std::string_view v = a.GetView(i);
        PutLE<uint32_t>(out, static_cast<uint32_t>(v.size()));
        out->append(v);
      }
      return;
    }
    case arrow::Type::BOOL: {
      const auto& a = static_cast<const arrow::BooleanArray&>(values);
      uint8_t bits = 0;
      int count = 0;
      for (int64_t i = 0; i < n; ++i) {
        if (a.IsNull(i)) continue;
        if (a.Value(i)) bits |= static_cast<uint8_t>(1 << count);
        if (++count == 8) {
          out->push_back(static_cast<char>(bits));
          bits = 0;
          count = 0;
        }
      }
      if (count > 0) out->push_back(static_cast<char>(bits));
      return;
    }
    case arrow::Type::INT32:
    case arrow::Type::DATE32: {
      const auto* v = values.data()->GetValues<int32_t>(1);
      for (int64_t i = 0; i < n; ++i) {
        if (values.IsValid(i)) PutLE<int32_t>(out, v[i]);
      }
      return;
    }
    case arrow::Type::INT64:
    case arrow::Type::TIMESTAMP: {
      const auto* v = values.data()->GetValues<int64_t>(1);
      for (int64_t i = 0; i < n; ++i) {
        if (values.IsValid(i)) PutLE<int64_t>(out, v[i]);
      }
      return;
    }
    case arrow::Type::DOUBLE: {
      const auto* v = values.data()->GetValues<double>(1);
      for (int64_t i = 0; i < n; ++i) {
        if (values.IsValid(i)) PutLE<double>(out, v[i]);
      }
      return;
    }
    case arrow::Type::DECIMAL128: {
      const auto& a = static_cast<const arrow::Decimal128Array&>(values);
      for (int64_t i = 0; i < n; ++i) {
        if (a.IsNull(i)) continue;
        uint8_t le[16];
        std::memcpy(le, a.GetValue(i), 16);  // little-endian two's complement
        for (int32_t b = leaf.type_length - 1; b >= 0; --b) out->push_back(static_cast<char>(le[b]));
      }
      return;
    }
    default:
      return;  // LeafOf admits no other type
  }
}

/// One column chunk's bytes (its pages with their headers) and what its metadata says about
/// them.
struct Chunk {
  int64_t offset = 0;
  int64_t uncompressed = 0;  // headers included, as ColumnMetaData counts
  int64_t compressed = 0;
  int32_t codec = kUncompressed;
  int64_t nulls = 0;
  std::optional<std::pair<std::string, std::string>> min_max;  // PLAIN bytes of the least and greatest
};

/// The least and greatest present value of an integer column (INT32, INT64, DATE, TIMESTAMP:
/// signed order, which Parquet's TypeDefinedOrder gives them), in PLAIN bytes; none for
/// other types or a column without present values. Readers skip row groups by them (the
/// offsets and times of Bronze, Silver's dates, times and quantities).
template <typename T>
std::optional<std::pair<std::string, std::string>> IntegerMinMax(const arrow::Array& values) {
  const T* v = values.data()->GetValues<T>(1);
  bool any = false;
  T low = 0, high = 0;
  for (int64_t i = 0; i < values.length(); ++i) {
    if (!values.IsValid(i)) continue;
    if (!any || v[i] < low) low = v[i];
    if (!any || v[i] > high) high = v[i];
    any = true;
  }
  if (!any) return std::nullopt;
  std::string min, max;
  PutLE<T>(&min, low);
  PutLE<T>(&max, high);
  return std::make_pair(std::move(min), std::move(max));
}

std::optional<std::pair<std::string, std::string>> MinMax(const arrow::Array& values) {
  switch (values.type_id()) {
    case arrow::Type::INT32:
    case arrow::Type::DATE32:
      return IntegerMinMax<int32_t>(values);
    case arrow::Type::INT64:
    case arrow::Type::TIMESTAMP:
      return IntegerMinMax<int64_t>(values);
    default:
      return std::nullopt;
  }
}

/// Where a column's pages end (row indexes, the last is its length): each page holds at most
/// about `page_bytes` of PLAIN values, and at least one row.
std::vector<int64_t> PageEnds(const arrow::Array& values, int64_t page_bytes) {
  std::vector<int64_t> ends;
  const int64_t n = values.length();
  switch (values.type_id()) {
    case arrow::Type::STRING:
    case arrow::Type::BINARY: {
      const auto& a = static_cast<const arrow::BinaryArray&>(values);
      int64_t bytes = 0;
      for (int64_t i = 0; i < n; ++i) {
        const int64_t size = 4 + a.value_length(i);
        if (bytes > 0 && bytes + size > page_bytes) {
          ends.push_back(i);
          bytes = 0;
        }
        bytes += size;
      }
      break;
    }
    default: {
      const int width = std::max(1, values.type()->byte_width());  // booleans: a byte, generously
      const int64_t rows = std::max<int64_t>(1, page_bytes / width);
      for (int64_t end = rows; end < n; end += rows) ends.push_back(end);
      break;
    }
  }
  ends.push_back(n);
  return ends;
}

void SchemaElement(Thrift* t, const arrow::Field& field, const Leaf& leaf) {
  t->BeginElement();
  t->I32(1, leaf.physical);
  if (leaf.physical == kFixedLen) t->I32(2, leaf.type_length);
  t->I32(3, field.nullable() ? kOptional : kRequired);
  t->Binary(4, field.name());
  if (leaf.converted) t->I32(6, *leaf.converted);
  if (leaf.logical == Leaf::Logical::kDecimal) {
    t->I32(7, leaf.scale);
    t->I32(8, leaf.precision);
  }
  if (leaf.logical != Leaf::Logical::kNone) {
    t->BeginStruct(10);  // LogicalType, a union: one field set
    switch (leaf.logical) {
      case Leaf::Logical::kString:
        t->BeginStruct(1);
        t->EndStruct();
        break;
      case Leaf::Logical::kDecimal:
        t->BeginStruct(5);
        t->I32(1, leaf.scale);
        t->I32(2, leaf.precision);
        t->EndStruct();
        break;
      case Leaf::Logical::kDate:
        t->BeginStruct(6);
        t->EndStruct();
        break;
      case Leaf::Logical::kTimestamp:
        t->BeginStruct(8);
        t->Bool(1, leaf.utc);
        t->BeginStruct(2);  // TimeUnit, a union
        t->BeginStruct(2);  // MICROS
        t->EndStruct();
        t->EndStruct();
        t->EndStruct();
        break;
      case Leaf::Logical::kNone:
        break;
    }
    t->EndStruct();
  }
  t->EndStruct();
}

}  // namespace

bool PlainParquetWritable(const arrow::Schema& schema) {
  if (schema.num_fields() == 0) return false;
  for (const auto& field : schema.fields()) {
    if (!LeafOf(*field->type())) return false;
  }
  return true;
}

arrow::Result<std::shared_ptr<arrow::Buffer>> EncodePlainParquet(const arrow::RecordBatch& batch,
                                                                 const PlainParquetOptions& options) {
  const arrow::Schema& schema = *batch.schema();
  if (batch.num_rows() == 0 || !PlainParquetWritable(schema)) {
    return arrow::Status::Invalid("plain Parquet: not a batch of rows of flat known types: ", schema.ToString());
  }
  // The codecs a column may get: the one asked for, and LZ4_RAW for the columns named where
  // that is ZSTD (PlainParquetOptions::lz4_columns).
  int32_t parquet_codec = kUncompressed;
  switch (options.codec) {
    case arrow::Compression::UNCOMPRESSED:
      break;
    case arrow::Compression::SNAPPY:
      parquet_codec = kSnappy;
      break;
    case arrow::Compression::LZ4:
      parquet_codec = kLz4Raw;
      break;
    case arrow::Compression::ZSTD:
      parquet_codec = kZstd;
      break;
    default:
      return arrow::Status::Invalid("plain Parquet: codec ", arrow::util::Codec::GetCodecAsString(options.codec),
                                    " is not one it writes");
  }
  std::unique_ptr<arrow::util::Codec> compressor, small_compressor;
  if (options.codec != arrow::Compression::UNCOMPRESSED) {
    ARROW_ASSIGN_OR_RAISE(compressor,
                          arrow::util::Codec::Create(options.codec, options.level.value_or(
                                                                        arrow::util::kUseDefaultCompressionLevel)));
  }
  if (options.codec == arrow::Compression::ZSTD && !options.lz4_columns.empty()) {
    ARROW_ASSIGN_OR_RAISE(small_compressor, arrow::util::Codec::Create(arrow::Compression::LZ4));
  }
  const int64_t page_bytes = std::max<int64_t>(1, options.page_bytes);

  std::string file = "PAR1";
  std::string page, compressed;
  std::vector<Leaf> leaves;
  std::vector<Chunk> chunks;
  for (int c = 0; c < batch.num_columns(); ++c) {
    const arrow::Array& column = *batch.column(c);
    const Leaf leaf = *LeafOf(*column.type());
    if (!schema.field(c)->nullable() && column.null_count() > 0) {
      return arrow::Status::Invalid("plain Parquet: column ", schema.field(c)->name(), " is not nullable but has ",
                                    column.null_count(), " nulls");
    }
    Chunk chunk;
    chunk.offset = static_cast<int64_t>(file.size());
    chunk.nulls = column.null_count();
    chunk.min_max = MinMax(column);
    arrow::util::Codec* codec = compressor.get();
    chunk.codec = parquet_codec;
    if (small_compressor != nullptr && std::find(options.lz4_columns.begin(), options.lz4_columns.end(),
                                                 schema.field(c)->name()) != options.lz4_columns.end()) {
      codec = small_compressor.get();
      chunk.codec = kLz4Raw;
    }
    int64_t start = 0;
    for (const int64_t end : PageEnds(column, page_bytes)) {
      const auto values = column.Slice(start, end - start);
      start = end;
      page.clear();
      if (schema.field(c)->nullable()) {
        const std::string levels = DefinitionLevels(*values);
        PutLE<uint32_t>(&page, static_cast<uint32_t>(levels.size()));
        page += levels;
      }
      PlainValues(*values, leaf, &page);
      if (page.size() > static_cast<size_t>(INT32_MAX)) {
        return arrow::Status::CapacityError("plain Parquet: a value of column ", schema.field(c)->name(),
                                            " is larger than a page can hold (", page.size(), " bytes)");
      }
      std::string_view body = page;
      if (codec != nullptr) {
        const auto* in = reinterpret_cast<const uint8_t*>(page.data());
        const int64_t bound = codec->MaxCompressedLen(static_cast<int64_t>(page.size()), in);
        compressed.resize(static_cast<size_t>(bound));
        ARROW_ASSIGN_OR_RAISE(const int64_t size,
                              codec->Compress(static_cast<int64_t>(page.size()), in, bound,
                                              reinterpret_cast<uint8_t*>(compressed.data())));
        body = std::string_view(compressed.data(), static_cast<size_t>(size));
      }
      Thrift header;
      header.I32(1, kDataPage);
      header.I32(2, static_cast<int32_t>(page.size()));
      header.I32(3, static_cast<int32_t>(body.size()));
      header.BeginStruct(5);  // DataPageHeader
      header.I32(1, static_cast<int32_t>(values->length()));
      header.I32(2, kPlain);
      header.I32(3, kRle);
      header.I32(4, kRle);
      header.EndStruct();
      const std::string header_bytes = std::move(header).Finish();
      chunk.uncompressed += static_cast<int64_t>(header_bytes.size() + page.size());
      chunk.compressed += static_cast<int64_t>(header_bytes.size() + body.size());
      file += header_bytes;
      file += body;
    }
    leaves.push_back(leaf);
    chunks.push_back(std::move(chunk));
  }

  Thrift meta;
  meta.I32(1, 1);  // format version
  meta.BeginList(2, thrift::kStruct, leaves.size() + 1);
  meta.BeginElement();  // the root
  meta.Binary(4, "schema");
  meta.I32(5, static_cast<int32_t>(leaves.size()));
  meta.EndStruct();
  for (size_t c = 0; c < leaves.size(); ++c) SchemaElement(&meta, *schema.field(static_cast<int>(c)), leaves[c]);
  meta.I64(3, batch.num_rows());
  meta.BeginList(4, thrift::kStruct, 1);
  meta.BeginElement();  // the one row group
  meta.BeginList(1, thrift::kStruct, chunks.size());
  int64_t total_uncompressed = 0;
  for (size_t c = 0; c < chunks.size(); ++c) {
    const Chunk& chunk = chunks[c];
    total_uncompressed += chunk.uncompressed;
    meta.BeginElement();  // ColumnChunk
    meta.I64(2, chunk.offset);
    meta.BeginStruct(3);  // ColumnMetaData
    meta.I32(1, leaves[c].physical);
    meta.BeginList(2, thrift::kI32, 2);
    meta.ElementI32(kPlain);
    meta.ElementI32(kRle);
    meta.BeginList(3, thrift::kBinary, 1);
    meta.ElementBinary(schema.field(static_cast<int>(c))->name());
    meta.I32(4, chunk.codec);
    meta.I64(5, batch.num_rows());
    meta.I64(6, chunk.uncompressed);
    meta.I64(7, chunk.compressed);
    meta.I64(9, chunk.offset);
    meta.BeginStruct(12);  // Statistics
    meta.I64(3, chunk.nulls);
    if (chunk.min_max) {
      meta.Binary(5, chunk.min_max->second);  // max_value
      meta.Binary(6, chunk.min_max->first);   // min_value
    }
    meta.EndStruct();
    meta.EndStruct();
    meta.EndStruct();
  }
  meta.I64(2, total_uncompressed);
  meta.I64(3, batch.num_rows());
  meta.EndStruct();
  meta.Binary(6, "medallion version 1");  // "<application> version <v>", the shape parquet-mr parses
  // Every column's min_value and max_value are in its type's order (without column_orders a
  // reader must not trust them).
  meta.BeginList(7, thrift::kStruct, leaves.size());
  for (size_t c = 0; c < leaves.size(); ++c) {
    meta.BeginElement();  // ColumnOrder, a union
    meta.BeginStruct(1);  // TYPE_ORDER
    meta.EndStruct();
    meta.EndStruct();
  }
  const std::string footer = std::move(meta).Finish();
  file += footer;
  PutLE<uint32_t>(&file, static_cast<uint32_t>(footer.size()));
  file += "PAR1";
  return arrow::Buffer::FromString(std::move(file));
}

}  // namespace medallion::sink
