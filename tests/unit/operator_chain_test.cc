// Unit tests of the operator contract: the chain's order (every Consume, then every Finish),
// its state parts, and partition state that moves between group members through the contract
// alone, against one chain that holds every partition.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <arrow/api.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "engine/batch_operators.h"
#include "engine/operator.h"
#include "engine/partition_state_files.h"
#include "format/bronze_builder.h"
#include "format/event_parser.h"
#include "produce/event_generator.h"

namespace medallion::engine {
namespace {

/// Writes what it is called for into a shared log; fails Consume when told to.
class Recorder : public Operator {
 public:
  Recorder(std::string name, std::vector<std::string>* log, bool fail = false, StateScope scope = StateScope::kGlobal)
      : name_(std::move(name)), log_(log), fail_(fail), scope_(scope) {}
  arrow::Status Consume(BatchFlow*) override {
    log_->push_back(name_ + ".consume");
    return fail_ ? arrow::Status::IOError(name_, " failed") : arrow::Status::OK();
  }
  arrow::Status Finish(BatchFlow*) override {
    log_->push_back(name_ + ".finish");
    return arrow::Status::OK();
  }
  StateScope scope() const override { return scope_; }
  std::vector<StatePart> StateParts() override {
    return {{name_, [] { return std::string(); }, [](std::string_view) { return arrow::Status::OK(); }, nullptr, nullptr}};
  }

