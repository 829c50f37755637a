// ReadAhead on a TaskPool: the result taken once, Close and destruction waiting for work in
// flight, queued work dropped, an exception turned into a Status, and work run by the taking
// thread when no pool thread has begun it.
#include "engine/read_ahead.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#include "status_assertions.h"

namespace medallion::engine {
namespace {

using namespace std::chrono_literals;

/// A gate the test opens: work blocks in Wait until Open.
class Gate {
 public:
  void Open() { open_.store(true); }
  void Wait() const {
    while (!open_.load()) std::this_thread::sleep_for(1ms);
  }

 private:
  std::atomic<bool> open_{false};
};

/// Waits until `flag` is true (the work has begun on a pool thread).
void AwaitTrue(const std::atomic<bool>& flag) {
  while (!flag.load()) std::this_thread::sleep_for(1ms);
}

TEST(ReadAheadTest, ResultIsTakenOnce) {
  TaskPool pool(2);
  auto ahead = ReadAhead<arrow::Result<int>>::Start(&pool, "adding", [] { return arrow::Result<int>(42); });
  ASSERT_TRUE(ahead.valid());
  ASSERT_OK_AND_ASSIGN(value, ahead.Take());
  EXPECT_EQ(value, 42);
  EXPECT_FALSE(ahead.valid());
  ahead.Close();  // nothing left to close
  EXPECT_FALSE(ahead.valid());
}

TEST(ReadAheadTest, ResultHoldsMoveOnlyValue) {
  TaskPool pool(1);
  auto ahead = ReadAhead<arrow::Result<std::unique_ptr<int>>>::Start(
      &pool, "allocating", [] { return arrow::Result<std::unique_ptr<int>>(std::make_unique<int>(7)); });
  ASSERT_OK_AND_ASSIGN(value, ahead.Take());
  EXPECT_EQ(*value, 7);
}

TEST(ReadAheadTest, CloseWhileRunningWaits) {
  TaskPool pool(1);
  Gate gate;
  std::atomic<bool> started{false}, finished{false};
  auto ahead = ReadAhead<arrow::Status>::Start(&pool, "waiting", [&] {
    started.store(true);
    gate.Wait();
    finished.store(true);
    return arrow::Status::OK();
  });
  AwaitTrue(started);
  std::thread opener([&] {
    std::this_thread::sleep_for(50ms);
    gate.Open();
  });
  ahead.Close();
  EXPECT_TRUE(finished.load());
  EXPECT_FALSE(ahead.valid());
  opener.join();
}

TEST(ReadAheadTest, CloseDropsWorkNotBegun) {
  TaskPool pool(1);
  Gate gate;
  std::atomic<bool> blocker_started{false};
  auto blocker = ReadAhead<arrow::Status>::Start(&pool, "blocking", [&] {
    blocker_started.store(true);
    gate.Wait();
    return arrow::Status::OK();
  });
  AwaitTrue(blocker_started);
  std::atomic<bool> ran{false};
  auto held = std::make_shared<int>(1);
  auto queued = ReadAhead<arrow::Status>::Start(&pool, "queued", [&ran, held] {
    ran.store(true);
    return arrow::Status::OK();
  });
  held.reset();
  queued.Close();  // the only thread is busy: the work is dropped, its captures released
  gate.Open();
  ASSERT_OK(blocker.Take());
  EXPECT_FALSE(ran.load());
}

TEST(ReadAheadTest, ExceptionBecomesStatus) {
  TaskPool pool(1);
  auto throws = ReadAhead<arrow::Result<int>>::Start(&pool, "reading ahead", []() -> arrow::Result<int> {
    throw std::runtime_error("broken");
  });
  auto r = throws.Take();
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsUnknownError());
  EXPECT_NE(r.status().message().find("reading ahead: exception broken"), std::string::npos)
      << r.status().ToString();

  auto unknown = ReadAhead<arrow::Status>::Start(&pool, "writing", []() -> arrow::Status { throw 1; });
  auto st = unknown.Take();
  EXPECT_TRUE(st.IsUnknownError());
  EXPECT_NE(st.message().find("writing: unknown exception"), std::string::npos) << st.ToString();
}

TEST(ReadAheadTest, DestroyWithoutTakingWaitsAndDiscards) {
  TaskPool pool(1);
  Gate gate;
  std::atomic<bool> started{false}, finished{false};
  std::weak_ptr<int> result_alive;
  std::thread opener;
  {
    auto ahead = ReadAhead<arrow::Result<std::shared_ptr<int>>>::Start(
        &pool, "producing", [&]() -> arrow::Result<std::shared_ptr<int>> {
          started.store(true);
          gate.Wait();
          auto value = std::make_shared<int>(5);
          result_alive = value;
          finished.store(true);
          return value;
        });
    AwaitTrue(started);
    opener = std::thread([&] {
      std::this_thread::sleep_for(50ms);
      gate.Open();
    });
  }  // the destructor waits for the work and destroys its result
  EXPECT_TRUE(finished.load());
  EXPECT_TRUE(result_alive.expired());
  opener.join();
}

TEST(ReadAheadTest, AssigningClosesThePrevious) {
  TaskPool pool(1);
  std::weak_ptr<int> first_alive;
  auto ahead = ReadAhead<arrow::Result<std::shared_ptr<int>>>::Start(
      &pool, "first", [&]() -> arrow::Result<std::shared_ptr<int>> {
        auto value = std::make_shared<int>(1);
        first_alive = value;
        return value;
      });
  ahead = ReadAhead<arrow::Result<std::shared_ptr<int>>>::Start(
      &pool, "second", [] { return arrow::Result<std::shared_ptr<int>>(std::make_shared<int>(2)); });
  EXPECT_TRUE(first_alive.expired());
  ASSERT_OK_AND_ASSIGN(value, ahead.Take());
  EXPECT_EQ(*value, 2);
}

TEST(ReadAheadTest, TakeRunsWorkNoThreadBegan) {
  TaskPool none(0);
  const auto caller = std::this_thread::get_id();
  std::thread::id ran_on;
  auto ahead = ReadAhead<arrow::Status>::Start(&none, "inline", [&] {
    ran_on = std::this_thread::get_id();
    return arrow::Status::OK();
  });
  ASSERT_OK(ahead.Take());
  EXPECT_EQ(ran_on, caller);

  auto unpooled = ReadAhead<arrow::Result<int>>::Start(nullptr, "inline", [] { return arrow::Result<int>(3); });
  ASSERT_OK_AND_ASSIGN(value, unpooled.Take());
  EXPECT_EQ(value, 3);
}

TEST(ReadAheadTest, NestedWaitOnOneThreadDoesNotDeadlock) {
  TaskPool pool(1);
  auto outer = ReadAhead<arrow::Result<int>>::Start(&pool, "outer", [&pool]() -> arrow::Result<int> {
    // The pool's only thread runs this; the inner work is taken here, on the same thread.
    auto inner = ReadAhead<arrow::Result<int>>::Start(&pool, "inner", [] { return arrow::Result<int>(20); });
    ARROW_ASSIGN_OR_RAISE(int v, inner.Take());
    return v + 1;
  });
  ASSERT_OK_AND_ASSIGN(value, outer.Take());
  EXPECT_EQ(value, 21);
}

}  // namespace
}  // namespace medallion::engine
