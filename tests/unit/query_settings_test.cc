// The query record: its codec (round trip, unknown version, damaged text), the diff of
// recorded and current settings, and which changes a restart refuses; the codec of each layer.
#include "engine/query_settings.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "engine/tables.h"
#include "sink/parquet_file.h"
#include "status_assertions.h"

namespace medallion::engine {
namespace {

TEST(QueryRecordTest, RoundTripsEverySettingAndTheFloor) {
  PipelineOptions o;
  o.window_size_us = 90'000'000;
  o.window_slide_us = 30'000'000;
  o.top_n = 7;
  o.parquet.compression = "snappy";
  QueryRecord record = RecordOf(o);
  record.dedup_floor_us = 1'700'000'000'000'000;
  ASSERT_OK_AND_ASSIGN(back, QueryRecordFromJson(QueryRecordToJson(record), "q.json"));
  EXPECT_EQ(back.settings, record.settings);
  EXPECT_EQ(back.dedup_floor_us, record.dedup_floor_us);
  EXPECT_EQ(back.settings.at("gold.window_size"), "90s");
  EXPECT_EQ(back.settings.at("gold.window_slide"), "30s");
  EXPECT_EQ(back.settings.at("gold.top_n"), "7");
  EXPECT_EQ(back.settings.size(), QuerySettingsTable().size());

  record.dedup_floor_us = QueryRecord::kNoFloor;
  ASSERT_OK_AND_ASSIGN(no_floor, QueryRecordFromJson(QueryRecordToJson(record), "q.json"));
  EXPECT_EQ(no_floor.dedup_floor_us, QueryRecord::kNoFloor);
}

TEST(QueryRecordTest, UnknownVersionIsRefusedNamingIt) {
  auto r = QueryRecordFromJson(R"({"version":2,"settings":{}})", "/c/query.json");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsInvalid());
  EXPECT_NE(r.status().message().find("version 2"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("/c/query.json"), std::string::npos);
}

TEST(QueryRecordTest, DamagedTextIsRefusedWithWhatToDo) {
  const std::string good = QueryRecordToJson(RecordOf(PipelineOptions{}));
  for (const std::string& bad :
       {good.substr(0, good.size() / 2), std::string("not json"), std::string(R"({"settings":{}})"),
        std::string(R"({"version":1})"), std::string(R"({"version":1,"settings":{"gold.top_n":5}})"),
        std::string(R"({"version":1,"settings":{},"dedup_floor_us":"x"})")}) {
    SCOPED_TRACE(bad);
    auto r = QueryRecordFromJson(bad, "/c/query.json");
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.status().IsInvalid());
    EXPECT_NE(r.status().message().find("'/c/query.json' is damaged"), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("Restore it from a copy"), std::string::npos);
  }
}

TEST(QueryRecordTest, FileIsWrittenAndReadBack) {
  const std::string dir = "/tmp/query_settings_test." + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  ASSERT_OK_AND_ASSIGN(none, ReadQueryRecord(dir));
  EXPECT_FALSE(none.has_value());
  const QueryRecord record = RecordOf(PipelineOptions{});
  ASSERT_OK(WriteQueryRecord(dir, record));
  ASSERT_OK_AND_ASSIGN(read, ReadQueryRecord(dir));
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->settings, record.settings);
  std::ofstream(QueryRecordPath(dir), std::ios::trunc) << "{\"version\":1,";
  EXPECT_FALSE(ReadQueryRecord(dir).ok());
  std::filesystem::remove_all(dir);
}

TEST(QuerySettingsTest, DiffListsChangesAndTakesMissingKeysAsRecordedNow) {
  PipelineOptions o;
  QueryRecord recorded = RecordOf(o);
  recorded.settings.erase("parquet.compression");  // recorded by an older medallion
  o.top_n = 5;
  o.window_size_us = 120'000'000;
  o.window_slide_us = 120'000'000;
  o.parquet.compression = "snappy";
  const auto changes = DiffSettings(recorded, RecordOf(o));
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_STREQ(changes[0].setting->key, "gold.window_size");
  EXPECT_EQ(changes[0].recorded, "1m");
  EXPECT_EQ(changes[0].current, "2m");
  EXPECT_STREQ(changes[1].setting->key, "gold.window_slide");
  EXPECT_STREQ(changes[2].setting->key, "gold.top_n");
  EXPECT_EQ(changes[2].recorded, "100");
  EXPECT_EQ(changes[2].current, "5");
}

