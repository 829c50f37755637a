// libFuzzer target: bytes → one Delta log entry (newline-delimited JSON actions) applied to a
// table's snapshot, as medallion replays a log that other writers (Spark, delta-rs, a user's
// script) also commit to.
//
// The entry is applied on top of a small table (protocol, metadata, a txn, three adds and a
// tombstone), so that its removes, re-adds and txns meet live state. Invariants (anything else
// aborts, a finding): no crash or sanitizer report; a refused entry is a Status; after an
// accepted one the snapshot's live_bytes is the sum of its live files' sizes and no live path
// is also a tombstone; and medallion's own JSON for what it read (the actions its checkpoints,
// compactions and table properties write back: protocol, metadata, txns, adds, removes)
// replays on an empty snapshot to the same snapshot (the same JSON again), so that whatever another
// writer put in the log, medallion never writes an entry it or they cannot read back.
//
// Seeds: fuzz/corpus_delta_log (entries in the forms medallion, Spark and delta-rs write).

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "delta_fuzz_support.h"
#include "sink/delta_actions.h"

namespace {

using medallion::sink::DeltaAddFile;
using medallion::sink::DeltaSnapshot;

constexpr char kTarget[] = "delta_log_fuzz";

[[noreturn]] void Fail(const std::string& what) { medallion::fuzz::Fail(kTarget, what); }

/// The table every input is applied to, in medallion's own JSON.
std::string BaseEntry() {
  const std::string schema =
      R"({"type":"struct","fields":[{"name":"id","type":"string","nullable":true,"metadata":{}},)"
      R"({"name":"d","type":"date","nullable":true,"metadata":{}}]})";
  std::string out = medallion::sink::ProtocolActionJson({1, 2}) + "\n";
  out += medallion::sink::MetadataActionJson(
             {"6f1c0e1e-0000-4000-8000-000000000001", "silver", schema, {"d"}, {{"delta.logRetentionDuration", "interval 7 days"}}, 1796083200000}) +
         "\n";
  out += medallion::sink::TxnActionJson("q-orders-0", {41, 1796083200000}) + "\n";
  for (int i = 0; i < 3; ++i) {
    DeltaAddFile add;
    add.path = "d=2026-12-01/part-" + std::to_string(i) + ".parquet";
    add.partition_values = {{"d", "2026-12-01"}};
    add.size = 1000 + i;
    add.modification_time_ms = 1796083200000 + i;
    add.stats_json = R"({"numRecords":10})";
    out += medallion::sink::AddActionJson(add) + "\n";
  }
  out += medallion::sink::RemoveActionJson({"d=2026-11-30/old.parquet", 1796083100000, {{"d", "2026-11-30"}}, 5, false}) + "\n";
  return out;
}

const DeltaSnapshot& Base() {
  static const auto* base = [] {
    auto* s = new DeltaSnapshot();
    if (!medallion::sink::ApplyLogEntry(BaseEntry(), s, nullptr).ok()) Fail("the base entry is refused");
    return s;
  }();
  return *base;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  DeltaSnapshot snapshot = Base();
  medallion::sink::DeltaEntrySummary summary;
  const std::string_view entry(reinterpret_cast<const char*>(data), size);
  if (!medallion::sink::ApplyLogEntry(entry, &snapshot, &summary).ok()) return 0;

  medallion::fuzz::CheckFiles(kTarget, snapshot);

  // Rewrite writes every field it holds, so equal JSON is an equal snapshot.
  const std::string rewritten = medallion::fuzz::Rewrite(snapshot);
  DeltaSnapshot again;
  const arrow::Status st = medallion::sink::ApplyLogEntry(rewritten, &again, nullptr);
  if (!st.ok()) Fail("medallion's own JSON for an accepted entry is refused: " + st.ToString());
  if (medallion::fuzz::Rewrite(again) != rewritten) Fail("medallion's own JSON for an accepted entry does not read back the same");
  return 0;
}
