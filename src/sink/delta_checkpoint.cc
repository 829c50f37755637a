#include "sink/delta_checkpoint.h"

#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>

#include <arrow/api.h>
#include <arrow/io/memory.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/writer.h>

#include "common/file_util.h"
#include "sink/json_text.h"

namespace medallion::sink {
namespace {

std::shared_ptr<arrow::DataType> StringMap() { return arrow::map(arrow::utf8(), arrow::utf8()); }

/// The checkpoint schema of the Delta protocol (the subset writer version 2 needs).
/// Every field is nullable, as Spark writes it.
std::shared_ptr<arrow::Schema> CheckpointSchema() {
  using arrow::field;
  auto txn = arrow::struct_({field("appId", arrow::utf8()), field("version", arrow::int64()),
                             field("lastUpdated", arrow::int64())});
  auto add = arrow::struct_({field("path", arrow::utf8()), field("partitionValues", StringMap()),
                             field("size", arrow::int64()),
                             field("modificationTime", arrow::int64()),
                             field("dataChange", arrow::boolean()), field("stats", arrow::utf8()),
                             field("tags", StringMap())});
  auto remove = arrow::struct_(
      {field("path", arrow::utf8()), field("deletionTimestamp", arrow::int64()),
       field("dataChange", arrow::boolean()), field("extendedFileMetadata", arrow::boolean()),
       field("partitionValues", StringMap()), field("size", arrow::int64())});
  auto format = arrow::struct_({field("provider", arrow::utf8()), field("options", StringMap())});
  auto metadata = arrow::struct_(
      {field("id", arrow::utf8()), field("name", arrow::utf8()),
       field("description", arrow::utf8()), field("format", format),
       field("schemaString", arrow::utf8()), field("partitionColumns", arrow::list(arrow::utf8())),
       field("configuration", StringMap()), field("createdTime", arrow::int64())});
  auto protocol = arrow::struct_(
      {field("minReaderVersion", arrow::int32()), field("minWriterVersion", arrow::int32())});
  return arrow::schema({field("txn", txn), field("add", add), field("remove", remove),
                        field("metaData", metadata), field("protocol", protocol)});
}

enum Column { kTxn = 0, kAdd, kRemove, kMetadata, kProtocol, kNumColumns };

template <typename T>
T* Child(arrow::ArrayBuilder* parent, int i) {
  return static_cast<T*>(parent->child_builder(i).get());
}

arrow::Status AppendMap(arrow::ArrayBuilder* builder, const PartitionValues& values) {
  auto* map = static_cast<arrow::MapBuilder*>(builder);
  ARROW_RETURN_NOT_OK(map->Append());
  for (const auto& [key, value] : values) {
    ARROW_RETURN_NOT_OK(static_cast<arrow::StringBuilder*>(map->key_builder())->Append(key));
    ARROW_RETURN_NOT_OK(static_cast<arrow::StringBuilder*>(map->item_builder())->Append(value));
  }
  return arrow::Status::OK();
}

/// Builds the checkpoint rows: each row sets exactly one of the action columns.
class CheckpointRows {
 public:
  arrow::Status Init() {
    schema_ = CheckpointSchema();
    for (int i = 0; i < kNumColumns; ++i) {
      ARROW_ASSIGN_OR_RAISE(auto builder, arrow::MakeBuilder(schema_->field(i)->type()));
      builders_[i].reset(static_cast<arrow::StructBuilder*>(builder.release()));
    }
    return arrow::Status::OK();
  }

  /// Starts a row whose action is in `column`; returns that column's builder.
  arrow::Result<arrow::StructBuilder*> Row(Column column) {
    for (int i = 0; i < kNumColumns; ++i) {
      if (i != column) ARROW_RETURN_NOT_OK(builders_[i]->AppendNull());
    }
    ARROW_RETURN_NOT_OK(builders_[column]->Append());
    ++rows_;
    return builders_[column].get();
  }

  arrow::Result<std::shared_ptr<arrow::Table>> Finish() {
    arrow::ArrayVector columns;
    for (auto& builder : builders_) {
      ARROW_ASSIGN_OR_RAISE(auto array, builder->Finish());
      columns.push_back(std::move(array));
    }
    return arrow::Table::Make(schema_, columns, rows_);
  }

