#include "serve/listen_address.h"

#include <arpa/inet.h>

#include <cctype>

namespace medallion::serve {

arrow::Result<ListenAddress> ParseListenAddress(const std::string& text) {
  const auto bad = [&text](const std::string& why) {
    return arrow::Status::Invalid("'", text, "' is not an address to listen on (", why,
                                  "); expected IP:PORT such as 127.0.0.1:9464 or [::1]:9464");
  };
  ListenAddress out;
  std::string port;
  if (!text.empty() && text[0] == '[') {
    const size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return bad("no port");
    }
    out.host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    in6_addr a6;
    if (inet_pton(AF_INET6, out.host.c_str(), &a6) != 1) return bad("'" + out.host + "' is not an IPv6 address");
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos) return bad("no port");
    out.host = text.substr(0, colon);
    port = text.substr(colon + 1);
    in_addr a4;
    if (out.host.find(':') != std::string::npos) return bad("an IPv6 address goes in brackets");
    if (inet_pton(AF_INET, out.host.c_str(), &a4) != 1) {
      return bad("'" + out.host + "' is not an IPv4 address");
    }
  }
  if (port.empty() || port.size() > 5) return bad(port.empty() ? "no port" : "port out of range");
  for (const char c : port) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return bad("port '" + port + "' is not a number");
  }
  out.port = std::stoi(port);
  if (out.port < 1 || out.port > 65535) return bad("port out of range 1..65535");
  return out;
}

}  // namespace medallion::serve
