#include <gtest/gtest.h>

#include "source/kafka_source.h"

namespace medallion::source {
namespace {

// The texts librdkafka gives an authentication error (ERR__AUTHENTICATION), as seen in this
// project's runs and in reports against librdkafka (issues 1013, 2959, 3011 of
// confluentinc/librdkafka, 1328 of confluent-kafka-python).
TEST(KafkaErrorsTest, AConnectionDroppedWhileAuthenticatingIsNotARefusal) {
  EXPECT_TRUE(AuthenticationLostItsConnection(
      "GroupCoordinator: SASL PLAIN mechanism handshake failed: Local: Broker transport failure"));
  EXPECT_TRUE(AuthenticationLostItsConnection(
      "sasl_ssl://broker1:9092/1: SASL authentication error: SaslAuthenticateRequest failed: Local: Broker "
      "transport failure (after 0ms in state DOWN)"));
  EXPECT_TRUE(
      AuthenticationLostItsConnection("sasl_plaintext://h:9093/bootstrap: SASL authentication failure: Disconnected"));
  EXPECT_TRUE(AuthenticationLostItsConnection(
      "SASL authentication error: SaslAuthenticateRequest failed: Local: Broker handle destroyed"));
}

TEST(KafkaErrorsTest, RefusedCredentialsAreARefusal) {
  EXPECT_FALSE(AuthenticationLostItsConnection(
      "sasl_plaintext://127.0.0.1:19094/bootstrap: SASL authentication error: Authentication failed during "
      "authentication due to invalid credentials with SASL mechanism PLAIN (after 3ms in state AUTH_REQ)"));
  EXPECT_FALSE(AuthenticationLostItsConnection("Local: Authentication failure"));
  EXPECT_FALSE(AuthenticationLostItsConnection(""));
}

}  // namespace
}  // namespace medallion::source
