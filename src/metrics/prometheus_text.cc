#include "metrics/prometheus_text.h"

#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>

namespace medallion::metrics {
namespace {

/// A label value as the format wants it: backslash, double quote and newline escaped.
std::string EscapeLabel(const std::string& value) {
  std::string out;
  for (const char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

/// A HELP text: backslash and newline escaped.
std::string EscapeHelp(const std::string& text) {
  std::string out;
  for (const char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // Counts as integers; other values as the shortest fixed-point text that reads back as the
  // same double (timestamps keep their microseconds).
  if (v == std::floor(v) && std::fabs(v) < 9.0e15) return std::to_string(static_cast<int64_t>(v));
  char buf[400];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}

}  // namespace

PrometheusText::PrometheusText(const Labels& labels) : labels_(labels) {}

void PrometheusText::Counter(const std::string& name, const std::string& help, double value,
                             const Labels& labels) {
  FamilyOf(name, help, "counter").lines.push_back(Sample(name, labels, value));
}

void PrometheusText::Gauge(const std::string& name, const std::string& help, double value,
                           const Labels& labels) {
  FamilyOf(name, help, "gauge").lines.push_back(Sample(name, labels, value));
}

void PrometheusText::Histogram(const std::string& name, const std::string& help,
                               const std::vector<double>& bounds, const std::vector<int64_t>& counts,
                               double sum) {
  Family& f = FamilyOf(name, help, "histogram");
  int64_t cumulative = 0;
  for (size_t i = 0; i <= bounds.size(); ++i) {
    cumulative += i < counts.size() ? counts[i] : 0;
    const std::string le = i < bounds.size() ? FormatValue(bounds[i]) : "+Inf";
    f.lines.push_back(Sample(name + "_bucket", {{"le", le}}, static_cast<double>(cumulative)));
  }
  f.lines.push_back(Sample(name + "_sum", {}, sum));
  f.lines.push_back(Sample(name + "_count", {}, static_cast<double>(cumulative)));
}

PrometheusText::Family& PrometheusText::FamilyOf(const std::string& name, const std::string& help,
                                                 const char* type) {
  for (auto& f : families_) {
    if (f.name == name) return f;
  }
  families_.push_back(Family{name, help, type, {}});
  return families_.back();
}

std::string PrometheusText::Sample(const std::string& name, const Labels& labels, double value) const {
  std::string set;
  auto add = [&set](const std::string& k, const std::string& v) {
    set += (set.empty() ? "{" : ",") + k + "=\"" + EscapeLabel(v) + "\"";
  };
  for (const auto& [k, v] : labels_) {
    if (!labels.contains(k)) add(k, v);
  }
  for (const auto& [k, v] : labels) add(k, v);
  if (!set.empty()) set += "}";
  return name + set + " " + FormatValue(value) + "\n";
}

std::string PrometheusText::Text() const {
  std::string out;
  for (const auto& f : families_) {
    out += "# HELP " + f.name + " " + EscapeHelp(f.help) + "\n";
    out += "# TYPE " + f.name + " " + f.type + "\n";
    for (const auto& line : f.lines) out += line;
  }
  return out;
}

arrow::Status PrometheusText::WriteTo(const std::string& path) const {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << Text();
    out.close();
    if (!out) {
      std::remove(tmp.c_str());
      return arrow::Status::IOError("cannot write metrics file '", tmp, "'");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return arrow::Status::IOError("cannot rename '", tmp, "' to metrics file '", path, "'");
  }
  return arrow::Status::OK();
}

}  // namespace medallion::metrics
