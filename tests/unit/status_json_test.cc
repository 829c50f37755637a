// StatusJson and StatusMetrics: one snapshot, two renderings that agree.
#include "metrics/status_json.h"

#include <gtest/gtest.h>

#include "metrics/status_metrics.h"

namespace medallion::metrics {
namespace {

RunStatus Sample() {
  RunStatus s;
  s.topic = "or\"ders";
  s.query_id = "q";
  s.partitions = {0, 1};
  s.batches = 1;
  s.records = 10;
  s.quarantined_by_reason = {{"not_json", 2}};
  s.lag = 5;
  s.lag_by_partition = {{0, 5}, {1, kUnknown}};
  s.tables["bronze_orders_raw"] = TableSize{2, 300};
  BatchSummary b;
  b.batch_id = 7;
  b.seconds = 0.5;
  s.recent.push_back(b);
  s.alerts.push_back(AlertState{"lag", "", true, 5, 1, 0, "records behind"});
  s.ready_max_lag = 10;
  return s;
}

TEST(StatusJsonTest, EscapesStringsAndWritesUnknownAsNull) {
  const std::string json = StatusJson(Sample());
  EXPECT_NE(json.find("\"topic\":\"or\\\"ders\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"partitions\":[0,1]"), std::string::npos) << json;
  EXPECT_NE(json.find("\"lag_by_partition\":{\"0\":5,\"1\":null}"), std::string::npos) << json;
  EXPECT_NE(json.find("\"watermark_us\":null"), std::string::npos) << json;
  EXPECT_NE(json.find("\"ready\":true"), std::string::npos) << json;
  EXPECT_NE(json.find("\"bronze_orders_raw\":{\"files\":2,\"bytes\":300}"), std::string::npos) << json;
  EXPECT_NE(json.find("\"alerts\":[{\"alert\":\"lag\",\"reason\":\"\",\"firing\":true"), std::string::npos) << json;
}

TEST(StatusMetricsTest, LabelsPerReasonPartitionTableAndAlert) {
  const std::string text = StatusMetrics(Sample()).Text();
  EXPECT_NE(text.find("medallion_quarantined_by_reason_total{query=\"q\",topic=\"or\\\"ders\",reason=\"not_json\"} 2\n"),
            std::string::npos) << text;
  EXPECT_NE(text.find("medallion_partition_lag_records{query=\"q\",topic=\"or\\\"ders\",partition=\"0\"} 5\n"),
            std::string::npos) << text;
  EXPECT_EQ(text.find("partition=\"1\""), std::string::npos) << text;  // not known: no sample
  EXPECT_NE(text.find("medallion_table_bytes{query=\"q\",topic=\"or\\\"ders\",table=\"bronze_orders_raw\"} 300\n"),
            std::string::npos) << text;
  EXPECT_NE(text.find("medallion_alert{query=\"q\",topic=\"or\\\"ders\",alert=\"lag\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("medallion_ready{query=\"q\",topic=\"or\\\"ders\"} 1\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace medallion::metrics
