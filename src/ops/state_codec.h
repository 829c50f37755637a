#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include <arrow/result.h>
#include <arrow/status.h>

/// A tiny binary codec for operator state snapshots.
///
/// Layout of one snapshot:
///
///     "MDS3"  magic (4 bytes)
///     tag     length-prefixed string naming the operator ("ops.revenue_window", ...)
///     version u32, the operator's state format version
///     payload the operator's fields, written with the Write* methods
///     xxh3    u64 checksum of every byte before it (XXH3-64, seed 0)
///
/// Snapshots of earlier builds begin "MDST" and end with a 64-bit FNV-1a of the same bytes;
/// they are read as before. The checksum changed because FNV-1a takes a multiply per byte:
/// it was the largest single cost of writing a batch's state (about 2% of a continuous run's
/// engine thread), XXH3 runs an order of magnitude faster.
///
/// Integers are little-endian and fixed width; strings are a u32 length followed by the
/// bytes. The reader never trusts the input: every read is bounds-checked, counts are
/// checked against the bytes left, and any mismatch is an arrow::Status::Invalid.
namespace medallion::ops {

/// Appends fields to a snapshot buffer. Not thread-safe; one writer per snapshot.
class StateWriter {
 public:
  /// Starts a snapshot of the operator named `tag` in state format `version`.
  StateWriter(std::string_view tag, uint32_t version);

  template <typename T>
    requires std::is_integral_v<T>
  void WriteInt(T value) {
    using U = std::make_unsigned_t<T>;
    auto bits = static_cast<U>(value);
    char bytes[sizeof(T)];
    for (size_t i = 0; i < sizeof(T); ++i) bytes[i] = static_cast<char>(static_cast<uint8_t>(bits >> (8 * i)));
    buffer_.append(bytes, sizeof(T));
  }
  void WriteBool(bool value) { WriteInt<uint8_t>(value ? 1 : 0); }
  void WriteString(std::string_view value);
  /// A presence byte, then the string when present.
  void WriteOptionalString(const std::optional<std::string>& value);

  /// Appends the checksum and returns the finished snapshot.
  std::string Finish() &&;

 private:
  std::string buffer_;
};

/// Reads fields back from a snapshot made by StateWriter, in the same order.
class StateReader {
 public:
  /// Checks magic, checksum and tag, and that the version is in [1, max_version].
  /// The returned reader is positioned at the start of the payload.
  static arrow::Result<StateReader> Open(std::string_view data, std::string_view tag,
                                         uint32_t max_version);

  /// The tag of the snapshot that `data` begins as, without checking its checksum or the
  /// rest (nullopt when `data` does not begin as a snapshot): to tell apart kinds of
  /// snapshot that may take one place, before Open checks the one it is.
  static std::optional<std::string_view> PeekTag(std::string_view data);

  /// The state format version the snapshot was written with.
  uint32_t version() const { return version_; }

  template <typename T>
    requires std::is_integral_v<T>
  arrow::Result<T> ReadInt() {
    ARROW_RETURN_NOT_OK(Need(sizeof(T)));
    using U = std::make_unsigned_t<T>;
    U bits = 0;
    for (size_t i = 0; i < sizeof(T); ++i) {
      bits |= static_cast<U>(static_cast<uint8_t>(data_[pos_ + i])) << (8 * i);
    }
    pos_ += sizeof(T);
    return static_cast<T>(bits);
  }
  arrow::Result<bool> ReadBool();
  arrow::Result<std::string> ReadString();
  arrow::Result<std::optional<std::string>> ReadOptionalString();
  /// Reads a u64 element count and rejects it when `count * min_item_bytes` exceeds the
  /// bytes left, so a corrupted count cannot trigger a huge allocation.
  arrow::Result<uint64_t> ReadCount(size_t min_item_bytes);

  /// Returns Invalid unless the whole payload has been read.
  arrow::Status Finish() const;

 private:
  StateReader(std::string_view data, size_t pos, uint32_t version)
      : data_(data), pos_(pos), version_(version) {}
  arrow::Status Need(size_t n) const;

  std::string_view data_;  // payload end = checksum start
  size_t pos_;
  uint32_t version_;
};

}  // namespace medallion::ops
