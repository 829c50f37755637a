#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "cli/produce_command.h"
#include "cli/run_command.h"
#include "cli/status_command.h"
#include "cli/tail_command.h"
#include "common/object_store.h"
#include "common/process_memory.h"

int main(int argc, char** argv) {
  medallion::DisableTransparentHugePages();  // best effort, as the next: see process_memory.h
  medallion::KeepFreedHeapMemory();
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  CLI::App app{"medallion: Kafka order events → Bronze / Silver / Gold tables (Parquet + Delta), exactly once"};
  app.require_subcommand(1);
  medallion::cli::AddProduceCommand(app);
  medallion::cli::AddRunCommand(app);
  medallion::cli::AddTailCommand(app);
  medallion::cli::AddStatusCommand(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help prints and exits 0; every usage error exits 2 with CLI11's message naming the flag.
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  } catch (const std::exception& e) {
    // The commands return errors as statuses; an exception that still gets here (a failed
    // allocation, a library that throws) ends the run with its message, not std::terminate.
    std::fprintf(stderr, "medallion: stopped by an unexpected exception: %s\n", e.what());
    return 1;
  } catch (...) {
    std::fprintf(stderr, "medallion: stopped by an unexpected exception of unknown type\n");
    return 1;
  }
  medallion::objstore::Shutdown();  // the commands' objects are gone by now
  return 0;
}
