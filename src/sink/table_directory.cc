#include "sink/table_directory.h"

#include <algorithm>

#include "common/file_util.h"

namespace medallion::sink {

const std::vector<KnownTable>& KnownTables() {
  static const std::vector<KnownTable> kTables = {
      {"bronze/orders_raw", "bronze", false},
      {"quarantine/orders", "quarantine", false},
      {"silver/order_lines", "silver", false},
      {"late/order_lines", "late", false},
      {"gold/revenue_by_category_window", "gold_windows", true},
      {"gold/top_products", "gold_top", true},
      {"gold/customer_spend", "gold_customers", true},
      // The payments side, present when a run joins a payments topic.
      {"bronze/payments_raw", "bronze_payments", false},
      {"quarantine/payments", "quarantine_payments", false},
      {"silver/order_payments", "order_payments", false},
      {"gold/payment_reconciliation", "reconciliation", false},
  };
  return kTables;
}

arrow::Result<std::vector<std::string>> ListTables(const std::string& data_dir) {
  if (!PathExists(data_dir)) {
    return arrow::Status::IOError("data directory '", data_dir, "' does not exist");
  }
  ARROW_ASSIGN_OR_RAISE(const std::vector<DirEntry> layers, ListDir(data_dir));
  std::vector<std::string> tables;
  for (const DirEntry& layer : layers) {
    if (!layer.is_dir || layer.name.starts_with(".")) continue;
    auto in_layer = ListDir(data_dir + "/" + layer.name);
    if (!in_layer.ok()) continue;
    for (const DirEntry& table : *in_layer) {
      if (table.is_dir && PathExists(data_dir + "/" + layer.name + "/" + table.name + "/_delta_log")) {
        tables.push_back(layer.name + "/" + table.name);
      }
    }
  }
  std::sort(tables.begin(), tables.end());
  return tables;
}

arrow::Result<std::string> ResolveTableName(const std::string& name_or_alias,
                                            const std::vector<std::string>& existing,
                                            const std::string& data_dir) {
  if (existing.empty()) {
    return arrow::Status::KeyError("data directory '", data_dir,
                                   "' holds no table (no <layer>/<table>/_delta_log in it); run "
                                   "`medallion run` first or pass the right --data-dir");
  }
  std::string name = name_or_alias;
  while (name.size() > 1 && name.back() == '/') name.pop_back();
  for (const KnownTable& known : KnownTables()) {
    if (known.alias == name) name = known.name;
  }
  if (std::find(existing.begin(), existing.end(), name) != existing.end()) return name;
  std::string listed;
  for (const std::string& table : existing) {
    if (!listed.empty()) listed += ", ";
    listed += table;
    for (const KnownTable& known : KnownTables()) {
      if (known.name == table) listed += " (" + known.alias + ")";
    }
  }
  return arrow::Status::KeyError("unknown table '", name_or_alias, "'; the tables under '", data_dir,
                                 "' are: ", listed);
}

bool IsReplacedTable(const std::string& name) {
  for (const KnownTable& known : KnownTables()) {
    if (known.name == name) return known.replaced;
  }
  return false;
}

}  // namespace medallion::sink
