#include "sink/file_stats.h"

#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <functional>
#include <limits>
#include <optional>
#include <string_view>
#include <vector>

#include <arrow/api.h>
#include <arrow/util/decimal.h>
#include <parquet/metadata.h>
#include <parquet/schema.h>
#include <parquet/statistics.h>
#include <simdjson.h>

#include "common/time_util.h"
#include "common/utf8.h"
#include "sink/json_text.h"

namespace medallion::sink {
namespace {

constexpr int64_t kMicrosPerDay = 86400LL * 1000 * 1000;

/// Comma-separated JSON members of the three stats objects for one struct level.
struct StatsMembers {
  std::string min;
  std::string max;
  std::string nulls;
};

void AppendMember(std::string* out, const std::string& name, const std::string& value) {
  if (!out->empty()) out->push_back(',');
  AppendJsonString(out, name);
  out->push_back(':');
  out->append(value);
}

/// Indices of the smallest and largest non-null values by `less`; false if all null.
template <typename Less>
bool MinMaxIndex(const arrow::Array& array, Less less, int64_t* min_i, int64_t* max_i) {
  *min_i = *max_i = -1;
  for (int64_t i = 0; i < array.length(); ++i) {
    if (array.IsNull(i)) continue;
    if (*min_i < 0) {
      *min_i = *max_i = i;
      continue;
    }
    if (less(i, *min_i)) {
      *min_i = i;
    } else if (less(*max_i, i)) {  // below the least, so not above the greatest
      *max_i = i;
    }
  }
  return *min_i >= 0;
}

/// Byte length of the first `chars` UTF-8 characters of `s` (all of it if shorter).
size_t Utf8PrefixBytes(std::string_view s, int chars) {
  size_t i = 0;
  for (int n = 0; n < chars && i < s.size(); ++n) {
    ++i;
    while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) ++i;
  }
  return i;
}

template <typename ArrayType>
void IntegerMinMax(const arrow::Array& array, std::string* min, std::string* max) {
  const auto& a = static_cast<const ArrayType&>(array);
  int64_t lo, hi;
  if (!MinMaxIndex(array, [&](int64_t x, int64_t y) { return a.Value(x) < a.Value(y); }, &lo, &hi)) return;
  *min = std::to_string(a.Value(lo));
  *max = std::to_string(a.Value(hi));
}

template <typename ArrayType>
void FloatMinMax(const arrow::Array& array, std::string* min, std::string* max) {
  const auto& a = static_cast<const ArrayType&>(array);
  for (int64_t i = 0; i < a.length(); ++i) {
    if (a.IsValid(i) && !std::isfinite(a.Value(i))) return;  // JSON cannot say NaN/inf
  }
  int64_t lo, hi;
  if (!MinMaxIndex(array, [&](int64_t x, int64_t y) { return a.Value(x) < a.Value(y); }, &lo, &hi)) return;
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", static_cast<double>(a.Value(lo)));
  *min = buf;
  std::snprintf(buf, sizeof(buf), "%.17g", static_cast<double>(a.Value(hi)));
  *max = buf;
}

/// `value` × `factor`, saturated at the int64 limits (which TimestampBound leaves out).
int64_t SaturatedTimes(int64_t value, int64_t factor) {
  int64_t out;
  if (!__builtin_mul_overflow(value, factor, &out)) return out;
  return value < 0 ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
}

/// Timestamp value in microseconds, rounded down (`up` false) or up.
int64_t ToMicros(int64_t value, arrow::TimeUnit::type unit, bool up) {
  switch (unit) {
    case arrow::TimeUnit::SECOND: return SaturatedTimes(value, 1000000);
    case arrow::TimeUnit::MILLI: return SaturatedTimes(value, 1000);
    case arrow::TimeUnit::MICRO: return value;
    case arrow::TimeUnit::NANO: {
      int64_t q = value / 1000, r = value % 1000;
      if (r < 0) --q;  // floor
      return (up && r != 0) ? q + 1 : q;
    }
  }
  return value;
}

/// The first and last microsecond of the years a bound may fall in (TimestampBound, DateBound).
constexpr int64_t kFirstBoundMicros = -62135596800LL * 1000000;     // 0001-01-01T00:00:00Z
constexpr int64_t kLastBoundMicros = 253402300800LL * 1000000 - 1;   // 9999-12-31T23:59:59.999999Z

/// A timestamp (microseconds since the epoch) as a JSON bound, or "" (no bound) outside years
/// 0001-9999: the log's ISO text of a year before 1 or after 9999 ("-2420-…", "12026-…") does not
/// sort as its time, and readers that parse it into their own timestamp type may refuse it. A
/// Kafka timestamp is whatever the producer set, so Bronze can hold such a value; its file then
/// has no bound on that side, which only keeps a reader from skipping it.
std::string TimestampBound(int64_t micros) {
  if (micros < kFirstBoundMicros || micros > kLastBoundMicros) return {};
  return JsonString(FormatIso8601Micros(micros));
}

/// A date (days since the epoch, an int32 in Arrow, so its microseconds fit) as a JSON bound,
/// or "" outside the same years.
std::string DateBound(int64_t days) {
  const int64_t micros = days * kMicrosPerDay;
  if (micros < kFirstBoundMicros || micros > kLastBoundMicros) return {};
  return JsonString(FormatDate(micros));
}

/// A string column's smallest and largest values as JSON bounds: the min's 32-character
/// prefix, the max's prefix followed by U+10FFFF when it was cut. The max's cut moves past any
/// U+10FFFF that follows it: the prefix followed by one would be below the max it cut. The
/// Delta log is JSON, which must be UTF-8: bounds that are not are left out.
void StringBounds(std::string_view low, std::string_view high, std::string* min, std::string* max) {
  if (!IsValidUtf8(low) || !IsValidUtf8(high)) return;
  *min = JsonString(low.substr(0, Utf8PrefixBytes(low, kStatsStringPrefix)));
  constexpr std::string_view kLastChar = "\xF4\x8F\xBF\xBF";  // U+10FFFF
  size_t high_bytes = Utf8PrefixBytes(high, kStatsStringPrefix);
  while (high.substr(high_bytes).starts_with(kLastChar)) high_bytes += kLastChar.size();
  *max = high_bytes == high.size() ? JsonString(high)
                                   : JsonString(std::string(high.substr(0, high_bytes)) + std::string(kLastChar));
}

/// Min and max of a leaf column as JSON values; left empty when not collected.
void LeafMinMax(const arrow::Array& array, std::string* min, std::string* max) {
  switch (array.type_id()) {
    case arrow::Type::INT8: return IntegerMinMax<arrow::Int8Array>(array, min, max);
    case arrow::Type::INT16: return IntegerMinMax<arrow::Int16Array>(array, min, max);
    case arrow::Type::INT32: return IntegerMinMax<arrow::Int32Array>(array, min, max);
    case arrow::Type::INT64: return IntegerMinMax<arrow::Int64Array>(array, min, max);
    case arrow::Type::FLOAT: return FloatMinMax<arrow::FloatArray>(array, min, max);
    case arrow::Type::DOUBLE: return FloatMinMax<arrow::DoubleArray>(array, min, max);
    case arrow::Type::DECIMAL128: {
      const auto& a = static_cast<const arrow::Decimal128Array&>(array);
      const int32_t scale = static_cast<const arrow::Decimal128Type&>(*a.type()).scale();
      auto value = [&](int64_t i) { return arrow::Decimal128(a.GetValue(i)); };
      int64_t lo, hi;
      if (!MinMaxIndex(array, [&](int64_t x, int64_t y) { return value(x) < value(y); }, &lo, &hi)) return;
      *min = value(lo).ToString(scale);
      *max = value(hi).ToString(scale);
      return;
    }
    case arrow::Type::STRING: {
      // A first byte that differs decides without a memcmp call (bytes compared unsigned, as
      // memcmp does): this scan is most of a continuous batch's Silver stats.
      const auto& a = static_cast<const arrow::StringArray&>(array);
      auto less = [&](int64_t x, int64_t y) {
        const std::string_view vx = a.GetView(x), vy = a.GetView(y);
        if (!vx.empty() && !vy.empty() && vx[0] != vy[0]) {
          return static_cast<unsigned char>(vx[0]) < static_cast<unsigned char>(vy[0]);
        }
        return vx < vy;
      };
      int64_t lo, hi;
      if (!MinMaxIndex(array, less, &lo, &hi)) return;
      return StringBounds(a.GetView(lo), a.GetView(hi), min, max);
    }
    case arrow::Type::DATE32: {
      const auto& a = static_cast<const arrow::Date32Array&>(array);
      int64_t lo, hi;
      if (!MinMaxIndex(array, [&](int64_t x, int64_t y) { return a.Value(x) < a.Value(y); }, &lo, &hi)) return;
      *min = DateBound(a.Value(lo));
      *max = DateBound(a.Value(hi));
      return;
    }
    case arrow::Type::TIMESTAMP: {
      const auto& a = static_cast<const arrow::TimestampArray&>(array);
      const auto unit = static_cast<const arrow::TimestampType&>(*a.type()).unit();
      int64_t lo, hi;
      if (!MinMaxIndex(array, [&](int64_t x, int64_t y) { return a.Value(x) < a.Value(y); }, &lo, &hi)) return;
      *min = TimestampBound(ToMicros(a.Value(lo), unit, false));
      *max = TimestampBound(ToMicros(a.Value(hi), unit, true));
      return;
    }
    default:
      return;  // bool, binary, lists, maps: null count only
  }
}

/// How many Parquet leaf columns a column of `type` becomes.
int LeafCount(const arrow::DataType& type) {
  switch (type.id()) {
    case arrow::Type::STRUCT: {
      int n = 0;
      for (const auto& field : type.fields()) n += LeafCount(*field->type());
      return n;
    }
    case arrow::Type::LIST:
    case arrow::Type::LARGE_LIST:
    case arrow::Type::FIXED_SIZE_LIST:
      return LeafCount(*static_cast<const arrow::BaseListType&>(type).value_type());
    case arrow::Type::MAP: {
      const auto& map = static_cast<const arrow::MapType&>(type);
      return LeafCount(*map.key_type()) + LeafCount(*map.item_type());
    }
    default:
      return 1;
  }
}

/// The typed statistics of leaf `leaf` in every row group that holds a value, or nullopt when
/// a row group with values has no min/max (statistics off, or a value too long to keep).
template <typename Stats>
std::optional<std::vector<std::shared_ptr<Stats>>> RowGroupStats(const parquet::FileMetaData& md, int leaf) {
  std::vector<std::shared_ptr<Stats>> out;
  for (int g = 0; g < md.num_row_groups(); ++g) {
    auto chunk = md.RowGroup(g)->ColumnChunk(leaf);
    auto stats = chunk->statistics();
    if (stats == nullptr) {
      if (chunk->num_values() == 0) continue;
      return std::nullopt;
    }
    if (!stats->HasMinMax()) {
      if (stats->num_values() == 0) continue;  // every value null
      return std::nullopt;
    }
    out.push_back(std::static_pointer_cast<Stats>(stats));
  }
  return out;
}

/// The smallest min and largest max of `stats` by `value` (of a min() or max()) and `less`.
template <typename Stats, typename Value, typename Less>
bool Extremes(const std::vector<std::shared_ptr<Stats>>& stats, Value value, Less less,
              decltype(value(stats[0]->min()))* low, decltype(value(stats[0]->min()))* high) {
  if (stats.empty()) return false;
  *low = value(stats[0]->min());
  *high = value(stats[0]->max());
  for (const auto& s : stats) {
    if (less(value(s->min()), *low)) *low = value(s->min());
    if (less(*high, value(s->max()))) *high = value(s->max());
  }
  return true;
}

/// LeafMinMax of leaf column `leaf`, from the footer's statistics. Returns false when the
/// column's type is one whose min/max the footer cannot give as LeafMinMax would (floating
/// point: NaN is left out of the footer; timestamps in another unit than microseconds).
bool FooterMinMax(const arrow::DataType& type, const parquet::FileMetaData& md, int leaf, std::string* min,
                  std::string* max) {
  const parquet::ColumnDescriptor& column = *md.schema()->Column(leaf);
  auto int32 = [&](auto format) {
    if (column.physical_type() != parquet::Type::INT32) return;
    auto stats = RowGroupStats<parquet::Int32Statistics>(md, leaf);
    int32_t lo, hi;
    if (!stats || !Extremes(*stats, [](int32_t v) { return v; }, std::less<>(), &lo, &hi)) return;
    *min = format(lo);
    *max = format(hi);
  };
  auto int64 = [&](auto format) {
    if (column.physical_type() != parquet::Type::INT64) return;
    auto stats = RowGroupStats<parquet::Int64Statistics>(md, leaf);
    int64_t lo, hi;
    if (!stats || !Extremes(*stats, [](int64_t v) { return v; }, std::less<>(), &lo, &hi)) return;
    *min = format(lo, false);
    *max = format(hi, true);
  };
  switch (type.id()) {
    case arrow::Type::INT8:
    case arrow::Type::INT16:
    case arrow::Type::INT32:
      int32([](int32_t v) { return std::to_string(v); });
      return true;
    case arrow::Type::DATE32:
      int32([](int32_t v) { return DateBound(v); });
      return true;
    case arrow::Type::INT64:
      int64([](int64_t v, bool) { return std::to_string(v); });
      return true;
    case arrow::Type::TIMESTAMP:
      if (static_cast<const arrow::TimestampType&>(type).unit() != arrow::TimeUnit::MICRO) return false;
      int64([](int64_t v, bool) { return TimestampBound(v); });
      return true;
    case arrow::Type::DECIMAL128: {
      if (column.physical_type() != parquet::Type::FIXED_LEN_BYTE_ARRAY) return true;
      auto stats = RowGroupStats<parquet::FLBAStatistics>(md, leaf);
      const int32_t width = column.type_length();
      auto value = [width](const parquet::FixedLenByteArray& v) {
        return arrow::Decimal128::FromBigEndian(v.ptr, width).ValueOr(arrow::Decimal128());
      };
      arrow::Decimal128 lo, hi;
      if (!stats || !Extremes(*stats, value, std::less<>(), &lo, &hi)) return true;
      const int32_t scale = static_cast<const arrow::Decimal128Type&>(type).scale();
      *min = lo.ToString(scale);
      *max = hi.ToString(scale);
      return true;
    }
    case arrow::Type::STRING: {
      if (column.physical_type() != parquet::Type::BYTE_ARRAY) return true;
      auto stats = RowGroupStats<parquet::ByteArrayStatistics>(md, leaf);
      auto value = [](const parquet::ByteArray& v) {
        return std::string_view(reinterpret_cast<const char*>(v.ptr), v.len);
      };
      std::string_view lo, hi;
      if (!stats || !Extremes(*stats, value, std::less<>(), &lo, &hi)) return true;
      StringBounds(lo, hi, min, max);
      return true;
    }
    case arrow::Type::FLOAT:
    case arrow::Type::DOUBLE:
      return false;
    default:
      return true;  // no min/max, as LeafMinMax
  }
}

/// Where the min/max of the columns come from when not from a scan of their values: the
/// footer of the Parquet file the rows were written to; `leaf` is the next Parquet leaf column.
struct FooterCursor {
  const parquet::FileMetaData& md;
  int leaf = 0;
};

/// Min and max of a leaf column in chunks by a scan of its values (LeafMinMax): a string
/// column chunk by chunk (string columns are the large ones, Bronze's raw messages, and a
/// copy would double a merge's memory); any other column joined into one array first.
arrow::Status ScanMinMax(const arrow::ChunkedArray& column, std::string* min, std::string* max) {
  if (column.num_chunks() == 1) {
    LeafMinMax(*column.chunk(0), min, max);
    return arrow::Status::OK();
  }
  if (column.type()->id() != arrow::Type::STRING) {
    ARROW_ASSIGN_OR_RAISE(auto whole, column.num_chunks() == 0 ? arrow::MakeEmptyArray(column.type())
                                                                : arrow::Concatenate(column.chunks()));
    LeafMinMax(*whole, min, max);
    return arrow::Status::OK();
  }
  std::optional<std::string_view> low, high;
  for (const auto& chunk : column.chunks()) {
    const auto& a = static_cast<const arrow::StringArray&>(*chunk);
    for (int64_t i = 0; i < a.length(); ++i) {
      if (a.IsNull(i)) continue;
      const std::string_view v = a.GetView(i);
      if (!low || v < *low) low = v;
      if (!high || *high < v) high = v;
    }
  }
  if (low) StringBounds(*low, *high, min, max);
  return arrow::Status::OK();
}

/// Child `i` of a struct column, chunk by chunk, carrying the parent's nulls as a reader
/// would see it; nullopt when a chunk cannot be flattened.
std::optional<arrow::ChunkedArray> FlattenedField(const arrow::ChunkedArray& column, int i) {
  arrow::ArrayVector chunks;
  for (const auto& chunk : column.chunks()) {
    auto child = static_cast<const arrow::StructArray&>(*chunk).GetFlattenedField(i);
    if (!child.ok()) return std::nullopt;
    chunks.push_back(std::move(*child));
  }
  return arrow::ChunkedArray(std::move(chunks), column.type()->field(i)->type());
}

/// Adds a column's stats to `out`: min/max by a scan of its values (ScanMinMax), or from
/// `footer` when given (moved past the column's leaves); the null count from the arrays.
/// False when the footer's columns do not line up with the rows'.
arrow::Result<bool> AddColumn(const std::string& name, const arrow::ChunkedArray& column, StatsMembers* out,
                              FooterCursor* footer) {
  const arrow::DataType& type = *column.type();
  if (type.id() == arrow::Type::STRUCT) {
    StatsMembers nested;
    for (int i = 0; i < type.num_fields(); ++i) {
      auto child = FlattenedField(column, i);
      if (!child) {
        if (footer) footer->leaf += LeafCount(*type.field(i)->type());
        continue;
      }
      ARROW_ASSIGN_OR_RAISE(const bool lined_up, AddColumn(type.field(i)->name(), *child, &nested, footer));
      if (!lined_up) return false;
    }
    if (!nested.min.empty()) AppendMember(&out->min, name, "{" + nested.min + "}");
    if (!nested.max.empty()) AppendMember(&out->max, name, "{" + nested.max + "}");
    AppendMember(&out->nulls, name, "{" + nested.nulls + "}");
    return true;
  }
  std::string min, max;
  if (footer == nullptr) {
    ARROW_RETURN_NOT_OK(ScanMinMax(column, &min, &max));
  } else {
    const int leaves = LeafCount(type);
    if (footer->leaf + leaves > footer->md.num_columns()) return false;
    if (type.num_fields() == 0) {  // lists and maps: null count only
      if (footer->md.schema()->Column(footer->leaf)->name() != name) return false;
      if (!FooterMinMax(type, footer->md, footer->leaf, &min, &max)) ARROW_RETURN_NOT_OK(ScanMinMax(column, &min, &max));
    }
    footer->leaf += leaves;
  }
  if (!min.empty()) AppendMember(&out->min, name, min);
  if (!max.empty()) AppendMember(&out->max, name, max);
  AppendMember(&out->nulls, name, std::to_string(column.null_count()));
  return true;
}

std::string StatsJson(int64_t rows, const StatsMembers& members) {
  return "{\"numRecords\":" + std::to_string(rows) + ",\"minValues\":{" + members.min + "},\"maxValues\":{" +
         members.max + "},\"nullCount\":{" + members.nulls + "}}";
}

/// The stats of `rows` rows in `columns`; their min/max from `metadata` when given, unless its
/// columns do not line up with them (then scanned).
arrow::Result<std::string> Stats(int64_t rows, const arrow::Schema& schema, const arrow::ChunkedArrayVector& columns,
                                 const parquet::FileMetaData* metadata) {
  StatsMembers members;
  std::optional<FooterCursor> footer;
  if (metadata != nullptr) footer.emplace(FooterCursor{*metadata});
  for (size_t i = 0; i < columns.size(); ++i) {
    ARROW_ASSIGN_OR_RAISE(const bool lined_up, AddColumn(schema.field(static_cast<int>(i))->name(), *columns[i],
                                                         &members, footer ? &*footer : nullptr));
    if (!lined_up) return Stats(rows, schema, columns, nullptr);  // a footer of another shape
  }
  if (footer && footer->leaf != metadata->num_columns()) return Stats(rows, schema, columns, nullptr);
  return StatsJson(rows, members);
}

/// One level of a stats object as read for MergeFileStats: each member a scalar (a number's
/// text as written, or a string's value) or a nested level.
struct StatsMember;

struct StatsNode {
  enum class Kind { kNumber, kString, kObject } kind = Kind::kObject;
  std::string scalar;
  std::vector<StatsMember> members;

