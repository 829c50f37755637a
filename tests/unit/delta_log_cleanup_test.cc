#include "sink/delta_log_cleanup.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <limits>
#include <map>
#include <thread>

#include <arrow/api.h>
#include <arrow/io/file.h>
#include <arrow/io/memory.h>
#include <gtest/gtest.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/writer.h>

#include "common/file_util.h"
#include "common/time_util.h"
#include "sink/delta_checkpoint.h"
#include "sink/delta_checkpointer.h"
#include "sink/delta_log.h"
#include "sink/delta_table_properties.h"
#include "delta_test_support.h"
#include "status_assertions.h"

namespace medallion::sink {
namespace {

constexpr int64_t kHourMs = 3'600'000;

std::shared_ptr<arrow::Schema> TestSchema() {
  return arrow::schema({arrow::field("id", arrow::int64(), false),
                        arrow::field("event_date", arrow::date32(), false)});
}

/// Sets the modification time of `path` to `ms_ago` before now.
void Backdate(const std::string& path, int64_t ms_ago) {
  const int64_t when_ms = NowMillis() - ms_ago;
  struct timespec times[2];
  times[0].tv_sec = times[1].tv_sec = when_ms / 1000;
  times[0].tv_nsec = times[1].tv_nsec = (when_ms % 1000) * 1'000'000;
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0) << path;
}

class DeltaLogCleanupTest : public test::TableDirTest {
 protected:
  DeltaLogCleanupTest() : TableDirTest("delta_log_cleanup_test") {}

  std::unique_ptr<DeltaLog> OpenLog(const DeltaLogOptions& options) {
    auto log = DeltaLog::Open(root_, "test/cleanup", TestSchema(), {"event_date"}, options);
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    return log.ok() ? std::move(*log) : nullptr;
  }

  /// Commits txn `txn` (version `txn` on a fresh table): adds f<txn>, and every third commit
  /// removes the file of the commit before, so that checkpoints carry tombstones.
  void CommitTxn(DeltaLog* log, int64_t txn) {
    std::vector<std::string> removes;
    if (txn % 3 == 0) removes.push_back("event_date=2026-11-24/f" + std::to_string(txn - 1) + ".parquet");
    ASSERT_OK_AND_ASSIGN(v, log->Commit("app", txn, {test::AddOf("2026-11-24", "f" + std::to_string(txn) + ".parquet")},
                                        removes, "WRITE"));
    ASSERT_EQ(v, txn);
    live_at_[v] = log->LiveFiles();
  }

  std::string LogDir() const { return root_ + "/_delta_log"; }
  std::string Checkpoint(int64_t version) const { return CheckpointPath(LogDir(), version); }
  std::string LogFile(int64_t version, const std::string& suffix) const {
    char name[32];
    std::snprintf(name, sizeof(name), "%020lld", static_cast<long long>(version));
    return LogDir() + "/" + name + suffix;
  }

  /// The live files of the table as of `version`, rebuilt from the log files alone.
  std::vector<std::string> LiveAt(int64_t version) {
    DeltaSnapshot snapshot;
    auto status = LoadDeltaSnapshot(LogDir(), version, &snapshot);
    EXPECT_TRUE(status.ok()) << status.ToString();
    std::vector<std::string> out;
    for (const auto& [path, add] : snapshot.live) out.push_back(path);
    return out;
  }

