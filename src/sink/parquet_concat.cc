#include "sink/parquet_concat.h"

#include <algorithm>
#include <cstring>
#include <string_view>

#include <arrow/status.h>

#include "sink/thrift_compact.h"

namespace medallion::sink {
namespace {

/// Thrift's compact protocol as a tree: a Parquet footer is read whole, a few offsets in it
/// are moved, and it is written back. Only what a footer holds is accepted (no maps).
namespace tree {

using namespace ::medallion::sink::thrift;  // the compact protocol's type ids and encoders

struct Field;

struct Value {
  Type type = kStop;
  int64_t i = 0;            // bool (0 / 1), byte, i16, i32, i64
  std::string bytes;        // binary; a double's eight bytes
  Type element = kStop;     // list and set
  std::vector<Value> elements;
  std::vector<Field> fields;  // struct, in the order read

  Value* Find(int16_t id);
  const Value* Find(int16_t id) const { return const_cast<Value*>(this)->Find(id); }
  void Erase(int16_t id);
};

struct Field {
  int16_t id;
  Value value;
};

Value* Value::Find(int16_t id) {
  for (Field& f : fields) {
    if (f.id == id) return &f.value;
  }
  return nullptr;
}

void Value::Erase(int16_t id) {
  std::erase_if(fields, [id](const Field& f) { return f.id == id; });
}

class Reader {
 public:
  explicit Reader(std::string_view in) : p_(in.data()), end_(in.data() + in.size()) {}

  arrow::Status Struct(Value* out, int depth = 0) {
    if (depth > 32) return Bad("nested too deeply");
    out->type = kStruct;
    int16_t last = 0;
    for (;;) {
      ARROW_ASSIGN_OR_RAISE(const uint8_t header, Byte());
      const auto type = static_cast<Type>(header & 0x0F);
      if (type == kStop) return arrow::Status::OK();
      int16_t id;
      if (header >> 4 != 0) {
        id = static_cast<int16_t>(last + (header >> 4));
      } else {
        ARROW_ASSIGN_OR_RAISE(const int64_t v, ZigZag());
        id = static_cast<int16_t>(v);
      }
      last = id;
      Field field{id, {}};
      if (type == kTrue || type == kFalse) {
        field.value.type = kTrue;
        field.value.i = type == kTrue ? 1 : 0;
      } else {
        ARROW_RETURN_NOT_OK(Element(type, &field.value, depth));
      }
      out->fields.push_back(std::move(field));
    }
  }

  size_t consumed(std::string_view in) const { return static_cast<size_t>(p_ - in.data()); }

 private:
  arrow::Status Element(Type type, Value* out, int depth) {
    if (depth > 32) return Bad("nested too deeply");
    out->type = type;
    switch (type) {
      case kTrue:
      case kFalse: {  // a bool as a list element: one byte, 1 for true
        ARROW_ASSIGN_OR_RAISE(const uint8_t b, Byte());
        out->type = kTrue;
        out->i = b == 1 ? 1 : 0;
        return arrow::Status::OK();
      }
      case kByte: {
        ARROW_ASSIGN_OR_RAISE(const uint8_t b, Byte());
        out->i = static_cast<int8_t>(b);
        return arrow::Status::OK();
      }
      case kI16:
      case kI32:
      case kI64: {
        ARROW_ASSIGN_OR_RAISE(out->i, ZigZag());
        return arrow::Status::OK();
      }
      case kDouble:
        return Take(8, &out->bytes);
      case kBinary: {
        ARROW_ASSIGN_OR_RAISE(const uint64_t size, Varint());
        return Take(size, &out->bytes);
      }
      case kList:
      case kSet: {
        ARROW_ASSIGN_OR_RAISE(const uint8_t header, Byte());
        uint64_t size = header >> 4;
        if (size == 15) {
          ARROW_ASSIGN_OR_RAISE(size, Varint());
        }
        out->element = static_cast<Type>(header & 0x0F);
        // Every element takes at least one byte: a size beyond what is left is damage.
        if (size > static_cast<uint64_t>(end_ - p_)) return Bad("a list longer than the footer");
        out->elements.resize(size);
        for (Value& e : out->elements) ARROW_RETURN_NOT_OK(Element(out->element, &e, depth + 1));
        return arrow::Status::OK();
      }
      case kStruct:
        return Struct(out, depth + 1);
      default:
        return Bad("a field of type " + std::to_string(type));
    }
  }