  const StatsNode* Find(std::string_view name) const;
};

struct StatsMember {
  std::string name;
  StatsNode node;
};

const StatsNode* StatsNode::Find(std::string_view name) const {
  for (const StatsMember& member : members) {
    if (member.name == name) return &member.node;
  }
  return nullptr;
}

bool ReadStatsNode(simdjson::ondemand::value value, StatsNode* out, int depth) {
  simdjson::ondemand::json_type type;
  if (depth > 64 || value.type().get(type) != simdjson::SUCCESS) return false;
  switch (type) {
    case simdjson::ondemand::json_type::number: {
      std::string_view token = value.raw_json_token();
      while (!token.empty() && (token.back() == ' ' || token.back() == '\n' || token.back() == '\t' ||
                                token.back() == '\r')) {
        token.remove_suffix(1);
      }
      out->kind = StatsNode::Kind::kNumber;
      out->scalar = std::string(token);
      return true;
    }
    case simdjson::ondemand::json_type::string: {
      std::string_view text;
      if (value.get_string().get(text) != simdjson::SUCCESS) return false;
      out->kind = StatsNode::Kind::kString;
      out->scalar = std::string(text);
      return true;
    }
    case simdjson::ondemand::json_type::object: {
      simdjson::ondemand::object object;
      if (value.get_object().get(object) != simdjson::SUCCESS) return false;
      out->kind = StatsNode::Kind::kObject;
      for (auto field : object) {
        std::string_view key;
        simdjson::ondemand::value child;
        if (field.unescaped_key().get(key) != simdjson::SUCCESS || field.value().get(child) != simdjson::SUCCESS) {
          return false;
        }
        out->members.push_back(StatsMember{std::string(key), StatsNode{}});
        if (!ReadStatsNode(child, &out->members.back().node, depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

/// Whether the string `s` may be a date or timestamp whose text does not sort as its time:
/// one of a year before 0 ("-0042-…", any string led by a signed number is taken for one)
/// or after 9999 ("12026-01-…"). Such strings are not compared: the merge is done by
/// rewriting the rows instead.
bool MaySortOutOfTime(std::string_view s) {
  const bool sign = !s.empty() && (s[0] == '-' || s[0] == '+');
  size_t i = sign ? 1 : 0;
  const size_t digits_from = i;
  auto digit = [&](size_t at) { return at < s.size() && s[at] >= '0' && s[at] <= '9'; };
  while (digit(i)) ++i;
  if (i == digits_from) return false;
  if (sign) return true;
  return i - digits_from >= 5 && i + 3 < s.size() && s[i] == '-' && digit(i + 1) && digit(i + 2) && s[i + 3] == '-';
}

/// -1, 0 or 1 as `a` is less than, equal to or greater than `b`; nullopt for a number and a
/// string, or a string that MaySortOutOfTime. Numbers compare as long double, which holds
/// every int64 and tells apart any two decimals of 18 digits.
std::optional<int> CompareScalars(const StatsNode& a, const StatsNode& b) {
  if (a.kind != b.kind) return std::nullopt;
  if (a.kind == StatsNode::Kind::kString) {
    if (MaySortOutOfTime(a.scalar) || MaySortOutOfTime(b.scalar)) return std::nullopt;
    return a.scalar.compare(b.scalar) < 0 ? -1 : (a.scalar == b.scalar ? 0 : 1);
  }
  const long double x = std::strtold(a.scalar.c_str(), nullptr), y = std::strtold(b.scalar.c_str(), nullptr);
  return x < y ? -1 : (x == y ? 0 : 1);
}

std::string ScalarJson(const StatsNode& node) {
  return node.kind == StatsNode::Kind::kString ? JsonString(node.scalar) : node.scalar;
}

/// The input files' nodes at one level of the three stats objects (null where absent).
struct StatsLevel {
  std::vector<const StatsNode*> min, max, nulls;
};

/// Merges one level into `out`, keyed by the first file's nullCount members (every column's);
/// false when the files' shapes differ.
bool MergeStatsLevel(const StatsLevel& level, const std::vector<int64_t>& rows, StatsMembers* out) {
  const size_t files = rows.size();
  for (const auto& [name, first] : level.nulls[0]->members) {
    StatsLevel child;
    for (size_t f = 0; f < files; ++f) {
      const StatsNode* nulls = level.nulls[f]->Find(name);
      if (nulls == nullptr || nulls->kind != first.kind) return false;
      child.nulls.push_back(nulls);
      child.min.push_back(level.min[f] ? level.min[f]->Find(name) : nullptr);
      child.max.push_back(level.max[f] ? level.max[f]->Find(name) : nullptr);
    }
    if (first.kind == StatsNode::Kind::kObject) {  // a struct column: its fields one level down
      StatsMembers nested;
      if (!MergeStatsLevel(child, rows, &nested)) return false;
      if (!nested.min.empty()) AppendMember(&out->min, name, "{" + nested.min + "}");
      if (!nested.max.empty()) AppendMember(&out->max, name, "{" + nested.max + "}");
      AppendMember(&out->nulls, name, "{" + nested.nulls + "}");
      continue;
    }
    if (first.kind != StatsNode::Kind::kNumber) return false;
    int64_t null_count = 0;
    bool min_known = true, max_known = true;
    const StatsNode *min = nullptr, *max = nullptr;
    for (size_t f = 0; f < files; ++f) {
      const int64_t n = std::strtoll(child.nulls[f]->scalar.c_str(), nullptr, 10);
      null_count += n;
      const bool all_null = n == rows[f];
      auto fold = [&](const StatsNode* value, const StatsNode** best, bool* known, int keep_if) {
        if (value == nullptr) {
          *known = *known && all_null;
          return true;
        }
        if (value->kind == StatsNode::Kind::kObject) return false;
        if (*best == nullptr) {
          *best = value;
          return true;
        }
        const std::optional<int> order = CompareScalars(*value, **best);
        if (!order) return false;
        if (*order == keep_if) *best = value;
        return true;
      };
      if (!fold(child.min[f], &min, &min_known, -1) || !fold(child.max[f], &max, &max_known, 1)) return false;
    }
    if (min_known && min) AppendMember(&out->min, name, ScalarJson(*min));
    if (max_known && max) AppendMember(&out->max, name, ScalarJson(*max));
    AppendMember(&out->nulls, name, std::to_string(null_count));
  }
  return true;
}

arrow::ChunkedArrayVector ColumnsOf(const arrow::RecordBatch& batch) {
  arrow::ChunkedArrayVector columns;
  for (const auto& column : batch.columns()) columns.push_back(std::make_shared<arrow::ChunkedArray>(column));
  return columns;
}

}  // namespace

// A batch's columns are single chunks: nothing is joined, so nothing can fail.
std::string ComputeFileStats(const arrow::RecordBatch& batch) {
  return Stats(batch.num_rows(), *batch.schema(), ColumnsOf(batch), nullptr).ValueOrDie();
}

std::string ComputeFileStats(const arrow::RecordBatch& batch, const parquet::FileMetaData& metadata) {
  return Stats(batch.num_rows(), *batch.schema(), ColumnsOf(batch), &metadata).ValueOrDie();
}

arrow::Result<std::string> ComputeFileStats(const arrow::Table& table) {
  return Stats(table.num_rows(), *table.schema(), table.columns(), nullptr);
}

arrow::Result<std::string> ComputeFileStats(const arrow::Table& table, const parquet::FileMetaData& metadata) {
  return Stats(table.num_rows(), *table.schema(), table.columns(), &metadata);
}

std::optional<std::string> MergeFileStats(const std::vector<std::string_view>& stats) {
  if (stats.empty()) return std::nullopt;
  std::vector<StatsNode> roots(stats.size());
  std::vector<int64_t> rows;
  StatsLevel level;
  int64_t total_rows = 0;
  simdjson::ondemand::parser parser;
  for (size_t f = 0; f < stats.size(); ++f) {
    if (stats[f].empty()) return std::nullopt;
    const simdjson::padded_string text(stats[f]);
    simdjson::ondemand::document doc;
    simdjson::ondemand::value root;
    if (parser.iterate(text).get(doc) != simdjson::SUCCESS || doc.get_value().get(root) != simdjson::SUCCESS ||
        !ReadStatsNode(root, &roots[f], 0) || roots[f].kind != StatsNode::Kind::kObject) {
      return std::nullopt;
    }
    const StatsNode* n = roots[f].Find("numRecords");
    const StatsNode* nulls = roots[f].Find("nullCount");
    if (n == nullptr || n->kind != StatsNode::Kind::kNumber || nulls == nullptr ||
        nulls->kind != StatsNode::Kind::kObject) {
      return std::nullopt;
    }
    rows.push_back(std::strtoll(n->scalar.c_str(), nullptr, 10));
    total_rows += rows.back();
    level.nulls.push_back(nulls);
    level.min.push_back(roots[f].Find("minValues"));
    level.max.push_back(roots[f].Find("maxValues"));
  }
  StatsMembers members;
  if (!MergeStatsLevel(level, rows, &members)) return std::nullopt;
  return StatsJson(total_rows, members);
}

}  // namespace medallion::sink
