#include "common/uuid.h"

#include <cstdio>

namespace medallion {

arrow::Result<std::string> RandomUuid() {
  unsigned char b[16];
  std::FILE* f = std::fopen("/dev/urandom", "rb");
  if (f == nullptr) return arrow::Status::IOError("cannot open /dev/urandom");
  const size_t n = std::fread(b, 1, sizeof(b), f);
  std::fclose(f);
  if (n != sizeof(b)) return arrow::Status::IOError("short read from /dev/urandom");
  b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);
  char out[37];
  std::snprintf(out, sizeof(out),
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return std::string(out);
}

}  // namespace medallion