TEST(QuerySettingsTest, RefusesOnlyWhatTheTableRefuses) {
  struct Case {
    const char* name;
    void (*change)(PipelineOptions*);
    bool refused;
  };
  const Case cases[] = {
      {"top_n", [](PipelineOptions* o) { o->top_n = 3; }, false},
      {"output_mode", [](PipelineOptions* o) { o->output_mode = "append"; }, false},
      {"allowed_lateness", [](PipelineOptions* o) { o->allowed_lateness_us = 1'000'000; }, false},
      {"dedup_horizon", [](PipelineOptions* o) { o->dedup_horizon_us = 60'000'000; }, false},
      {"compression", [](PipelineOptions* o) { o->parquet.compression = "none"; }, false},
      {"window_size", [](PipelineOptions* o) { o->window_size_us = 120'000'000; }, true},
      {"window_slide", [](PipelineOptions* o) { o->window_slide_us = 30'000'000; }, true},
      {"topic", [](PipelineOptions* o) { o->source.topic = "other"; }, true},
  };
  const QueryRecord recorded = RecordOf(PipelineOptions{});
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    PipelineOptions o;
    c.change(&o);
    const auto changes = DiffSettings(recorded, RecordOf(o));
    ASSERT_EQ(changes.size(), 1u);
    const arrow::Status st = CheckChanges(changes, /*pending_batch=*/-1, "/c");
    EXPECT_EQ(!st.ok(), c.refused) << st.ToString();
    if (!st.ok()) {
      EXPECT_NE(st.message().find(std::string(changes[0].setting->key) + " (" + changes[0].setting->flag +
                                  ") was " + changes[0].recorded + " and is now " + changes[0].current),
                std::string::npos)
          << st.message();
      EXPECT_NE(st.message().find("new checkpoint directory"), std::string::npos);
    }
    // A planned batch to replay refuses every change.
    const arrow::Status pending = CheckChanges(changes, /*pending_batch=*/4, "/c");
    ASSERT_FALSE(pending.ok());
    EXPECT_NE(pending.message().find("Batch 4 was planned"), std::string::npos) << pending.message();
  }
}

TEST(QuerySettingsTest, ALayerCodecIsRecordedAndReportedOnItsOwn) {
  PipelineOptions o;
  const QueryRecord recorded = RecordOf(o);
  EXPECT_EQ(recorded.settings.at("parquet.compression"), "zstd");
  EXPECT_EQ(recorded.settings.at("parquet.bronze.compression"), "parquet.compression");
  EXPECT_EQ(recorded.settings.at("parquet.gold.compression"), "parquet.compression");
  o.layer_codecs["gold"] = {"zstd", 3};
  const auto changes = DiffSettings(recorded, RecordOf(o));
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_STREQ(changes[0].setting->key, "parquet.gold.compression");
  EXPECT_EQ(changes[0].current, "zstd level 3");
  EXPECT_TRUE(CheckChanges(changes, /*pending_batch=*/-1, "/c").ok());
}

TEST(ParquetForTest, TheLayerCodecReplacesTheSharedOneAndKeepsTheColumnSettings) {
  PipelineOptions o;
  o.parquet.compression_level = -3;
  o.parquet.row_group_rows = 1000;
  o.layer_codecs["gold"] = {"snappy", std::nullopt};
  const sink::ParquetOptions silver = ParquetFor(o, "silver"), gold = ParquetFor(o, "gold"),
                             bronze = ParquetFor(o, "bronze");
  EXPECT_EQ(silver.compression, "zstd");
  EXPECT_EQ(silver.compression_level, -3);
  EXPECT_EQ(gold.compression, "snappy");
  EXPECT_FALSE(gold.compression_level.has_value());  // the shared level was for zstd
  EXPECT_EQ(bronze.compression, "zstd");
  EXPECT_EQ(bronze.compression_level, -3);
  EXPECT_EQ(gold.row_group_rows, 1000);
  EXPECT_EQ(bronze.plain_columns, std::vector<std::string>{"value"});
}

TEST(ParquetForTest, CodecsAndLevelsAreChecked) {
  EXPECT_TRUE(sink::CheckCompression("zstd", -5).ok());
  EXPECT_TRUE(sink::CheckCompression("zstd", 22).ok());
  EXPECT_TRUE(sink::CheckCompression("lz4_raw", std::nullopt).ok());
  EXPECT_TRUE(sink::CheckCompression("none", std::nullopt).ok());
  const arrow::Status too_high = sink::CheckCompression("zstd", 23);
  EXPECT_TRUE(too_high.IsInvalid());
  EXPECT_NE(too_high.message().find("to 22"), std::string::npos) << too_high.message();
  EXPECT_NE(sink::CheckCompression("snappy", 1).message().find("has no levels"), std::string::npos);
  EXPECT_NE(sink::CheckCompression("brotli", std::nullopt).message().find("expected zstd, lz4_raw"),
            std::string::npos);
}

}  // namespace
}  // namespace medallion::engine
