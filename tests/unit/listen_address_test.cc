// ParseListenAddress: IP:PORT or [IPv6]:PORT, nothing else.
#include "serve/listen_address.h"

#include <gtest/gtest.h>

namespace medallion::serve {
namespace {

TEST(ListenAddressTest, AcceptsIpAndPort) {
  auto v4 = ParseListenAddress("127.0.0.1:9464");
  ASSERT_TRUE(v4.ok()) << v4.status().ToString();
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 9464);
  auto v6 = ParseListenAddress("[::1]:65535");
  ASSERT_TRUE(v6.ok()) << v6.status().ToString();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 65535);
  EXPECT_TRUE(ParseListenAddress("0.0.0.0:1").ok());
}

TEST(ListenAddressTest, RejectsWhatCannotBeBoundExactly) {
  const struct {
    const char* text;
    const char* why;
  } kCases[] = {
      {"127.0.0.1", "no port"},         {"127.0.0.1:", "no port"},
      {"", "no port"},                  {":9464", "not an IPv4 address"},
      {"127.0.0.1:0", "out of range"},  {"127.0.0.1:65536", "out of range"},
      {"127.0.0.1:123456", "out of range"}, {"127.0.0.1:-1", "not a number"},
      {"127.0.0.1:80a", "not a number"}, {"localhost:9464", "not an IPv4 address"},
      {"256.0.0.1:9464", "not an IPv4 address"}, {"::1:9464", "brackets"},
      {"[::1]", "no port"},             {"[localhost]:9464", "not an IPv6 address"},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.text);
    auto r = ParseListenAddress(c.text);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find(c.why), std::string::npos) << r.status().message();
  }
}

}  // namespace
}  // namespace medallion::serve
