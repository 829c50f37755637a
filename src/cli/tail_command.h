#pragma once

#include <CLI/CLI.hpp>

namespace medallion::cli {

/// Registers the `tail` subcommand: prints the last rows of one table (read through its Delta
/// log, read-only, no lock), one JSON object per line, and with --follow the rows of every
/// commit made after it started, until SIGINT/SIGTERM (exit 0). An unknown table, a data
/// directory without tables, a bad --where or --columns exit 2 with a message naming them.
void AddTailCommand(CLI::App& app);

}  // namespace medallion::cli
