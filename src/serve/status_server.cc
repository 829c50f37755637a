#include "serve/status_server.h"

#include <cerrno>
#include <cstring>

#include <httplib.h>

#include "metrics/status_json.h"
#include "metrics/status_metrics.h"
#include "serve/status_page.h"

namespace medallion::serve {

StatusServer::StatusServer(std::unique_ptr<httplib::Server> server) : server_(std::move(server)) {}

StatusServer::~StatusServer() { Stop(); }

arrow::Result<std::unique_ptr<StatusServer>> StatusServer::Make(const ListenAddress& address,
                                                                SnapshotFn snapshot) {
  auto server = std::make_unique<httplib::Server>();
  // A few workers are plenty for a scraper and a browser; keep-alive connections must not
  // hold every worker.
  server->new_task_queue = [] { return new httplib::ThreadPool(4); };
  server->set_keep_alive_max_count(20);
  server->set_read_timeout(5, 0);
  server->set_write_timeout(5, 0);
  server->Get("/metrics", [snapshot](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics::StatusMetrics(*snapshot()).Text(), "text/plain; version=0.0.4; charset=utf-8");
  });
  server->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  server->Get("/readyz", [snapshot](const httplib::Request&, httplib::Response& res) {
    const auto s = snapshot();
    if (s->Ready()) {
      res.set_content("ready: lag " + std::to_string(s->lag) + " <= " + std::to_string(s->ready_max_lag) + "\n",
                      "text/plain");
    } else {
      res.status = 503;
      res.set_content(s->lag == metrics::kUnknown ? std::string("not ready: lag not known yet\n")
                                                  : "not ready: lag " + std::to_string(s->lag) + " > " +
                                                        std::to_string(s->ready_max_lag) + "\n",
                      "text/plain");
    }
  });
  server->Get("/status", [snapshot](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
    res.set_content(metrics::StatusJson(*snapshot()), "application/json");
  });
  server->Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(StatusPageHtml()), "text/html; charset=utf-8");
  });
  errno = 0;
  if (!server->bind_to_port(address.host, address.port)) {
    const int err = errno;
    return arrow::Status::IOError("cannot listen on ", address.host, ":", address.port,
                                  err != 0 ? std::string(" (") + std::strerror(err) + ")" : std::string(),
                                  ": the port is in use or the address is not this machine's");
  }
  return std::unique_ptr<StatusServer>(new StatusServer(std::move(server)));
}

void StatusServer::Start() {
  thread_ = std::thread([this] { server_->listen_after_bind(); });
}

void StatusServer::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace medallion::serve
