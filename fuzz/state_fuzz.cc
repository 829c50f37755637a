// libFuzzer target: bytes → an engine's state restore, as a restart reads its checkpoint.
//
// A checkpoint's state files are input too: a disk, a copy or an object store may hand back
// bytes the engine never wrote. Each state part of the engines (the single process's chain
// and side tables, a group member's partition dedup, the batch plan, and the whole state file
// around them) must refuse such bytes with a Status and never crash, and hold only states it
// can write and read back byte for byte.
//
// Input: byte 0 picks the part, byte 1 the kind:
//   bit 0  a delta replayed on the part's seed state (else a whole snapshot into a fresh part);
//   bit 1  the rest as is (else the payload of a snapshot this harness seals with the part's
//          real tag and a valid XXH3 checksum, so that mutations reach the decoder behind it).
// The rest of the input is the bytes.
//
// Invariants (anything else aborts, a finding): no crash, sanitizer report, leak or allocation
// beyond -rss_limit_mb; an accepted restore gives a snapshot that a fresh part restores and
// snapshots to the same bytes (else the engine would write a checkpoint it cannot read); the
// chain then runs a batch on the restored state without a crash (its Status may be an error).
// What a refused restore leaves behind is not checked: every caller stops on it (a start-up's
// EngineState::Restore exits 2, a group member's PartitionStateFiles::Restore fails its
// assignment and the member), so a part that was half restored is never used.
//
// Seeds: with MEDALLION_STATE_FUZZ_SEEDS=DIR in the environment the target writes, for every
// part, its snapshot and delta after a few batches of generated orders and payments (sealed
// and as is) into DIR and exits; fuzz/run.sh does so before every run, so the seeds always
// have this build's formats.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#define XXH_INLINE_ALL
#include <arrow/vendored/xxhash.h>

#include "engine/batch_operators.h"
#include "engine/checkpoint.h"
#include "engine/engine_state.h"
#include "engine/gold_aggregates.h"
#include "engine/operator.h"
#include "engine/pending_appends.h"
#include "engine/tables.h"
#include "format/bronze_builder.h"
#include "format/event_parser.h"
#include "format/payment_parser.h"
#include "format/schemas.h"
#include "ops/state_codec.h"
#include "produce/payment_generator.h"

