#include "sink/parquet_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>

#include <arrow/io/file.h>
#include <arrow/table.h>
#include <arrow/util/compression.h>
#include <parquet/arrow/writer.h>
#include <parquet/properties.h>

#include "common/fault_point.h"
#include "common/file_util.h"

namespace medallion::sink {
namespace {

arrow::Result<arrow::Compression::type> CompressionFor(const std::string& name) {
  if (name == "snappy") return arrow::Compression::SNAPPY;
  if (name == "zstd") return arrow::Compression::ZSTD;
  // Parquet's writer stores Arrow's LZ4 as the LZ4_RAW codec (not the deprecated Hadoop framing).
  if (name == "lz4_raw") return arrow::Compression::LZ4;
  if (name == "none") return arrow::Compression::UNCOMPRESSED;
  return arrow::Status::Invalid("parquet compression '", name, "': expected zstd, lz4_raw, snappy or none");
}

arrow::Result<int64_t> WriteParquetFileOnce(
    const std::string& path, const std::shared_ptr<arrow::Schema>& schema, const ParquetOptions& options,
    const std::function<arrow::Status(parquet::arrow::FileWriter*)>& write_rows,
    std::shared_ptr<parquet::FileMetaData>* metadata);

/// Writes a Parquet file of `schema` at `path` (temp file, fsync, rename; see the header),
/// its rows given to the writer by `write_rows`. On an object store an upload that fails with
/// a transient error is sent again whole (the rows are in memory), three times at most.
/// `metadata`, when given, receives the footer.
arrow::Result<int64_t> WriteParquetFileWith(
    const std::string& path, const std::shared_ptr<arrow::Schema>& schema, const ParquetOptions& options,
    const std::function<arrow::Status(parquet::arrow::FileWriter*)>& write_rows,
    std::shared_ptr<parquet::FileMetaData>* metadata = nullptr) {
  auto once = [&] { return WriteParquetFileOnce(path, schema, options, write_rows, metadata); };
  return IsObjectStorePath(path) ? RetryingStoreRequest(once) : once();
}

arrow::Result<int64_t> WriteParquetFileOnce(
    const std::string& path, const std::shared_ptr<arrow::Schema>& schema, const ParquetOptions& options,
    const std::function<arrow::Status(parquet::arrow::FileWriter*)>& write_rows,
    std::shared_ptr<parquet::FileMetaData>* metadata) {
  ARROW_ASSIGN_OR_RAISE(auto codec, CompressionFor(options.compression));
  // On an object store the object appears whole at Close, so it is written in place.
  const bool in_place = IsObjectStorePath(path);
  const std::string tmp = in_place ? path : path + ".tmp." + std::to_string(::getpid());
  int64_t size = 0;
  {
    ARROW_ASSIGN_OR_RAISE(auto out, OpenOutputFile(tmp));
    parquet::WriterProperties::Builder builder;
    builder.compression(codec)->max_row_group_length(options.row_group_rows);
    if (options.compression_level) builder.compression_level(*options.compression_level);
    for (const auto& column : options.plain_columns) {
      if (schema->GetFieldIndex(column) >= 0) {
        builder.disable_dictionary(column)->disable_statistics(column);
      }
    }
    for (const auto& column : options.no_dictionary_columns) {
      if (schema->GetFieldIndex(column) >= 0) builder.disable_dictionary(column);
    }
    auto props = builder.build();
    auto arrow_props = parquet::ArrowWriterProperties::Builder()
                           .coerce_timestamps(arrow::TimeUnit::MICRO)
                           ->store_schema()
                           ->build();
    ARROW_ASSIGN_OR_RAISE(auto writer,
                          parquet::arrow::FileWriter::Open(*schema, arrow::default_memory_pool(),
                                                           out, props, arrow_props));
    ARROW_RETURN_NOT_OK(write_rows(writer.get()));
    ARROW_RETURN_NOT_OK(writer->Close());
    if (metadata != nullptr) *metadata = writer->metadata();
    ARROW_ASSIGN_OR_RAISE(size, out->Tell());
    if (in_place) FaultPoint("parquet.before_sync");
    ARROW_RETURN_NOT_OK(out->Close());
  }
  if (in_place) return size;
  FaultPoint("parquet.before_sync");
  // fsync the data before the name appears.
  ARROW_ASSIGN_OR_RAISE(auto contents_fd, arrow::io::ReadableFile::Open(tmp));
  if (::fsync(contents_fd->file_descriptor()) != 0) {
    return arrow::Status::IOError("cannot fsync '", tmp, "'");
  }
  ARROW_RETURN_NOT_OK(contents_fd->Close());
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return arrow::Status::IOError("cannot rename '", tmp, "' to '", path, "': ", std::strerror(err));
  }
  const auto slash = path.find_last_of('/');
  ARROW_RETURN_NOT_OK(SyncDir(slash == std::string::npos ? "." : path.substr(0, slash)));
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return arrow::Status::IOError("cannot stat '", path, "'");
  return static_cast<int64_t>(st.st_size);
}

}  // namespace

arrow::Status CheckCompression(const std::string& name, std::optional<int> level) {
  ARROW_ASSIGN_OR_RAISE(auto codec, CompressionFor(name));
  if (!level) return arrow::Status::OK();
  if (!arrow::util::Codec::SupportsCompressionLevel(codec)) {
    return arrow::Status::Invalid("parquet compression '", name, "' has no levels: remove compression_level");
  }
  ARROW_ASSIGN_OR_RAISE(int low, arrow::util::Codec::MinimumCompressionLevel(codec));
  ARROW_ASSIGN_OR_RAISE(int high, arrow::util::Codec::MaximumCompressionLevel(codec));
  if (*level < low || *level > high) {
    return arrow::Status::Invalid("parquet compression_level ", *level, " for ", name, ": expected ", low,
                                  " to ", high);
  }
  return arrow::Status::OK();
}

arrow::Result<int64_t> WriteParquetFile(const std::string& path, const arrow::RecordBatch& batch,
                                        const ParquetOptions& options,
                                        std::shared_ptr<parquet::FileMetaData>* metadata) {
  return WriteParquetFileWith(
      path, batch.schema(), options, [&](parquet::arrow::FileWriter* writer) { return writer->WriteRecordBatch(batch); },
      metadata);
}

arrow::Result<int64_t> WriteParquetFile(const std::string& path, const arrow::Table& table,
                                        const ParquetOptions& options) {
  return WriteParquetFileWith(path, table.schema(), options, [&](parquet::arrow::FileWriter* writer) {
    return writer->WriteTable(table, options.row_group_rows);
  });
}

}  // namespace medallion::sink
