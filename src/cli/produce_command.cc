#include "cli/produce_command.h"

#include <simdjson.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <arrow/result.h>
#include <arrow/status.h>

#include "common/time_util.h"
#include "produce/event_generator.h"
#include "produce/kafka_producer.h"
#include "produce/payment_generator.h"

namespace medallion::cli {
namespace {

using Clock = std::chrono::steady_clock;
using SendFn = std::function<arrow::Status(std::string_view key, std::string_view value)>;

constexpr int kFlushTimeoutMs = 60'000;
/// How long a topic's creation may take: the reply, then the cluster's metadata listing the
/// topic with leaders (a broker restarted with many partitions took 14 s for the latter).
constexpr int kAdminTimeoutMs = 60'000;

/// Everything the flags of `medallion produce` set.
struct ProduceArgs {
  std::string brokers = "127.0.0.1:19092";
  std::string topic = "orders";
  int64_t count = 10'000;
  double rate = 0;
  std::string start_time;
  double late_by_seconds = 600;
  double event_step_ms = 10;
  produce::EventGeneratorOptions gen;
  std::string from_file;
  std::string to_file;
  int create_topic_partitions = 0;
  std::vector<std::string> kafka_config;
  /// The payments side: off unless one of these two is given.
  std::string payments_topic;
  std::string payments_to_file;
  produce::PaymentGeneratorOptions pay;

  bool payments() const { return !payments_topic.empty() || !payments_to_file.empty(); }
};

/// Sleeps as needed so that event `index` (0-based) is not sent before index / rate
/// seconds after the start. A rate of 0 never sleeps.
class Pacer {
 public:
  explicit Pacer(double rate) : rate_(rate), start_(Clock::now()) {}
  void Wait(int64_t index) {
    if (rate_ <= 0) return;
    const auto offset = std::chrono::nanoseconds(static_cast<int64_t>(index * 1e9 / rate_));
    const auto target = start_ + offset;
    if (Clock::now() < target) std::this_thread::sleep_until(target);
  }

