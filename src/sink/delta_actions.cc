#include "sink/delta_actions.h"

#include <limits>

#include <simdjson.h>

#include "sink/json_text.h"

namespace medallion::sink {
namespace {

using simdjson::dom::element;
using simdjson::dom::object;

arrow::Status JsonError(std::string_view what, simdjson::error_code error) {
  return arrow::Status::Invalid("Delta log: ", what, ": ", simdjson::error_message(error));
}

/// A required string member.
arrow::Result<std::string> GetString(object obj, const char* key) {
  std::string_view value;
  if (auto error = obj.at_key(key).get_string().get(value); error) return JsonError(key, error);
  return std::string(value);
}

/// An optional string member ("" when missing or null).
std::string GetOptionalString(object obj, const char* key) {
  std::string_view value;
  if (obj.at_key(key).get_string().get(value)) return std::string();
  return std::string(value);
}

/// An optional integer member (`fallback` when missing or null).
int64_t GetOptionalInt(object obj, const char* key, int64_t fallback) {
  int64_t value = 0;
  if (obj.at_key(key).get_int64().get(value)) return fallback;
  return value;
}

/// An optional boolean member (`fallback` when missing or null).
bool GetOptionalBool(object obj, const char* key, bool fallback) {
  bool value = false;
  if (obj.at_key(key).get_bool().get(value)) return fallback;
  return value;
}

arrow::Result<int64_t> GetInt(object obj, const char* key) {
  int64_t value = 0;
  if (auto error = obj.at_key(key).get_int64().get(value); error) return JsonError(key, error);
  return value;
}

/// A map of strings such as partitionValues or configuration; null values (a null partition)
/// are left out.
PartitionValues GetStringMap(object obj, const char* key) {
  PartitionValues out;
  object values;
  if (obj.at_key(key).get_object().get(values)) return out;
  for (auto member : values) {
    std::string_view value;
    if (member.value.get_string().get(value)) continue;
    out.emplace_back(std::string(member.key), std::string(value));
  }
  return out;
}

void AppendPartitionValues(std::string* out, const PartitionValues& values) {
  out->append("\"partitionValues\":{");
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendJsonString(out, values[i].first);
    out->push_back(':');
    AppendJsonString(out, values[i].second);
  }
  out->push_back('}');
}

arrow::Status ApplyAction(std::string_view kind, object body, DeltaSnapshot* snapshot,
                          DeltaEntrySummary* summary) {
  if (kind == "add") {
    DeltaAddFile add;
    ARROW_ASSIGN_OR_RAISE(std::string path, GetString(body, "path"));
    add.path = DecodeLogPath(path);
    add.partition_values = GetStringMap(body, "partitionValues");
    add.size = GetOptionalInt(body, "size", 0);
    ARROW_RETURN_NOT_OK(CheckFileSize("Delta log", "add", path, add.size));
    add.modification_time_ms = GetOptionalInt(body, "modificationTime", 0);
    add.stats_json = GetOptionalString(body, "stats");
    add.data_change = GetOptionalBool(body, "dataChange", true);
    if (summary != nullptr) summary->added.push_back(add.path);
    snapshot->ApplyAdd(std::move(add));
  } else if (kind == "remove") {
    DeltaRemoveFile remove;
    ARROW_ASSIGN_OR_RAISE(std::string path, GetString(body, "path"));
    remove.path = DecodeLogPath(path);
    remove.deletion_timestamp_ms = GetOptionalInt(body, "deletionTimestamp", 0);
    remove.partition_values = GetStringMap(body, "partitionValues");
    remove.size = GetOptionalInt(body, "size", 0);
    ARROW_RETURN_NOT_OK(CheckFileSize("Delta log", "remove", path, remove.size));
    remove.data_change = GetOptionalBool(body, "dataChange", true);
    if (summary != nullptr) summary->removed.push_back(remove.path);
    snapshot->ApplyRemove(std::move(remove));
  } else if (kind == "txn") {
    ARROW_ASSIGN_OR_RAISE(std::string app_id, GetString(body, "appId"));
    DeltaTxn txn;
    ARROW_ASSIGN_OR_RAISE(txn.version, GetInt(body, "version"));
    txn.last_updated_ms = GetOptionalInt(body, "lastUpdated", 0);
    if (summary != nullptr) summary->txns[app_id] = txn.version;
    snapshot->txns[app_id] = txn;
  } else if (kind == "metaData") {
    DeltaMetadata metadata;
    ARROW_ASSIGN_OR_RAISE(metadata.id, GetString(body, "id"));
    metadata.name = GetOptionalString(body, "name");
    ARROW_ASSIGN_OR_RAISE(metadata.schema_string, GetString(body, "schemaString"));
    simdjson::dom::array columns;
    if (!body.at_key("partitionColumns").get_array().get(columns)) {
      for (auto column : columns) {
        std::string_view name;
        if (auto error = column.get_string().get(name); error) {
          return JsonError("partitionColumns", error);
        }
        metadata.partition_columns.emplace_back(name);
      }
    }
    metadata.configuration = GetStringMap(body, "configuration");
    metadata.created_time_ms = GetOptionalInt(body, "createdTime", 0);
    if (summary != nullptr) summary->has_metadata = true;
    snapshot->metadata = std::move(metadata);
  } else if (kind == "protocol") {
    ARROW_ASSIGN_OR_RAISE(int64_t reader, GetInt(body, "minReaderVersion"));
    ARROW_ASSIGN_OR_RAISE(int64_t writer, GetInt(body, "minWriterVersion"));
    ARROW_ASSIGN_OR_RAISE(DeltaProtocol protocol, CheckedProtocol("Delta log", reader, writer));
    if (summary != nullptr) summary->has_protocol = true;
    snapshot->protocol = protocol;
  }
  return arrow::Status::OK();
}

}  // namespace

