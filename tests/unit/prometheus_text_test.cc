// PrometheusText: the exposition format, escaping, number forms and the file it writes.
#include "metrics/prometheus_text.h"

#include <unistd.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace medallion::metrics {
namespace {

TEST(PrometheusTextTest, SamplesCarryTheLabelsAndTheirType) {
  PrometheusText m({{"topic", "orders"}, {"query", "q-1"}});
  m.Counter("medallion_records_total", "Kafka records written to Bronze.", 1000000);
  m.Gauge("medallion_last_batch_timestamp_seconds", "When.", 1795649743.661727);
  m.Gauge("medallion_lag_records", "Lag.", 0);
  EXPECT_EQ(m.Text(),
            "# HELP medallion_records_total Kafka records written to Bronze.\n"
            "# TYPE medallion_records_total counter\n"
            "medallion_records_total{query=\"q-1\",topic=\"orders\"} 1000000\n"
            "# HELP medallion_last_batch_timestamp_seconds When.\n"
            "# TYPE medallion_last_batch_timestamp_seconds gauge\n"
            "medallion_last_batch_timestamp_seconds{query=\"q-1\",topic=\"orders\"} 1795649743.661727\n"
            "# HELP medallion_lag_records Lag.\n"
            "# TYPE medallion_lag_records gauge\n"
            "medallion_lag_records{query=\"q-1\",topic=\"orders\"} 0\n");
}

TEST(PrometheusTextTest, EscapesLabelValuesAndHelpAndSpellsSpecialValues) {
  PrometheusText m(PrometheusText::Labels{{"topic", "a\"b\\c\nd"}});
  m.Gauge("g", "two\nlines \\ here", std::nan(""));
  m.Gauge("h", "x", -INFINITY);
  m.Gauge("i", "x", 0.25);
  EXPECT_EQ(m.Text(),
            "# HELP g two\\nlines \\\\ here\n# TYPE g gauge\ng{topic=\"a\\\"b\\\\c\\nd\"} NaN\n"
            "# HELP h x\n# TYPE h gauge\nh{topic=\"a\\\"b\\\\c\\nd\"} -Inf\n"
            "# HELP i x\n# TYPE i gauge\ni{topic=\"a\\\"b\\\\c\\nd\"} 0.25\n");
  PrometheusText bare(PrometheusText::Labels{});
  bare.Counter("c_total", "x", 3);
  EXPECT_EQ(bare.Text(), "# HELP c_total x\n# TYPE c_total counter\nc_total 3\n");
}

TEST(PrometheusTextTest, LabelledSamplesOfOneNameShareOneFamily) {
  PrometheusText m(PrometheusText::Labels{{"topic", "orders"}});
  m.Counter("q_total", "By reason.", 3, {{"reason", "not_json"}});
  m.Gauge("lag", "Lag.", 5, {{"partition", "0"}});
  m.Counter("q_total", "By reason.", 4, {{"reason", "wrong\"type"}});
  EXPECT_EQ(m.Text(),
            "# HELP q_total By reason.\n# TYPE q_total counter\n"
            "q_total{topic=\"orders\",reason=\"not_json\"} 3\n"
            "q_total{topic=\"orders\",reason=\"wrong\\\"type\"} 4\n"
            "# HELP lag Lag.\n# TYPE lag gauge\nlag{topic=\"orders\",partition=\"0\"} 5\n");
}

TEST(PrometheusTextTest, HistogramBucketsAreCumulativeAndEndWithInf) {
  PrometheusText m(PrometheusText::Labels{{"topic", "orders"}});
  m.Histogram("d_seconds", "Durations.", {0.1, 1}, {2, 0, 1}, 7.5);
  EXPECT_EQ(m.Text(),
            "# HELP d_seconds Durations.\n# TYPE d_seconds histogram\n"
            "d_seconds_bucket{topic=\"orders\",le=\"0.1\"} 2\n"
            "d_seconds_bucket{topic=\"orders\",le=\"1\"} 2\n"
            "d_seconds_bucket{topic=\"orders\",le=\"+Inf\"} 3\n"
            "d_seconds_sum{topic=\"orders\"} 7.5\n"
            "d_seconds_count{topic=\"orders\"} 3\n");
}

TEST(PrometheusTextTest, WritesTheWholeFileOrFailsNamingIt) {
  const std::string path = "/tmp/prometheus_text_test." + std::to_string(::getpid()) + ".prom";
  PrometheusText m(PrometheusText::Labels{{"topic", "orders"}});
  m.Counter("c_total", "x", 7);
  ASSERT_TRUE(m.WriteTo(path).ok());
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), m.Text());
  std::remove(path.c_str());
  auto st = m.WriteTo("/nonexistent-dir/m.prom");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("/nonexistent-dir/m.prom"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace medallion::metrics
