#include "sink/schema_evolution.h"

#include <unistd.h>

#include <filesystem>

#include <arrow/api.h>
#include <gtest/gtest.h>

#include "common/file_util.h"
#include "sink/delta_checkpoint.h"
#include "sink/delta_log.h"
#include "sink/delta_schema.h"
#include "delta_test_support.h"
#include "status_assertions.h"

namespace medallion::sink {
namespace {

using FieldVector = std::vector<std::shared_ptr<arrow::Field>>;

/// The table schema as Table::Open builds it: data columns, then the partition column.
std::shared_ptr<arrow::Schema> WithPartition(FieldVector fields) {
  fields.push_back(arrow::field("event_date", arrow::date32(), false));
  return arrow::schema(fields);
}

FieldVector BaseFields() {
  return {arrow::field("id", arrow::int64(), false), arrow::field("name", arrow::utf8(), true),
          arrow::field("amount", arrow::decimal128(18, 4), true)};
}

FieldVector Appended(FieldVector fields, FieldVector more) {
  fields.insert(fields.end(), more.begin(), more.end());
  return fields;
}

DeltaAddFile MakeAdd(const std::string& name) { return test::AddOf("2026-11-24", name); }

class SchemaEvolutionTest : public test::TableDirTest {
 protected:
  SchemaEvolutionTest() : TableDirTest("schema_evolution_test") {}

