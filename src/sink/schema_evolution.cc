#include "sink/schema_evolution.h"

#include <cstddef>
#include <optional>

#include <simdjson.h>

#include "sink/json_text.h"

namespace medallion::sink {
namespace {

/// One top-level field of a Delta schemaString.
struct Column {
  std::string name;
  std::string type;            // as written in the log, e.g. "\"string\"" or {"type":"struct",...}
  std::string canonical_type;  // for comparison (object keys sorted)
  bool nullable = true;
};

arrow::Result<std::vector<Column>> ParseColumns(std::string_view schema_string, const char* which) {
  simdjson::dom::parser parser;
  simdjson::dom::array fields;
  if (parser.parse(schema_string.data(), schema_string.size())["fields"].get(fields) != simdjson::SUCCESS) {
    return arrow::Status::Invalid("the ", which, " schemaString is not a Delta struct type: ", schema_string);
  }
  std::vector<Column> columns;
  for (simdjson::dom::element field : fields) {
    Column column;
    std::string_view name;
    simdjson::dom::element type;
    if (field["name"].get(name) != simdjson::SUCCESS || field["type"].get(type) != simdjson::SUCCESS) {
      return arrow::Status::Invalid("the ", which, " schemaString has a field without name or type: ",
                                    schema_string);
    }
    column.name = std::string(name);
    column.type = simdjson::minify(type);
    ARROW_ASSIGN_OR_RAISE(column.canonical_type, CanonicalJson(column.type));
    bool nullable = true;
    if (field["nullable"].get(nullable) == simdjson::SUCCESS) column.nullable = nullable;
    columns.push_back(std::move(column));
  }
  return columns;
}

std::optional<size_t> IndexOf(const std::vector<Column>& columns, const std::string& name) {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == name) return i;
  }
  return std::nullopt;
}

std::string Describe(const Column& column) {
  return "'" + column.name + "' " + column.type + (column.nullable ? "" : " not null");
}

/// Moves the partition columns out of `columns` into the result, in the order of `names`.
std::vector<std::optional<Column>> TakePartitionColumns(std::vector<Column>* columns,
                                                        const std::vector<std::string>& names) {
  std::vector<std::optional<Column>> out;
  for (const auto& name : names) {
    auto index = IndexOf(*columns, name);
    if (!index.has_value()) {
      out.emplace_back();
      continue;
    }
    out.emplace_back(std::move((*columns)[*index]));
    columns->erase(columns->begin() + static_cast<std::ptrdiff_t>(*index));
  }
  return out;
}

bool SameColumn(const Column& a, const Column& b) {
  return a.name == b.name && a.canonical_type == b.canonical_type && a.nullable == b.nullable;
}

}  // namespace

arrow::Result<SchemaDiff> DiffDeltaSchemas(std::string_view stored, std::string_view expected,
                                           const std::vector<std::string>& partition_columns) {
  ARROW_ASSIGN_OR_RAISE(auto old_columns, ParseColumns(stored, "stored"));
  ARROW_ASSIGN_OR_RAISE(auto new_columns, ParseColumns(expected, "expected"));
  SchemaDiff diff;
  auto old_partitions = TakePartitionColumns(&old_columns, partition_columns);
  auto new_partitions = TakePartitionColumns(&new_columns, partition_columns);
  for (size_t i = 0; i < partition_columns.size(); ++i) {
    const auto& was = old_partitions[i];
    const auto& now = new_partitions[i];
    if (was.has_value() && now.has_value() && SameColumn(*was, *now)) continue;
    diff.incompatibility = "partition column '" + partition_columns[i] + "' is " +
                           (was.has_value() ? Describe(*was) : std::string("missing")) + " in the log and " +
                           (now.has_value() ? Describe(*now) : std::string("missing")) + " now";
    return diff;
  }

  std::string changed_types;
  bool other_change = false;
  for (size_t i = 0; i < old_columns.size() && !other_change; ++i) {
    const Column& was = old_columns[i];
    const auto at = IndexOf(new_columns, was.name);
    if (!at.has_value()) {
      const bool renamed = i < new_columns.size() && !IndexOf(old_columns, new_columns[i].name).has_value();
      diff.incompatibility = renamed ? "column " + Describe(was) + " in the log is " + Describe(new_columns[i]) +
                                           " now (renamed)"
                                     : "column " + Describe(was) + " in the log is not in the schema now (removed)";
      other_change = true;
    } else if (*at != i) {
      const bool inserted = i < new_columns.size() && !IndexOf(old_columns, new_columns[i].name).has_value();
      diff.incompatibility =
          inserted ? "column " + Describe(new_columns[i]) + " is new at position " + std::to_string(i + 1) +
                         ", before '" + was.name + "' (inserted; new columns are applied in place at the end only)"
                   : "column '" + was.name + "' is column " + std::to_string(i + 1) + " in the log and " +
                         std::to_string(*at + 1) + " now (reordered)";
      other_change = true;
    } else if (was.nullable != new_columns[i].nullable) {
      diff.incompatibility = "column " + Describe(was) + " in the log is " + Describe(new_columns[i]) +
                             " now (nullability changed)";
      other_change = true;
    } else if (was.canonical_type != new_columns[i].canonical_type) {
      if (!changed_types.empty()) changed_types += ", ";
      changed_types += was.name + " (" + was.type + " in the log, " + new_columns[i].type + " now)";
    }
  }
  if (other_change) return diff;
  if (!changed_types.empty()) {
    diff.incompatibility = changed_types;
    diff.types_changed = true;
    return diff;
  }
  for (size_t i = old_columns.size(); i < new_columns.size(); ++i) {
    if (!new_columns[i].nullable) {
      diff.incompatibility = "column " + Describe(new_columns[i]) +
                             " is new and not nullable (files written before have no value for it)";
      diff.appended.clear();
      return diff;
    }
    diff.appended.push_back(new_columns[i].name);
  }
  diff.same = diff.appended.empty();
  return diff;
}

}  // namespace medallion::sink
