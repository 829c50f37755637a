#include "cli/tail_command.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <arrow/api.h>
#include <arrow/compute/initialize.h>

#include "sink/delta_log.h"
#include "sink/row_filter.h"
#include "sink/row_json.h"
#include "sink/table_directory.h"
#include "sink/table_reader.h"

namespace medallion::cli {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(500);
constexpr auto kStopCheck = std::chrono::milliseconds(50);

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true); }

/// Accepts integers >= 0 and says so when it rejects one.
const CLI::Validator kNonNegativeInt(
    [](std::string& text) -> std::string {
      try {
        size_t used = 0;
        const long long v = std::stoll(text, &used);
        if (used == text.size() && v >= 0) return "";
      } catch (const std::exception&) {
      }
      return "expected an integer from 0 to 9223372036854775807, got '" + text + "'";
    },
    "INT>=0");

/// Everything the flags of `medallion tail` set.
struct TailFlags {
  std::string table;
  std::string data_dir = "data";
  int64_t rows = 20;
  bool follow = false;
  std::string where;
  std::string columns;
};

[[noreturn]] void Fail(const std::string& message) {
  std::fprintf(stderr, "medallion tail: %s\n", message.c_str());
  std::exit(2);
}

/// The table as it is read: its log, the row filter and the columns to print.
struct TailReader {
  std::unique_ptr<sink::DeltaLog> log;
  std::vector<sink::RowCondition> where;
  std::vector<int> column_indices;  ///< empty: all columns

  /// The rows of `files` (in that order) that pass the filter, projected.
  arrow::Result<std::shared_ptr<arrow::Table>> Read(const std::vector<sink::DeltaAddFile>& files) const {
    ARROW_ASSIGN_OR_RAISE(auto table, sink::ReadTableFiles(*log, files));
    ARROW_ASSIGN_OR_RAISE(table, sink::FilterRows(table, where));
    if (!column_indices.empty()) {
      ARROW_ASSIGN_OR_RAISE(table, table->SelectColumns(column_indices));
    }
    return table;
  }
};

