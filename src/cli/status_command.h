#pragma once

#include <CLI/CLI.hpp>

namespace medallion::cli {

/// Registers the `status` subcommand: what a checkpoint directory and a data directory hold
/// (query id, last committed batch, a planned batch waiting for replay, failed attempts, the
/// last batch's offsets, every table's Delta version, files, bytes and rows) and, when the
/// brokers answer within a few seconds, the lag per partition. Read-only: it takes no lock and
/// may run beside a live engine. --json prints the same as one JSON object. A checkpoint or
/// data directory that does not exist exits 2 naming it; unreachable brokers are reported and
/// the rest is still printed (exit 0).
void AddStatusCommand(CLI::App& app);

}  // namespace medallion::cli