  int64_t rows() const { return rows_; }

 private:
  std::shared_ptr<arrow::Schema> schema_;
  std::unique_ptr<arrow::StructBuilder> builders_[kNumColumns];
  int64_t rows_ = 0;
};

arrow::Status AppendActions(const DeltaSnapshot& snapshot, int64_t min_tombstone_ms,
                            CheckpointRows* rows) {
  const DeltaProtocol protocol = snapshot.protocol.value_or(DeltaProtocol{});
  ARROW_ASSIGN_OR_RAISE(auto* p, rows->Row(kProtocol));
  ARROW_RETURN_NOT_OK(Child<arrow::Int32Builder>(p, 0)->Append(protocol.min_reader_version));
  ARROW_RETURN_NOT_OK(Child<arrow::Int32Builder>(p, 1)->Append(protocol.min_writer_version));

  if (snapshot.metadata.has_value()) {
    const DeltaMetadata& m = *snapshot.metadata;
    ARROW_ASSIGN_OR_RAISE(auto* b, rows->Row(kMetadata));
    ARROW_RETURN_NOT_OK(Child<arrow::StringBuilder>(b, 0)->Append(m.id));
    auto* name = Child<arrow::StringBuilder>(b, 1);
    ARROW_RETURN_NOT_OK(m.name.empty() ? name->AppendNull() : name->Append(m.name));
    ARROW_RETURN_NOT_OK(Child<arrow::StringBuilder>(b, 2)->AppendNull());
    auto* format = Child<arrow::StructBuilder>(b, 3);
    ARROW_RETURN_NOT_OK(format->Append());
    ARROW_RETURN_NOT_OK(Child<arrow::StringBuilder>(format, 0)->Append("parquet"));
    ARROW_RETURN_NOT_OK(AppendMap(format->child_builder(1).get(), {}));
    ARROW_RETURN_NOT_OK(Child<arrow::StringBuilder>(b, 4)->Append(m.schema_string));
    auto* columns = Child<arrow::ListBuilder>(b, 5);
    ARROW_RETURN_NOT_OK(columns->Append());
    for (const auto& column : m.partition_columns) {
      ARROW_RETURN_NOT_OK(static_cast<arrow::StringBuilder*>(columns->value_builder())->Append(column));
    }
    ARROW_RETURN_NOT_OK(AppendMap(b->child_builder(6).get(), m.configuration));
    ARROW_RETURN_NOT_OK(Child<arrow::Int64Builder>(b, 7)->Append(m.created_time_ms));
  }

  for (const auto& [app_id, txn] : snapshot.txns) {
    ARROW_ASSIGN_OR_RAISE(auto* b, rows->Row(kTxn));
    ARROW_RETURN_NOT_OK(Child<arrow::StringBuilder>(b, 0)->Append(app_id));
    ARROW_RETURN_NOT_OK(Child<arrow::Int64Builder>(b, 1)->Append(txn.version));
    ARROW_RETURN_NOT_OK(Child<arrow::Int64Builder>(b, 2)->Append(txn.last_updated_ms));
  }

  for (const auto& [path, add] : snapshot.live) {
    ARROW_ASSIGN_OR_RAISE(auto* b, rows->Row(kAdd));
    ARROW_RETURN_NOT_OK(Child<arrow::StringBuilder>(b, 0)->Append(EncodeLogPath(add.path)));
    ARROW_RETURN_NOT_OK(AppendMap(b->child_builder(1).get(), add.partition_values));
    ARROW_RETURN_NOT_OK(Child<arrow::Int64Builder>(b, 2)->Append(add.size));
    ARROW_RETURN_NOT_OK(Child<arrow::Int64Builder>(b, 3)->Append(add.modification_time_ms));
    ARROW_RETURN_NOT_OK(Child<arrow::BooleanBuilder>(b, 4)->Append(false));
    auto* stats = Child<arrow::StringBuilder>(b, 5);
    ARROW_RETURN_NOT_OK(add.stats_json.empty() ? stats->AppendNull() : stats->Append(add.stats_json));
    ARROW_RETURN_NOT_OK(b->child_builder(6)->AppendNull());
  }

  for (const auto& [path, remove] : snapshot.tombstones) {
    if (remove.deletion_timestamp_ms < min_tombstone_ms) continue;
    ARROW_ASSIGN_OR_RAISE(auto* b, rows->Row(kRemove));
    ARROW_RETURN_NOT_OK(Child<arrow::StringBuilder>(b, 0)->Append(EncodeLogPath(remove.path)));
    ARROW_RETURN_NOT_OK(Child<arrow::Int64Builder>(b, 1)->Append(remove.deletion_timestamp_ms));
    ARROW_RETURN_NOT_OK(Child<arrow::BooleanBuilder>(b, 2)->Append(false));
    ARROW_RETURN_NOT_OK(Child<arrow::BooleanBuilder>(b, 3)->Append(true));
    ARROW_RETURN_NOT_OK(AppendMap(b->child_builder(4).get(), remove.partition_values));
    ARROW_RETURN_NOT_OK(Child<arrow::Int64Builder>(b, 5)->Append(remove.size));
  }
  return arrow::Status::OK();
}

// ---- reading ----

std::optional<std::string> StringAt(const std::shared_ptr<arrow::Array>& array, int64_t i) {
  if (array == nullptr || array->IsNull(i)) return std::nullopt;
  if (array->type_id() == arrow::Type::STRING) {
    return static_cast<const arrow::StringArray&>(*array).GetString(i);
  }
  if (array->type_id() == arrow::Type::LARGE_STRING) {
    return static_cast<const arrow::LargeStringArray&>(*array).GetString(i);
  }
  return std::nullopt;
}

int64_t IntAt(const std::shared_ptr<arrow::Array>& array, int64_t i, int64_t fallback) {
  if (array == nullptr || array->IsNull(i)) return fallback;
  if (array->type_id() == arrow::Type::INT64) {
    return static_cast<const arrow::Int64Array&>(*array).Value(i);
  }
  if (array->type_id() == arrow::Type::INT32) {
    return static_cast<const arrow::Int32Array&>(*array).Value(i);
  }
  return fallback;
}

PartitionValues MapAt(const std::shared_ptr<arrow::Array>& array, int64_t i) {
  PartitionValues out;
  if (array == nullptr || array->IsNull(i) || array->type_id() != arrow::Type::MAP) return out;
  const auto& map = static_cast<const arrow::MapArray&>(*array);
  const int64_t begin = map.value_offset(i);
  const int64_t end = begin + map.value_length(i);
  for (int64_t j = begin; j < end; ++j) {
    auto key = StringAt(map.keys(), j);
    auto value = StringAt(map.items(), j);
    if (key.has_value() && value.has_value()) out.emplace_back(*key, *value);
  }
  return out;
}

arrow::Status ReadChunk(const std::string& column, const arrow::StructArray& s,
                        DeltaSnapshot* snapshot) {
  auto f = [&s](const char* name) { return s.GetFieldByName(name); };
  for (int64_t i = 0; i < s.length(); ++i) {
    if (s.IsNull(i)) continue;
    if (column == "add") {
      auto path = StringAt(f("path"), i);
      if (!path.has_value()) return arrow::Status::Invalid("checkpoint add without path");
      DeltaAddFile add{DecodeLogPath(*path), MapAt(f("partitionValues"), i),
                       IntAt(f("size"), i, 0), IntAt(f("modificationTime"), i, 0),
                       StringAt(f("stats"), i).value_or("")};
      ARROW_RETURN_NOT_OK(CheckFileSize("checkpoint", "add", *path, add.size));
      snapshot->ApplyAdd(std::move(add));
    } else if (column == "remove") {
      auto path = StringAt(f("path"), i);
      if (!path.has_value()) return arrow::Status::Invalid("checkpoint remove without path");
      DeltaRemoveFile remove{DecodeLogPath(*path), IntAt(f("deletionTimestamp"), i, 0),
                             MapAt(f("partitionValues"), i), IntAt(f("size"), i, 0)};
      ARROW_RETURN_NOT_OK(CheckFileSize("checkpoint", "remove", *path, remove.size));
      snapshot->tombstones[remove.path] = std::move(remove);
    } else if (column == "txn") {
      auto app_id = StringAt(f("appId"), i);
      if (!app_id.has_value()) return arrow::Status::Invalid("checkpoint txn without appId");
      snapshot->txns[*app_id] = DeltaTxn{IntAt(f("version"), i, -1), IntAt(f("lastUpdated"), i, 0)};
    } else if (column == "protocol") {
      ARROW_ASSIGN_OR_RAISE(snapshot->protocol, CheckedProtocol("checkpoint", IntAt(f("minReaderVersion"), i, 1),
                                                                 IntAt(f("minWriterVersion"), i, 2)));
    } else if (column == "metaData") {
      DeltaMetadata m;
      m.id = StringAt(f("id"), i).value_or("");
      m.name = StringAt(f("name"), i).value_or("");
      auto schema_string = StringAt(f("schemaString"), i);
      if (!schema_string.has_value()) return arrow::Status::Invalid("checkpoint metaData without schemaString");
      m.schema_string = *schema_string;
      auto columns = f("partitionColumns");
      if (columns != nullptr && columns->type_id() == arrow::Type::LIST && columns->IsValid(i)) {
        const auto& list = static_cast<const arrow::ListArray&>(*columns);
        for (int64_t j = list.value_offset(i); j < list.value_offset(i + 1); ++j) {
          if (auto name = StringAt(list.values(), j)) m.partition_columns.push_back(*name);
        }
      }
      m.configuration = MapAt(f("configuration"), i);
      m.created_time_ms = IntAt(f("createdTime"), i, 0);
      snapshot->metadata = std::move(m);
    }
  }
  return arrow::Status::OK();
}

}  // namespace

std::string CheckpointPath(const std::string& log_dir, int64_t version) {
  char name[48];
  std::snprintf(name, sizeof(name), "%020lld.checkpoint.parquet", static_cast<long long>(version));
  return log_dir + "/" + name;
}

arrow::Status WriteDeltaCheckpoint(const std::string& log_dir, const DeltaSnapshot& snapshot,
                                   int64_t now_ms, int64_t tombstone_retention_ms) {
  int64_t rows = 0;
  ARROW_ASSIGN_OR_RAISE(auto buffer, DeltaCheckpointBytes(snapshot, now_ms - tombstone_retention_ms, &rows));
  ARROW_RETURN_NOT_OK(WriteFileAtomic(CheckpointPath(log_dir, snapshot.version),
                                      std::string_view(*buffer)));
  const std::string last = "{\"version\":" + std::to_string(snapshot.version) +
                           ",\"size\":" + std::to_string(rows) + "}";
  return WriteFileAtomic(log_dir + "/_last_checkpoint", last);
}

arrow::Result<std::shared_ptr<arrow::Buffer>> DeltaCheckpointBytes(const DeltaSnapshot& snapshot,
                                                                   int64_t min_tombstone_ms, int64_t* rows) {
  CheckpointRows builder;
  ARROW_RETURN_NOT_OK(builder.Init());
  ARROW_RETURN_NOT_OK(AppendActions(snapshot, min_tombstone_ms, &builder));
  ARROW_ASSIGN_OR_RAISE(auto table, builder.Finish());
  if (rows != nullptr) *rows = builder.rows();
  ARROW_ASSIGN_OR_RAISE(auto sink, arrow::io::BufferOutputStream::Create());
  ARROW_RETURN_NOT_OK(parquet::arrow::WriteTable(*table, arrow::default_memory_pool(), sink,
                                                 /*chunk_size=*/1 << 20));
  return sink->Finish();
}

arrow::Status ReadDeltaCheckpoint(const std::string& path, DeltaSnapshot* snapshot) {
  ARROW_ASSIGN_OR_RAISE(std::string bytes, ReadFile(path));
  return ReadDeltaCheckpointBytes(arrow::Buffer::FromString(std::move(bytes)), path, snapshot);
}

int64_t DecimalPrefix(std::string_view text, size_t n) {
  if (text.size() < n) return -1;
  int64_t v = 0;
  for (size_t i = 0; i < n; ++i) {
    if (text[i] < '0' || text[i] > '9') return -1;
    const int digit = text[i] - '0';
    if (v > (std::numeric_limits<int64_t>::max() - digit) / 10) return -1;
    v = v * 10 + digit;
  }
  return v;
}

std::optional<CheckpointFileName> ParseCheckpointFileName(std::string_view name) {
  constexpr std::string_view kMiddle = ".checkpoint.", kSuffix = "parquet";
  if (name.size() < 20 + kMiddle.size() + kSuffix.size() || name.substr(20, kMiddle.size()) != kMiddle ||
      !name.ends_with(kSuffix)) {
    return std::nullopt;
  }
  CheckpointFileName out;
  out.version = DecimalPrefix(name, 20);
  if (out.version < 0) return std::nullopt;
  const std::string_view rest = name.substr(20 + kMiddle.size());  // "parquet" or "PPPPPPPPPP.NNNNNNNNNN.parquet"
  if (rest == kSuffix) return out;
  if (rest.size() != 10 + 1 + 10 + 1 + kSuffix.size() || rest[10] != '.' || rest[21] != '.') return std::nullopt;
  out.part = DecimalPrefix(rest, 10);
  out.parts = DecimalPrefix(rest.substr(11), 10);
  if (out.part < 1 || out.parts < out.part) return std::nullopt;
  return out;
}

CheckpointFiles NewestCompleteCheckpoint(const std::vector<DirEntry>& listing, int64_t max_version) {
  // version -> part count -> part -> name; a single file is part 1 of 1.
  std::map<int64_t, std::map<int64_t, std::map<int64_t, std::string>>, std::greater<>> found;
  for (const DirEntry& entry : listing) {
    const auto parsed = ParseCheckpointFileName(entry.name);
    if (parsed && parsed->version <= max_version) found[parsed->version][parsed->parts][parsed->part] = entry.name;
  }
  for (const auto& [version, by_count] : found) {  // newest first
    for (const auto& [count, parts] : by_count) {  // fewest parts first: the single file
      if (static_cast<int64_t>(parts.size()) != count) continue;
      CheckpointFiles out{version, {}};
      for (const auto& [part, name] : parts) out.names.push_back(name);
      return out;
    }
  }
  return {};
}

arrow::Status ReadDeltaCheckpointFiles(const std::string& log_dir, const CheckpointFiles& checkpoint,
                                       DeltaSnapshot* snapshot) {
  for (const std::string& name : checkpoint.names) {
    ARROW_RETURN_NOT_OK(ReadDeltaCheckpoint(log_dir + "/" + name, snapshot));
  }
  snapshot->version = checkpoint.version;
  return arrow::Status::OK();
}

arrow::Status ReadDeltaCheckpointBytes(std::shared_ptr<arrow::Buffer> bytes, const std::string& path,
                                       DeltaSnapshot* snapshot) {
  auto input = std::make_shared<arrow::io::BufferReader>(std::move(bytes));
  ARROW_ASSIGN_OR_RAISE(auto reader, parquet::arrow::OpenFile(input, arrow::default_memory_pool()));
  ARROW_ASSIGN_OR_RAISE(std::shared_ptr<arrow::Table> table, reader->ReadTable());
  // Parquet's reader leaves strings as stored: one that is not UTF-8 (an appId, a partition
  // value, stats) would go into the JSON entries medallion writes (a txn, a compaction's
  // remove), which no reader, this one included, could parse again. ValidateFull checks UTF-8
  // and every offset.
  if (auto st = table->ValidateFull(); !st.ok()) {
    return arrow::Status::Invalid("checkpoint ", path, ": ", st.message());
  }
  // Protocol and metadata first is not required: actions in a checkpoint are a set.
  for (const char* column : {"protocol", "metaData", "txn", "add", "remove"}) {
    auto chunked = table->GetColumnByName(column);
    if (chunked == nullptr) continue;
    for (const auto& chunk : chunked->chunks()) {
      if (chunk->type_id() != arrow::Type::STRUCT) {
        return arrow::Status::Invalid("checkpoint ", path, ": column ", column, " is not a struct");
      }
      ARROW_RETURN_NOT_OK(ReadChunk(column, static_cast<const arrow::StructArray&>(*chunk), snapshot));
    }
  }
  // A checkpoint is the table reconciled: a file is live or removed, never both (the JSON log
  // orders an add and a remove of one path; a checkpoint's rows have no order to decide by).
  for (const auto& [removed, remove] : snapshot->tombstones) {
    if (snapshot->live.count(removed) > 0) {
      return arrow::Status::Invalid("checkpoint ", path, " both adds and removes '", removed, "'");
    }
  }
  return arrow::Status::OK();
}

}  // namespace medallion::sink
