#pragma once

#include <CLI/CLI.hpp>

namespace medallion::cli {

/// Registers the `produce` subcommand on `app`: it sends generated order events (or the
/// lines of a JSON-lines file) to a Kafka topic and prints one summary line to stdout.
/// Its callback runs inside app.parse(); on any error it prints a message naming the
/// problem to stderr and exits the process with a non-zero code.
void AddProduceCommand(CLI::App& app);

}  // namespace medallion::cli