  arrow::Result<std::unique_ptr<DeltaLog>> Open(const FieldVector& fields, int interval = 10,
                                                std::vector<std::string> partitions = {"event_date"}) {
    return DeltaLog::Open(root_, "test/silver", WithPartition(fields), std::move(partitions), interval);
  }
  /// Open, then EvolveSchema, as Tables does once every start-up check has passed.
  arrow::Result<std::unique_ptr<DeltaLog>> OpenAndEvolve(const FieldVector& fields, int interval = 10) {
    ARROW_ASSIGN_OR_RAISE(auto log, Open(fields, interval));
    ARROW_RETURN_NOT_OK(log->EvolveSchema());
    return log;
  }

};

TEST_F(SchemaEvolutionTest, AppendedNullableColumnsAreCommittedInOneMetadataEntry) {
  DeltaMetadata before;
  {
    ASSERT_OK_AND_ASSIGN(log, Open(BaseFields()));
    ASSERT_OK(log->Commit("query", 0, {MakeAdd("a.parquet")}, {}, "STREAMING UPDATE").status());
    ASSERT_OK(log->Commit("query", 1, {MakeAdd("b.parquet")}, {}, "STREAMING UPDATE").status());
    before = *log->metadata();
  }
  const auto evolved_fields = Appended(BaseFields(), {arrow::field("channel", arrow::utf8()),
                                                      arrow::field("discount", arrow::decimal128(18, 4))});
  {
    // Open alone writes nothing, and no batch commits before the evolution.
    ASSERT_OK_AND_ASSIGN(pending, Open(evolved_fields));
    EXPECT_EQ(pending->version(), 2);
    EXPECT_EQ(pending->pending_columns(), (std::vector<std::string>{"channel", "discount"}));
    auto refused = pending->Commit("query", 2, {MakeAdd("c.parquet")}, {}, "STREAMING UPDATE");
    ASSERT_TRUE(refused.status().IsInvalid()) << refused.status().ToString();
    EXPECT_NE(refused.status().message().find("EvolveSchema"), std::string::npos);
    EXPECT_FALSE(PathExists(Entry(3)));
  }
  ASSERT_OK_AND_ASSIGN(log, OpenAndEvolve(evolved_fields));
  EXPECT_EQ(log->version(), 3);
  EXPECT_TRUE(log->pending_columns().empty());
  ASSERT_OK_AND_ASSIGN(expected_schema, DeltaSchemaString(*WithPartition(evolved_fields)));
  const DeltaMetadata& after = *log->metadata();
  EXPECT_EQ(after.schema_string, expected_schema);
  EXPECT_EQ(after.id, before.id);
  EXPECT_EQ(after.name, before.name);
  EXPECT_EQ(after.partition_columns, before.partition_columns);
  EXPECT_EQ(after.created_time_ms, before.created_time_ms);
  // The query's progress is where the batches left it, and the files stay live.
  EXPECT_EQ(log->TxnVersion("query"), 1);
  EXPECT_EQ(log->LiveFiles().size(), 2u);

  // The entry holds commitInfo and metaData only: no txn, no file action.
  ASSERT_OK_AND_ASSIGN(text, ReadFile(Entry(3)));
  EXPECT_NE(text.find("\"operation\":\"ADD COLUMNS\""), std::string::npos) << text;
  EXPECT_NE(text.find("[\\\"channel\\\",\\\"discount\\\"]"), std::string::npos) << text;
  EXPECT_NE(text.find("{\"metaData\":"), std::string::npos) << text;
  EXPECT_EQ(text.find("\"txn\""), std::string::npos) << text;
  EXPECT_EQ(text.find("\"add\""), std::string::npos) << text;

  // Batches go on after it.
  ASSERT_OK_AND_ASSIGN(v, log->Commit("query", 2, {MakeAdd("c.parquet")}, {}, "STREAMING UPDATE"));
  EXPECT_EQ(v, 4);
}

TEST_F(SchemaEvolutionTest, EvolutionIsIdempotentOnRestart) {
  ASSERT_OK(Open(BaseFields()).status());
  const auto evolved_fields = Appended(BaseFields(), {arrow::field("sku", arrow::utf8())});
  {
    ASSERT_OK_AND_ASSIGN(log, OpenAndEvolve(evolved_fields));
    EXPECT_EQ(log->version(), 1);
    ASSERT_OK(log->EvolveSchema());  // again on the same object: nothing pending
    EXPECT_EQ(log->version(), 1);
  }
  for (int i = 0; i < 2; ++i) {
    ASSERT_OK_AND_ASSIGN(again, OpenAndEvolve(evolved_fields));
    EXPECT_EQ(again->version(), 1);
    EXPECT_TRUE(again->pending_columns().empty());
  }
  EXPECT_FALSE(PathExists(Entry(2)));
  // An earlier build, missing the column, is refused once the table has evolved.
  auto earlier = Open(BaseFields());
  ASSERT_TRUE(earlier.status().IsInvalid());
  EXPECT_NE(earlier.status().message().find("'sku' \"string\" in the log is not in the schema now (removed)"),
            std::string::npos)
      << earlier.status().ToString();
}

TEST_F(SchemaEvolutionTest, RefusesEveryOtherChangeNamingTableColumnTypesAndWhatToDo) {
  struct Case {
    const char* what;
    FieldVector fields;
    std::vector<std::string> partitions;
    std::vector<std::string> expected;  // substrings of the message
  };
  const std::vector<Case> cases = {
      {"removed",
       {arrow::field("id", arrow::int64(), false), arrow::field("name", arrow::utf8(), true)},
       {"event_date"},
       {"column 'amount' \"decimal(18,4)\" in the log is not in the schema now (removed)"}},
      {"renamed",
       {arrow::field("id", arrow::int64(), false), arrow::field("full_name", arrow::utf8(), true),
        arrow::field("amount", arrow::decimal128(18, 4), true)},
       {"event_date"},
       {"column 'name' \"string\" in the log is 'full_name' \"string\" now (renamed)"}},
      {"retyped",
       {arrow::field("id", arrow::int64(), false), arrow::field("name", arrow::utf8(), true),
        arrow::field("amount", arrow::decimal128(38, 4), true)},
       {"event_date"},
       {"with other column types: amount (\"decimal(18,4)\" in the log, \"decimal(38,4)\" now)"}},
      {"reordered",
       {arrow::field("name", arrow::utf8(), true), arrow::field("id", arrow::int64(), false),
        arrow::field("amount", arrow::decimal128(18, 4), true)},
       {"event_date"},
       {"column 'id' is column 1 in the log and 2 now (reordered)"}},
      {"inserted in the middle",
       {arrow::field("id", arrow::int64(), false), arrow::field("channel", arrow::utf8(), true),
        arrow::field("name", arrow::utf8(), true), arrow::field("amount", arrow::decimal128(18, 4), true)},
       {"event_date"},
       {"column 'channel' \"string\" is new at position 2, before 'name'"}},
      {"nullability changed",
       {arrow::field("id", arrow::int64(), false), arrow::field("name", arrow::utf8(), false),
        arrow::field("amount", arrow::decimal128(18, 4), true)},
       {"event_date"},
       {"column 'name' \"string\" in the log is 'name' \"string\" not null now (nullability changed)"}},
      {"non-nullable addition",
       Appended(BaseFields(), {arrow::field("sku", arrow::utf8(), false)}),
       {"event_date"},
       {"column 'sku' \"string\" not null is new and not nullable"}},
      {"partitioning changed", BaseFields(), {}, {"is partitioned by [\"event_date\"] in its log", "by []"}},
  };
  ASSERT_OK(Open(BaseFields()).status());
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    auto log = Open(c.fields, 10, c.partitions);
    ASSERT_TRUE(log.status().IsInvalid()) << log.status().ToString();
    const std::string message = log.status().message();
    EXPECT_NE(message.find("table test/silver (" + root_ + ")"), std::string::npos) << message;
    EXPECT_NE(message.find("new data directory and a new checkpoint directory"), std::string::npos) << message;
    for (const auto& part : c.expected) EXPECT_NE(message.find(part), std::string::npos) << message;
  }
  // Nothing was written by the refused opens.
  EXPECT_FALSE(PathExists(Entry(1)));
}

TEST_F(SchemaEvolutionTest, NewestMetadataWinsAfterACheckpointAndIsInTheNextOne) {
  const auto evolved_fields = Appended(BaseFields(), {arrow::field("channel", arrow::utf8())});
  ASSERT_OK_AND_ASSIGN(evolved_schema, DeltaSchemaString(*WithPartition(evolved_fields)));
  {
    ASSERT_OK_AND_ASSIGN(log, Open(BaseFields(), /*interval=*/3));
    for (int64_t b = 0; b < 4; ++b) {
      ASSERT_OK(log->Commit("query", b, {MakeAdd(std::to_string(b) + ".parquet")}, {}, "WRITE").status());
    }
  }
  const std::string log_dir = root_ + "/_delta_log";
  ASSERT_TRUE(PathExists(CheckpointPath(log_dir, 3)));
  {
    // Version 5, a JSON entry after the checkpoint of version 3.
    ASSERT_OK_AND_ASSIGN(log, OpenAndEvolve(evolved_fields, 3));
    EXPECT_EQ(log->version(), 5);
  }
  for (int64_t v = 0; v <= 2; ++v) std::filesystem::remove(Entry(v));
  ASSERT_OK_AND_ASSIGN(reader, DeltaLog::OpenForRead(root_, "test/silver"));
  EXPECT_EQ(reader->metadata()->schema_string, evolved_schema);
  ASSERT_OK_AND_ASSIGN(log, Open(evolved_fields, 3));
  EXPECT_EQ(log->version(), 5);
  ASSERT_OK(log->Commit("query", 4, {MakeAdd("4.parquet")}, {}, "WRITE").status());  // version 6: checkpoint
  DeltaSnapshot from_checkpoint;
  ASSERT_OK(ReadDeltaCheckpoint(CheckpointPath(log_dir, 6), &from_checkpoint));
  ASSERT_TRUE(from_checkpoint.metadata.has_value());
  EXPECT_EQ(from_checkpoint.metadata->schema_string, evolved_schema);
  EXPECT_EQ(from_checkpoint.metadata->id, log->metadata()->id);
  EXPECT_EQ(from_checkpoint.txns.at("query").version, 4);
  for (int64_t v = 3; v <= 5; ++v) std::filesystem::remove(Entry(v));
  ASSERT_OK_AND_ASSIGN(reopened, Open(evolved_fields, 3));
  EXPECT_EQ(reopened->version(), 6);
  EXPECT_EQ(reopened->metadata()->schema_string, evolved_schema);
}

TEST_F(SchemaEvolutionTest, EvolutionAtTheCheckpointIntervalWritesACheckpointWithTheNewSchema) {
  ASSERT_OK(Open(BaseFields(), /*interval=*/2).status());
  {
    ASSERT_OK_AND_ASSIGN(log, Open(BaseFields(), 2));
    ASSERT_OK(log->Commit("query", 0, {MakeAdd("a.parquet")}, {}, "WRITE").status());  // version 1
  }
  const auto evolved_fields = Appended(BaseFields(), {arrow::field("channel", arrow::utf8())});
  ASSERT_OK_AND_ASSIGN(log, OpenAndEvolve(evolved_fields, 2));  // version 2
  EXPECT_EQ(log->version(), 2);
  DeltaSnapshot from_checkpoint;
  ASSERT_OK(ReadDeltaCheckpoint(CheckpointPath(root_ + "/_delta_log", 2), &from_checkpoint));
  EXPECT_EQ(from_checkpoint.metadata->schema_string, log->metadata()->schema_string);
  EXPECT_EQ(from_checkpoint.txns.at("query").version, 0);
}

TEST_F(SchemaEvolutionTest, ConfigurationIsKeptByTheEvolutionAndTheCheckpoint) {
  ASSERT_OK(MakeDirs(root_ + "/_delta_log"));
  ASSERT_OK_AND_ASSIGN(schema, DeltaSchemaString(*WithPartition(BaseFields())));
  DeltaMetadata metadata;
  metadata.id = "3f1c0000-0000-4000-8000-000000000001";
  metadata.schema_string = schema;
  metadata.partition_columns = {"event_date"};
  metadata.configuration = {{"delta.appendOnly", "true"}};
  metadata.created_time_ms = 1700000000000;
  ASSERT_OK(CreateFileExclusive(Entry(0), ProtocolActionJson(DeltaProtocol{}) + "\n" +
                                              MetadataActionJson(metadata) + "\n")
                .status());
  ASSERT_OK_AND_ASSIGN(log, OpenAndEvolve(Appended(BaseFields(), {arrow::field("channel", arrow::utf8())}), 1));
  EXPECT_EQ(log->version(), 1);
  EXPECT_EQ(log->metadata()->id, metadata.id);
  EXPECT_EQ(log->metadata()->configuration, metadata.configuration);
  DeltaSnapshot from_checkpoint;
  ASSERT_OK(ReadDeltaCheckpoint(CheckpointPath(root_ + "/_delta_log", 1), &from_checkpoint));
  EXPECT_EQ(from_checkpoint.metadata->configuration, metadata.configuration);
}

TEST_F(SchemaEvolutionTest, ConcurrentEvolutionsCommitOneMetadataEntry) {
  ASSERT_OK(Open(BaseFields()).status());
  const auto evolved_fields = Appended(BaseFields(), {arrow::field("channel", arrow::utf8())});
  std::vector<std::unique_ptr<DeltaLog>> logs;
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(log, Open(evolved_fields));
    logs.push_back(std::move(log));
  }
  // All opened at version 0; the first commits version 1, the others find it and stop.
  for (auto& log : logs) {
    ASSERT_OK(log->EvolveSchema());
    EXPECT_EQ(log->version(), 1);
    EXPECT_TRUE(log->pending_columns().empty());
  }
  EXPECT_FALSE(PathExists(Entry(2)));
  ASSERT_OK(logs.back()->Commit("query", 0, {MakeAdd("a.parquet")}, {}, "WRITE").status());
}

TEST(DiffDeltaSchemasTest, PartitionColumnsMayStandAnywhere) {
  // Table::Open puts the partition columns last, so appended data columns come before them.
  ASSERT_OK_AND_ASSIGN(stored, DeltaSchemaString(*WithPartition(BaseFields())));
  auto moved = BaseFields();
  moved.insert(moved.begin(), arrow::field("event_date", arrow::date32(), false));
  moved.push_back(arrow::field("sku", arrow::utf8()));
  ASSERT_OK_AND_ASSIGN(expected, DeltaSchemaString(*arrow::schema(moved)));
  ASSERT_OK_AND_ASSIGN(diff, DiffDeltaSchemas(stored, expected, {"event_date"}));
  EXPECT_TRUE(diff.incompatibility.empty()) << diff.incompatibility;
  EXPECT_FALSE(diff.same);
  EXPECT_EQ(diff.appended, std::vector<std::string>{"sku"});
  ASSERT_OK_AND_ASSIGN(same, DiffDeltaSchemas(stored, stored, {"event_date"}));
  EXPECT_TRUE(same.same);
  EXPECT_TRUE(DiffDeltaSchemas("not json", stored, {}).status().IsInvalid());
}

}  // namespace
}  // namespace medallion::sink
