#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <arrow/status.h>

namespace medallion::metrics {

/// A set of samples in Prometheus' text exposition format (version 0.0.4), written as a file
/// for node_exporter's textfile collector or any scraper that reads files. Every sample
/// carries the same labels (e.g. the topic). Not thread-safe.
class PrometheusText {
 public:
  /// Label name → value.
  using Labels = std::map<std::string, std::string>;

  /// `labels` are added to every sample; values are escaped as the format asks.
  explicit PrometheusText(const Labels& labels);

  /// A monotonically increasing total (names end in `_total` by convention).
  void Counter(const std::string& name, const std::string& help, double value);
  /// A value that goes up and down.
  void Gauge(const std::string& name, const std::string& help, double value);

  /// The exposition text: `# HELP`, `# TYPE` and one sample line per metric, in the order added.
  std::string Text() const;

  /// Writes Text() to `path` through a temporary file renamed over it, so a reader never sees
  /// a half-written file. Not fsynced: the file is rewritten every batch and only describes
  /// the running process.
  arrow::Status WriteTo(const std::string& path) const;

 private:
  struct Metric {
    std::string name, help, type;
    double value;
  };
  void Add(const std::string& name, const std::string& help, const char* type, double value);
  std::string labels_;  // {a="x",b="y"}, or empty
  std::vector<Metric> metrics_;
};

}  // namespace medallion::metrics