 private:
  std::string name_;
  std::vector<std::string>* log_;
  bool fail_;
  StateScope scope_;
};

TEST(OperatorChainTest, EveryOperatorConsumesTheBatchBeforeAnyFinishesIt) {
  std::vector<std::string> log;
  OperatorChain chain;
  chain.Emplace<Recorder>("a", &log);
  chain.Emplace<Recorder>("b", &log);
  chain.Emplace<Recorder>("c", &log);
  BatchFlow flow;
  ASSERT_TRUE(chain.Run(&flow).ok());
  EXPECT_EQ(log, (std::vector<std::string>{"a.consume", "b.consume", "c.consume", "a.finish", "b.finish", "c.finish"}));
}

TEST(OperatorChainTest, AFailedConsumeStopsTheBatchBeforeAnyFinish) {
  std::vector<std::string> log;
  OperatorChain chain;
  chain.Emplace<Recorder>("a", &log);
  chain.Emplace<Recorder>("b", &log, /*fail=*/true);
  chain.Emplace<Recorder>("c", &log);
  BatchFlow flow;
  const arrow::Status st = chain.Run(&flow);
  EXPECT_TRUE(st.IsIOError()) << st.ToString();
  EXPECT_EQ(log, (std::vector<std::string>{"a.consume", "b.consume"}));
}

TEST(OperatorChainTest, StatePartsInChainOrderAndThePartitionScopedOperator) {
  std::vector<std::string> log;
  OperatorChain chain;
  chain.Emplace<Recorder>("watermark", &log);
  auto* dedup = chain.Emplace<Recorder>("dedup", &log, false, StateScope::kPartition);
  chain.Emplace<Recorder>("gold", &log);
  std::vector<std::string> names;
  for (const StatePart& part : chain.StateParts()) names.push_back(part.name);
  EXPECT_EQ(names, (std::vector<std::string>{"watermark", "dedup", "gold"}));
  EXPECT_EQ(chain.PartitionState(), dedup);

  OperatorChain stateless;
  stateless.Emplace<FlattenOperator>();
  EXPECT_EQ(stateless.PartitionState(), nullptr);
  EXPECT_TRUE(stateless.StateParts().empty());
}

constexpr int kPartitions = 4;
constexpr int64_t kLateness = 30'000'000;
constexpr int64_t kHorizon = 120'000'000;
constexpr int64_t kWindow = 60'000'000;

/// One Kafka record of the generated stream.
struct Record {
  int32_t partition;
  int64_t offset;
  std::string key, value;
};

/// The generator's mixed stream (duplicates, late, out-of-order, malformed, invalid), each
/// record in the partition of its key, as a producer would place it.
std::vector<Record> Stream(int n) {
  produce::EventGeneratorOptions options;
  options.seed = 11;
  options.duplicate_fraction = 0.05;
  options.out_of_order_fraction = 0.10;
  options.late_fraction = 0.03;
  options.malformed_fraction = 0.02;
  options.invalid_fraction = 0.03;
  produce::EventGenerator generator(options);
  std::vector<Record> out;
  int64_t next[kPartitions] = {};
  produce::GeneratedEvent event;
  for (int i = 0; i < n; ++i) {
    generator.Next(&event);
    const auto p = static_cast<int32_t>(std::hash<std::string>{}(event.key) % kPartitions);
    out.push_back({p, next[p]++, event.key, event.value});
  }
  return out;
}

/// The parsed events of `rows`, in (partition, offset) order as a batch of the engine holds them.
std::shared_ptr<arrow::RecordBatch> Events(std::vector<Record> rows) {
  std::sort(rows.begin(), rows.end(),
            [](const Record& a, const Record& b) { return std::tie(a.partition, a.offset) < std::tie(b.partition, b.offset); });
  constexpr int64_t kIngestUs = 1795514400LL * 1000000 + 3'600'000'000;
  format::BronzeBuilder bronze("orders", kIngestUs);
  for (const Record& r : rows) {
    EXPECT_TRUE(bronze.Append(r.partition, r.offset, kIngestUs / 1000, r.key.data(), r.key.size(), r.value.data(),
                              r.value.size())
                    .ok());
  }
  format::EventParser parser;
  auto parsed = parser.Parse(*bronze.Finish().ValueOrDie());
  EXPECT_TRUE(parsed.ok()) << parsed.status().ToString();
  return parsed->events;
}

using Lines = std::multiset<std::tuple<int32_t, int64_t, int32_t>>;

/// (kafka_partition, kafka_offset, line_no) of each row of `lines`, added to `out`.
void Collect(const std::shared_ptr<arrow::RecordBatch>& lines, Lines* out) {
  auto p = std::static_pointer_cast<arrow::Int32Array>(lines->GetColumnByName("kafka_partition"));
  auto o = std::static_pointer_cast<arrow::Int64Array>(lines->GetColumnByName("kafka_offset"));
  auto n = std::static_pointer_cast<arrow::Int32Array>(lines->GetColumnByName("line_no"));
  for (int64_t r = 0; r < lines->num_rows(); ++r) out->insert({p->Value(r), o->Value(r), n->Value(r)});
}

/// A group member's operators: dedup per partition, then Silver's lines.
struct Member {
  OperatorChain chain;
  std::set<int32_t> owned;
  Member() {
    chain.Emplace<PartitionDedupOperator>(kLateness, kHorizon, kWindow);
    chain.Emplace<FlattenOperator>();
  }
  void Run(const std::vector<Record>& rows, int64_t b, Lines* silver, Lines* late) {
    BatchFlow flow;
    flow.batch_id = b;
    flow.events = Events(rows);
    ASSERT_TRUE(chain.Run(&flow).ok());
    Collect(flow.silver, silver);
    Collect(flow.late_horizon, late);
  }
};

TEST(OperatorChainTest, PartitionsMovingBetweenMembersGiveWhatOneChainGives) {
  const std::vector<Record> stream = Stream(8'000);
  std::mt19937 rng(5);
  std::vector<std::vector<Record>> batches;
  for (size_t from = 0; from < stream.size();) {
    const size_t n = std::min(stream.size() - from, size_t{1} + rng() % 700);
    batches.emplace_back(stream.begin() + static_cast<std::ptrdiff_t>(from),
                         stream.begin() + static_cast<std::ptrdiff_t>(from + n));
    from += n;
  }

  Member one;
  Lines silver_one, late_one;
  for (size_t b = 0; b < batches.size(); ++b) one.Run(batches[b], static_cast<int64_t>(b), &silver_one, &late_one);

  Member members[2];
  members[0].owned = {0, 1};
  members[1].owned = {2, 3};
  Lines silver, late;
  int moves = 0;
  for (size_t b = 0; b < batches.size(); ++b) {
    for (Member& m : members) {
      std::vector<Record> mine;
      for (const Record& r : batches[b]) {
        if (m.owned.contains(r.partition)) mine.push_back(r);
      }
      m.Run(mine, static_cast<int64_t>(b), &silver, &late);
    }
    if (b % 3 == 2) {  // a rebalance: one partition moves, its state through the contract only
      const auto p = static_cast<int32_t>(rng() % kPartitions);
      Member& from = members[0].owned.contains(p) ? members[0] : members[1];
      Member& to = &from == &members[0] ? members[1] : members[0];
      const std::string bytes = from.chain.PartitionState()->SnapshotPartition(p);
      from.chain.PartitionState()->DropPartition(p);
      from.owned.erase(p);
      ASSERT_TRUE(to.chain.PartitionState()->RestorePartition(p, bytes).ok());
      to.owned.insert(p);
      ++moves;
    }
  }
  EXPECT_GT(moves, 5);
  EXPECT_GT(silver_one.size(), 10'000u);
  EXPECT_GT(late_one.size(), 100u);  // events beyond the horizon, so that the state's horizon counts
  EXPECT_EQ(silver, silver_one);
  EXPECT_EQ(late, late_one);
}

TEST(OperatorChainTest, APartitionMovedWithoutItsStateDiffers) {
  // The same stream, but the new owner starts the partition empty: duplicates of events the
  // old owner took come through again. Shows that the comparison above can fail.
  const std::vector<Record> stream = Stream(4'000);
  const size_t half = stream.size() / 2;
  Member one;
  Lines silver_one, late_one;
  one.Run({stream.begin(), stream.begin() + static_cast<std::ptrdiff_t>(half)}, 0, &silver_one, &late_one);
  one.Run({stream.begin() + static_cast<std::ptrdiff_t>(half), stream.end()}, 1, &silver_one, &late_one);

  Member first, second;
  Lines silver, late;
  first.Run({stream.begin(), stream.begin() + static_cast<std::ptrdiff_t>(half)}, 0, &silver, &late);
  second.Run({stream.begin() + static_cast<std::ptrdiff_t>(half), stream.end()}, 1, &silver, &late);
  EXPECT_NE(silver, silver_one);
}

/// The end offset (one past the last) of each partition's rows in `rows`.
std::map<int32_t, int64_t> Ends(const std::vector<Record>& rows) {
  std::map<int32_t, int64_t> out;
  for (const Record& r : rows) out[r.partition] = std::max(out[r.partition], r.offset + 1);
  return out;
}

class PartitionStateFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("partition_state_files_test." + std::to_string(::getpid()) + "." +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    for (int p = 0; p < kPartitions; ++p) std::filesystem::create_directories(Dir(p));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Dir(int32_t p) const { return (dir_ / std::to_string(p)).string(); }
  std::set<std::string> Names(int32_t p) const {
    std::set<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(Dir(p))) out.insert(e.path().filename().string());
    return out;
  }
  std::filesystem::path dir_;
};

TEST_F(PartitionStateFilesTest, EveryOffsetWrittenRestoresTheStateItHad) {
  // A member writes each partition's state after each batch; a reference chain fed the same
  // batches gives the state at each offset (a full snapshot, which does not disturb deltas
  // only because it is another chain). Restoring any written offset gives that state.
  const std::vector<Record> stream = Stream(6'000);
  Member writer, reference;
  std::map<int32_t, PartitionStateFiles> files;
  for (int32_t p = 0; p < kPartitions; ++p) files.try_emplace(p, Dir(p), p);
  std::map<std::pair<int32_t, int64_t>, std::string> truth;
  Lines unused_silver, unused_late;
  std::mt19937 rng(9);
  int64_t b = 0;
  for (size_t from = 0; from < stream.size(); ++b) {
    const size_t n = std::min(stream.size() - from, size_t{1} + rng() % 300);
    const std::vector<Record> rows(stream.begin() + static_cast<std::ptrdiff_t>(from),
                                   stream.begin() + static_cast<std::ptrdiff_t>(from + n));
    from += n;
    writer.Run(rows, b, &unused_silver, &unused_late);
    reference.Run(rows, b, &unused_silver, &unused_late);
    for (const auto& [p, end] : Ends(rows)) {
      ASSERT_TRUE(files.at(p).Write(writer.chain.PartitionState(), end).ok());
      truth[{p, end}] = reference.chain.PartitionState()->SnapshotPartition(p);
    }
  }
  int deltas = 0, fulls = 0;
  for (int32_t p = 0; p < kPartitions; ++p) {
    for (const std::string& name : Names(p)) (name.find(".from-") != std::string::npos ? deltas : fulls)++;
  }
  // The state grows through this stream, so a full file comes each time it has about doubled.
  EXPECT_GT(deltas, 3 * fulls) << "the cadence should write mostly deltas";
  EXPECT_GT(fulls, kPartitions) << "and a full file now and then";
  for (const auto& [at, state] : truth) {
    SCOPED_TRACE("partition " + std::to_string(at.first) + " offset " + std::to_string(at.second));
    Member restored;
    PartitionStateFiles reader(Dir(at.first), at.first);
    ASSERT_TRUE(reader.Restore(restored.chain.PartitionState(), at.second).ok());
    EXPECT_EQ(restored.chain.PartitionState()->SnapshotPartition(at.first), state);
  }
}

TEST_F(PartitionStateFilesTest, APruneKeepsTheChainOfTheOffsetBeforeTheLastWrite) {
  const std::vector<Record> stream = Stream(4'000);
  Member writer;
  PartitionStateFiles files(Dir(0), 0);
  Lines silver, late;
  std::vector<int64_t> written;
  for (size_t from = 0; from < stream.size(); from += 100) {
    std::vector<Record> rows;
    for (size_t i = from; i < std::min(stream.size(), from + 100); ++i) {
      if (stream[i].partition == 0) rows.push_back(stream[i]);
    }
    if (rows.empty()) continue;
    writer.Run(rows, static_cast<int64_t>(from), &silver, &late);
    const int64_t end = Ends(rows).at(0);
    ASSERT_TRUE(files.Write(writer.chain.PartitionState(), end).ok());
    written.push_back(end);
    files.Prune();
  }
  ASSERT_GT(written.size(), 10u);
  // The last two offsets restore (a member may restore the one before the last commit while
  // it commits); the earliest ones are gone.
  for (int64_t at : {written[written.size() - 2], written.back()}) {
    Member restored;
    EXPECT_TRUE(PartitionStateFiles(Dir(0), 0).Restore(restored.chain.PartitionState(), at).ok()) << at;
  }
  Member restored;
  const arrow::Status gone = PartitionStateFiles(Dir(0), 0).Restore(restored.chain.PartitionState(), written.front());
  EXPECT_TRUE(gone.IsKeyError()) << gone.ToString();
  EXPECT_LT(Names(0).size(), written.size());
}

TEST_F(PartitionStateFilesTest, AChainThatDoesNotReachAFullFileIsNotFollowed) {
  // Files another writer left: a delta whose base has no file, beside a good chain.
  const std::vector<Record> stream = Stream(2'000);
  std::vector<Record> p0;
  for (const Record& r : stream) {
    if (r.partition == 0) p0.push_back(r);
  }
  ASSERT_GT(p0.size(), 100u);
  const size_t half = p0.size() / 2;
  Member writer, reference;
  PartitionStateFiles files(Dir(0), 0);
  Lines silver, late;
  writer.Run({p0.begin(), p0.begin() + static_cast<std::ptrdiff_t>(half)}, 0, &silver, &late);
  ASSERT_TRUE(files.Write(writer.chain.PartitionState(), static_cast<int64_t>(half)).ok());  // full
  writer.Run({p0.begin() + static_cast<std::ptrdiff_t>(half), p0.end()}, 1, &silver, &late);
  const auto end = static_cast<int64_t>(p0.size());
  ASSERT_TRUE(files.Write(writer.chain.PartitionState(), end).ok());  // a delta from half
  ASSERT_TRUE(Names(0).contains(PartitionStateFiles::DeltaName(end, static_cast<int64_t>(half))));
  // A stray delta to the same offset from a base that has no file (nearer, so tried first).
  { std::ofstream(Dir(0) + "/" + PartitionStateFiles::DeltaName(end, end - 1)) << "not a state"; }
  reference.Run(p0, 0, &silver, &late);
  Member restored;
  ASSERT_TRUE(PartitionStateFiles(Dir(0), 0).Restore(restored.chain.PartitionState(), end).ok());
  EXPECT_EQ(restored.chain.PartitionState()->SnapshotPartition(0), reference.chain.PartitionState()->SnapshotPartition(0));
  // A write in progress (a temporary name) is not a state file.
  { std::ofstream(Dir(0) + "/" + std::to_string(end + 5) + ".tmp-123") << "partial"; }
  const arrow::Status none = PartitionStateFiles(Dir(0), 0).Restore(restored.chain.PartitionState(), end + 5);
  EXPECT_TRUE(none.IsKeyError()) << none.ToString();
}

}  // namespace
}  // namespace medallion::engine
