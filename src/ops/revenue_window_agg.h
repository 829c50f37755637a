#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/status.h>

#include "ops/money_sum.h"
#include "ops/window_assign.h"

/// Gold operator: revenue by category per event-time window.
namespace medallion::ops {

/// Sums Silver lines per (window, category): revenue = sum(line_amount), quantity =
/// sum(quantity), orders = number of Silver events with a line in the group. Output:
/// format::RevenueWindowSchema(), rows ordered by (window_start, category). Revenue is summed
/// exactly in 128 bits (decimal(38,4)); a quantity sum beyond int64 makes Consume() a
/// CapacityError naming the group, with the state unchanged (a capacity limit: with
/// quantities <= 10^9 it takes over 9.2e9 maximal lines in one group).
///
/// Precondition (guaranteed by FlattenToOrderLines): an event's lines arrive together, one
/// after the other, in one Consume() call. Events are counted as runs of lines (EventRuns),
/// so no event ids are kept, in state or per batch; Silver holds each event once, so the
/// count is that of distinct event_id wherever Silver's event_ids are distinct.
///
/// Event time: given a watermark, a (row, window) pair whose window ended at or before it is
/// not added — the window is final — and is reported as a LateLine instead. TakeFinal()
/// hands out and forgets the windows the watermark has passed, so state is
/// O(#open windows x #categories).
///
/// Lifecycle: construct, then any sequence of Consume / Snapshot / SerializeState /
/// RestoreState. Not thread-safe.
/// A (Silver row, window) pair left out of Gold because its window was already final.
struct LateLine {
  int64_t row;
  int64_t window_start_us;
};

class RevenueWindowAggregator {
 public:
  explicit RevenueWindowAggregator(WindowSpec spec) : spec_(spec) {}

  /// Adds one micro-batch of Silver rows (columns found by name; extra columns ignored).
  /// On error (missing column, wrong type, null in a required column) the state is unchanged.
  arrow::Status Consume(const arrow::RecordBatch& silver);

  /// As Consume(silver), but a (row, window) with window end <= `watermark_us` is skipped
  /// and appended to `late` (row index into `silver`).
  arrow::Status Consume(const arrow::RecordBatch& silver, int64_t watermark_us,
                        std::vector<LateLine>* late);

  /// Removes the windows that end at or before `watermark_us` and returns them, ordered
  /// by (window_start, category): they are final and never change again.
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> TakeFinal(int64_t watermark_us);

  /// Every window held (the open ones, once TakeFinal is used), ordered by
  /// (window_start, category).
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Snapshot() const;

  /// A versioned binary snapshot of the state (deterministic bytes for equal state).
  std::string SerializeState() const;
  /// Replaces the state with a snapshot from SerializeState(). A corrupted snapshot, an
  /// unknown version, or one taken with another WindowSpec is Invalid; the state is then
  /// unchanged.
  arrow::Status RestoreState(std::string_view bytes);

  const WindowSpec& spec() const { return spec_; }
  /// Number of (window, category) groups held.
  size_t num_groups() const { return groups_.size(); }

 private:
  struct Totals {
    MoneySum revenue = 0;  // 1/10000 units
    int64_t quantity = 0;
    int64_t orders = 0;
  };
  using Key = std::pair<int64_t, std::string>;  // (window_start_us, category)
  using KeyView = std::pair<int64_t, std::string_view>;
  /// Orders keys by (window_start, category), and lets a KeyView find a Key.
  struct KeyLess {
    using is_transparent = void;
    static KeyView View(const Key& k) { return {k.first, k.second}; }
    static KeyView View(const KeyView& k) { return k; }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return View(a) < View(b);
    }
  };
  using GroupMap = std::map<Key, Totals, KeyLess>;

  arrow::Result<std::shared_ptr<arrow::RecordBatch>> ToBatch(GroupMap::const_iterator begin,
                                                             GroupMap::const_iterator end) const;

  WindowSpec spec_;
  GroupMap groups_;
};

}  // namespace medallion::ops
