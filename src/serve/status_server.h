#pragma once

#include <functional>
#include <memory>
#include <thread>

#include <arrow/result.h>

#include "metrics/run_status.h"
#include "serve/listen_address.h"

namespace httplib {
class Server;
}

namespace medallion::serve {

/// Gives the current run status snapshot; called from the server's threads, so it must be
/// thread-safe and quick (engine::StatusBoard::Snapshot is).
using SnapshotFn = std::function<std::shared_ptr<const metrics::RunStatus>()>;

/// The HTTP endpoint of `medallion run` (cpp-httplib): `/metrics` (Prometheus text),
/// `/healthz` (200 while the process runs), `/readyz` (200 when the lag is known and within
/// ready_max_lag, else 503), `/status` (JSON) and `/` (the status page, which polls
/// /status). Handlers only read immutable snapshots, so a scrape never waits for a batch.
///
/// Lifecycle: Make binds the socket (so a port in use fails before anything else starts),
/// Start serves on a thread of its own, Stop (or the destructor) closes it and joins.
class StatusServer {
 public:
  ~StatusServer();

  static arrow::Result<std::unique_ptr<StatusServer>> Make(const ListenAddress& address, SnapshotFn snapshot);

  /// Serves on a background thread until Stop.
  void Start();
  /// Stops listening and joins the thread; idempotent.
  void Stop();

 private:
  explicit StatusServer(std::unique_ptr<httplib::Server> server);
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace medallion::serve
