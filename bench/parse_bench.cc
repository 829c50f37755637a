// The parser alone: JSON records of a file (one per line, e.g. from `medallion produce
// --to-file`) copied into one Bronze batch, then parsed 7 times by one EventParser; prints the
// best time per event. No Kafka, no tables.
//
// Usage: parse_bench FILE
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "common/time_util.h"
#include "format/bronze_builder.h"
#include "format/event_parser.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: parse_bench FILE\n");
    return 2;
  }
  std::ifstream in(argv[1]);
  std::vector<std::string> lines;
  int64_t bytes = 0;
  for (std::string line; std::getline(in, line);) {
    bytes += static_cast<int64_t>(line.size());
    lines.push_back(std::move(line));
  }
  // Ingested now, without a Kafka timestamp: the generator's events lie in the past.
  medallion::format::BronzeBuilder builder("parse-bench", medallion::NowMicros());
  auto check = [](const arrow::Status& st) {
    if (!st.ok()) {
      std::fprintf(stderr, "parse_bench: %s\n", st.ToString().c_str());
      std::exit(1);
    }
  };
  check(builder.Reserve(static_cast<int64_t>(lines.size()), 0, bytes));
  int64_t offset = 0;
  for (const auto& line : lines) {
    check(builder.Append(0, offset++, std::nullopt, nullptr, 0, line.data(), line.size()));
  }
  auto batch = builder.Finish();
  check(batch.status());
  medallion::format::EventParser parser;
  double best = 1e9;
  int64_t events = 0, quarantined = 0;
  for (int round = 0; round < 7; ++round) {
    const auto start = std::chrono::steady_clock::now();
    auto parsed = parser.Parse(**batch);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    check(parsed.status());
    if (round == 0) {  // the batches must be valid Arrow data, not just fast
      check(parsed->events->ValidateFull());
      check(parsed->quarantine->ValidateFull());
    }
    events = parsed->events->num_rows();
    quarantined = parsed->quarantine->num_rows();
    best = std::min(best, seconds);
  }
  std::printf("{\"records\": %zu, \"events\": %lld, \"quarantined\": %lld, \"best_s\": %.4f, \"ns_per_record\": %.0f}\n",
              lines.size(), static_cast<long long>(events), static_cast<long long>(quarantined), best,
              best / static_cast<double>(lines.size()) * 1e9);
  return 0;
}