arrow::Status CheckFileSize(std::string_view source, std::string_view action, std::string_view path, int64_t size) {
  if (size >= 0) return arrow::Status::OK();
  return arrow::Status::Invalid(source, ": ", action, " of '", path, "' has a negative size ", size);
}

arrow::Result<DeltaProtocol> CheckedProtocol(std::string_view source, int64_t min_reader, int64_t min_writer) {
  for (int64_t v : {min_reader, min_writer}) {
    if (v < 1 || v > std::numeric_limits<int32_t>::max()) {
      return arrow::Status::Invalid(source, ": protocol version ", v, " is not a positive 32-bit integer");
    }
  }
  return DeltaProtocol{static_cast<int32_t>(min_reader), static_cast<int32_t>(min_writer)};
}

// live_bytes is summed modulo 2^64: another writer's log may claim any sizes, and the sum is
// exact whenever it fits in int64 (every real table) without an overflow when it does not.
void DeltaSnapshot::ApplyAdd(DeltaAddFile add) {
  tombstones.erase(add.path);
  uint64_t bytes = static_cast<uint64_t>(live_bytes) + static_cast<uint64_t>(add.size);
  std::string key = add.path;
  auto [it, inserted] = live.try_emplace(std::move(key));
  if (!inserted) bytes -= static_cast<uint64_t>(it->second.size);
  live_bytes = static_cast<int64_t>(bytes);
  it->second = std::move(add);
}

void DeltaSnapshot::ApplyRemove(DeltaRemoveFile remove) {
  if (auto it = live.find(remove.path); it != live.end()) {
    live_bytes = static_cast<int64_t>(static_cast<uint64_t>(live_bytes) - static_cast<uint64_t>(it->second.size));
    live.erase(it);
  }
  std::string key = remove.path;
  tombstones.insert_or_assign(std::move(key), std::move(remove));
}

arrow::Status ApplyLogEntry(std::string_view ndjson, DeltaSnapshot* snapshot,
                            DeltaEntrySummary* summary) {
  simdjson::dom::parser parser;
  size_t start = 0;
  while (start < ndjson.size()) {
    size_t end = ndjson.find('\n', start);
    if (end == std::string_view::npos) end = ndjson.size();
    const std::string_view line = ndjson.substr(start, end - start);
    start = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    object action;
    if (auto error = parser.parse(line.data(), line.size(), true).get_object().get(action); error) {
      return JsonError("action", error);
    }
    for (auto member : action) {
      object body;
      if (member.value.get_object().get(body)) continue;  // e.g. a null placeholder
      ARROW_RETURN_NOT_OK(ApplyAction(member.key, body, snapshot, summary));
    }
  }
  return arrow::Status::OK();
}

