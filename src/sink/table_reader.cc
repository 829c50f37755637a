#include "sink/table_reader.h"

#include <algorithm>
#include <charconv>
#include <tuple>

#include <arrow/api.h>
#include <arrow/compute/api_scalar.h>
#include <arrow/compute/cast.h>
#include <arrow/io/file.h>

#include "common/file_util.h"
#include <parquet/arrow/reader.h>
#include <simdjson.h>

namespace medallion::sink {
namespace {

/// (batch id, file index, kind) of a medallion data file name, or batch -1 for another name.
struct FileOrderKey {
  int64_t batch = -1;
  int64_t index = -1;
  std::string kind;
  std::string path;

  bool operator<(const FileOrderKey& other) const {
    return std::tie(batch, index, kind, path) < std::tie(other.batch, other.index, other.kind, other.path);
  }
};

FileOrderKey OrderKeyOf(const std::string& path) {
  FileOrderKey key;
  key.path = path;
  const size_t slash = path.rfind('/');
  const std::string_view name = std::string_view(path).substr(slash == std::string::npos ? 0 : slash + 1);
  // "part-0000000007-0001-<query>.parquet": prefix 4, '-', 10 digits, '-', 4 digits, '-'.
  if (name.size() < 21 || (!name.starts_with("part-") && !name.starts_with("open-")) || name[15] != '-' ||
      name[20] != '-') {
    return key;
  }
  int64_t batch = 0, index = 0;
  const auto b = std::from_chars(name.data() + 5, name.data() + 15, batch);
  const auto i = std::from_chars(name.data() + 16, name.data() + 20, index);
  if (b.ec != std::errc() || b.ptr != name.data() + 15 || i.ec != std::errc() || i.ptr != name.data() + 20) {
    return key;
  }
  key.batch = batch;
  key.index = index;
  key.kind = std::string(name.substr(0, 4));
  return key;
}

/// The Arrow type of a primitive Delta type name, or null for a nested or unknown one.
std::shared_ptr<arrow::DataType> ArrowTypeOf(std::string_view delta_type) {
  if (delta_type == "string") return arrow::utf8();
  if (delta_type == "long") return arrow::int64();
  if (delta_type == "integer") return arrow::int32();
  if (delta_type == "short") return arrow::int16();
  if (delta_type == "byte") return arrow::int8();
  if (delta_type == "boolean") return arrow::boolean();
  if (delta_type == "double") return arrow::float64();
  if (delta_type == "float") return arrow::float32();
  if (delta_type == "binary") return arrow::binary();
  if (delta_type == "date") return arrow::date32();
  if (delta_type == "timestamp") return arrow::timestamp(arrow::TimeUnit::MICRO, "UTC");
  if (delta_type == "timestamp_ntz") return arrow::timestamp(arrow::TimeUnit::MICRO);
  int precision = 0, scale = 0;
  if (std::sscanf(std::string(delta_type).c_str(), "decimal(%d,%d)", &precision, &scale) == 2) {
    return precision <= 38 ? arrow::decimal128(precision, scale) : arrow::decimal256(precision, scale);
  }
  return nullptr;
}

/// A column of `rows` copies of partition value `text` (null when absent) of `type`.
arrow::Result<std::shared_ptr<arrow::Array>> PartitionColumn(const std::optional<std::string>& text,
                                                            const std::shared_ptr<arrow::DataType>& type,
                                                            int64_t rows) {
  std::shared_ptr<arrow::Scalar> value;
  if (!text.has_value()) {
    value = arrow::MakeNullScalar(type);
  } else {
    const arrow::Datum string_value(std::make_shared<arrow::StringScalar>(*text));
    ARROW_ASSIGN_OR_RAISE(arrow::Datum cast, arrow::compute::Cast(string_value, type));
    value = cast.scalar();
  }
  return arrow::MakeArrayFromScalar(*value, rows);
}

}  // namespace

std::vector<DeltaAddFile> SortFilesInNaturalOrder(std::vector<DeltaAddFile> files) {
  std::stable_sort(files.begin(), files.end(), [](const DeltaAddFile& a, const DeltaAddFile& b) {
    return OrderKeyOf(a.path) < OrderKeyOf(b.path);
  });
  return files;
}

arrow::Result<std::shared_ptr<arrow::Schema>> LogSchema(const DeltaLog& log) {
  if (!log.metadata().has_value()) return arrow::Status::Invalid("table ", log.table_name(), " has no metaData");
  simdjson::dom::parser parser;
  simdjson::dom::array fields;
  if (parser.parse(log.metadata()->schema_string)["fields"].get(fields) != simdjson::SUCCESS) {
    return arrow::Status::Invalid("table ", log.table_name(), ": the log's schemaString is not a struct type");
  }
  arrow::FieldVector out;
  for (simdjson::dom::element field : fields) {
    std::string_view name, type_name;
    if (field["name"].get(name) != simdjson::SUCCESS) {
      return arrow::Status::Invalid("table ", log.table_name(), ": a schema field has no name");
    }
    std::shared_ptr<arrow::DataType> type;
    if (field["type"].get(type_name) == simdjson::SUCCESS) type = ArrowTypeOf(type_name);
    out.push_back(arrow::field(std::string(name), type ? type : arrow::utf8()));
  }
  return arrow::schema(std::move(out));
}

arrow::Result<std::shared_ptr<arrow::Table>> ReadFilesAs(const std::string& root,
                                                         const std::vector<DeltaAddFile>& files,
                                                         const std::shared_ptr<arrow::Schema>& schema) {
  std::vector<std::shared_ptr<arrow::Table>> parts;
  for (const DeltaAddFile& add : files) {
    const std::string path = root + "/" + add.path;
    ARROW_ASSIGN_OR_RAISE(auto input, OpenInputFile(path));
    ARROW_ASSIGN_OR_RAISE(auto reader, parquet::arrow::OpenFile(input, arrow::default_memory_pool()));
    ARROW_ASSIGN_OR_RAISE(std::shared_ptr<arrow::Table> file, reader->ReadTable());
    arrow::ChunkedArrayVector columns;
    for (const auto& field : schema->fields()) {
      std::shared_ptr<arrow::ChunkedArray> column = file->GetColumnByName(field->name());
      if (column == nullptr) {
        ARROW_ASSIGN_OR_RAISE(auto nulls, arrow::MakeArrayOfNull(field->type(), file->num_rows()));
        column = std::make_shared<arrow::ChunkedArray>(arrow::ArrayVector{nulls}, field->type());
      } else if (!column->type()->Equals(*field->type())) {
        ARROW_ASSIGN_OR_RAISE(arrow::Datum cast, arrow::compute::Cast(column, field->type()));
        column = cast.chunked_array();
      }
      columns.push_back(std::move(column));
    }
    parts.push_back(arrow::Table::Make(schema, std::move(columns), file->num_rows()));
  }
  if (parts.empty()) return arrow::Table::MakeEmpty(schema);
  return arrow::ConcatenateTables(parts);
}

arrow::Result<std::shared_ptr<arrow::Table>> ReadTableFiles(const DeltaLog& log,
                                                           const std::vector<DeltaAddFile>& files) {
  ARROW_ASSIGN_OR_RAISE(auto schema, LogSchema(log));
  const std::vector<std::string>& partition_columns = log.metadata()->partition_columns;
  std::vector<std::shared_ptr<arrow::Table>> parts;
  for (const DeltaAddFile& add : files) {
    const std::string path = log.root() + "/" + add.path;
    auto input = OpenInputFile(path);
    if (!input.ok()) {
      return arrow::Status::IOError("table ", log.table_name(), ": cannot open '", path,
                                    "', listed by the log at version ", log.version(), ": ",
                                    input.status().message());
    }
    ARROW_ASSIGN_OR_RAISE(auto reader, parquet::arrow::OpenFile(*input, arrow::default_memory_pool()));
    ARROW_ASSIGN_OR_RAISE(std::shared_ptr<arrow::Table> file_table, reader->ReadTable());
    arrow::FieldVector fields;
    arrow::ChunkedArrayVector columns;
    for (const auto& field : schema->fields()) {
      const bool is_partition =
          std::find(partition_columns.begin(), partition_columns.end(), field->name()) != partition_columns.end();
      if (is_partition) {
        std::optional<std::string> value;
        for (const auto& [column, text] : add.partition_values) {
          if (column == field->name()) value = text;
        }
        ARROW_ASSIGN_OR_RAISE(auto array, PartitionColumn(value, field->type(), file_table->num_rows()));
        fields.push_back(arrow::field(field->name(), field->type(), true));
        columns.push_back(std::make_shared<arrow::ChunkedArray>(arrow::ArrayVector{array}, field->type()));
        continue;
      }
      auto column = file_table->GetColumnByName(field->name());
      if (column == nullptr) {
        // A file written before the column was added to the schema: nulls, as Delta reads it.
        ARROW_ASSIGN_OR_RAISE(auto nulls, arrow::MakeArrayOfNull(field->type(), file_table->num_rows()));
        fields.push_back(field->WithNullable(true));
        columns.push_back(std::make_shared<arrow::ChunkedArray>(arrow::ArrayVector{nulls}, field->type()));
        continue;
      }
      fields.push_back(file_table->schema()->GetFieldByName(field->name())->WithNullable(true));
      columns.push_back(column);
    }
    parts.push_back(arrow::Table::Make(arrow::schema(std::move(fields)), std::move(columns), file_table->num_rows()));
  }
  if (parts.empty()) {
    arrow::FieldVector fields;
    for (const auto& field : schema->fields()) fields.push_back(field->WithNullable(true));
    return arrow::Table::MakeEmpty(arrow::schema(std::move(fields)));
  }
  return arrow::ConcatenateTables(parts);
}

int64_t RowCountFromStats(const DeltaAddFile& add) {
  if (add.stats_json.empty()) return -1;
  simdjson::dom::parser parser;
  int64_t rows = -1;
  if (parser.parse(add.stats_json)["numRecords"].get(rows) != simdjson::SUCCESS) return -1;
  return rows;
}

}  // namespace medallion::sink
