#pragma once

#include <string>

#include <arrow/result.h>

namespace medallion::serve {

/// Where the HTTP endpoint listens: an IP literal and a port.
struct ListenAddress {
  std::string host;  ///< "127.0.0.1", "0.0.0.0", "::1" (IPv6 without brackets)
  int port = 0;      ///< 1..65535
};

/// Parses "host:port" (IPv4) or "[host]:port" (IPv6). The host must be an IP address, not a
/// name, so the endpoint is bound exactly where told; the port 1..65535. The error says
/// what is wrong without naming a flag (the caller adds it).
arrow::Result<ListenAddress> ParseListenAddress(const std::string& text);

}  // namespace medallion::serve
