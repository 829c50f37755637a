#include "sink/delta_transaction.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>
#include <thread>

#include <arrow/api.h>
#include <gtest/gtest.h>

#include "common/file_util.h"
#include "sink/delta_log.h"
#include "delta_test_support.h"
#include "status_assertions.h"

namespace medallion::sink {
namespace {

std::shared_ptr<arrow::Schema> TestSchema(bool with_extra = false) {
  std::vector<std::shared_ptr<arrow::Field>> fields = {arrow::field("id", arrow::int64(), false),
                                                       arrow::field("name", arrow::utf8(), true)};
  if (with_extra) fields.push_back(arrow::field("extra", arrow::utf8(), true));
  fields.push_back(arrow::field("event_date", arrow::date32(), false));
  return arrow::schema(fields);
}

DeltaAddFile MakeAdd(const std::string& name) { return test::AddOf("2026-11-24", name); }

std::string PathOf(const std::string& name) { return MakeAdd(name).path; }

/// The options of a group member's commit: the partitions' positions `txns`, owned.
CommitOptions OwnedSources(SourceTxns txns = {}) {
  CommitOptions options;
  options.source_txns = std::move(txns);
  options.sources_owned = true;
  return options;
}

class DeltaTransactionTest : public test::TableDirTest {
 protected:
  DeltaTransactionTest() : TableDirTest("delta_transaction_test") {}