  arrow::Result<uint8_t> Byte() {
    if (p_ == end_) return Bad("cut short");
    return static_cast<uint8_t>(*p_++);
  }
  arrow::Result<uint64_t> Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      ARROW_ASSIGN_OR_RAISE(const uint8_t b, Byte());
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) return v;
    }
    return Bad("a varint of more than ten bytes");
  }
  arrow::Result<int64_t> ZigZag() {
    ARROW_ASSIGN_OR_RAISE(const uint64_t v, Varint());
    return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
  }
  arrow::Status Take(uint64_t size, std::string* out) {
    if (size > static_cast<uint64_t>(end_ - p_)) return Bad("a value longer than the footer");
    out->assign(p_, size);
    p_ += size;
    return arrow::Status::OK();
  }
  static arrow::Status Bad(const std::string& why) {
    return arrow::Status::NotImplemented("unreadable Parquet footer: ", why);
  }

  const char* p_;
  const char* end_;
};

class Writer {
 public:
  void Struct(const Value& v) {
    int16_t last = 0;
    for (const Field& f : v.fields) {
      const uint8_t type = f.value.type == kTrue ? (f.value.i ? kTrue : kFalse) : f.value.type;
      AppendFieldHeader(&out_, &last, f.id, type);
      if (f.value.type != kTrue) Element(f.value);
    }
    out_.push_back(0);
  }
  std::string Take() && { return std::move(out_); }

 private:
  void Element(const Value& v) {
    switch (v.type) {
      case kTrue:
        out_.push_back(static_cast<char>(v.i ? 1 : 2));
        return;
      case kByte:
        out_.push_back(static_cast<char>(v.i));
        return;
      case kI16:
      case kI32:
      case kI64:
        AppendZigZag(&out_, v.i);
        return;
      case kDouble:
        out_.append(v.bytes);
        return;
      case kBinary:
        AppendVarint(&out_, v.bytes.size());
        out_.append(v.bytes);
        return;
      case kList:
      case kSet:
        AppendListHeader(&out_, v.element, v.elements.size());
        for (const Value& e : v.elements) Element(e);
        return;
      case kStruct:
        Struct(v);
        return;
      default:
        return;
    }
  }

  std::string out_;
};

std::string Serialize(const Value& v) {
  Writer w;
  w.Struct(v);
  return std::move(w).Take();
}

}  // namespace tree

// Field ids of parquet.thrift.
enum FileMetaDataField : int16_t {
  kSchema = 2, kNumRows = 3, kRowGroups = 4, kKeyValueMetadata = 5, kColumnOrders = 7,
  kEncryptionAlgorithm = 8, kFooterSigningKeyMetadata = 9
};
enum RowGroupField : int16_t { kColumns = 1, kRowGroupNumRows = 3, kRowGroupFileOffset = 5, kOrdinal = 7 };
enum ColumnChunkField : int16_t {
  kFilePath = 1, kChunkFileOffset = 2, kMetaData = 3, kOffsetIndexOffset = 4, kOffsetIndexLength = 5,
  kColumnIndexOffset = 6, kColumnIndexLength = 7, kCryptoMetadata = 8, kEncryptedColumnMetadata = 9
};
enum ColumnMetaDataField : int16_t {
  kTotalCompressedSize = 7, kDataPageOffset = 9, kIndexPageOffset = 10, kDictionaryPageOffset = 11, kBloomFilterOffset = 14,
  kBloomFilterLength = 15
};

constexpr std::string_view kMagic = "PAR1";

arrow::Status Refuse(size_t file, const std::string& why) {
  return arrow::Status::NotImplemented("cannot join Parquet file ", file, " by copying: ", why);
}

