#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include <arrow/result.h>
#include <arrow/status.h>

#include "common/task_pool.h"

namespace medallion::engine {

/// Runs `fn`, which returns a Status or Result, and turns an exception thrown inside it
/// (std::bad_alloc, or any other) into an error status naming `what`: a worker thread must
/// not end the process through std::terminate.
template <typename Fn>
auto Guarded(const char* what, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::exception& e) {
    return arrow::Status::UnknownError(what, ": exception ", e.what());
  } catch (...) {
    return arrow::Status::UnknownError(what, ": unknown exception");
  }
}

/// One piece of work started ahead of the thread that needs its result, on a TaskPool: the
/// pattern Velox's AsyncSource names (prepare, move, close). `T` is arrow::Status or an
/// arrow::Result; an exception thrown by the work becomes an error status (Guarded).
///
/// Lifecycle: Start queues the work; Take returns its result once and leaves the ReadAhead
/// empty; Close (also run by the destructor and by assigning another ReadAhead) drops the
/// work if no thread has begun it, waits for it if one has, and destroys its result and
/// the work function, with whatever they hold, before it returns. So everything the work
/// refers to must outlive the ReadAhead, and a ReadAhead declared after the objects its
/// work uses (or closed before them) never lets the work run on past their lifetime.
///
/// Threading: the work runs on a pool thread, or, if no pool thread has begun it when Take
/// is called (a busy pool, or a pool without threads), on the thread calling Take; so a
/// task may wait for another one on the same pool without deadlock. A ReadAhead itself is
/// used by one thread at a time; it may be moved to (and taken on) another thread.
template <typename T>
class ReadAhead {
 public:
  /// An empty ReadAhead: valid() is false.
  ReadAhead() = default;

  /// Queues `fn` on `pool` (null: the work runs when taken). `what` names the work in the
  /// status an exception becomes; it must outlive the ReadAhead.
  static ReadAhead Start(TaskPool* pool, const char* what, std::function<T()> fn) {
    ReadAhead out;
    out.state_ = std::make_shared<State>();
    out.state_->what = what;
    out.state_->fn = std::move(fn);
    if (pool != nullptr) {
      pool->Submit([state = out.state_] { Run(*state, /*claimed=*/false); });
    }
    return out;
  }

  ReadAhead(ReadAhead&& other) noexcept : state_(std::move(other.state_)) {}
  ReadAhead& operator=(ReadAhead&& other) noexcept {
    if (this != &other) {
      Close();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  ReadAhead(const ReadAhead&) = delete;
  ReadAhead& operator=(const ReadAhead&) = delete;

  ~ReadAhead() { Close(); }

  /// True from Start until Take or Close.
  bool valid() const { return state_ != nullptr; }

  /// The work's result: waits for it if a pool thread runs it, else runs it here. Requires
  /// valid(); afterwards valid() is false.
  T Take() {
    std::shared_ptr<State> state = std::move(state_);
    {
      std::unique_lock<std::mutex> lock(state->mutex);
      if (state->phase == Phase::kQueued) {
        state->phase = Phase::kRunning;
        lock.unlock();
        Run(*state, /*claimed=*/true);
        lock.lock();
      }
      state->done.wait(lock, [&] { return state->phase == Phase::kDone; });
    }
    return std::move(*state->result);
  }

  /// Drops the work if it has not begun, else waits for it; discards its result. Nothing
  /// if !valid(); afterwards valid() is false.
  void Close() {
    if (state_ == nullptr) return;
    std::shared_ptr<State> state = std::move(state_);
    std::function<T()> fn;
    std::optional<T> result;
    {
      std::unique_lock<std::mutex> lock(state->mutex);
      if (state->phase == Phase::kQueued) {
        state->phase = Phase::kCancelled;
        fn = std::move(state->fn);
      } else {
        state->done.wait(lock, [&] { return state->phase == Phase::kDone; });
        result = std::move(state->result);
      }
    }
    // `fn` and `result` are destroyed here, on this thread, before Close returns.
  }

 private:
  enum class Phase { kQueued, kRunning, kDone, kCancelled };

  struct State {
    std::mutex mutex;
    std::condition_variable done;
    Phase phase = Phase::kQueued;
    const char* what = "";
    std::function<T()> fn;
    std::optional<T> result;
  };

  /// Runs the work unless it was begun or cancelled already; `claimed`: the caller has set
  /// the phase to kRunning itself.
  static void Run(State& state, bool claimed) {
    std::function<T()> fn;
    {
      std::lock_guard<std::mutex> lock(state.mutex);
      if (!claimed) {
        if (state.phase != Phase::kQueued) return;
        state.phase = Phase::kRunning;
      }
      fn = std::move(state.fn);
    }
    std::optional<T> result(Guarded(state.what, fn));
    fn = nullptr;  // the work's captures are released before its result is handed over
    {
      std::lock_guard<std::mutex> lock(state.mutex);
      state.result = std::move(result);
      state.phase = Phase::kDone;
    }
    state.done.notify_all();
  }

  std::shared_ptr<State> state_;
};

}  // namespace medallion::engine