  std::unique_ptr<DeltaLog> OpenLog(bool with_extra = false, int interval = 10) {
    auto log = DeltaLog::Open(root_, "test/tx", TestSchema(with_extra), {"event_date"}, interval);
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    return log.ok() ? std::move(*log) : nullptr;
  }
  /// How many times each path is added across the log's JSON entries 1..version.
  std::map<std::string, int> AddCounts(int64_t version) const {
    std::map<std::string, int> counts;
    for (int64_t v = 1; v <= version; ++v) {
      auto text = ReadFile(Entry(v));
      EXPECT_TRUE(text.ok()) << text.status().ToString();
      if (!text.ok()) continue;
      DeltaSnapshot entry_only;
      EXPECT_TRUE(ApplyLogEntry(*text, &entry_only, nullptr).ok());
      for (const auto& [path, add] : entry_only.live) ++counts[path];
    }
    return counts;
  }

};

TEST(CommitConflictTest, ConflictOfReadsTheDetail) {
  EXPECT_EQ(ConflictOf(arrow::Status::OK()), std::nullopt);
  EXPECT_EQ(ConflictOf(arrow::Status::Invalid("plain")), std::nullopt);
  struct Case {
    CommitConflict conflict;
    arrow::StatusCode code;
  };
  for (const Case& c : {Case{CommitConflict::kMetadataChanged, arrow::StatusCode::Invalid},
                        Case{CommitConflict::kProtocolChanged, arrow::StatusCode::Invalid},
                        Case{CommitConflict::kConcurrentDelete, arrow::StatusCode::Invalid},
                        Case{CommitConflict::kConcurrentAppend, arrow::StatusCode::Invalid},
                        Case{CommitConflict::kTxnAlreadyCommitted, arrow::StatusCode::AlreadyExists},
                        Case{CommitConflict::kSourceTaken, arrow::StatusCode::Invalid},
                        Case{CommitConflict::kRetriesExhausted, arrow::StatusCode::IOError},
                        Case{CommitConflict::kIo, arrow::StatusCode::IOError}}) {
    SCOPED_TRACE(CommitConflictName(c.conflict));
    const arrow::Status status = CommitConflictStatus(c.conflict, 7, 3, "message");
    EXPECT_EQ(status.code(), c.code);
    EXPECT_EQ(ConflictOf(status), c.conflict);
    EXPECT_EQ(ConflictDetailOf(status)->version(), 7);
    EXPECT_EQ(ConflictDetailOf(status)->attempts(), 3);
    // The detail survives a rewrapped message, as callers add context.
    EXPECT_EQ(ConflictOf(status.WithMessage("table x: ", status.message())), c.conflict);
  }
}

TEST_F(DeltaTransactionTest, InterleavedAppendersEachLandOnceAtDenseVersions) {
  auto a = OpenLog();
  auto b = OpenLog();
  ASSERT_NE(b, nullptr);
  constexpr int kRounds = 40;
  int64_t expected_version = 0;
  for (int round = 1; round <= kRounds; ++round) {
    SCOPED_TRACE(round);
    // Both prepare on what they have read, then commit in an order that alternates.
    ASSERT_OK_AND_ASSIGN(pa, a->Prepare("a", round, {MakeAdd("a-" + std::to_string(round))}, {}, "WRITE"));
    ASSERT_OK_AND_ASSIGN(pb, b->Prepare("b", round, {MakeAdd("b-" + std::to_string(round))}, {}, "WRITE"));
    DeltaLog* first = round % 2 == 0 ? a.get() : b.get();
    DeltaLog* second = round % 2 == 0 ? b.get() : a.get();
    const PreparedCommit& p1 = round % 2 == 0 ? pa : pb;
    const PreparedCommit& p2 = round % 2 == 0 ? pb : pa;
    ASSERT_OK_AND_ASSIGN(v1, first->CommitPrepared(p1));
    ASSERT_OK(first->PostCommit(p1, v1));
    ASSERT_OK_AND_ASSIGN(v2, second->CommitPrepared(p2));  // loses the race for v1
    ASSERT_OK(second->PostCommit(p2, v2));
    EXPECT_EQ(v1, expected_version + 1);
    EXPECT_EQ(v2, expected_version + 2);
    expected_version = v2;
  }
  auto reopened = OpenLog();
  EXPECT_EQ(reopened->version(), 2 * kRounds);
  EXPECT_EQ(reopened->LiveFiles().size(), static_cast<size_t>(2 * kRounds));
  const auto counts = AddCounts(reopened->version());
  EXPECT_EQ(counts.size(), static_cast<size_t>(2 * kRounds));
  for (const auto& [path, count] : counts) EXPECT_EQ(count, 1) << path;
  EXPECT_EQ(reopened->TxnVersion("a"), kRounds);
  EXPECT_EQ(reopened->TxnVersion("b"), kRounds);
  // Each writer's snapshot took in the other's entries in PostCommit: b committed last, a has
  // not read b's last entry yet.
  EXPECT_EQ(b->LiveFiles(), reopened->LiveFiles());
  EXPECT_EQ(a->version(), 2 * kRounds - 1);
}

TEST_F(DeltaTransactionTest, ThreadedAppendersAllCommit) {
  ASSERT_NE(OpenLog(false, /*interval=*/7), nullptr);
  constexpr int kWriters = 3, kCommits = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      auto log = DeltaLog::Open(root_, "test/tx", TestSchema(), {"event_date"}, 7);
      if (!log.ok()) {
        ++failures;
        return;
      }
      (*log)->set_max_commit_attempts(1000);
      for (int t = 1; t <= kCommits; ++t) {
        const std::string app = "w" + std::to_string(w);
        if (!(*log)->Commit(app, t, {MakeAdd(app + "-" + std::to_string(t))}, {}, "WRITE").ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto log = OpenLog(false, 7);
  EXPECT_EQ(log->version(), kWriters * kCommits);
  const auto counts = AddCounts(log->version());
  EXPECT_EQ(counts.size(), static_cast<size_t>(kWriters * kCommits));
  for (const auto& [path, count] : counts) EXPECT_EQ(count, 1) << path;
}

/// A winner commits between the loser's Prepare and its CommitPrepared; both start from
/// version 1, which holds f.parquet and g.parquet.
TEST_F(DeltaTransactionTest, LostRaceIsCheckedAgainstTheWinner) {
  using Winner = std::function<arrow::Status(const std::string& root, DeltaLog* log)>;
  struct Case {
    const char* name;
    Winner winner;
    std::string loser_app;
    std::vector<std::string> loser_removes;
    std::optional<CommitConflict> expected;
  };
  auto append = [](std::string app) {
    return [app](const std::string&, DeltaLog* log) {
      return log->Commit(app, 1, {MakeAdd(app + ".parquet")}, {}, "WRITE").status();
    };
  };
  auto remove = [](std::string name) {
    return [name](const std::string&, DeltaLog* log) {
      return log->Commit("winner", 1, {}, {PathOf(name)}, "DELETE").status();
    };
  };
  const Winner evolve = [](const std::string& root, DeltaLog*) {
    ARROW_ASSIGN_OR_RAISE(auto log, DeltaLog::Open(root, "test/tx", TestSchema(true), {"event_date"}));
    return log->EvolveSchema();
  };
  const Winner protocol = [](const std::string& root, DeltaLog* log) {
    ARROW_ASSIGN_OR_RAISE(bool created, CreateFileExclusive(root + "/_delta_log/00000000000000000002.json",
                                                            ProtocolActionJson(DeltaProtocol{1, 2}) + "\n"));
    return created ? arrow::Status::OK() : arrow::Status::Invalid("version 2 exists");
  };
  const Case cases[] = {
      {"append vs append", append("winner"), "loser", {}, std::nullopt},
      {"remove vs append", remove("f.parquet"), "loser", {}, std::nullopt},
      {"append vs remove", append("winner"), "loser", {PathOf("f.parquet")}, std::nullopt},
      {"append vs rewrite", append("winner"), "loser", {PathOf("f.parquet"), PathOf("g.parquet")},
       CommitConflict::kConcurrentAppend},
      {"remove g vs rewrite", remove("g.parquet"), "loser", {PathOf("f.parquet"), PathOf("g.parquet")},
       CommitConflict::kConcurrentDelete},
      {"remove g vs remove f", remove("g.parquet"), "loser", {PathOf("f.parquet")}, std::nullopt},
      {"metadata vs append", evolve, "loser", {}, CommitConflict::kMetadataChanged},
      {"protocol vs append", protocol, "loser", {}, CommitConflict::kProtocolChanged},
      {"remove f vs remove f", remove("f.parquet"), "loser", {PathOf("f.parquet")},
       CommitConflict::kConcurrentDelete},
      {"same txn", append("app"), "app", {}, CommitConflict::kTxnAlreadyCommitted},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::filesystem::remove_all(root_);
    auto setup = OpenLog();
    ASSERT_OK(setup->Commit("setup", 1, {MakeAdd("f.parquet"), MakeAdd("g.parquet")}, {}, "WRITE").status());
    auto winner = OpenLog();
    auto loser = OpenLog();
    ASSERT_OK_AND_ASSIGN(prepared, loser->Prepare(c.loser_app, 1, {MakeAdd("loser.parquet")}, c.loser_removes,
                                                  "WRITE"));
    ASSERT_OK(c.winner(root_, winner.get()));
    auto version = loser->CommitPrepared(prepared);
    EXPECT_EQ(ConflictOf(version.status()), c.expected) << version.status().ToString();
    if (!c.expected.has_value()) {
      ASSERT_OK(version.status());
      EXPECT_EQ(*version, 3);
      ASSERT_OK(loser->PostCommit(prepared, *version));
      EXPECT_TRUE(loser->live_files().contains(PathOf("loser.parquet")));
    } else {
      EXPECT_EQ(ConflictDetailOf(version.status())->version(), 2);
      EXPECT_FALSE(PathExists(Entry(3)));
    }
  }
}

TEST_F(DeltaTransactionTest, TxnCommittedByAnotherWriterIsNotWrittenTwice) {
  auto winner = OpenLog();
  auto loser = OpenLog();
  ASSERT_OK_AND_ASSIGN(prepared, loser->Prepare("app", 5, {MakeAdd("second-copy.parquet")}, {}, "WRITE"));
  ASSERT_OK_AND_ASSIGN(won, winner->Commit("app", 5, {MakeAdd("first-copy.parquet")}, {}, "WRITE"));
  ASSERT_OK(winner->Commit("other", 1, {MakeAdd("other.parquet")}, {}, "WRITE").status());
  auto lost = loser->CommitPrepared(prepared);
  EXPECT_TRUE(lost.status().IsAlreadyExists()) << lost.status().ToString();
  ASSERT_EQ(ConflictOf(lost.status()), CommitConflict::kTxnAlreadyCommitted);
  EXPECT_EQ(ConflictDetailOf(lost.status())->version(), won);

  // Commit maps it to the version holding the txn and a snapshot holding every entry.
  ASSERT_OK_AND_ASSIGN(version, loser->Commit("app", 5, {MakeAdd("second-copy.parquet")}, {}, "WRITE"));
  EXPECT_EQ(version, won);
  EXPECT_EQ(loser->version(), 2);
  EXPECT_EQ(loser->TxnVersion("app"), 5);
  EXPECT_FALSE(PathExists(Entry(3)));
  const auto counts = AddCounts(2);
  EXPECT_FALSE(counts.contains(PathOf("second-copy.parquet")));
  EXPECT_EQ(counts.at(PathOf("first-copy.parquet")), 1);
}

TEST_F(DeltaTransactionTest, SourceTxnsAreRecordedAndAWinnerHoldingOneOfThemIsNotWrittenAgain) {
  auto first = OpenLog();
  CommitOptions options;
  options.source_txns = {{"q/orders/0", 30}, {"q/orders/2", 7}};
  ASSERT_OK(first->Commit("q", 0, {MakeAdd("batch0.parquet")}, {}, "WRITE", options).status());
  EXPECT_EQ(first->TxnVersion("q/orders/0"), 30);
  EXPECT_EQ(first->TxnVersion("q/orders/2"), 7);
  EXPECT_EQ(first->TxnVersion("q/orders/1"), -1);
  // The log, read afresh, holds them too.
  auto reopened = OpenLog();
  EXPECT_EQ(reopened->TxnVersion("q/orders/0"), 30);
  EXPECT_EQ(reopened->TxnApps(), (std::vector<std::string>{"q", "q/orders/0", "q/orders/2"}));

  // Another writer (another query id) that covers partition 2 up to offset 7 again lost its
  // race to an entry holding that position: the rows are already in the table.
  CommitOptions again;
  again.source_txns = {{"q/orders/2", 7}};
  ASSERT_OK_AND_ASSIGN(prepared, reopened->Prepare("other", 0, {MakeAdd("copy.parquet")}, {}, "WRITE", again));
  ASSERT_OK(first->Commit("q", 1, {MakeAdd("batch1.parquet")}, {}, "WRITE", options).status());
  auto lost = reopened->CommitPrepared(prepared);
  EXPECT_EQ(ConflictOf(lost.status()), CommitConflict::kTxnAlreadyCommitted) << lost.status().ToString();
  // A position beyond the winner's is a new append, and lands.
  again.source_txns = {{"q/orders/2", 9}};
  ASSERT_OK_AND_ASSIGN(newer, reopened->Prepare("other", 0, {MakeAdd("new.parquet")}, {}, "WRITE", again));
  ASSERT_OK_AND_ASSIGN(landed, reopened->CommitPrepared(newer));
  EXPECT_EQ(landed, 3);
}

/// Group mode: a member's commit is a compare-and-set on the partitions it owns. Any entry
/// written since its snapshot that moved one of them (another member took the partition over),
/// at whatever offset, is kSourceTaken; entries of other partitions are no conflict.
TEST_F(DeltaTransactionTest, AnOwnedSourceMovedByAnotherWriterIsSourceTaken) {
  auto setup = OpenLog();
  CommitOptions start;
  start.source_txns = {{"q/orders/0", 100}, {"q/orders/1", 100}};
  ASSERT_OK(setup->Commit("q-member-a", 0, {MakeAdd("a0.parquet")}, {}, "WRITE", start).status());
  auto member_a = OpenLog();
  auto member_b = OpenLog();
  CommitOptions owned;
  owned.sources_owned = true;
  owned.source_txns = {{"q/orders/0", 150}};
  // b moves partition 1 only: no conflict for a's partition 0.
  CommitOptions other = owned;
  other.source_txns = {{"q/orders/1", 120}};
  ASSERT_OK(member_b->Commit("q-member-b", 0, {MakeAdd("b0.parquet")}, {}, "WRITE", other).status());
  ASSERT_OK_AND_ASSIGN(first, member_a->Prepare("q-member-a", 1, {MakeAdd("a1.parquet")}, {}, "WRITE", owned));
  ASSERT_OK_AND_ASSIGN(landed, member_a->CommitPrepared(first));
  ASSERT_OK(member_a->PostCommit(first, landed));
  // b took partition 0 over and moved it to 120, below a's 200: still a's loss.
  ASSERT_OK_AND_ASSIGN(second, member_a->Prepare("q-member-a", 2, {MakeAdd("a2.parquet")}, {}, "WRITE",
                                                 OwnedSources({{"q/orders/0", 200}})));
  auto taken = OpenLog();
  other.source_txns = {{"q/orders/0", 120}};
  ASSERT_OK(taken->Commit("q-member-b", 1, {MakeAdd("b1.parquet")}, {}, "WRITE", other).status());
  auto lost = member_a->CommitPrepared(second);
  EXPECT_EQ(ConflictOf(lost.status()), CommitConflict::kSourceTaken) << lost.status().ToString();
  EXPECT_NE(lost.status().message().find("q/orders/0"), std::string::npos);
  // Not owned, the same entry is no conflict (only a position at ours or later is).
  CommitOptions shared;
  shared.source_txns = {{"q/orders/0", 200}};
  ASSERT_OK_AND_ASSIGN(third, member_a->Prepare("q-member-a", 3, {MakeAdd("a3.parquet")}, {}, "WRITE", shared));
  ASSERT_OK(member_a->CommitPrepared(third).status());
}

/// The Gold stage: its app id is its own. A second stage committing under it (a Silver
/// version below or above ours) makes our commit kSourceTaken when owned; not owned, only a
/// version at ours or later conflicts. At our very version it is kTxnAlreadyCommitted either
/// way (the entry may be our own, landed although its write failed).
TEST_F(DeltaTransactionTest, AnOwnedAppIdCommittedByAnotherWriterIsSourceTaken) {
  for (const int64_t theirs : {int64_t{7}, int64_t{12}}) {
    SCOPED_TRACE("their version " + std::to_string(theirs));
    std::filesystem::remove_all(root_);
    auto setup = OpenLog();
    ASSERT_OK(setup->Commit("q-gold", 5, {MakeAdd("g5.parquet")}, {}, "WRITE").status());
    auto ours = OpenLog();
    auto other = OpenLog();
    ASSERT_OK_AND_ASSIGN(owned, ours->Prepare("q-gold", 10, {MakeAdd("g10.parquet")}, {}, "WRITE",
                                              OwnedSources()));
    ASSERT_OK_AND_ASSIGN(plain, ours->Prepare("q-gold", 10, {MakeAdd("p10.parquet")}, {}, "WRITE"));
    ASSERT_OK(other->Commit("q-gold", theirs, {MakeAdd("o.parquet")}, {}, "WRITE").status());
    auto lost = ours->CommitPrepared(owned);
    EXPECT_EQ(ConflictOf(lost.status()), CommitConflict::kSourceTaken) << lost.status().ToString();
    EXPECT_NE(lost.status().message().find("two instances"), std::string::npos) << lost.status().message();
    auto shared = ours->CommitPrepared(plain);
    if (theirs >= 10) {
      EXPECT_EQ(ConflictOf(shared.status()), CommitConflict::kTxnAlreadyCommitted) << shared.status().ToString();
    } else {
      EXPECT_TRUE(shared.ok()) << shared.status().ToString();
    }
  }
  std::filesystem::remove_all(root_);
  auto ours = OpenLog();
  auto other = OpenLog();
  ASSERT_OK_AND_ASSIGN(owned, ours->Prepare("q-gold", 10, {MakeAdd("g10.parquet")}, {}, "WRITE",
                                            OwnedSources()));
  ASSERT_OK(other->Commit("q-gold", 10, {MakeAdd("o.parquet")}, {}, "WRITE").status());
  auto same = ours->CommitPrepared(owned);
  EXPECT_EQ(ConflictOf(same.status()), CommitConflict::kTxnAlreadyCommitted) << same.status().ToString();
}

TEST_F(DeltaTransactionTest, RetriesAreBounded) {
  struct Case {
    int max_attempts;
    int winners;  // entries other writers commit after the loser prepared
    bool exhausted;
  };
  for (const Case& c : {Case{1, 0, false}, Case{1, 1, true}, Case{2, 1, false}, Case{1, 3, true}}) {
    SCOPED_TRACE("max_attempts=" + std::to_string(c.max_attempts) + " winners=" + std::to_string(c.winners));
    std::filesystem::remove_all(root_);
    auto winner = OpenLog();
    auto loser = OpenLog();
    loser->set_max_commit_attempts(c.max_attempts);
    ASSERT_OK_AND_ASSIGN(prepared, loser->Prepare("loser", 1, {MakeAdd("loser.parquet")}, {}, "WRITE"));
    for (int w = 1; w <= c.winners; ++w) {
      ASSERT_OK(winner->Commit("winner", w, {MakeAdd("w" + std::to_string(w))}, {}, "WRITE").status());
    }
    auto version = loser->CommitPrepared(prepared);
    if (c.exhausted) {
      ASSERT_EQ(ConflictOf(version.status()), CommitConflict::kRetriesExhausted) << version.status().ToString();
      EXPECT_TRUE(version.status().IsIOError());
      EXPECT_EQ(ConflictDetailOf(version.status())->attempts(), c.max_attempts);
      EXPECT_NE(version.status().message().find("after " + std::to_string(c.max_attempts) + " attempts"),
                std::string::npos)
          << version.status().message();
      EXPECT_FALSE(PathExists(Entry(c.winners + 1)));
    } else {
      ASSERT_OK(version.status());
      EXPECT_EQ(*version, c.winners + 1);
    }
  }
}

TEST_F(DeltaTransactionTest, PrepareRefusesARemoveOfAFileNotLive) {
  auto log = OpenLog();
  auto prepared = log->Prepare("app", 1, {}, {PathOf("never.parquet")}, "DELETE");
  EXPECT_TRUE(prepared.status().IsInvalid());
  EXPECT_EQ(ConflictOf(prepared.status()), CommitConflict::kConcurrentDelete);
}

}  // namespace
}  // namespace medallion::sink
