#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "metrics/run_status.h"

namespace medallion::metrics {

/// The engine's own data-quality and liveness rules (`[alerts]`); a negative threshold (or
/// a zero duration) turns a rule off. Ratios are taken over the batches committed in the
/// last `window_us` (a sliding time window, not just the last batch); lag is the last known
/// lag; "no batch for" is the time since the last commit (or since start-up).
struct AlertRules {
  /// Quarantined records / records read.
  double quarantine_ratio = -1;
  /// The same for each reason code on its own (one alert per reason seen).
  double quarantine_reason_ratio = -1;
  /// Late lines / (Silver lines + late lines).
  double late_ratio = -1;
  /// Records behind the topic's end.
  int64_t max_lag = -1;
  /// Longest time without a committed batch (0: off).
  int64_t no_batch_for_us = 0;
  /// Window of the ratio rules.
  int64_t window_us = 60'000'000;

  bool Any() const {
    return quarantine_ratio >= 0 || quarantine_reason_ratio >= 0 || late_ratio >= 0 || max_lag >= 0 ||
           no_batch_for_us > 0;
  }
};

/// Evaluates AlertRules against successive run statuses, remembering which alerts fire:
/// a rule crossing its threshold logs one warning, and one line when it clears. Called by the
/// engine thread only; not thread-safe.
class AlertEvaluator {
 public:
  explicit AlertEvaluator(AlertRules rules) : rules_(rules) {}

  /// Every configured rule's state for `status` at `now_us` (Unix micros), in a stable order.
  std::vector<AlertState> Evaluate(const RunStatus& status, int64_t now_us);

 private:
  void Update(const std::string& name, const std::string& reason, double value, double threshold,
              bool known, const std::string& description, int64_t now_us);

  AlertRules rules_;
  std::map<std::pair<std::string, std::string>, AlertState> states_;
};

}  // namespace medallion::metrics
