// StatusJson and StatusMetrics: one snapshot, two renderings that agree.
#include "common/file_util.h"
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

TEST(StatusJsonTest, ThePaymentJoinAppearsOnlyWhenTheQueryHasOne) {
  RunStatus s = Sample();
  EXPECT_EQ(StatusJson(s).find("payment_join"), std::string::npos);
  EXPECT_EQ(StatusMetrics(s).Text().find("medallion_join"), std::string::npos);
  s.join = true;
  s.join_orders_waiting = 12;
  s.join_payments_waiting = 3;
  s.join_matches = 40;
  s.reconciliation_by_reason = {{"missing_payment", 2}, {"orphan_payment", 1}};
  s.payments_lag_by_partition = {{0, 7}, {1, kUnknown}};
  const std::string json = StatusJson(s);
  EXPECT_NE(json.find("\"payment_join\":{\"orders_waiting\":12,\"payments_waiting\":3,\"matches\":40,"
                      "\"reconciliation_by_reason\":{\"missing_payment\":2,\"orphan_payment\":1},"
                      "\"lag_by_partition\":{\"0\":7,\"1\":null}}"),
            std::string::npos)
      << json;
  const std::string text = StatusMetrics(s).Text();
  EXPECT_NE(text.find("medallion_join_orders_waiting{query=\"q\",topic=\"or\\\"ders\"} 12\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("medallion_join_matches_total{query=\"q\",topic=\"or\\\"ders\"} 40\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("medallion_payments_partition_lag_records{query=\"q\",topic=\"or\\\"ders\",partition=\"0\"} 7\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("medallion_payments_partition_lag_records{query=\"q\",topic=\"or\\\"ders\",partition=\"1\"}"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("medallion_reconciliation_rows_total{query=\"q\",topic=\"or\\\"ders\",reason=\"orphan_payment\"} 1\n"),
            std::string::npos)
      << text;
}

TEST(StatusJsonTest, CompactionAppearsOnlyWhileACompactorRuns) {
  RunStatus s = Sample();
  EXPECT_EQ(StatusJson(s).find("compaction"), std::string::npos);
  EXPECT_EQ(StatusMetrics(s).Text().find("medallion_compaction"), std::string::npos);
  CompactionTotals c;
  c.merges = 3;
  c.conflicts = 1;
  c.errors = 2;
  c.files_in = 24;
  c.files_out = 3;
  c.bytes_in = 9000;
  c.bytes_out = 7000;
  c.rows = 500;
  c.files_joined = 2;
  c.cpu_seconds = 0.25;
  s.compaction = c;
  const std::string json = StatusJson(s);
  EXPECT_NE(json.find("\"compaction\":{\"merges\":3,\"conflicts\":1,\"errors\":2,\"files_in\":24,"
                      "\"files_out\":3,\"bytes_in\":9000,\"bytes_out\":7000,\"rows\":500,"
                      "\"files_joined\":2,\"cpu_seconds\":0.25}"),
            std::string::npos)
      << json;
  const std::string text = StatusMetrics(s).Text();
  for (const char* line : {"medallion_compaction_merges_total{query=\"q\",topic=\"or\\\"ders\"} 3\n",
                           "medallion_compaction_errors_total{query=\"q\",topic=\"or\\\"ders\"} 2\n",
                           "medallion_compaction_files_in_total{query=\"q\",topic=\"or\\\"ders\"} 24\n",
                           "medallion_compaction_files_joined_total{query=\"q\",topic=\"or\\\"ders\"} 2\n",
                           "medallion_compaction_cpu_seconds_total{query=\"q\",topic=\"or\\\"ders\"} 0.25\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << text;
  }
}

TEST(StatusJsonTest, FsyncFiguresAreInTheStatusAndTheMetrics) {
  RunStatus s;
  s.topic = "or\"ders";
  s.query_id = "q";
  s.disk_syncs = 120;
  s.disk_sync_seconds = 0.75;
  s.slow_disk_syncs = 2;
  const std::string json = StatusJson(s);
  EXPECT_NE(json.find("\"disk\":{\"fsyncs\":120,\"fsync_seconds\":0.75,\"slow_fsyncs\":2}"), std::string::npos)
      << json;
  const std::string text = StatusMetrics(s).Text();
  for (const char* line : {"medallion_fsyncs_total{query=\"q\",topic=\"or\\\"ders\"} 120\n",
                           "medallion_fsync_seconds_total{query=\"q\",topic=\"or\\\"ders\"} 0.75\n",
                           "medallion_fsyncs_slow_total{query=\"q\",topic=\"or\\\"ders\"} 2\n",
                           "# HELP medallion_fsyncs_slow_total fsyncs that took 0.1 s or longer: the disk stalled"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << text;
  }
}

TEST(StatusJsonTest, ADiskStallSinceASnapshotIsCountedInTheLogLine) {
  // Nothing slowed since the snapshot: no line. Two slow fsyncs more than the snapshot had
  // (made so by taking them off it): the line counts them and the fsyncs since.
  DiskSyncTotals before = DiskSyncs();
  EXPECT_FALSE(DiskStallSince(before).has_value());
  before.slow -= 2;
  before.count -= 5;
  before.seconds -= 0.25;
  const std::optional<std::string> line = DiskStallSince(before);
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(line->rfind("the disk stalled: 2 of the process's 5 fsyncs meanwhile took 0.1 s or longer, 0.250 s of "
                        "fsync in all",
                        0),
            0u)
      << *line;
}

}  // namespace
}  // namespace medallion::metrics