namespace {

using namespace medallion;  // NOLINT: a fuzz target's file, not a header

constexpr int64_t kMinute = 60'000'000;
constexpr int32_t kPartitions = 4;
/// The partition whose state a group member's partition part moves.
constexpr int32_t kMovedPartition = 1;
constexpr int kSeedBatches = 3;
constexpr int kOrdersPerBatch = 120;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "state_fuzz invariant broken: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

/// One batch of generated records, parsed as the engine parses them.
struct Batch {
  int64_t id = 0;
  int64_t clock_us = 0;
  std::shared_ptr<arrow::RecordBatch> events, quarantine, payments;
};

/// kSeedBatches + 2 batches of the generator's mixed orders and their payments: the seed
/// state, the batch its delta holds, and the batch run after every accepted restore.
std::vector<Batch> MakeBatches() {
  produce::EventGeneratorOptions orders;
  orders.seed = 7;
  orders.duplicate_fraction = 0.05;
  orders.out_of_order_fraction = 0.1;
  orders.late_fraction = 0.05;
  orders.late_by_micros = 3 * kMinute;
  orders.malformed_fraction = 0.03;
  orders.invalid_fraction = 0.03;
  orders.v2_fraction = 0.5;
  produce::PaymentGeneratorOptions payments;
  payments.seed = 7;
  const int batches = kSeedBatches + 2;
  produce::OrderPaymentStream stream(orders, payments, int64_t{batches} * kOrdersPerBatch);
  format::EventParser order_parser;
  format::PaymentParser payment_parser;
  std::vector<Batch> out;
  std::vector<int64_t> next_offset(kPartitions, 0);
  int64_t payment_offset = 0;
  produce::GeneratedEvent order;
  produce::GeneratedPayment payment;
  for (int b = 0; b < batches; ++b) {
    // Records held per partition so that each partition's rows are in offset order.
    std::vector<std::vector<produce::GeneratedEvent>> by_partition(kPartitions);
    std::vector<produce::GeneratedPayment> paid;
    int64_t max_time = 0;
    for (int n = 0; n < kOrdersPerBatch;) {
      const produce::StreamTopic topic = stream.Next(&order, &payment);
      if (topic == produce::StreamTopic::kEnd) break;
      if (topic == produce::StreamTopic::kPayments) {
        paid.push_back(payment);
        continue;
      }
      max_time = std::max(max_time, order.event_time_micros);
      by_partition[std::hash<std::string>{}(order.key) % kPartitions].push_back(order);
      ++n;
    }
    Batch batch;
    batch.id = b;
    batch.clock_us = max_time + 1'000'000;
    format::BronzeBuilder bronze("orders", batch.clock_us);
    for (int32_t p = 0; p < kPartitions; ++p) {
      for (const auto& e : by_partition[p]) {
        if (!bronze.Append(p, next_offset[p]++, batch.clock_us / 1000, e.key.data(), e.key.size(), e.value.data(),
                           e.value.size())
                 .ok()) {
          Fail("Bronze append");
        }
      }
    }
    auto parsed = order_parser.Parse(*bronze.Finish().ValueOrDie());
    if (!parsed.ok()) Fail("order parse: " + parsed.status().ToString());
    batch.events = parsed->events;
    batch.quarantine = parsed->quarantine;
    format::BronzeBuilder payment_bronze("payments", batch.clock_us);
    for (const auto& p : paid) {
      if (!payment_bronze.Append(0, payment_offset++, batch.clock_us / 1000, p.key.data(), p.key.size(),
                                 p.value.data(), p.value.size())
               .ok()) {
        Fail("payment Bronze append");
      }
    }
    auto parsed_payments = payment_parser.Parse(*payment_bronze.Finish().ValueOrDie());
    if (!parsed_payments.ok()) Fail("payment parse: " + parsed_payments.status().ToString());
    batch.payments = parsed_payments->events;
    out.push_back(std::move(batch));
  }
  return out;
}

/// The operators and side tables of a single-process engine with the payment join, a group
/// member's partition dedup, and their parts; made empty, as a start-up makes them.
struct World {
  engine::OperatorChain chain;
  engine::OperatorChain member;
  engine::PartitionDedupOperator* partition_dedup = nullptr;
  engine::TableProgress progress;
  engine::PendingAppends pending_quarantine{format::QuarantineSchema(), 1 << 20};
  engine::PendingAppends pending_late{format::LateSchema(), 1 << 20};
  engine::HeldBronze held_bronze{1 << 20, 64};
  /// The batch's write-ahead plan (offsets/<B>), as the checkpoint reads it back.
  engine::BatchPlan plan;
  std::unique_ptr<engine::EngineState> state;
  /// Every part in the harness's order: the state file's parts, the member's, its moved
  /// partition, the batch plan (JSON, not a sealed snapshot), and the whole state file.
  std::vector<engine::StatePart> parts;

  World() {
    chain.Emplace<engine::WatermarkOperator>(2 * kMinute, kMinute, engine::WatermarkOperator::Input::kEvents);
    chain.Emplace<engine::QueryDedupOperator>(60 * kMinute, kMinute);
    chain.Emplace<engine::FlattenOperator>();
    chain.Emplace<engine::GoldAggregates>(ops::WindowSpec::Tumbling(kMinute).ValueOrDie(), 5, false);
    chain.Emplace<engine::PaymentJoinOperator>(2 * kMinute, kMinute, 60 * kMinute, ops::PaymentJoinOptions{});
    partition_dedup = member.Emplace<engine::PartitionDedupOperator>(2 * kMinute, 60 * kMinute, kMinute);
    member.Emplace<engine::FlattenOperator>();

    std::vector<engine::StatePart> file_parts = chain.StateParts();
    file_parts.push_back(engine::WholeState("table_progress", &progress));
    file_parts.push_back(engine::IncrementalState("pending_quarantine", &pending_quarantine));
    file_parts.push_back(engine::IncrementalState("pending_late", &pending_late));
    file_parts.push_back(engine::WholeState("held_bronze", &held_bronze));
    state = std::make_unique<engine::EngineState>(file_parts);

    parts = file_parts;
    for (auto& part : member.StateParts()) parts.push_back(std::move(part));
    engine::Operator* op = partition_dedup;
    parts.push_back({"partition_dedup@" + std::to_string(kMovedPartition),
                     [op] { return op->SnapshotPartition(kMovedPartition); },
                     [op](std::string_view b) { return op->RestorePartition(kMovedPartition, b); },
                     [op] { return op->SnapshotPartitionDelta(kMovedPartition); },
                     [op](std::string_view b) { return op->ApplyPartitionDelta(kMovedPartition, b); }});
    parts.push_back({"plan", [this] { return engine::PlanToJson(plan); },
                     [this](std::string_view b) -> arrow::Status {
                       ARROW_ASSIGN_OR_RAISE(plan, engine::PlanFromJson(std::string(b)));
                       return arrow::Status::OK();
                     },
                     nullptr, nullptr});
  }

