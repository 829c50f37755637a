#include "sink/json_text.h"

#include <algorithm>
#include <cstdio>
#include <utility>
#include <vector>

#include <simdjson.h>

namespace medallion::sink {
namespace {

constexpr char kHex[] = "0123456789ABCDEF";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

arrow::Status AppendCanonical(std::string* out, simdjson::dom::element element) {
  switch (element.type()) {
    case simdjson::dom::element_type::OBJECT: {
      std::vector<std::pair<std::string_view, simdjson::dom::element>> members;
      for (auto member : simdjson::dom::object(element)) {
        members.emplace_back(member.key, member.value);
      }
      std::sort(members.begin(), members.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      out->push_back('{');
      for (size_t i = 0; i < members.size(); ++i) {
        if (i > 0) out->push_back(',');
        AppendJsonString(out, members[i].first);
        out->push_back(':');
        ARROW_RETURN_NOT_OK(AppendCanonical(out, members[i].second));
      }
      out->push_back('}');
      return arrow::Status::OK();
    }
    case simdjson::dom::element_type::ARRAY: {
      out->push_back('[');
      bool first = true;
      for (auto item : simdjson::dom::array(element)) {
        if (!first) out->push_back(',');
        first = false;
        ARROW_RETURN_NOT_OK(AppendCanonical(out, item));
      }
      out->push_back(']');
      return arrow::Status::OK();
    }
    case simdjson::dom::element_type::STRING:
      AppendJsonString(out, std::string_view(element));
      return arrow::Status::OK();
    default:
      // Numbers, booleans and null: simdjson's minified form is canonical enough.
      out->append(simdjson::minify(element));
      return arrow::Status::OK();
  }
}

}  // namespace

void AppendJsonString(std::string* out, std::string_view value) {
  out->push_back('"');
  for (char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      default:
        if (c < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xF]);
        } else {
          out->push_back(ch);
        }
    }
  }
  out->push_back('"');
}

std::string JsonString(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 2);
  AppendJsonString(&out, value);
  return out;
}

arrow::Result<std::string> CanonicalJson(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto error = parser.parse(json.data(), json.size(), true).get(root); error) {
    return arrow::Status::Invalid("malformed JSON: ", simdjson::error_message(error));
  }
  std::string out;
  ARROW_RETURN_NOT_OK(AppendCanonical(&out, root));
  return out;
}

std::string EncodeLogPath(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  for (char ch : path) {
    const auto c = static_cast<unsigned char>(ch);
    const bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                       c == '-' || c == '.' || c == '_' || c == '~' || c == '/' || c == '=';
    if (plain) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

std::string DecodeLogPath(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%' && i + 2 < path.size()) {
      const int hi = HexValue(path[i + 1]);
      const int lo = HexValue(path[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(path[i]);
  }
  return out;
}

}  // namespace medallion::sink
