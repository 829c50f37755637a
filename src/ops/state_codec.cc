#include "ops/state_codec.h"

#define XXH_INLINE_ALL
#include <arrow/vendored/xxhash.h>

namespace medallion::ops {
namespace {

constexpr std::string_view kMagic = "MDS3";
/// The magic of snapshots checksummed with FNV-1a (builds before 2026-12-04).
constexpr std::string_view kFnvMagic = "MDST";
constexpr size_t kMagicBytes = 4;
constexpr size_t kChecksumBytes = 8;

/// True if `data` can be a snapshot: long enough for magic and checksum, and one of the two magics.
bool LooksLikeSnapshot(std::string_view data) {
  if (data.size() < kMagicBytes + kChecksumBytes) return false;
  const std::string_view magic = data.substr(0, kMagicBytes);
  return magic == kMagic || magic == kFnvMagic;
}

uint64_t Xxh3(std::string_view bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

uint64_t Fnv1a64(std::string_view bytes) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (char c : bytes) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

}  // namespace

StateWriter::StateWriter(std::string_view tag, uint32_t version) {
  buffer_.append(kMagic);
  WriteString(tag);
  WriteInt<uint32_t>(version);
}

void StateWriter::WriteString(std::string_view value) {
  WriteInt<uint32_t>(static_cast<uint32_t>(value.size()));
  buffer_.append(value);
}

void StateWriter::WriteOptionalString(const std::optional<std::string>& value) {
  WriteBool(value.has_value());
  if (value) WriteString(*value);
}

std::string StateWriter::Finish() && {
  WriteInt<uint64_t>(Xxh3(buffer_));
  return std::move(buffer_);
}

arrow::Result<StateReader> StateReader::Open(std::string_view data, std::string_view tag,
                                             uint32_t max_version) {
  if (!LooksLikeSnapshot(data)) return arrow::Status::Invalid("operator state: not a medallion state snapshot");
  const bool fnv = data.substr(0, kMagicBytes) == kFnvMagic;
  std::string_view body = data.substr(0, data.size() - kChecksumBytes);
  StateReader trailer(data, body.size(), 0);
  ARROW_ASSIGN_OR_RAISE(uint64_t checksum, trailer.ReadInt<uint64_t>());
  if (checksum != (fnv ? Fnv1a64(body) : Xxh3(body))) {
    return arrow::Status::Invalid("operator state: checksum mismatch (corrupted snapshot)");
  }
  StateReader reader(body, kMagicBytes, 0);
  ARROW_ASSIGN_OR_RAISE(std::string found_tag, reader.ReadString());
  if (found_tag != tag) {
    return arrow::Status::Invalid("operator state: snapshot of '", found_tag, "', expected '",
                                  tag, "'");
  }
  ARROW_ASSIGN_OR_RAISE(reader.version_, reader.ReadInt<uint32_t>());
  if (reader.version_ == 0 || reader.version_ > max_version) {
    return arrow::Status::Invalid("operator state: unsupported version ", reader.version_,
                                  " of '", tag, "' (supported: 1..", max_version, ")");
  }
  return reader;
}

std::optional<std::string_view> StateReader::PeekTag(std::string_view data) {
  if (!LooksLikeSnapshot(data)) return std::nullopt;
  StateReader reader(data.substr(0, data.size() - kChecksumBytes), kMagicBytes, 0);
  auto size = reader.ReadInt<uint32_t>();
  if (!size.ok() || !reader.Need(*size).ok()) return std::nullopt;
  return reader.data_.substr(reader.pos_, *size);
}

arrow::Status StateReader::Need(size_t n) const {
  if (data_.size() - pos_ < n) {
    return arrow::Status::Invalid("operator state: truncated at byte ", pos_, " (need ", n,
                                  ", have ", data_.size() - pos_, ")");
  }
  return arrow::Status::OK();
}

arrow::Result<bool> StateReader::ReadBool() {
  ARROW_ASSIGN_OR_RAISE(uint8_t b, ReadInt<uint8_t>());
  if (b > 1) return arrow::Status::Invalid("operator state: bad bool byte ", int{b});
  return b == 1;
}

arrow::Result<std::string> StateReader::ReadString() {
  ARROW_ASSIGN_OR_RAISE(uint32_t size, ReadInt<uint32_t>());
  ARROW_RETURN_NOT_OK(Need(size));
  std::string value(data_.substr(pos_, size));
  pos_ += size;
  return value;
}

arrow::Result<std::optional<std::string>> StateReader::ReadOptionalString() {
  ARROW_ASSIGN_OR_RAISE(bool present, ReadBool());
  if (!present) return std::optional<std::string>();
  ARROW_ASSIGN_OR_RAISE(std::string value, ReadString());
  return std::optional<std::string>(std::move(value));
}

arrow::Result<uint64_t> StateReader::ReadCount(size_t min_item_bytes) {
  ARROW_ASSIGN_OR_RAISE(uint64_t count, ReadInt<uint64_t>());
  const uint64_t left = data_.size() - pos_;
  if (min_item_bytes > 0 && count > left / min_item_bytes) {
    return arrow::Status::Invalid("operator state: count ", count, " exceeds the ", left,
                                  " bytes left");
  }
  return count;
}

arrow::Status StateReader::Finish() const {
  if (pos_ != data_.size()) {
    return arrow::Status::Invalid("operator state: ", data_.size() - pos_,
                                  " unexpected trailing bytes");
  }
  return arrow::Status::OK();
}

}  // namespace medallion::ops
