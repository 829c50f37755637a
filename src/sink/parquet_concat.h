#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <arrow/io/interfaces.h>
#include <arrow/result.h>

namespace medallion::sink {

/// Parquet files whose row groups can be joined into one file without decoding them.
class ParquetConcat {
 public:
  /// Reads the footers of `files` (each a whole Parquet file's bytes, kept alive by the
  /// caller until Write returns). NotImplemented, saying why, unless every file is a plain
  /// (unencrypted) Parquet file with its columns in itself, and all have the same schema and
  /// key-value metadata (Arrow's schema): then the caller merges them the slow way.
  static arrow::Result<ParquetConcat> Plan(const std::vector<std::string>* files);

  /// Writes the joined file to `out`: the magic, every file's row groups byte for byte (their
  /// pages as written: codec, encodings, dictionaries and statistics stay), and a footer that
  /// lists them all with their offsets moved to where they now are. Column and offset
  /// indexes and bloom filters of the inputs are not carried over (their offsets are dropped
  /// from the footer; readers then read the pages without them).
  arrow::Status Write(arrow::io::OutputStream* out) const;

  int64_t num_rows() const { return num_rows_; }
  /// The row groups of all the files.
  int64_t num_row_groups() const { return num_row_groups_; }

 private:
  ParquetConcat() = default;
  const std::vector<std::string>* files_ = nullptr;
  /// Per file: where its row groups' bytes end (its footer starts).
  std::vector<int64_t> data_ends_;
  std::string footer_;
  int64_t num_rows_ = 0;
  int64_t num_row_groups_ = 0;
};

}  // namespace medallion::sink
