#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <arrow/status.h>

namespace medallion::metrics {

/// A set of samples in Prometheus' text exposition format (version 0.0.4), served over HTTP
/// or written as a file for node_exporter's textfile collector. Every sample carries the
/// common labels (e.g. the topic) followed by its own. Samples of one metric name form one
/// family: one `# HELP` and `# TYPE`, then its samples together, families in the order their
/// first sample was added. Not thread-safe.
class PrometheusText {
 public:
  /// Label name → value.
  using Labels = std::map<std::string, std::string>;

  /// `labels` are added to every sample; values are escaped as the format asks.
  explicit PrometheusText(const Labels& labels);

  /// A monotonically increasing total (names end in `_total` by convention).
  void Counter(const std::string& name, const std::string& help, double value, const Labels& labels = {});
  /// A value that goes up and down.
  void Gauge(const std::string& name, const std::string& help, double value, const Labels& labels = {});
  /// A histogram: `bounds` are the upper bounds of the buckets in increasing order (without
  /// +Inf), `counts` the observations in each bucket (not cumulative) and one more for those
  /// above the last bound. Written as cumulative `_bucket{le=...}` samples ending with
  /// `le="+Inf"`, then `_sum` and `_count`.
  void Histogram(const std::string& name, const std::string& help, const std::vector<double>& bounds,
                 const std::vector<int64_t>& counts, double sum);

  /// The exposition text.
  std::string Text() const;

  /// Writes Text() to `path` through a temporary file renamed over it, so a reader never sees
  /// a half-written file. Not fsynced: the file is rewritten every batch and only describes
  /// the running process.
  arrow::Status WriteTo(const std::string& path) const;

 private:
  struct Family {
    std::string name, help, type;
    std::vector<std::string> lines;  // complete sample lines
  };
  Family& FamilyOf(const std::string& name, const std::string& help, const char* type);
  std::string Sample(const std::string& name, const Labels& labels, double value) const;

  Labels labels_;
  std::vector<Family> families_;
};

}  // namespace medallion::metrics
