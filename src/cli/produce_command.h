#pragma once

#include <CLI/CLI.hpp>

namespace medallion::cli {

/// Registers the `produce` subcommand on `app`: it sends generated order events (or the
/// lines of a JSON-lines file) to a Kafka topic and prints one summary line to stdout.
/// With --payments-topic or --payments-to-file it also sends the payment events of the
/// generated PAID orders (see produce::OrderPaymentStream), interleaved with the orders in
/// event-time order; without them the order bytes and behaviour are unchanged.
/// Its callback runs inside app.parse(); on any error it prints a message naming the
/// problem to stderr and exits the process with a non-zero code.
void AddProduceCommand(CLI::App& app);

}  // namespace medallion::cli
