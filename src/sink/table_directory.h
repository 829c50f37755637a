#pragma once

#include <string>
#include <vector>

#include <arrow/result.h>

namespace medallion::sink {

/// One of medallion's tables: its name (the path under the data directory, as the README's
/// Tables section writes it) and the short alias the operator commands accept.
struct KnownTable {
  std::string name;   ///< e.g. "silver/order_lines"
  std::string alias;  ///< e.g. "silver"
  /// True for the tables rewritten every batch (the Gold tables: remove + add in one commit);
  /// false for the tables that only ever append.
  bool replaced = false;
};

/// The tables medallion writes, in data-flow order.
const std::vector<KnownTable>& KnownTables();

/// The tables under `data_dir`: every `<layer>/<name>` folder holding a `_delta_log` folder,
/// sorted. A data directory that does not exist is an IOError status naming it.
arrow::Result<std::vector<std::string>> ListTables(const std::string& data_dir);

/// The table `name_or_alias` names among `existing` (as ListTables gives them): a known
/// alias ("silver") or a table name ("silver/order_lines", a trailing '/' ignored). A name
/// that is not in `existing` is a KeyError status naming it and listing the tables that
/// exist (with their aliases); an empty `existing` is a KeyError saying that `data_dir`
/// holds no table.
arrow::Result<std::string> ResolveTableName(const std::string& name_or_alias,
                                            const std::vector<std::string>& existing,
                                            const std::string& data_dir);

/// True if `name` is one of the tables rewritten every batch (KnownTable::replaced).
bool IsReplacedTable(const std::string& name);

}  // namespace medallion::sink