 private:
  double rate_;
  Clock::time_point start_;
};

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// The order_id of a JSON-object line, or "" when the line is no object or has none.
std::string KeyOfLine(simdjson::dom::parser& parser, const std::string& line) {
  simdjson::dom::element element;
  if (parser.parse(line).get(element) != simdjson::SUCCESS) return "";
  simdjson::dom::object object;
  if (element.get_object().get(object) != simdjson::SUCCESS) return "";
  std::string_view order_id;
  if (object["order_id"].get_string().get(order_id) != simdjson::SUCCESS) return "";
  return std::string(order_id);
}

arrow::Status CheckArgs(ProduceArgs* args) {
  const double sum = args->gen.duplicate_fraction + args->gen.out_of_order_fraction +
                     args->gen.late_fraction + args->gen.malformed_fraction +
                     args->gen.invalid_fraction;
  if (sum > 1.0 + 1e-9) {
    return arrow::Status::Invalid(
        "--duplicate-fraction + --out-of-order-fraction + --late-fraction + "
        "--malformed-fraction + --invalid-fraction must be at most 1 (each a number in "
        "[0, 1], e.g. 0.05), got a sum of ", sum);
  }
  if (!args->start_time.empty()) {
    const auto micros = ParseIso8601Micros(args->start_time);
    if (!micros) {
      return arrow::Status::Invalid("--start-time must be an ISO-8601 timestamp with zone, e.g. "
                                    "2026-11-24T10:00:00Z, got '", args->start_time, "'");
    }
    args->gen.start_time_micros = *micros;
  }
  args->gen.late_by_micros = static_cast<int64_t>(args->late_by_seconds * 1e6);
  args->gen.event_time_step_micros = static_cast<int64_t>(args->event_step_ms * 1e3);
  const std::string problem = args->gen.Validate();
  if (!problem.empty()) return arrow::Status::Invalid(problem);
  const produce::PaymentGeneratorOptions& pay = args->pay;
  const double capture =
      pay.missing_fraction + pay.late_fraction + pay.mismatch_fraction + pay.outside_fraction;
  if (capture > 1.0 + 1e-9) {
    return arrow::Status::Invalid(
        "--payment-missing-fraction + --payment-late-fraction + --payment-mismatch-fraction + "
        "--payment-outside-fraction must be at most 1 (each a number in [0, 1], e.g. 0.01), "
        "got a sum of ", capture);
  }
  const double extra = pay.orphan_fraction + pay.malformed_fraction + pay.invalid_fraction;
  if (extra > 1.0 + 1e-9) {
    return arrow::Status::Invalid(
        "--payment-orphan-fraction + --payment-malformed-fraction + "
        "--payment-invalid-fraction must be at most 1 (each a number in [0, 1], e.g. 0.01), "
        "got a sum of ", extra);
  }
  args->pay.seed = args->gen.seed;
  args->pay.late_by_micros = args->gen.late_by_micros;
  const std::string pay_problem = args->pay.Validate();
  if (!pay_problem.empty()) return arrow::Status::Invalid(pay_problem);
  return arrow::Status::OK();
}

/// Parses "-X key=value" entries into a librdkafka config map.
arrow::Result<std::map<std::string, std::string>> KafkaConfig(const ProduceArgs& args) {
  std::map<std::string, std::string> config;
  for (const std::string& entry : args.kafka_config) {
    const size_t eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) {
      return arrow::Status::Invalid("--kafka-config expects key=value, got '", entry, "'");
    }
    config[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  return config;
}

arrow::Status RunProduce(ProduceArgs args) {
  ARROW_RETURN_NOT_OK(CheckArgs(&args));

  // Destinations: a Kafka topic, or a JSON-lines file (one value per line) for offline use;
  // the same for the payments when they are on.
  std::unique_ptr<produce::KafkaProducer> producer;
  std::ofstream out_file;
  std::ofstream payments_file;
  SendFn send;
  SendFn send_payment;
  std::string destination;
  std::string payments_destination;
  const bool orders_to_kafka = args.to_file.empty();
  const bool payments_to_kafka = args.payments() && args.payments_to_file.empty();
  if (orders_to_kafka || payments_to_kafka) {
    ARROW_ASSIGN_OR_RAISE(auto config, KafkaConfig(args));
    ARROW_ASSIGN_OR_RAISE(producer, produce::KafkaProducer::Make(args.brokers, config));
    const arrow::Status reachable = producer->CheckBrokers(10'000);
    if (!reachable.ok()) {
      return arrow::Status::IOError("--brokers ", args.brokers, ": ", reachable.message());
    }
  }
  // Makes sure `topic` exists (creating it with --create-topic-partitions if asked).
  auto ensure_topic = [&](const std::string& topic) -> arrow::Status {
    ARROW_ASSIGN_OR_RAISE(int partitions, producer->PartitionCount(topic, 10'000));
    if (partitions == 0 && args.create_topic_partitions > 0) {
      return producer->CreateTopic(topic, args.create_topic_partitions, kAdminTimeoutMs);
    }
    if (partitions == 0) {
      return arrow::Status::Invalid("topic '", topic, "' does not exist at ", args.brokers,
                                    "; create it, e.g. with --create-topic-partitions 4");
    }
    return arrow::Status::OK();
  };
  auto to_lines = [](std::ofstream* file) {
    return [file](std::string_view, std::string_view value) {
      file->write(value.data(), static_cast<std::streamsize>(value.size()));
      file->put('\n');
      return arrow::Status::OK();
    };
  };
  if (!orders_to_kafka) {
    out_file.open(args.to_file, std::ios::binary | std::ios::trunc);
    if (!out_file) return arrow::Status::IOError("cannot open --to-file ", args.to_file);
    destination = args.to_file;
    send = to_lines(&out_file);
  } else {
    ARROW_RETURN_NOT_OK(ensure_topic(args.topic));
    destination = args.topic;
    send = [&producer, &args](std::string_view key, std::string_view value) {
      return producer->Send(args.topic, key, value);
    };
  }
  if (args.payments() && !payments_to_kafka) {
    payments_file.open(args.payments_to_file, std::ios::binary | std::ios::trunc);
    if (!payments_file) {
      return arrow::Status::IOError("cannot open --payments-to-file ", args.payments_to_file);
    }
    payments_destination = args.payments_to_file;
    send_payment = to_lines(&payments_file);
  } else if (payments_to_kafka) {
    ARROW_RETURN_NOT_OK(ensure_topic(args.payments_topic));
    payments_destination = args.payments_topic;
    send_payment = [&producer, &args](std::string_view key, std::string_view value) {
      return producer->Send(args.payments_topic, key, value);
    };
  }

  const Clock::time_point start = Clock::now();
  Pacer pacer(args.rate);
  std::string summary;
  if (!args.from_file.empty()) {
    std::ifstream in(args.from_file, std::ios::binary);
    if (!in) return arrow::Status::IOError("cannot open --from-file ", args.from_file);
    simdjson::dom::parser parser;
    std::string line;
    int64_t sent = 0;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      pacer.Wait(sent);
      ARROW_RETURN_NOT_OK(send(KeyOfLine(parser, line), line));
      ++sent;
    }
    if (in.bad()) return arrow::Status::IOError("error reading --from-file ", args.from_file);
    summary = "produced " + std::to_string(sent) + " events from " + args.from_file;
  } else if (args.payments()) {
    // Orders and their payments interleaved in event-time order (see OrderPaymentStream).
    produce::OrderPaymentStream stream(args.gen, args.pay, args.count);
    produce::GeneratedEvent event;
    produce::GeneratedPayment payment;
    std::array<int64_t, 4> by_kind{};
    std::array<int64_t, produce::kNumPaymentKinds> payments_by_kind{};
    int64_t version2 = 0;
    int64_t orders = 0;
    int64_t payments = 0;
    for (;;) {
      const produce::StreamTopic topic = stream.Next(&event, &payment);
      if (topic == produce::StreamTopic::kEnd) break;
      if (topic == produce::StreamTopic::kPayments) {
        ARROW_RETURN_NOT_OK(send_payment(payment.key, payment.value));
        ++payments_by_kind[static_cast<size_t>(payment.kind)];
        ++payments;
        continue;
      }
      pacer.Wait(orders++);
      ARROW_RETURN_NOT_OK(send(event.key, event.value));
      ++by_kind[static_cast<size_t>(event.kind)];
      version2 += event.schema_version == 2;
    }
    summary = "produced " + std::to_string(args.count) + " events (valid " +
              std::to_string(by_kind[0]) + ", duplicate " + std::to_string(by_kind[1]) +
              ", malformed " + std::to_string(by_kind[2]) + ", invalid " +
              std::to_string(by_kind[3]);
    if (args.gen.v2_fraction > 0) summary += "; schema_version 2: " + std::to_string(version2);
    summary += ") to " + destination + " and " + std::to_string(payments) + " payments (";
    for (int k = 0; k < produce::kNumPaymentKinds; ++k) {
      if (k > 0) summary += ", ";
      summary += produce::PaymentKindName(static_cast<produce::PaymentKind>(k));
      summary += " " + std::to_string(payments_by_kind[k]);
    }
    summary += "; PAID orders " + std::to_string(stream.payments().paid_orders()) +
               ", without capture " + std::to_string(stream.payments().missing_orders()) + ")";
    destination = payments_destination;
  } else {
    produce::EventGenerator generator(args.gen);
    produce::GeneratedEvent event;
    std::array<int64_t, 4> by_kind{};
    int64_t version2 = 0;
    for (int64_t i = 0; i < args.count; ++i) {
      generator.Next(&event);
      pacer.Wait(i);
      ARROW_RETURN_NOT_OK(send(event.key, event.value));
      ++by_kind[static_cast<size_t>(event.kind)];
      version2 += event.schema_version == 2;
    }
    summary = "produced " + std::to_string(args.count) + " events (valid " +
              std::to_string(by_kind[0]) + ", duplicate " + std::to_string(by_kind[1]) +
              ", malformed " + std::to_string(by_kind[2]) + ", invalid " +
              std::to_string(by_kind[3]);
    if (args.gen.v2_fraction > 0) summary += "; schema_version 2: " + std::to_string(version2);
    summary += ")";
  }
  if (producer != nullptr) ARROW_RETURN_NOT_OK(producer->Flush(kFlushTimeoutMs));
  if (!orders_to_kafka) {
    out_file.flush();
    if (!out_file) return arrow::Status::IOError("error writing --to-file ", args.to_file);
  }
  if (payments_file.is_open()) {
    payments_file.flush();
    if (!payments_file) {
      return arrow::Status::IOError("error writing --payments-to-file ", args.payments_to_file);
    }
  }
  std::printf("%s to %s in %.2f s\n", summary.c_str(), destination.c_str(), SecondsSince(start));
  std::fflush(stdout);
  return arrow::Status::OK();
}

}  // namespace

void AddProduceCommand(CLI::App& app) {
  auto args = std::make_shared<ProduceArgs>();
  CLI::App* cmd = app.add_subcommand(
      "produce", "Send generated order events (or a JSON-lines file) to a Kafka topic");
  cmd->add_option("--brokers", args->brokers, "Kafka bootstrap servers")->capture_default_str();
  cmd->add_option("--topic", args->topic, "Topic to produce to")->capture_default_str();
  cmd->add_option("-X,--kafka-config", args->kafka_config,
                  "Extra librdkafka producer setting key=value (repeatable)");
  cmd->add_option("--create-topic-partitions", args->create_topic_partitions,
                  "If > 0, create the topic with this many partitions (replication 1) "
                  "unless it exists")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--rate", args->rate, "Events per second (0 = as fast as possible)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--to-file", args->to_file,
                  "Write the values as JSON lines to this file instead of Kafka");

  const std::string fraction_help = " (a number in [0, 1]; all fractions sum to at most 1)";
  std::vector<CLI::Option*> generator_options = {
      cmd->add_option("--count", args->count, "Number of events to generate")
          ->check(CLI::NonNegativeNumber)
          ->capture_default_str(),
      cmd->add_option("--seed", args->gen.seed, "Random seed (same seed, same events)")
          ->capture_default_str(),
      cmd->add_option("--start-time", args->start_time,
                      "Event time of the first event, ISO-8601 (default 2026-11-24T10:00:00Z)"),
      cmd->add_option("--event-step-ms", args->event_step_ms,
                      "Mean event-time spacing between events, in milliseconds")
          ->check(CLI::NonNegativeNumber)
          ->capture_default_str(),
      cmd->add_option("--late-by-seconds", args->late_by_seconds,
                      "Minimum event-time shift of a late event")
          ->check(CLI::NonNegativeNumber)
          ->capture_default_str(),
      cmd->add_option("--customers", args->gen.num_customers, "Number of distinct customers")
          ->check(CLI::PositiveNumber)
          ->capture_default_str(),
      cmd->add_option("--products", args->gen.num_products, "Number of distinct products")
          ->check(CLI::PositiveNumber)
          ->capture_default_str(),
      cmd->add_option("--v2-fraction", args->gen.v2_fraction,
                      "Share of order events (valid and invalid) written as schema_version 2, "
                      "with channel, loyalty tier, sku and discounts (a number in [0, 1]: 0 "
                      "version 1 only, 1 version 2 only; apart from the other fractions)")
          ->check(CLI::Range(0.0, 1.0))
          ->capture_default_str(),
  };
  const struct {
    const char* flag;
    double* target;
    const char* help;
  } fractions[] = {
      {"--duplicate-fraction", &args->gen.duplicate_fraction,
       "Share of byte-identical re-sends of an earlier valid event"},
      {"--out-of-order-fraction", &args->gen.out_of_order_fraction,
       "Share of valid events whose event_time goes back up to 5 s"},
      {"--late-fraction", &args->gen.late_fraction,
       "Share of valid events whose event_time goes back --late-by-seconds or more"},
      {"--malformed-fraction", &args->gen.malformed_fraction,
       "Share of records that are not JSON objects"},
      {"--invalid-fraction", &args->gen.invalid_fraction,
       "Share of JSON objects that break the event contract"}};
  for (const auto& f : fractions) {
    generator_options.push_back(cmd->add_option(f.flag, *f.target, f.help + fraction_help)
                                    ->check(CLI::Range(0.0, 1.0))
                                    ->capture_default_str());
  }
  // The payments side (off unless --payments-topic or --payments-to-file is given).
  generator_options.push_back(cmd->add_option(
      "--payments-topic", args->payments_topic,
      "Also produce payment events (key = order_id) for the PAID orders to this topic, "
      "interleaved with the orders in event-time order (off by default)"));
  generator_options.push_back(cmd->add_option(
      "--payments-to-file", args->payments_to_file,
      "Write the payment events as JSON lines to this file instead of Kafka (turns the "
      "payments on)"));
  const std::string per_order = " (a number in [0, 1], per PAID order)";
  const struct {
    const char* flag;
    double* target;
    const char* help;
    std::string unit;
  } payment_fractions[] = {
      {"--payment-missing-fraction", &args->pay.missing_fraction,
       "Share of PAID orders without a CAPTURED payment; missing + late + mismatch + outside "
       "sum to at most 1", per_order},
      {"--payment-orphan-fraction", &args->pay.orphan_fraction,
       "Extra CAPTURED payments for an order_id that is never PAID (ORD-X...); orphan + "
       "malformed + invalid sum to at most 1", per_order},
      {"--payment-duplicate-fraction", &args->pay.duplicate_fraction,
       "Share of CAPTURED payments re-sent byte-identical 1 to 30 s later",
       " (a number in [0, 1], per CAPTURED payment)"},
      {"--payment-late-fraction", &args->pay.late_fraction,
       "Share of captures released --late-by-seconds or more after their event time", per_order},
      {"--payment-mismatch-fraction", &args->pay.mismatch_fraction,
       "Share of captures whose amount differs from the order total by 1 to 5 cents", per_order},
      {"--payment-outside-fraction", &args->pay.outside_fraction,
       "Share of captures more than 1 h after or 15 min before their order", per_order},
      {"--payment-malformed-fraction", &args->pay.malformed_fraction,
       "Extra payment records that are not JSON objects", per_order},
      {"--payment-invalid-fraction", &args->pay.invalid_fraction,
       "Extra payment JSON objects that break the payment contract", per_order}};
  for (const auto& f : payment_fractions) {
    generator_options.push_back(cmd->add_option(f.flag, *f.target, f.help + f.unit)
                                    ->check(CLI::Range(0.0, 1.0))
                                    ->capture_default_str());
  }
  CLI::Option* from_file = cmd->add_option(
      "--from-file", args->from_file,
      "Send each non-empty line of this JSON-lines file as one message, as is "
      "(key = its order_id if any)");
  for (CLI::Option* option : generator_options) from_file->excludes(option);

  cmd->callback([args]() {
    const arrow::Status status = RunProduce(*args);
    if (!status.ok()) {
      std::fprintf(stderr, "medallion produce: error: %s\n", status.message().c_str());
      std::exit(1);
    }
  });
}

}  // namespace medallion::cli