std::string ProtocolActionJson(const DeltaProtocol& protocol) {
  return "{\"protocol\":{\"minReaderVersion\":" + std::to_string(protocol.min_reader_version) +
         ",\"minWriterVersion\":" + std::to_string(protocol.min_writer_version) + "}}";
}

std::string MetadataActionJson(const DeltaMetadata& metadata) {
  std::string out = "{\"metaData\":{\"id\":";
  AppendJsonString(&out, metadata.id);
  if (!metadata.name.empty()) {
    out.append(",\"name\":");
    AppendJsonString(&out, metadata.name);
  }
  out.append(",\"format\":{\"provider\":\"parquet\",\"options\":{}},\"schemaString\":");
  AppendJsonString(&out, metadata.schema_string);
  out.append(",\"partitionColumns\":[");
  for (size_t i = 0; i < metadata.partition_columns.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendJsonString(&out, metadata.partition_columns[i]);
  }
  out.append("],\"configuration\":{");
  for (size_t i = 0; i < metadata.configuration.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendJsonString(&out, metadata.configuration[i].first);
    out.push_back(':');
    AppendJsonString(&out, metadata.configuration[i].second);
  }
  out.append("},\"createdTime\":");
  out.append(std::to_string(metadata.created_time_ms));
  out.append("}}");
  return out;
}

std::string TxnActionJson(const std::string& app_id, const DeltaTxn& txn) {
  std::string out = "{\"txn\":{\"appId\":";
  AppendJsonString(&out, app_id);
  out.append(",\"version\":" + std::to_string(txn.version) +
             ",\"lastUpdated\":" + std::to_string(txn.last_updated_ms) + "}}");
  return out;
}

std::string AddActionJson(const DeltaAddFile& add) {
  std::string out = "{\"add\":{\"path\":";
  AppendJsonString(&out, EncodeLogPath(add.path));
  out.push_back(',');
  AppendPartitionValues(&out, add.partition_values);
  out.append(",\"size\":" + std::to_string(add.size) +
             ",\"modificationTime\":" + std::to_string(add.modification_time_ms) +
             ",\"dataChange\":" + (add.data_change ? "true" : "false"));
  if (!add.stats_json.empty()) {
    out.append(",\"stats\":");
    AppendJsonString(&out, add.stats_json);
  }
  out.append("}}");
  return out;
}

std::string RemoveActionJson(const DeltaRemoveFile& remove) {
  std::string out = "{\"remove\":{\"path\":";
  AppendJsonString(&out, EncodeLogPath(remove.path));
  out.append(",\"deletionTimestamp\":" + std::to_string(remove.deletion_timestamp_ms) +
             ",\"dataChange\":" + (remove.data_change ? "true" : "false") +
             ",\"extendedFileMetadata\":true,");
  AppendPartitionValues(&out, remove.partition_values);
  out.append(",\"size\":" + std::to_string(remove.size) + "}}");
  return out;
}

std::string CommitInfoActionJson(const std::string& operation, int64_t timestamp_ms,
                                 const std::vector<std::pair<std::string, std::string>>& parameters,
                                 bool blind_append) {
  std::string out = "{\"commitInfo\":{\"timestamp\":" + std::to_string(timestamp_ms) +
                    ",\"operation\":";
  AppendJsonString(&out, operation);
  out.append(",\"operationParameters\":{");
  for (size_t i = 0; i < parameters.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendJsonString(&out, parameters[i].first);
    out.push_back(':');
    AppendJsonString(&out, parameters[i].second);
  }
  out.append("},\"isBlindAppend\":");
  out.append(blind_append ? "true" : "false");
  out.append(",\"engineInfo\":\"medallion\"}}");
  return out;
}

}  // namespace medallion::sink
