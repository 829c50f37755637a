#pragma once

// The encoding of Thrift's compact protocol that Parquet's footers and page headers use, shared
// by the writers that produce them (plain_parquet.cc's encoder, parquet_concat.cc's footer
// rewrite): varints, zigzag integers, field and list headers.

#include <cstdint>
#include <string>

namespace medallion::sink::thrift {

/// The compact protocol's type ids (a bool field's value is its type: kTrue or kFalse).
enum Type : uint8_t {
  kStop = 0, kTrue = 1, kFalse = 2, kByte = 3, kI16 = 4, kI32 = 5, kI64 = 6,
  kDouble = 7, kBinary = 8, kList = 9, kSet = 10, kStruct = 12
};

/// Appends `v` as an unsigned LEB128 varint (Thrift's compact protocol and Parquet's RLE /
/// bit-packing hybrid headers both use it).
inline void AppendVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

/// Appends a signed integer (i16, i32, i64) as its zigzag varint.
inline void AppendZigZag(std::string* out, int64_t v) {
  AppendVarint(out, (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
}

/// Appends the header of field `id` of `type`, `*last` being the id of the struct's previous
/// field (0 for the first), which it becomes: a delta of 1-15 in the header's high bits, else
/// the id in full.
inline void AppendFieldHeader(std::string* out, int16_t* last, int16_t id, uint8_t type) {
  const int delta = id - *last;
  if (delta > 0 && delta <= 15) {
    out->push_back(static_cast<char>(delta << 4 | type));
  } else {
    out->push_back(static_cast<char>(type));
    AppendZigZag(out, id);
  }
  *last = id;
}

/// Appends the header of a list (or set) of `size` elements of `element` type.
inline void AppendListHeader(std::string* out, uint8_t element, uint64_t size) {
  if (size < 15) {
    out->push_back(static_cast<char>(size << 4 | element));
  } else {
    out->push_back(static_cast<char>(0xF0 | element));
    AppendVarint(out, size);
  }
}

}  // namespace medallion::sink::thrift
