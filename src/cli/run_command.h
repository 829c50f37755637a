#pragma once

#include <CLI/CLI.hpp>

namespace medallion::cli {

/// Registers the `run` subcommand: the streaming pipeline. Flags override the TOML config
/// (--config). Exits the process non-zero with a message naming the flag or key on a bad
/// value, and on any pipeline error. SIGINT/SIGTERM finish the batch in flight, then stop.
void AddRunCommand(CLI::App& app);

}  // namespace medallion::cli