  /// Runs one batch through both chains and the side tables (the chain's Status is returned;
  /// a restored state may make it an error, never a crash).
  arrow::Status Run(const Batch& batch) {
    plan = {.batch_id = batch.id, .topic = "orders", .ingest_time_us = batch.clock_us};
    engine::TopicPlan& payments = plan.payments.emplace();
    payments.topic = "payments";
    for (int32_t p = 0; p < kPartitions; ++p) {
      plan.offsets[p] = {batch.id * 40, batch.id * 40 + 40};
      plan.next[p] = batch.id * 40 + 40;
      plan.ends[p] = p == 0 ? -1 : batch.id * 40 + 40 + p;
    }
    payments.offsets[0] = {batch.id * 9, batch.id * 9 + 9};
    payments.next[0] = payments.ends[0] = batch.id * 9 + 9;
    engine::BatchFlow flow;
    flow.batch_id = batch.id;
    flow.clock_us = batch.clock_us;
    flow.events = batch.events;
    flow.payments = batch.payments;
    ARROW_RETURN_NOT_OK(chain.Run(&flow));
    const sink::SourceTxns sources = {{"orders-0", batch.id}};
    pending_quarantine.Add({batch.quarantine}, sources);
    pending_late.Add({flow.late_final, flow.late_horizon}, sources);
    // Bronze's held rows are not in the state, only where they came from: the quarantined
    // rows stand in for them.
    held_bronze.Add(batch.quarantine, batch.clock_us, plan.offsets, sources);
    engine::BatchFlow member_flow;
    member_flow.batch_id = batch.id;
    member_flow.clock_us = batch.clock_us;
    member_flow.events = batch.events;
    return member.Run(&member_flow);
  }
};

/// The seeds of one part: its snapshot after kSeedBatches batches, and the delta of the batch after.
struct Seed {
  std::string name;
  std::string snapshot;
  std::string delta;  // empty when the part has none
};

const std::vector<Batch>& Batches() {
  static const auto* batches = new std::vector<Batch>(MakeBatches());
  return *batches;
}

int NumParts() {
  static const int n = static_cast<int>(World().parts.size()) + 1;
  return n;
}

/// Part i of `world`: one of World::parts, or past them the whole state file, which restores
/// as after batch 0 (a full file) and its delta as after batch 1 on the seed's full file.
engine::StatePart PartOf(World* world, int i, const std::string* seed_full_file) {
  if (i < static_cast<int>(world->parts.size())) return world->parts[static_cast<size_t>(i)];
  engine::EngineState* state = world->state.get();
  return {"engine.state", [state] { return state->Serialize(true); },
          [state](std::string_view bytes) {
            return state->Restore(0, [bytes](int64_t) -> arrow::Result<std::string> { return std::string(bytes); });
          },
          [state] { return state->Serialize(false); },
          [state, seed_full_file](std::string_view bytes) {
            return state->Restore(1, [bytes, seed_full_file](int64_t id) -> arrow::Result<std::string> {
              return id == 0 ? *seed_full_file : std::string(bytes);
            });
          }};
}

const std::vector<Seed>& Seeds() {
  static const auto* seeds = [] {
    auto* out = new std::vector<Seed>();
    for (int i = 0; i < NumParts(); ++i) {
      World world;
      for (int b = 0; b < kSeedBatches; ++b) {
        if (!world.Run(Batches()[static_cast<size_t>(b)]).ok()) Fail("a seed batch failed");
      }
      engine::StatePart part = PartOf(&world, i, nullptr);
      Seed seed{part.name, part.snapshot(), {}};
      if (!world.Run(Batches()[kSeedBatches]).ok()) Fail("the delta's batch failed");
      if (part.delta) seed.delta = part.delta();
      out->push_back(std::move(seed));
    }
    return out;
  }();
  return *seeds;
}

/// The header ("MDS3", tag) of `snapshot`, which the harness seals payloads with; empty for
/// a part whose bytes are not a snapshot (the plan's JSON), taken as is.
std::string HeaderOf(std::string_view snapshot) {
  const auto tag = ops::StateReader::PeekTag(snapshot);
  return tag ? std::string(snapshot.substr(0, 8 + tag->size())) : std::string();
}

std::string Seal(std::string_view header, std::string_view payload) {
  std::string out(header);
  out.append(payload);
  const uint64_t sum = XXH3_64bits(out.data(), out.size());
  for (int b = 0; b < 8; ++b) out.push_back(static_cast<char>(static_cast<uint8_t>(sum >> (8 * b))));
  return out;
}

/// The payload of a sealed snapshot: what lies between its header and its checksum.
std::string PayloadOf(std::string_view snapshot) {
  const size_t header = HeaderOf(snapshot).size();
  return std::string(snapshot.substr(header, snapshot.size() - header - 8));
}

void WriteSeeds(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  int written = 0;
  auto write = [&](int part, int kind, std::string_view bytes) {
    std::string input{static_cast<char>(part), static_cast<char>(kind)};
    input.append(bytes);
    std::ofstream(dir / ("seed-" + std::to_string(part) + "-" + std::to_string(kind)), std::ios::binary) << input;
    ++written;
  };
  for (int i = 0; i < NumParts(); ++i) {
    const Seed& seed = Seeds()[static_cast<size_t>(i)];
    if (HeaderOf(seed.snapshot).empty()) {
      write(i, 2, seed.snapshot);
      continue;
    }
    write(i, 0, PayloadOf(seed.snapshot));
    write(i, 2, seed.snapshot);
    if (!seed.delta.empty()) {
      write(i, 1, PayloadOf(seed.delta));
      write(i, 3, seed.delta);
    }
  }
  std::printf("state_fuzz: wrote %d seeds for %d parts into %s\n", written, NumParts(), dir.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("MEDALLION_STATE_FUZZ_SEEDS")) {
    WriteSeeds(dir);
    std::exit(0);
  }
  Seeds();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const int i = data[0] % NumParts();
  const bool delta = (data[1] & 1) != 0;
  const Seed& seed = Seeds()[static_cast<size_t>(i)];
  const bool raw = (data[1] & 2) != 0 || HeaderOf(seed.snapshot).empty();
  if (delta && seed.delta.empty()) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 2, size - 2);
  const std::string bytes = raw ? std::string(rest) : Seal(HeaderOf(delta ? seed.delta : seed.snapshot), rest);

  World world;
  engine::StatePart part = PartOf(&world, i, &seed.snapshot);
  if (delta && !part.restore(seed.snapshot).ok()) Fail(seed.name + ": its own seed snapshot is refused");
  const arrow::Status st = delta ? part.apply_delta(bytes) : part.restore(bytes);
  if (!st.ok()) return 0;
  const std::string after = part.snapshot();
  World fresh;
  engine::StatePart again = PartOf(&fresh, i, &seed.snapshot);
  const arrow::Status st2 = again.restore(after);
  if (!st2.ok()) Fail(seed.name + ": the snapshot of an accepted state is refused: " + st2.ToString());
  if (again.snapshot() != after) Fail(seed.name + ": the snapshot of an accepted state does not read back the same");
  (void)world.Run(Batches()[kSeedBatches + 1]);
  return 0;
}
