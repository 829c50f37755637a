// libFuzzer target: bytes -> a Delta checkpoint file (Parquet) read as the start of a table's
// snapshot, as medallion opens a table whose newest checkpoint another writer (Spark, delta-rs)
// may have written, or a disk or a store handed back damaged.
//
// The input is the whole file. Arrow's own fuzzing covers its Parquet decoding; what this
// target aims at is medallion's mapping of the decoded columns onto a snapshot (the five
// action structs, their fields' types, nulls, maps and lists), reached because the seeds are
// uncompressed Parquet, so mutations land in values, lengths and definition levels.
//
// Invariants (anything else aborts, a finding): no crash or sanitizer report; a refused file is
// a Status; after an accepted one every live and removed size is at least zero, live_bytes is
// the sum of the live sizes, no path is both live and removed, the protocol versions are
// positive; medallion's checkpoint of that snapshot reads back to the same snapshot, and so
// does its JSON (the actions its compaction commits and table properties write back), so that
// whatever another writer checkpointed, medallion never writes a file it cannot read.
//
// Seeds: with MEDALLION_CHECKPOINT_FUZZ_SEEDS=DIR in the environment the target writes
// medallion's own checkpoints of a few tables into DIR and exits (fuzz/run.sh does this
// before every run, so the seeds always have this build's checkpoint schema).

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <arrow/buffer.h>

#include "delta_fuzz_support.h"
#include "sink/delta_actions.h"
#include "sink/delta_checkpoint.h"

namespace {

using medallion::sink::DeltaAddFile;
using medallion::sink::DeltaSnapshot;

constexpr char kTarget[] = "delta_checkpoint_fuzz";

[[noreturn]] void Fail(const std::string& what) { medallion::fuzz::Fail(kTarget, what); }

/// The tables the seeds checkpoint: an empty one, a small partitioned one as medallion keeps
/// it, and one with the values other writers put there (encoded paths, a null partition
/// value's empty string, several txns, table properties, a protocol with features' versions).
std::vector<DeltaSnapshot> SeedTables() {
  const std::string schema =
      R"({"type":"struct","fields":[{"name":"id","type":"string","nullable":true,"metadata":{}},)"
      R"({"name":"d","type":"date","nullable":true,"metadata":{}}]})";
  std::vector<DeltaSnapshot> tables(3);
  for (size_t t = 1; t < tables.size(); ++t) {
    DeltaSnapshot& s = tables[t];
    s.protocol = t == 1 ? medallion::sink::DeltaProtocol{1, 2} : medallion::sink::DeltaProtocol{3, 7};
    s.metadata = medallion::sink::DeltaMetadata{"6f1c0e1e-0000-4000-8000-00000000000" + std::to_string(t),
                                                t == 1 ? "silver" : "",
                                                schema,
                                                {"d"},
                                                {{"delta.logRetentionDuration", "interval 30 days"},
                                                 {"delta.deletedFileRetentionDuration", "interval 7 days"}},
                                                1796083200000};
    s.txns["q-orders-0"] = {41, 1796083200000};
    if (t == 2) s.txns["spark-streaming-7"] = {0, 0};
    for (int i = 0; i < 3; ++i) {
      DeltaAddFile add;
      add.path = t == 1 ? "d=2026-12-01/part-" + std::to_string(i) + ".parquet"
                        : "d=2026-12-0" + std::to_string(i) + "/part %25 é-" + std::to_string(i) + ".zstd.parquet";
      add.partition_values = {{"d", i == 2 && t == 2 ? "" : "2026-12-01"}};
      add.size = 1000 + i;
      add.modification_time_ms = 1796083200000 + i;
      add.stats_json = R"({"numRecords":10,"minValues":{"id":"a"},"maxValues":{"id":"z"},"nullCount":{"id":0}})";
      s.ApplyAdd(std::move(add));
    }
    s.tombstones["d=2026-11-30/old.parquet"] = {"d=2026-11-30/old.parquet", 1796083100000, {{"d", "2026-11-30"}}, 5, false};
  }
  return tables;
}

std::shared_ptr<arrow::Buffer> CheckpointOf(const DeltaSnapshot& s) {
  auto bytes = medallion::sink::DeltaCheckpointBytes(s, std::numeric_limits<int64_t>::min());
  if (!bytes.ok()) Fail("a seed table's checkpoint cannot be written: " + bytes.status().ToString());
  return *bytes;
}

void WriteSeeds(const std::string& dir) {
  std::filesystem::create_directories(dir);
  int written = 0;
  for (const DeltaSnapshot& table : SeedTables()) {
    const auto bytes = CheckpointOf(table);
    std::ofstream(dir + "/seed-" + std::to_string(written++) + ".checkpoint.parquet", std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes->data()), bytes->size());
  }
  std::printf("delta_checkpoint_fuzz: wrote %d seeds into %s\n", written, dir.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("MEDALLION_CHECKPOINT_FUZZ_SEEDS")) {
    WriteSeeds(dir);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  DeltaSnapshot snapshot;
  auto input = std::make_shared<arrow::Buffer>(data, static_cast<int64_t>(size));
  if (!medallion::sink::ReadDeltaCheckpointBytes(input, "input", &snapshot).ok()) return 0;

  medallion::fuzz::CheckFiles(kTarget, snapshot);
  if (snapshot.protocol && (snapshot.protocol->min_reader_version < 1 || snapshot.protocol->min_writer_version < 1)) {
    Fail("a protocol version below 1 was accepted");
  }

  // medallion's checkpoint of what it read: a checkpoint always holds a protocol (the default
  // where the input had none), and every tombstone (none is dropped at INT64_MIN).
  DeltaSnapshot expected = snapshot;
  if (!expected.protocol) expected.protocol = medallion::sink::DeltaProtocol{};
  DeltaSnapshot again;
  const arrow::Status st = medallion::sink::ReadDeltaCheckpointBytes(CheckpointOf(snapshot), "rewritten", &again);
  if (!st.ok()) Fail("medallion's checkpoint of an accepted checkpoint is refused: " + st.ToString());
  const std::string json = medallion::fuzz::Rewrite(expected);
  if (medallion::fuzz::Rewrite(again) != json) Fail("medallion's checkpoint of an accepted checkpoint does not read back the same");

  // The same snapshot as JSON log actions (Rewrite writes every field it holds).
  DeltaSnapshot from_json;
  const arrow::Status st2 = medallion::sink::ApplyLogEntry(json, &from_json, nullptr);
  if (!st2.ok()) Fail("medallion's JSON for an accepted checkpoint is refused: " + st2.ToString());
  if (medallion::fuzz::Rewrite(from_json) != json) Fail("medallion's JSON for an accepted checkpoint does not read back the same");
  return 0;
}