  std::map<int64_t, std::vector<std::string>> live_at_;  // as committed
};

TEST(DeltaIntervalTest, ParsesWhatSparkAndDeltaRsWrite) {
  const std::pair<const char*, int64_t> good[] = {
      {"interval 30 days", 30 * kMillisPerDay},
      {"interval 1 day", kMillisPerDay},
      {"INTERVAL 10 Minutes", 600'000},
      {"  interval 1 day 12 hours ", kMillisPerDay + 12 * kHourMs},
      {"7 days", 7 * kMillisPerDay},
      {"interval 2 weeks", 14 * kMillisPerDay},
      {"interval 168 hours", 7 * kMillisPerDay},
      {"interval 90 seconds", 90'000},
      {"interval 1500 microseconds", 1},
      {"interval 0 days", 0},
  };
  for (const auto& [text, ms] : good) {
    SCOPED_TRACE(text);
    ASSERT_OK_AND_ASSIGN(parsed, ParseDeltaInterval(text));
    EXPECT_EQ(parsed, ms);
  }
  for (const char* bad : {"", "interval", "30", "interval 1 month", "interval 2 years", "interval -1 days",
                          "interval 1.5 days", "interval 1 fortnight", "interval 99999999999999999 weeks"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(ParseDeltaInterval(bad).ok());
  }
}

TEST(DeltaIntervalTest, FormatsWithTheLargestExactUnitAndRoundTrips) {
  const std::pair<int64_t, const char*> cases[] = {
      {30 * kMillisPerDay, "interval 30 days"}, {kMillisPerDay, "interval 1 day"},
      {600'000, "interval 10 minutes"},         {36 * kHourMs, "interval 36 hours"},
      {1500, "interval 1500 milliseconds"},     {0, "interval 0 days"}};
  for (const auto& [ms, text] : cases) {
    SCOPED_TRACE(text);
    EXPECT_EQ(FormatDeltaInterval(ms), text);
    ASSERT_OK_AND_ASSIGN(back, ParseDeltaInterval(FormatDeltaInterval(ms)));
    EXPECT_EQ(back, ms);
  }
}

TEST_F(DeltaLogCleanupTest, NewTableRecordsItsRetentionAndAnExistingTablesPropertiesWin) {
  DeltaLogOptions options;
  options.retention = {2 * kMillisPerDay, 600'000, true};
  auto log = OpenLog(options);
  ASSERT_NE(log, nullptr);
  ASSERT_OK_AND_ASSIGN(text, ReadFile(Entry(0)));
  EXPECT_NE(text.find("\"configuration\":{\"delta.logRetentionDuration\":\"interval 2 days\","
                      "\"delta.deletedFileRetentionDuration\":\"interval 10 minutes\"}"),
            std::string::npos)
      << text;
  EXPECT_EQ(log->retention().log_retention_ms, 2 * kMillisPerDay);

  // Another writer with other defaults keeps to the table's properties, also after a checkpoint.
  ASSERT_OK(log->Checkpoint());
  DeltaLogOptions other;
  other.retention = {kHourMs, 7 * kMillisPerDay, true};
  auto reopened = OpenLog(other);
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->retention().log_retention_ms, 2 * kMillisPerDay);
  EXPECT_EQ(reopened->retention().removed_file_retention_ms, 600'000);
}

TEST_F(DeltaLogCleanupTest, AnUnparsableRetentionPropertyIsRefused) {
  ASSERT_NE(OpenLog(DeltaLogOptions{}), nullptr);
  ASSERT_OK_AND_ASSIGN(text, ReadFile(Entry(0)));
  const std::string from = "\"interval 30 days\"";
  ASSERT_NE(text.find(from), std::string::npos);
  text.replace(text.find(from), from.size(), "\"a month\"");
  ASSERT_OK(WriteFileAtomic(Entry(0), text));
  auto log = DeltaLog::Open(root_, "test/cleanup", TestSchema(), {"event_date"}, DeltaLogOptions{});
  ASSERT_FALSE(log.ok());
  EXPECT_TRUE(log.status().IsInvalid());
  for (const char* part : {"test/cleanup", "delta.logRetentionDuration", "a month"}) {
    EXPECT_NE(log.status().message().find(part), std::string::npos) << log.status().message();
  }
}

/// Rewrites entry 0 so that the table's configuration also sets `property` to `value`.
void SetTableProperty(const std::string& entry, const std::string& property, const std::string& value) {
  ASSERT_OK_AND_ASSIGN(text, ReadFile(entry));
  const std::string from = "\"configuration\":{";
  ASSERT_NE(text.find(from), std::string::npos);
  text.replace(text.find(from), from.size(), from + "\"" + property + "\":\"" + value + "\",");
  ASSERT_OK(WriteFileAtomic(entry, text));
}

TEST_F(DeltaLogCleanupTest, TheTablesCheckpointIntervalWinsOverTheWriters) {
  ASSERT_NE(OpenLog(DeltaLogOptions{}), nullptr);
  SetTableProperty(Entry(0), "delta.checkpointInterval", "3");
  DeltaLogOptions options;
  options.checkpoint_interval = 5;
  auto log = OpenLog(options);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->checkpoint_interval(), 3);
  for (int64_t txn = 1; txn <= 7; ++txn) CommitTxn(log.get(), txn);
  for (int64_t v = 1; v <= 7; ++v) EXPECT_EQ(PathExists(Checkpoint(v)), v % 3 == 0) << v;

  // A writer that checkpoints only when told keeps to that.
  options.checkpoint_interval = 0;
  auto manual = OpenLog(options);
  ASSERT_NE(manual, nullptr);
  EXPECT_EQ(manual->checkpoint_interval(), 0);
}

TEST_F(DeltaLogCleanupTest, AnUnparsableCheckpointIntervalIsRefused) {
  ASSERT_NE(OpenLog(DeltaLogOptions{}), nullptr);
  for (const char* bad : {"0", "ten", "-3", "2.5", "99999999"}) {
    SCOPED_TRACE(bad);
    const std::string entry0 = ReadFile(Entry(0)).ValueOr("");
    SetTableProperty(Entry(0), "delta.checkpointInterval", bad);
    auto log = DeltaLog::Open(root_, "test/cleanup", TestSchema(), {"event_date"}, DeltaLogOptions{});
    ASSERT_FALSE(log.ok());
    EXPECT_TRUE(log.status().IsInvalid());
    for (const char* part : {"test/cleanup", "delta.checkpointInterval", bad}) {
      EXPECT_NE(log.status().message().find(part), std::string::npos) << log.status().message();
    }
    ASSERT_OK(WriteFileAtomic(Entry(0), entry0));
  }
}

TEST_F(DeltaLogCleanupTest, ExpiredEntriesAndCheckpointsGoOnlyBehindACoveringCheckpoint) {
  DeltaLogOptions options;
  options.checkpoint_interval = 5;
  options.retention = {kHourMs, kMillisPerDay, true};
  auto log = OpenLog(options);
  ASSERT_NE(log, nullptr);
  for (int64_t txn = 1; txn <= 12; ++txn) CommitTxn(log.get(), txn);
  for (int64_t v = 0; v <= 12; ++v) EXPECT_TRUE(PathExists(Entry(v))) << v;  // nothing expired yet

  // Versions 0..7 are two hours old: 7 was current an hour ago, so it must stay readable; the
  // newest checkpoint at or below it is 5, and only what is below 5 goes.
  for (int64_t v = 0; v <= 7; ++v) Backdate(Entry(v), 2 * kHourMs);
  Backdate(Checkpoint(5), 2 * kHourMs);
  for (int64_t txn = 13; txn <= 15; ++txn) CommitTxn(log.get(), txn);
  for (int64_t v = 0; v <= 4; ++v) EXPECT_FALSE(PathExists(Entry(v))) << v;
  for (int64_t v = 5; v <= 15; ++v) EXPECT_TRUE(PathExists(Entry(v))) << v;
  for (int64_t v : {5, 10, 15}) EXPECT_TRUE(PathExists(Checkpoint(v))) << v;
  for (int64_t v = 5; v <= 15; ++v) EXPECT_EQ(LiveAt(v), live_at_[v]) << v;

  // Everything up to 15 expires: checkpoint 15 covers it, 5 and 10 go with the entries below 15.
  for (int64_t v = 5; v <= 15; ++v) Backdate(Entry(v), 2 * kHourMs);
  for (int64_t v : {5, 10, 15}) Backdate(Checkpoint(v), 2 * kHourMs);
  for (int64_t txn = 16; txn <= 20; ++txn) CommitTxn(log.get(), txn);
  for (int64_t v = 0; v <= 14; ++v) EXPECT_FALSE(PathExists(Entry(v))) << v;
  for (int64_t v = 15; v <= 20; ++v) EXPECT_TRUE(PathExists(Entry(v))) << v;
  EXPECT_FALSE(PathExists(Checkpoint(5)));
  EXPECT_FALSE(PathExists(Checkpoint(10)));
  EXPECT_TRUE(PathExists(Checkpoint(15)));
  EXPECT_TRUE(PathExists(Checkpoint(20)));
  ASSERT_OK_AND_ASSIGN(last, ReadFile(LogDir() + "/_last_checkpoint"));
  EXPECT_EQ(last.find("{\"version\":20,"), 0u) << last;

  // Every version still in the log reads as it was committed; the reopened table is the same.
  for (int64_t v = 15; v <= 20; ++v) EXPECT_EQ(LiveAt(v), live_at_[v]) << v;
  DeltaSnapshot gone;
  EXPECT_FALSE(LoadDeltaSnapshot(LogDir(), 14, &gone).ok());
  auto reopened = OpenLog(options);
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->version(), 20);
  EXPECT_EQ(reopened->LiveFiles(), log->LiveFiles());
  EXPECT_EQ(reopened->TxnVersion("app"), 20);
  EXPECT_EQ(reopened->tombstones().size(), log->tombstones().size());
  ASSERT_OK_AND_ASSIGN(v21, reopened->Commit("app", 21, {test::AddOf("2026-11-25", "g.parquet")}, {}, "WRITE"));
  EXPECT_EQ(v21, 21);
}

TEST_F(DeltaLogCleanupTest, NothingGoesWithoutACheckpointAtOrBelowTheNewestExpiredVersion) {
  DeltaLogOptions options;
  options.checkpoint_interval = 0;
  auto log = OpenLog(options);
  ASSERT_NE(log, nullptr);
  for (int64_t txn = 1; txn <= 4; ++txn) CommitTxn(log.get(), txn);
  for (int64_t v = 0; v <= 4; ++v) Backdate(Entry(v), 2 * kHourMs);
  // All expired but no checkpoint anywhere: the entries are the only copy of the table.
  ASSERT_OK_AND_ASSIGN(none, CleanUpExpiredLog(LogDir(), 4, NowMillis(), kHourMs));
  EXPECT_EQ(none.kept_from, -1);
  EXPECT_EQ(none.files_deleted, 0);

  // A checkpoint at 6 exists, but only versions up to 3 expired: 3 must stay readable, and
  // no checkpoint at or below 3 exists to read it from.
  for (int64_t txn = 5; txn <= 6; ++txn) CommitTxn(log.get(), txn);
  ASSERT_OK(log->Checkpoint());  // checkpoint 6; the table's 30 days delete nothing
  for (int64_t v = 0; v <= 3; ++v) Backdate(Entry(v), 2 * kHourMs);
  for (int64_t v = 4; v <= 6; ++v) Backdate(Entry(v), 0);
  ASSERT_OK_AND_ASSIGN(still_none, CleanUpExpiredLog(LogDir(), 6, NowMillis(), kHourMs));
  EXPECT_EQ(still_none.files_deleted, 0);
  for (int64_t v = 0; v <= 6; ++v) EXPECT_TRUE(PathExists(Entry(v))) << v;
}

TEST_F(DeltaLogCleanupTest, OtherWritersLogFilesFollowTheSameRule) {
  DeltaLogOptions options;
  options.checkpoint_interval = 0;
  auto log = OpenLog(options);
  ASSERT_NE(log, nullptr);
  for (int64_t txn = 1; txn <= 4; ++txn) CommitTxn(log.get(), txn);
  ASSERT_OK(log->Checkpoint());  // single-part checkpoint 4
  for (int64_t txn = 5; txn <= 9; ++txn) CommitTxn(log.get(), txn);
  const std::string part1 = LogFile(7, ".checkpoint.0000000001.0000000002.parquet");
  const std::string part2 = LogFile(7, ".checkpoint.0000000002.0000000002.parquet");
  const std::string crc = LogFile(2, ".crc");
  const std::string compacted = LogFile(0, ".00000000000000000003.compacted.json");
  const std::string compacted_late = LogFile(2, ".00000000000000000005.compacted.json");
  const std::string v2 = LogFile(1, ".checkpoint.80a083e8-7026-4e79-81be-64bd76c43a11.json");
  const std::string stale_temp = Entry(3) + ".tmp.12345.0";
  const std::string fresh_temp = Entry(10) + ".tmp.12345.1";
  for (const auto& path : {part1, crc, compacted, compacted_late, v2, stale_temp, fresh_temp}) {
    ASSERT_OK(WriteFileAtomic(path, "x"));
  }
  ASSERT_OK(MakeDirs(LogDir() + "/_sidecars"));
  ASSERT_OK(WriteFileAtomic(LogDir() + "/_sidecars/old.parquet", "x"));
  std::error_code ec;
  for (const auto& item : std::filesystem::recursive_directory_iterator(LogDir(), ec)) {
    if (item.path() != fresh_temp && item.is_regular_file()) Backdate(item.path().string(), 2 * kHourMs);
  }
  Backdate(Entry(9), 0);

  // Version 8 is the newest expired one; 7's checkpoint lacks a part, so 4's is used.
  ASSERT_OK_AND_ASSIGN(first, CleanUpExpiredLog(LogDir(), 9, NowMillis(), kHourMs));
  EXPECT_EQ(first.kept_from, 4);
  for (int64_t v = 0; v <= 3; ++v) EXPECT_FALSE(PathExists(Entry(v))) << v;
  for (const auto& gone : {crc, compacted, v2, stale_temp}) EXPECT_FALSE(PathExists(gone)) << gone;
  for (const auto& kept : {compacted_late, part1, fresh_temp, Checkpoint(4), Entry(4)}) {
    EXPECT_TRUE(PathExists(kept)) << kept;
  }
  EXPECT_TRUE(PathExists(LogDir() + "/_sidecars/old.parquet"));
  EXPECT_TRUE(PathExists(LogDir() + "/_last_checkpoint"));

  // With its second part, 7's checkpoint is complete and becomes the one kept.
  ASSERT_OK(WriteFileAtomic(part2, "x"));
  ASSERT_OK_AND_ASSIGN(second, CleanUpExpiredLog(LogDir(), 9, NowMillis(), kHourMs));
  EXPECT_EQ(second.kept_from, 7);
  for (int64_t v = 4; v <= 6; ++v) EXPECT_FALSE(PathExists(Entry(v))) << v;
  for (const auto& gone : {compacted_late, Checkpoint(4)}) EXPECT_FALSE(PathExists(gone)) << gone;
  for (const auto& kept : {part1, part2, Entry(7), Entry(8), Entry(9)}) EXPECT_TRUE(PathExists(kept)) << kept;
}

TEST(CheckpointFileNameTest, SingleAndMultiPartNamesAndNothingElse) {
  const auto single = ParseCheckpointFileName("00000000000000000012.checkpoint.parquet");
  ASSERT_TRUE(single);
  EXPECT_EQ(single->version, 12);
  EXPECT_EQ(single->part, 1);
  EXPECT_EQ(single->parts, 1);
  const auto part = ParseCheckpointFileName("00000000000000000012.checkpoint.0000000002.0000000003.parquet");
  ASSERT_TRUE(part);
  EXPECT_EQ(part->version, 12);
  EXPECT_EQ(part->part, 2);
  EXPECT_EQ(part->parts, 3);
  for (const char* other : {"00000000000000000012.json", "00000000000000000012.checkpoint.parquet.tmp.1.0",
                            "00000000000000000012.checkpoint.80a083e8-7026-4e79-81be-64bd76c43a11.parquet",
                            "00000000000000000012.checkpoint.0000000004.0000000003.parquet",
                            "00000000000000000012.checkpoint.0000000000.0000000003.parquet",
                            "0000000000000000001x.checkpoint.parquet", "12.checkpoint.parquet", "_last_checkpoint",
                            "99999999999999999999.checkpoint.parquet"}) {
    EXPECT_FALSE(ParseCheckpointFileName(other)) << other;
  }
  // A version that does not fit in 63 bits is no version (it overflowed before).
  EXPECT_EQ(DecimalPrefix("09223372036854775807.json", 20), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(DecimalPrefix("09223372036854775808.json", 20), -1);
  EXPECT_EQ(DecimalPrefix("99999999999999999999.json", 20), -1);
  EXPECT_EQ(DecimalPrefix("0012", 5), -1);
}

// Spark writes a multi-part checkpoint when checkpoint.partSize is set; once its cleanup has
// deleted the entries it covers, the table opens from its parts or not at all.
TEST_F(DeltaLogCleanupTest, AnotherWritersMultiPartCheckpointOpensTheTable) {
  DeltaLogOptions options;
  options.checkpoint_interval = 0;
  auto log = OpenLog(options);
  ASSERT_NE(log, nullptr);
  for (int64_t txn = 1; txn <= 9; ++txn) CommitTxn(log.get(), txn);
  log.reset();
  // Checkpoint 6 in three parts of the protocol's rows (a set: any split is one).
  DeltaSnapshot at6;
  ASSERT_OK(LoadDeltaSnapshot(LogDir(), 6, &at6));
  ASSERT_OK_AND_ASSIGN(bytes, DeltaCheckpointBytes(at6, /*min_tombstone_ms=*/0));
  ASSERT_OK_AND_ASSIGN(reader, parquet::arrow::OpenFile(std::make_shared<arrow::io::BufferReader>(bytes),
                                                        arrow::default_memory_pool()));
  ASSERT_OK_AND_ASSIGN(rows, reader->ReadTable());
  ASSERT_GE(rows->num_rows(), 6);  // protocol, metaData, txn, adds, tombstones
  std::vector<std::string> parts;
  for (int64_t k = 0; k < 3; ++k) {
    parts.push_back(LogFile(6, ".checkpoint.000000000" + std::to_string(k + 1) + ".0000000003.parquet"));
    const int64_t from = rows->num_rows() * k / 3, to = rows->num_rows() * (k + 1) / 3;
    ASSERT_OK_AND_ASSIGN(out, arrow::io::FileOutputStream::Open(parts.back()));
    ASSERT_OK(parquet::arrow::WriteTable(*rows->Slice(from, to - from), arrow::default_memory_pool(), out, 1 << 20));
    ASSERT_OK(out->Close());
  }
  for (int64_t v = 0; v <= 6; ++v) std::filesystem::remove(Entry(v));

  log = OpenLog(options);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->version(), 9);
  EXPECT_EQ(log->LiveFiles(), live_at_[9]);
  EXPECT_EQ(LiveAt(7), live_at_[7]);  // the background checkpointer's way in
  log.reset();

  // A part missing: the checkpoint is not complete, and nothing else covers versions 0..6.
  std::filesystem::remove(parts[1]);
  auto refused = DeltaLog::Open(root_, "test/cleanup", TestSchema(), {"event_date"}, options);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("no version 0 and no checkpoint this build reads"), std::string::npos)
      << refused.status().ToString();
  // A V2 checkpoint in its place is named as what this build does not read.
  ASSERT_OK(WriteFileAtomic(LogFile(6, ".checkpoint.80a083e8-7026-4e79-81be-64bd76c43a11.json"), "{}"));
  refused = DeltaLog::Open(root_, "test/cleanup", TestSchema(), {"event_date"}, options);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("is a V2 checkpoint"), std::string::npos) << refused.status().ToString();
}

// A hostile or damaged multi-part checkpoint: one part adds a file another part removes. Each
// part is sound alone; read together they are refused, as one file holding both is.
TEST_F(DeltaLogCleanupTest, CheckpointPartsThatAddAndRemoveOneFileAreRefused) {
  DeltaLogOptions options;
  options.checkpoint_interval = 0;
  auto log = OpenLog(options);
  ASSERT_NE(log, nullptr);
  for (int64_t txn = 1; txn <= 2; ++txn) CommitTxn(log.get(), txn);
  log.reset();
  DeltaSnapshot adds;
  ASSERT_OK(LoadDeltaSnapshot(LogDir(), 2, &adds));
  ASSERT_FALSE(adds.live.empty());
  DeltaSnapshot removes;
  DeltaRemoveFile remove;
  remove.path = adds.live.begin()->first;
  remove.deletion_timestamp_ms = NowMillis();
  removes.ApplyRemove(remove);
  int k = 0;
  for (const DeltaSnapshot* part : {&adds, &removes}) {
    ASSERT_OK_AND_ASSIGN(bytes, DeltaCheckpointBytes(*part, /*min_tombstone_ms=*/0));
    ASSERT_OK(WriteFileAtomic(LogFile(2, ".checkpoint.000000000" + std::to_string(++k) + ".0000000002.parquet"),
                              std::string_view(*bytes)));
  }
  ASSERT_OK_AND_ASSIGN(listing, ListDir(LogDir()));
  const CheckpointFiles checkpoint = NewestCompleteCheckpoint(listing, 2);
  ASSERT_EQ(checkpoint.version, 2);
  ASSERT_EQ(checkpoint.names.size(), 2u);
  DeltaSnapshot read;
  const arrow::Status refused = ReadDeltaCheckpointFiles(LogDir(), checkpoint, &read);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("both adds and removes '" + remove.path + "'"), std::string::npos)
      << refused.ToString();
}

TEST_F(DeltaLogCleanupTest, ATablePropertyOfZeroRetentionCleansUpToTheNewestCheckpoint) {
  DeltaLogOptions zero;
  zero.checkpoint_interval = 5;
  zero.retention = {0, 0, true};
  ASSERT_NE(OpenLog(zero), nullptr);  // the table now says: no log retention

  // A writer whose own default is 30 days keeps to the table's zero, in the background.
  DeltaLogOptions options;
  options.checkpoint_interval = 5;
  options.background_checkpoints = true;
  auto log = OpenLog(options);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->retention().log_retention_ms, 0);
  for (int64_t txn = 1; txn <= 12; ++txn) {
    CommitTxn(log.get(), txn);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // every entry older than the next
  }
  ASSERT_OK(log->WaitForCheckpoints());
  // Checkpoint 10's cleanup ran when 9 (at least) had expired: checkpoint 5 covers 0..4. Whether
  // 10 itself had expired by then depends on the clock, so 5..9 are gone together or not at all.
  EXPECT_TRUE(PathExists(Checkpoint(10)));
  for (int64_t v = 0; v <= 4; ++v) EXPECT_FALSE(PathExists(Entry(v))) << v;
  for (int64_t v = 6; v <= 9; ++v) EXPECT_EQ(PathExists(Entry(v)), PathExists(Entry(5))) << v;
  EXPECT_EQ(PathExists(Checkpoint(5)), PathExists(Entry(5)));
  for (int64_t v = 10; v <= 12; ++v) EXPECT_TRUE(PathExists(Entry(v))) << v;
  for (int64_t v = 10; v <= 12; ++v) EXPECT_EQ(LiveAt(v), live_at_[v]) << v;

