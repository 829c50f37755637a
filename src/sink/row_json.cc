#include "sink/row_json.h"

#include <cmath>
#include <cstdio>

#include <arrow/api.h>
#include <arrow/util/base64.h>

#include "common/time_util.h"
#include "common/utf8.h"
#include "sink/json_text.h"

namespace medallion::sink {
namespace {

constexpr int64_t kMicrosPerDay = 86'400'000'000LL;

int64_t ToMicros(int64_t value, arrow::TimeUnit::type unit) {
  switch (unit) {
    case arrow::TimeUnit::SECOND: return value * 1'000'000;
    case arrow::TimeUnit::MILLI: return value * 1'000;
    case arrow::TimeUnit::MICRO: return value;
    case arrow::TimeUnit::NANO: return value / 1'000;
  }
  return value;
}

void AppendDouble(double v, std::string* out) {
  if (!std::isfinite(v)) {
    AppendJsonString(out, std::isnan(v) ? "NaN" : (v > 0 ? "Infinity" : "-Infinity"));
    return;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  out->append(buf);
}

arrow::Status AppendValue(const arrow::Array& array, int64_t i, std::string* out) {
  if (array.IsNull(i)) {
    out->append("null");
    return arrow::Status::OK();
  }
  switch (array.type_id()) {
    case arrow::Type::BOOL:
      out->append(static_cast<const arrow::BooleanArray&>(array).Value(i) ? "true" : "false");
      return arrow::Status::OK();
    case arrow::Type::INT8: out->append(std::to_string(static_cast<const arrow::Int8Array&>(array).Value(i))); break;
    case arrow::Type::INT16: out->append(std::to_string(static_cast<const arrow::Int16Array&>(array).Value(i))); break;
    case arrow::Type::INT32: out->append(std::to_string(static_cast<const arrow::Int32Array&>(array).Value(i))); break;
    case arrow::Type::INT64: out->append(std::to_string(static_cast<const arrow::Int64Array&>(array).Value(i))); break;
    case arrow::Type::FLOAT: AppendDouble(static_cast<const arrow::FloatArray&>(array).Value(i), out); break;
    case arrow::Type::DOUBLE: AppendDouble(static_cast<const arrow::DoubleArray&>(array).Value(i), out); break;
    case arrow::Type::DECIMAL128:
      AppendJsonString(out, static_cast<const arrow::Decimal128Array&>(array).FormatValue(i));
      break;
    case arrow::Type::DECIMAL256:
      AppendJsonString(out, static_cast<const arrow::Decimal256Array&>(array).FormatValue(i));
      break;
    case arrow::Type::STRING: AppendJsonString(out, static_cast<const arrow::StringArray&>(array).GetView(i)); break;
    case arrow::Type::LARGE_STRING:
      AppendJsonString(out, static_cast<const arrow::LargeStringArray&>(array).GetView(i));
      break;
    case arrow::Type::BINARY:
    case arrow::Type::LARGE_BINARY: {
      const std::string_view bytes = array.type_id() == arrow::Type::BINARY
                                         ? static_cast<const arrow::BinaryArray&>(array).GetView(i)
                                         : static_cast<const arrow::LargeBinaryArray&>(array).GetView(i);
      if (IsValidUtf8(bytes)) {
        AppendJsonString(out, bytes);
      } else {
        out->append("{\"base64\":");
        AppendJsonString(out, arrow::util::base64_encode(bytes));
        out->push_back('}');
      }
      break;
    }
    case arrow::Type::DATE32:
      AppendJsonString(out, FormatDate(static_cast<const arrow::Date32Array&>(array).Value(i) * kMicrosPerDay));
      break;
    case arrow::Type::TIMESTAMP: {
      const auto& type = static_cast<const arrow::TimestampType&>(*array.type());
      AppendJsonString(out, FormatIso8601Micros(ToMicros(static_cast<const arrow::TimestampArray&>(array).Value(i),
                                                         type.unit())));
      break;
    }
    case arrow::Type::LIST: {
      const auto& list = static_cast<const arrow::ListArray&>(array);
      out->push_back('[');
      for (int64_t j = list.value_offset(i); j < list.value_offset(i + 1); ++j) {
        if (j > list.value_offset(i)) out->push_back(',');
        ARROW_RETURN_NOT_OK(AppendValue(*list.values(), j, out));
      }
      out->push_back(']');
      break;
    }
    case arrow::Type::STRUCT: {
      const auto& st = static_cast<const arrow::StructArray&>(array);
      out->push_back('{');
      for (int f = 0; f < st.num_fields(); ++f) {
        if (f > 0) out->push_back(',');
        AppendJsonString(out, st.type()->field(f)->name());
        out->push_back(':');
        ARROW_RETURN_NOT_OK(AppendValue(*st.field(f), i, out));
      }
      out->push_back('}');
      break;
    }
    default: {
      ARROW_ASSIGN_OR_RAISE(auto scalar, array.GetScalar(i));
      AppendJsonString(out, scalar->ToString());
    }
  }
  return arrow::Status::OK();
}

}  // namespace

arrow::Status AppendRowJson(const arrow::RecordBatch& batch, int64_t row, std::string* out) {
  out->push_back('{');
  for (int c = 0; c < batch.num_columns(); ++c) {
    if (c > 0) out->push_back(',');
    AppendJsonString(out, batch.schema()->field(c)->name());
    out->push_back(':');
    ARROW_RETURN_NOT_OK(AppendValue(*batch.column(c), row, out));
  }
  out->push_back('}');
  return arrow::Status::OK();
}

}  // namespace medallion::sink
