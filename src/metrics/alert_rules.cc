#include "metrics/alert_rules.h"

#include <spdlog/spdlog.h>

namespace medallion::metrics {

std::vector<AlertState> AlertEvaluator::Evaluate(const RunStatus& s, int64_t now_us) {
  int64_t records = 0, quarantined = 0, silver = 0, late = 0;
  std::map<std::string, int64_t> by_reason;
  for (const auto& [key, state] : states_) {
    if (key.first == "quarantine_reason_ratio") by_reason[key.second] = 0;  // so it can clear
  }
  for (const auto& b : s.recent) {
    if (b.committed_at_us < now_us - rules_.window_us) continue;
    records += b.records;
    quarantined += b.quarantined;
    silver += b.silver_lines;
    late += b.late_lines;
    for (const auto& [reason, n] : b.quarantined_by_reason) by_reason[reason] += n;
  }
  const std::string window = std::to_string(rules_.window_us / 1'000'000) + "s";
  auto ratio = [](int64_t part, int64_t whole) { return whole > 0 ? static_cast<double>(part) / whole : 0.0; };
  if (rules_.quarantine_ratio >= 0) {
    Update("quarantine_ratio", "", ratio(quarantined, records), rules_.quarantine_ratio, true,
           "quarantined / records over the last " + window, now_us);
  }
  if (rules_.quarantine_reason_ratio >= 0) {
    for (const auto& [reason, n] : by_reason) {
      Update("quarantine_reason_ratio", reason, ratio(n, records), rules_.quarantine_reason_ratio, true,
             "records quarantined as " + reason + " / records over the last " + window, now_us);
    }
  }
  if (rules_.late_ratio >= 0) {
    Update("late_ratio", "", ratio(late, silver + late), rules_.late_ratio, true,
           "late lines / (Silver + late lines) over the last " + window, now_us);
  }
  if (rules_.max_lag >= 0) {
    Update("lag", "", static_cast<double>(s.lag), static_cast<double>(rules_.max_lag), s.lag != kUnknown,
           "records behind the topic's end", now_us);
  }
  if (rules_.no_batch_for_us > 0) {
    const BatchSummary* last = s.Last();
    const int64_t since = last ? last->committed_at_us : s.started_at_us;
    Update("no_batch", "", (now_us - since) / 1e6, rules_.no_batch_for_us / 1e6, true,
           "seconds since the last committed batch", now_us);
  }
  std::vector<AlertState> out;
  for (const auto& [key, state] : states_) out.push_back(state);
  return out;
}

void AlertEvaluator::Update(const std::string& name, const std::string& reason, double value,
                            double threshold, bool known, const std::string& description, int64_t now_us) {
  AlertState& a = states_[{name, reason}];
  const bool was_new = a.name.empty();
  a.name = name;
  a.reason = reason;
  a.value = value;
  a.threshold = threshold;
  a.description = description;
  const bool firing = known && value > threshold;
  const std::string label = reason.empty() ? name : name + "{reason=" + reason + "}";
  if (firing && !a.firing) {
    spdlog::warn("alert {} firing: {:.4g} > {:.4g} ({})", label, value, threshold, description);
  } else if (!firing && a.firing) {
    spdlog::warn("alert {} cleared: {:.4g} <= {:.4g} ({})", label, value, threshold, description);
  }
  if (firing != a.firing || was_new) a.since_us = now_us;
  a.firing = firing;
}

}  // namespace medallion::metrics