  // A checkpoint of the newest version, once it has expired, leaves that checkpoint and entry.
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_OK(log->Checkpoint());
  for (int64_t v = 0; v <= 11; ++v) EXPECT_FALSE(PathExists(Entry(v))) << v;
  EXPECT_FALSE(PathExists(Checkpoint(10)));
  EXPECT_TRUE(PathExists(Checkpoint(12)));
  EXPECT_TRUE(PathExists(Entry(12)));
  // Removed files, with the table's zero retention, are forgotten as soon as time moves on.
  EXPECT_FALSE(log->tombstones().empty());
  EXPECT_EQ(log->ExpireTombstones(NowMillis()).size(), 4u);
  EXPECT_TRUE(log->tombstones().empty());
  log.reset();
  auto reopened = OpenLog(options);
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->version(), 12);
  EXPECT_EQ(reopened->LiveFiles(), live_at_[12]);
  EXPECT_EQ(reopened->TxnVersion("app"), 12);
}

TEST_F(DeltaLogCleanupTest, BackgroundCheckpointsMatchTheSynchronousOnes) {
  DeltaLogOptions background;
  background.checkpoint_interval = 4;
  background.background_checkpoints = true;
  auto log = OpenLog(background);
  ASSERT_NE(log, nullptr);
  for (int64_t txn = 1; txn <= 9; ++txn) CommitTxn(log.get(), txn);
  ASSERT_OK(log->WaitForCheckpoints());
  EXPECT_TRUE(PathExists(Checkpoint(8)));
  DeltaSnapshot from_background;
  ASSERT_OK(ReadDeltaCheckpoint(Checkpoint(8), &from_background));
  // The same version's checkpoint written from checkpoint 4 and the entries after it.
  DeltaSnapshot at8;
  std::filesystem::remove(Checkpoint(8));
  ASSERT_OK(LoadDeltaSnapshot(LogDir(), 8, &at8));
  ASSERT_OK(WriteDeltaCheckpoint(LogDir(), at8, NowMillis(), kMillisPerDay));
  DeltaSnapshot from_sync;
  ASSERT_OK(ReadDeltaCheckpoint(Checkpoint(8), &from_sync));
  std::vector<std::string> a, b;
  for (const auto& [path, add] : from_background.live) a.push_back(path);
  for (const auto& [path, add] : from_sync.live) b.push_back(path);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, live_at_[8]);
  EXPECT_EQ(from_background.tombstones.size(), from_sync.tombstones.size());
  EXPECT_EQ(from_background.txns.at("app").version, 8);
  ASSERT_TRUE(from_background.metadata.has_value());
  EXPECT_EQ(from_background.metadata->configuration, log->metadata()->configuration);
}