/// The bytes of field `id` of `v` serialized alone ("" when absent), to compare files by.
std::string FieldBytes(const tree::Value& v, int16_t id) {
  for (const tree::Field& f : v.fields) {
    if (f.id != id) continue;
    tree::Value one;
    one.type = tree::kStruct;
    one.fields.push_back(f);
    return tree::Serialize(one);
  }
  return "";
}

bool IsInteger(const tree::Value* v) {
  return v != nullptr && (v->type == tree::kByte || v->type == tree::kI16 || v->type == tree::kI32 ||
                          v->type == tree::kI64);
}

/// Whether the pages of the column chunk `column` (from its dictionary or first data page,
/// for total_compressed_size bytes) lie within the file's row groups [4, data_end), the bytes
/// that are copied.
bool WithinData(const tree::Value& column, int64_t data_end) {
  const tree::Value* data = column.Find(kDataPageOffset);
  const tree::Value* dictionary = column.Find(kDictionaryPageOffset);
  const tree::Value* size = column.Find(kTotalCompressedSize);
  if (!IsInteger(data) || !IsInteger(size) || (dictionary != nullptr && !IsInteger(dictionary))) return false;
  const int64_t start = dictionary != nullptr && dictionary->i > 0 ? std::min(data->i, dictionary->i) : data->i;
  return start >= static_cast<int64_t>(kMagic.size()) && size->i >= 0 && size->i <= data_end - start;
}

/// Moves an offset field of `v`, present or not, by `delta`; false when it pointed outside
/// the file's row groups [4, data_end). The file offsets of row groups and column chunks
/// may be 0 (some writers leave them so); such a 0 stays.
bool Move(tree::Value* v, int16_t id, int64_t delta, int64_t data_end, bool zero_allowed = false) {
  tree::Value* offset = v->Find(id);
  if (offset == nullptr) return true;
  if (!IsInteger(offset)) return false;
  if (zero_allowed && offset->i == 0) return true;
  if (offset->i < static_cast<int64_t>(kMagic.size()) || offset->i >= data_end) return false;
  offset->i += delta;
  return true;
}

}  // namespace

