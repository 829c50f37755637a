#include "sink/delta_schema.h"

#include <arrow/type.h>

#include "sink/json_text.h"

namespace medallion::sink {
namespace {

arrow::Status AppendType(std::string* out, const arrow::DataType& type);

arrow::Status AppendField(std::string* out, const arrow::Field& field) {
  out->append("{\"name\":");
  AppendJsonString(out, field.name());
  out->append(",\"type\":");
  ARROW_RETURN_NOT_OK(AppendType(out, *field.type()));
  out->append(field.nullable() ? ",\"nullable\":true" : ",\"nullable\":false");
  out->append(",\"metadata\":{}}");
  return arrow::Status::OK();
}

arrow::Status AppendStruct(std::string* out, const arrow::FieldVector& fields) {
  out->append("{\"type\":\"struct\",\"fields\":[");
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out->push_back(',');
    ARROW_RETURN_NOT_OK(AppendField(out, *fields[i]));
  }
  out->append("]}");
  return arrow::Status::OK();
}

arrow::Status AppendType(std::string* out, const arrow::DataType& type) {
  switch (type.id()) {
    case arrow::Type::STRING: out->append("\"string\""); return arrow::Status::OK();
    case arrow::Type::BINARY: out->append("\"binary\""); return arrow::Status::OK();
    case arrow::Type::BOOL: out->append("\"boolean\""); return arrow::Status::OK();
    case arrow::Type::INT8: out->append("\"byte\""); return arrow::Status::OK();
    case arrow::Type::INT16: out->append("\"short\""); return arrow::Status::OK();
    case arrow::Type::INT32: out->append("\"integer\""); return arrow::Status::OK();
    case arrow::Type::INT64: out->append("\"long\""); return arrow::Status::OK();
    case arrow::Type::FLOAT: out->append("\"float\""); return arrow::Status::OK();
    case arrow::Type::DOUBLE: out->append("\"double\""); return arrow::Status::OK();
    case arrow::Type::DATE32: out->append("\"date\""); return arrow::Status::OK();
    case arrow::Type::TIMESTAMP: {
      const auto& ts = static_cast<const arrow::TimestampType&>(type);
      if (ts.timezone().empty()) {
        return arrow::Status::NotImplemented("timestamp without time zone (timestamp_ntz)");
      }
      out->append("\"timestamp\"");
      return arrow::Status::OK();
    }
    case arrow::Type::DECIMAL128: {
      const auto& dec = static_cast<const arrow::Decimal128Type&>(type);
      out->append("\"decimal(" + std::to_string(dec.precision()) + "," +
                  std::to_string(dec.scale()) + ")\"");
      return arrow::Status::OK();
    }
    case arrow::Type::LIST: {
      const auto& list = static_cast<const arrow::ListType&>(type);
      out->append("{\"type\":\"array\",\"elementType\":");
      ARROW_RETURN_NOT_OK(AppendType(out, *list.value_type()));
      out->append(list.value_field()->nullable() ? ",\"containsNull\":true}"
                                                 : ",\"containsNull\":false}");
      return arrow::Status::OK();
    }
    case arrow::Type::MAP: {
      const auto& map = static_cast<const arrow::MapType&>(type);
      out->append("{\"type\":\"map\",\"keyType\":");
      ARROW_RETURN_NOT_OK(AppendType(out, *map.key_type()));
      out->append(",\"valueType\":");
      ARROW_RETURN_NOT_OK(AppendType(out, *map.item_type()));
      out->append(map.item_field()->nullable() ? ",\"valueContainsNull\":true}"
                                               : ",\"valueContainsNull\":false}");
      return arrow::Status::OK();
    }
    case arrow::Type::STRUCT:
      return AppendStruct(out, type.fields());
    default:
      return arrow::Status::NotImplemented("no Delta type for Arrow type ", type.ToString());
  }
}

}  // namespace

arrow::Result<std::string> DeltaSchemaString(const arrow::Schema& schema) {
  std::string out;
  ARROW_RETURN_NOT_OK(AppendStruct(&out, schema.fields()));
  return out;
}

}  // namespace medallion::sink