TEST_F(DeltaLogCleanupTest, ABackgroundFailureIsReportedNamingTheTableAndVersion) {
  ASSERT_OK(MakeDirs(LogDir()));
  BackgroundCheckpointer checkpointer(LogDir(), "test/cleanup");
  checkpointer.Request(3, LogRetention{});  // no entries to build version 3 from
  auto status = checkpointer.Wait();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("test/cleanup"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("version 3"), std::string::npos) << status.message();
  EXPECT_TRUE(checkpointer.Wait().ok());  // reported once
}

TEST_F(DeltaLogCleanupTest, AFollowingReaderForgetsExpiredTombstones) {
  DeltaLogOptions options;
  options.checkpoint_interval = 0;
  options.retention = {kMillisPerDay, 0, true};
  auto log = OpenLog(options);
  ASSERT_NE(log, nullptr);
  ASSERT_OK_AND_ASSIGN(reader, DeltaLog::OpenForRead(root_, "test/cleanup"));
  for (int64_t txn = 1; txn <= 9; ++txn) CommitTxn(log.get(), txn);
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  std::vector<DeltaAddFile> added;
  int entries = 0;
  while (true) {
    ASSERT_OK_AND_ASSIGN(applied, reader->ReadNextEntry(&added));
    if (!applied) break;
    ++entries;
  }
  EXPECT_EQ(entries, 9);
  EXPECT_EQ(reader->LiveFiles(), live_at_[9]);
  EXPECT_TRUE(reader->tombstones().empty());
}

}  // namespace
}  // namespace medallion::sink