arrow::Result<ParquetConcat> ParquetConcat::Plan(const std::vector<std::string>* files) {
  if (files->empty()) return arrow::Status::Invalid("no Parquet files to join");
  ParquetConcat plan;
  plan.files_ = files;
  tree::Value joined;
  tree::Value row_groups;
  row_groups.type = tree::kList;
  row_groups.element = tree::kStruct;
  std::string schema, key_values, column_orders;
  int64_t at = static_cast<int64_t>(kMagic.size());  // where the next file's row groups go
  for (size_t k = 0; k < files->size(); ++k) {
    const std::string& file = (*files)[k];
    const size_t n = file.size();
    if (n < 12 || file.compare(0, 4, kMagic) != 0 || file.compare(n - 4, 4, kMagic) != 0) {
      return Refuse(k, "no PAR1 magic at both ends");
    }
    uint32_t footer_size;
    std::memcpy(&footer_size, file.data() + n - 8, 4);  // little-endian, as this host
    if (footer_size > n - 12) return Refuse(k, "footer length beyond the file");
    const int64_t data_end = static_cast<int64_t>(n - 8 - footer_size);
    const std::string_view footer(file.data() + data_end, footer_size);
    tree::Value meta;
    tree::Reader reader(footer);
    ARROW_RETURN_NOT_OK(reader.Struct(&meta));
    if (meta.Find(kEncryptionAlgorithm) || meta.Find(kFooterSigningKeyMetadata)) return Refuse(k, "encrypted");
    if (k == 0) {
      joined = meta;
      schema = FieldBytes(meta, kSchema);
      key_values = FieldBytes(meta, kKeyValueMetadata);
      column_orders = FieldBytes(meta, kColumnOrders);
    } else if (FieldBytes(meta, kSchema) != schema || FieldBytes(meta, kKeyValueMetadata) != key_values ||
               FieldBytes(meta, kColumnOrders) != column_orders) {
      return Refuse(k, "its schema or metadata differ from the first file's");
    }
    const tree::Value* groups = meta.Find(kRowGroups);
    if (groups == nullptr || groups->type != tree::kList) return Refuse(k, "no row groups");
    const int64_t delta = at - static_cast<int64_t>(kMagic.size());
    for (tree::Value group : groups->elements) {
      if (group.type != tree::kStruct) return Refuse(k, "a row group is not a struct");
      const tree::Value* rows = group.Find(kRowGroupNumRows);
      if (!IsInteger(rows) || rows->i < 0) return Refuse(k, "a row group without its row count");
      plan.num_rows_ += rows->i;
      ++plan.num_row_groups_;
      if (!Move(&group, kRowGroupFileOffset, delta, data_end, true)) return Refuse(k, "a row group offset outside it");
      // The ordinal is an i16: a file of more row groups is not made by joining.
      if (row_groups.elements.size() >= 32767) return Refuse(k, "more than 32,767 row groups in all");
      if (tree::Value* ordinal = group.Find(kOrdinal)) ordinal->i = static_cast<int64_t>(row_groups.elements.size());
      tree::Value* columns = group.Find(kColumns);
      if (columns == nullptr || columns->type != tree::kList) return Refuse(k, "a row group without columns");
      for (tree::Value& chunk : columns->elements) {
        if (chunk.type != tree::kStruct) return Refuse(k, "a column chunk is not a struct");
        if (chunk.Find(kFilePath) || chunk.Find(kCryptoMetadata) || chunk.Find(kEncryptedColumnMetadata)) {
          return Refuse(k, "a column chunk in another file or encrypted");
        }
        for (int16_t id : {kOffsetIndexOffset, kOffsetIndexLength, kColumnIndexOffset, kColumnIndexLength}) {
          chunk.Erase(id);
        }
        tree::Value* column = chunk.Find(kMetaData);
        if (column == nullptr || column->type != tree::kStruct) return Refuse(k, "a column chunk without metadata");
        column->Erase(kBloomFilterOffset);
        column->Erase(kBloomFilterLength);
        if (!WithinData(*column, data_end)) return Refuse(k, "a column chunk's pages outside its row groups");
        if (!Move(column, kDataPageOffset, delta, data_end) || !Move(column, kIndexPageOffset, delta, data_end) ||
            !Move(column, kDictionaryPageOffset, delta, data_end) ||
            !Move(&chunk, kChunkFileOffset, delta, data_end + 1, true)) {  // may point at the footer
          return Refuse(k, "a column chunk offset outside it");
        }
      }
      row_groups.elements.push_back(std::move(group));
    }
    plan.data_ends_.push_back(data_end);
    at += data_end - static_cast<int64_t>(kMagic.size());
  }
  *joined.Find(kRowGroups) = std::move(row_groups);
  if (tree::Value* rows = joined.Find(kNumRows)) rows->i = plan.num_rows_;
  plan.footer_ = tree::Serialize(joined);
  return plan;
}

arrow::Status ParquetConcat::Write(arrow::io::OutputStream* out) const {
  ARROW_RETURN_NOT_OK(out->Write(kMagic.data(), static_cast<int64_t>(kMagic.size())));
  for (size_t k = 0; k < files_->size(); ++k) {
    const std::string& file = (*files_)[k];
    ARROW_RETURN_NOT_OK(out->Write(file.data() + kMagic.size(), data_ends_[k] - static_cast<int64_t>(kMagic.size())));
  }
  ARROW_RETURN_NOT_OK(out->Write(footer_.data(), static_cast<int64_t>(footer_.size())));
  const uint32_t footer_size = static_cast<uint32_t>(footer_.size());
  char tail[8];
  std::memcpy(tail, &footer_size, 4);
  std::memcpy(tail + 4, kMagic.data(), 4);
  return out->Write(tail, 8);
}

}  // namespace medallion::sink