/// Prints `table`'s rows from `first` on, one JSON object per line, and flushes.
arrow::Status PrintRows(const arrow::Table& table, int64_t first) {
  if (table.num_rows() <= first) return arrow::Status::OK();
  ARROW_ASSIGN_OR_RAISE(auto batch, table.Slice(first)->CombineChunksToBatch());
  std::string out;
  for (int64_t row = 0; row < batch->num_rows(); ++row) {
    ARROW_RETURN_NOT_OK(sink::AppendRowJson(*batch, row, &out));
    out.push_back('\n');
    if (out.size() > (1 << 20)) {
      std::fwrite(out.data(), 1, out.size(), stdout);
      out.clear();
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  return arrow::Status::OK();
}

/// Prints the last `n` rows (after the filter) of the table's current version: reads its
/// files from the newest backwards until they hold `n` rows.
arrow::Status PrintLastRows(const TailReader& reader, int64_t n) {
  if (n == 0) return arrow::Status::OK();
  std::vector<sink::DeltaAddFile> files;
  for (const auto& [path, add] : reader.log->live_files()) files.push_back(add);
  files = sink::SortFilesInNaturalOrder(std::move(files));
  std::vector<std::shared_ptr<arrow::Table>> parts;  // newest first
  int64_t rows = 0;
  for (auto it = files.rbegin(); it != files.rend() && rows < n; ++it) {
    ARROW_ASSIGN_OR_RAISE(auto part, reader.Read({*it}));
    rows += part->num_rows();
    parts.push_back(std::move(part));
  }
  if (parts.empty()) return arrow::Status::OK();
  std::vector<std::shared_ptr<arrow::Table>> in_order(parts.rbegin(), parts.rend());
  ARROW_ASSIGN_OR_RAISE(auto table, arrow::ConcatenateTables(in_order));
  return PrintRows(*table, std::max<int64_t>(0, table->num_rows() - n));
}

/// Polls the log until a signal: prints the rows of the files each new commit adds.
arrow::Status Follow(TailReader& reader) {
  while (!g_stop.load()) {
    std::vector<sink::DeltaAddFile> added;
    ARROW_ASSIGN_OR_RAISE(bool applied, reader.log->ReadNextEntry(&added));
    if (applied) {
      if (added.empty()) continue;
      ARROW_ASSIGN_OR_RAISE(auto table, reader.Read(sink::SortFilesInNaturalOrder(std::move(added))));
      ARROW_RETURN_NOT_OK(PrintRows(*table, 0));
      continue;
    }
    for (auto waited = std::chrono::milliseconds(0); waited < kPollInterval && !g_stop.load();
         waited += kStopCheck) {
      std::this_thread::sleep_for(kStopCheck);
    }
  }
  return arrow::Status::OK();
}

/// Resolves the table, checks --where and --columns against its schema, prints the last rows
/// and, with --follow, the rows of each new commit.
void Execute(const TailFlags& flags) {
  if (auto st = arrow::compute::Initialize(); !st.ok()) Fail(st.ToString());
  auto existing = sink::ListTables(flags.data_dir);
  if (!existing.ok()) Fail(existing.status().message() + " (--data-dir)");
  auto name = sink::ResolveTableName(flags.table, *existing, flags.data_dir);
  if (!name.ok()) Fail(name.status().message());

  TailReader reader;
  if (!flags.where.empty()) {
    auto where = sink::ParseRowFilter(flags.where);
    if (!where.ok()) Fail(where.status().message());
    reader.where = std::move(*where);
  }
  auto log = sink::DeltaLog::OpenForRead(flags.data_dir + "/" + *name, *name);
  if (!log.ok()) Fail(log.status().message());
  reader.log = std::move(*log);
  auto schema = sink::LogSchema(*reader.log);
  if (!schema.ok()) Fail(schema.status().message());
  if (auto st = sink::CheckRowFilter(reader.where, **schema); !st.ok()) Fail(st.message());
  if (!flags.columns.empty()) {
    std::string all;
    for (const auto& field : (*schema)->fields()) all += (all.empty() ? "" : ", ") + field->name();
    size_t start = 0;
    while (true) {
      const size_t comma = flags.columns.find(',', start);
      const std::string column = flags.columns.substr(start, comma == std::string::npos ? comma : comma - start);
      const int index = (*schema)->GetFieldIndex(column);
      if (index < 0) Fail("--columns: unknown column '" + column + "' in " + *name + "; the columns are: " + all);
      reader.column_indices.push_back(index);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }

  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  if (auto st = PrintLastRows(reader, flags.rows); !st.ok()) Fail(st.ToString());
  if (flags.follow) {
    if (auto st = Follow(reader); !st.ok()) Fail(st.ToString());
  }
}

}  // namespace

void AddTailCommand(CLI::App& app) {
  auto flags = std::make_shared<TailFlags>();
  CLI::App* tail = app.add_subcommand(
      "tail", "Print the last rows of a table as JSON lines (read-only, beside a running engine)");
  tail->add_option("table", flags->table,
                   "table: bronze/orders_raw, quarantine/orders, silver/order_lines, late/order_lines, "
                   "gold/revenue_by_category_window, gold/top_products, gold/customer_spend, "
                   "bronze/payments_raw, quarantine/payments, silver/order_payments, "
                   "gold/payment_reconciliation, or an alias: bronze, quarantine, silver, late, gold_windows, "
                   "gold_top, gold_customers, bronze_payments, quarantine_payments, order_payments, reconciliation")
      ->required();
  tail->add_option("--data-dir", flags->data_dir, "root of the tables (default data)");
  tail->add_option("-n,--rows", flags->rows, "rows to print from the end of the current version (default 20)")
      ->check(kNonNegativeInt);
  tail->add_flag("-f,--follow", flags->follow,
                 "then keep printing the rows of each new commit's added files until SIGINT/SIGTERM");
  tail->add_option("--where", flags->where,
                   "keep rows where column=value, column!=value, column>value or column<value; several "
                   "joined by ',' must all hold");
  tail->add_option("--columns", flags->columns, "print only these columns, e.g. event_id,line_amount");
  tail->callback([flags] { Execute(*flags); });
}

}  // namespace medallion::cli