namespace medallion::sink {
namespace {

/// Not run by default (--gtest_also_run_disabled_tests): how long the commit that reaches the
/// checkpoint interval takes with 20,000 live files, checkpoint in the commit or in the background.
TEST_F(DeltaLogCleanupTest, DISABLED_CommitLatencyAtTheCheckpointInterval) {
  for (bool background : {false, true}) {
    std::filesystem::remove_all(root_);
    DeltaLogOptions options;
    options.checkpoint_interval = 10;
    options.background_checkpoints = background;
    auto log = OpenLog(options);
    ASSERT_NE(log, nullptr);
    std::vector<DeltaAddFile> adds;
    for (int i = 0; i < 20000; ++i) {
      DeltaAddFile add = test::AddOf("2026-11-24", "file-" + std::to_string(i) + ".parquet");
      add.stats_json = R"({"numRecords":1000,"minValues":{"id":1},"maxValues":{"id":1000},"nullCount":{"id":0}})";
      adds.push_back(std::move(add));
    }
    ASSERT_OK(log->Commit("app", 1, adds, {}, "WRITE").status());
    double slowest = 0, at_interval = 0;
    for (int64_t txn = 2; txn <= 20; ++txn) {
      const auto start = std::chrono::steady_clock::now();
      ASSERT_OK(log->Commit("app", txn, {test::AddOf("2026-11-25", "g" + std::to_string(txn) + ".parquet")}, {},
                            "WRITE").status());
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      if (txn % 10 == 0) at_interval = std::max(at_interval, ms);
      else slowest = std::max(slowest, ms);
    }
    const auto start = std::chrono::steady_clock::now();
    ASSERT_OK(log->WaitForCheckpoints());
    const double wait_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::printf("%s: commit at the interval %.1f ms, slowest other commit %.1f ms, wait at the end %.1f ms\n",
                background ? "background" : "in the commit", at_interval, slowest, wait_ms);
  }
}

}  // namespace
}  // namespace medallion::sink
