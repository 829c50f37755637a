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

PrometheusText::PrometheusText(const Labels& labels) {
  for (const auto& [name, value] : labels) {
    labels_ += (labels_.empty() ? "{" : ",") + name + "=\"" + EscapeLabel(value) + "\"";
  }
  if (!labels_.empty()) labels_ += "}";
}

void PrometheusText::Counter(const std::string& name, const std::string& help, double value) {
  Add(name, help, "counter", value);
}

void PrometheusText::Gauge(const std::string& name, const std::string& help, double value) {
  Add(name, help, "gauge", value);
}

void PrometheusText::Add(const std::string& name, const std::string& help, const char* type,
                         double value) {
  metrics_.push_back(Metric{name, help, type, value});
}

std::string PrometheusText::Text() const {
  std::string out;
  for (const auto& m : metrics_) {
    out += "# HELP " + m.name + " " + EscapeHelp(m.help) + "\n";
    out += "# TYPE " + m.name + " " + m.type + "\n";
    out += m.name + labels_ + " " + FormatValue(m.value) + "\n";
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
