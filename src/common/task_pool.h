#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace medallion {

/// A fixed set of worker threads that run submitted tasks in submission order.
///
/// Threading: Submit may be called from any thread, including from inside a task. The
/// number of threads is fixed at construction; a pool of zero threads runs nothing, and
/// its users (ReadAhead) run their work on the thread that waits for it instead.
///
/// Lifecycle: the destructor runs every task still queued, then joins the threads. A task
/// must therefore not outlive what it refers to past the pool's destruction; owners declare
/// the pool after the objects its tasks use, so that it is destroyed first.
class TaskPool {
 public:
  /// Starts `threads` worker threads (none if `threads` <= 0).
  explicit TaskPool(int threads);
  ~TaskPool();

  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  /// Queues `task` to run on one of the threads. With no threads, the task is dropped: use
  /// ReadAhead, which runs its work on the waiting thread when no worker took it.
  void Submit(std::function<void()> task);

  int size() const { return static_cast<int>(threads_.size()); }

 private:
  void WorkerLoop();

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace medallion
